/**
 * `ready()`: prepares the CPU backend's kernels (compiles the WebAssembly module, waits for the
 * helper threads to start) and says what will run. Browser-safe.
 */
import { getMatmulThreadPool, initMatmulWasm, matmulInfo } from './matmul.js';
import { cpuThreadNotice } from './threads-browser.js';

/** What the CPU backend runs, as `ready()` reports it. */
export interface CpuReadyInfo {
  /** 'wasm-simd' (f32x4), 'wasm-simd-relaxed' (with fused multiply-add), or 'js' (no WebAssembly SIMD here). */
  kernel: 'wasm-simd' | 'wasm-simd-relaxed' | 'js';
  /** Threads the kernels use now, the calling one included. */
  threads: number;
  /** Whether the wasm memory is shared (required for threads). */
  sharedMemory: boolean;
  /** One line on why fewer threads or no SIMD, else null. */
  notice: string | null;
}

const inNode = typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;

/**
 * Preloads the CPU kernels (the WebAssembly module, the worker threads) and reports which kernel
 * and how many threads are in use, with a one-line notice when fewer threads or no SIMD are available.
 */
export async function ready(): Promise<CpuReadyInfo> {
  const wasm = await initMatmulWasm();
  const pool = getMatmulThreadPool() as { whenReady?: (ms?: number) => Promise<number> } | null;
  if (pool?.whenReady) await pool.whenReady();
  const info = matmulInfo();
  const kernel = !wasm || !info.wasm ? 'js' : info.fma ? 'wasm-simd-relaxed' : 'wasm-simd';
  let notice: string | null = null;
  if (kernel === 'js') notice = 'recur: no WebAssembly SIMD in this engine: the CPU backend runs scalar JavaScript kernels';
  else if (info.threads === 1 && !inNode) notice = cpuThreadNotice();
  return { kernel, threads: info.threads, sharedMemory: info.shared, notice };
}
