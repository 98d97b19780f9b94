/**
 * Which backend a page run uses. The playground asks for WebGPU where the browser has an adapter
 * and this build has a WebGPU backend, and otherwise trains on the CPU backend (WebAssembly SIMD)
 * with a visible notice saying why.
 *
 * The one place that knows the GPU backend: GPU_BACKEND below (null while this build has none).
 */
import { setBackend } from '../tensor/engine.js';
import { initWebGPU } from '../register-webgpu.js';
import type { DevicePreference } from './settings.js';

/** Makes the GPU backend current and returns its adapter's name; throws a one-sentence reason when it cannot. */
type GpuBackendOpener = () => Promise<string>;

const GPU_BACKEND: GpuBackendOpener | null = async () => {
  const gpu = await initWebGPU();
  setBackend('webgpu');
  return gpu.adapter.description || 'WebGPU adapter';
};

export interface OpenedDevice {
  /** What the page shows: `webgpu: <adapter>` or `cpu`. */
  label: string;
  /** Why the page runs on the CPU although WebGPU was wanted (null when nothing to say). */
  notice: string | null;
}

interface NavigatorWithGpu {
  gpu?: { requestAdapter(): Promise<unknown | null> };
}

/** Whether the browser offers a WebGPU adapter at all (a reason when it does not). */
async function gpuAbsence(): Promise<string | null> {
  const gpu = (globalThis.navigator as NavigatorWithGpu | undefined)?.gpu;
  if (!gpu) return 'this browser does not offer WebGPU (navigator.gpu is missing)';
  const adapter = await gpu.requestAdapter().catch(() => null);
  return adapter ? null : 'this browser offers WebGPU but no adapter (no usable GPU or driver)';
}

export async function openDevice(preference: DevicePreference): Promise<OpenedDevice> {
  if (preference === 'cpu') {
    setBackend('cpu');
    return { label: 'cpu', notice: null };
  }
  const absent = await gpuAbsence();
  let reason: string;
  if (absent) reason = absent;
  else if (!GPU_BACKEND) reason = 'this build of recur has no WebGPU backend yet';
  else {
    try {
      return { label: `webgpu: ${await GPU_BACKEND()}`, notice: null };
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
  }
  setBackend('cpu');
  return { label: 'cpu', notice: `WebGPU is not used: ${reason}. Training runs on the CPU (WebAssembly SIMD).` };
}
