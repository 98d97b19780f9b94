/**
 * Makes the WebGPU backend selectable by name in the tensor engine (the entry layer, above both
 * src/tensor's registry and src/backend/webgpu). Unlike the other backends its device is created
 * asynchronously, so selecting it takes `await initWebGPU()` first.
 */
import { WebGPUBackend, type WebGPUOptions } from './backend/webgpu/webgpu.js';
import { registerBackend } from './tensor/engine.js';

let instance: WebGPUBackend | null = null;
let pending: Promise<WebGPUBackend> | null = null;

/**
 * Creates the WebGPU device (once) and makes `setBackend('webgpu')` and `backend: 'webgpu'`
 * available. Rejects with one sentence when there is no WebGPU here (no package, no adapter).
 */
export async function initWebGPU(opts: WebGPUOptions = {}): Promise<WebGPUBackend> {
  if (instance) return instance;
  pending ??= WebGPUBackend.create(opts).then((b) => {
    instance = b;
    registerBackend('webgpu', () => b);
    return b;
  }, (e: unknown) => {
    pending = null;
    throw e;
  });
  return pending;
}

/** Registers the name 'webgpu' before initWebGPU has run: selecting it then says what to do. */
export function registerWebGPUBackend(): void {
  if (instance) return;
  registerBackend('webgpu', () => {
    throw new Error("the 'webgpu' backend is created asynchronously: `await initWebGPU()` before selecting it");
  });
}
