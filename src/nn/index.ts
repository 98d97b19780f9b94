/** Layers: the Module base class and PyTorch-compatible building blocks. */
export { Module, ModuleList } from './module.js';
export type { LayerOptions, LoadStateDictOptions, LoadStateDictResult } from './module.js';
export { Linear, Embedding, Dropout, FeedForward, GLU } from './layers.js';
export type { LinearOptions, EmbeddingOptions, DropoutOptions, FeedForwardOptions, GLUOptions } from './layers.js';
export { RMSNorm, LayerNorm } from './norm.js';
export type { NormOptions } from './norm.js';
export { CausalConv1d } from './conv.js';
export type { CausalConv1dOptions } from './conv.js';
export { linear, rmsNorm, layerNorm, glu, causalConv1d, causalConv1dStep } from './functional.js';
export type { ConvResult } from './functional.js';
