/** Optimizers, learning-rate schedules and gradient clipping. */
export { Optimizer } from './optimizer.js';
export type { ParamGroup, Params, OptimizerState, OptimizerMeta } from './optimizer.js';
export { AdamW, Adam } from './adamw.js';
export type { AdamWOptions } from './adamw.js';
export { SGD } from './sgd.js';
export type { SGDOptions } from './sgd.js';
export { constantSchedule, warmupCosineSchedule } from './schedule.js';
export type { Schedule, WarmupCosineOptions } from './schedule.js';
export { clipGradNorm } from './clip.js';
