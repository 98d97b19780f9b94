/**
 * Recur: modern recurrent sequence models in TypeScript. This is the Node entry point: the
 * portable core (see browser.ts) plus file I/O, worker-thread CPU kernels and the CUDA backend.
 */
export * from './browser.js';
export { readSafetensors, readSafetensorsWithMetadata, writeSafetensors, writeFileAtomic } from './io/files.js';
export type { ReadOptions, AtomicData } from './io/files.js';
export {
  saveCheckpoint, saveTrainingCheckpoint, loadCheckpoint, locateCheckpoint, CheckpointError, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, flattenTensorTree,
  unflattenTensorTree, mapTensorTree, disposeTensorTree,
} from './train/checkpoint.js';
export type { ModelSpec, CheckpointConfig, TrainerState, LoadedCheckpoint, CheckpointFiles, CheckpointIO, TrainingSnapshot } from './train/checkpoint.js';
export { TrainConfigError, mergeResumeArgs, RESUMABLE_ARGS, argSpec, checkArgValues, MAX_COUNT } from './train/args.js';
export { runTraining, curvesSvg, writeCurves, readLog, trainingSchedule, LM_CURVE_LABELS, LOG_FILE, CURVES_FILE } from './train/loop.js';
export type { StepReport, RunHooks, RunResult, LogRecord, TrainRecord, ValRecord, RunnableTrainer, CurveLabels } from './train/loop.js';
export { createModel, modelFromCheckpoint, openCheckpoint, tokenizerFromCheckpoint, registerModelKind, modelNames } from './train/model-kinds.js';
export type { CharLM, ModelKind, ModelArgs } from './train/model-kinds.js';
export { evaluateWindows, evaluateStream } from './train/lm-eval.js';
export type { EvalResult } from './train/lm-eval.js';
export { LMTrainer, checkTrainArgs, storedTraining, DEFAULT_TRAIN_ARGS, PRESETS } from './train/lm-trainer.js';
export type { TrainArgs, Preset, TextInfo } from './train/lm-trainer.js';
export {
  ListOpsTrainer, DEFAULT_LISTOPS_ARGS, LISTOPS_PRESETS, LISTOPS_RESUMABLE_ARGS, checkListOpsArgs, listOpsHeldOut, listOpsModelConfig,
  evaluateListOps, listOpsModelFromCheckpoint, storedListOpsArgs,
} from './train/listops-trainer.js';
export type { ListOpsArgs, ListOpsPreset, ListOpsEvalResult, HeldOutSplit } from './train/listops-trainer.js';
export { enableCpuThreads, disableCpuThreads, cpuThreadsReady } from './backend/cpu/threads-node.js';
export type { CpuThreadOptions } from './backend/cpu/threads-node.js';
export { CudaBackend, cudaStatus } from './backend/cuda/cuda.js';
export { registerCudaBackend } from './register-cuda.js';
export type { CudaOptions, CudaStatus, DeviceInfo } from './backend/cuda/cuda.js';

export { enableCpuThreads as setCpuThreads, defaultThreadCount } from './backend/cpu/threads-node.js';

import { registerCudaBackend as registerCuda } from './register-cuda.js';
import { initWebGPU as initGpu, registerWebGPUBackend as registerWebGPU } from './register-webgpu.js';
import { enableCpuThreads as startCpuThreads } from './backend/cpu/threads-node.js';
import { setBackend as selectBackend } from './tensor/engine.js';

// The CPU kernels use every core from the import on (RECUR_THREADS sets the count; setCpuThreads
// changes it later). Worker threads start in the background and never keep the process alive.
startCpuThreads();

// 'cuda' and 'webgpu' are selectable by name; nothing native is loaded until it is selected
// ('webgpu' after `await initWebGPU()`: its device is created asynchronously). RECUR_DEVICE
// (cpu | cuda | webgpu) picks the default backend for the process.
registerCuda();
registerWebGPU();
if (process.env.RECUR_DEVICE === 'webgpu') await initGpu();
if (process.env.RECUR_DEVICE) selectBackend(process.env.RECUR_DEVICE);
