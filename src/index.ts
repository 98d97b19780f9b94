/**
 * Recur: modern recurrent sequence models in TypeScript. This is the Node entry point: the
 * portable core (see browser.ts) plus file I/O, worker-thread CPU kernels and the CUDA backend.
 */
export * from './browser.js';
export { readSafetensors, readSafetensorsWithMetadata, writeSafetensors, writeFileAtomic } from './io/files.js';
export type { ReadOptions, AtomicData } from './io/files.js';
