/**
 * Worker threads for the CPU backend in Node (node:worker_threads running matmul-worker.ts; the
 * pool itself is thread-pool.ts). The Node entry point (src/index.ts) starts them on import with
 * defaultThreadCount() threads; the browser bundle never imports this file. Workers are unref()'d,
 * so they never keep the process alive, and start asynchronously (tens of ms): kernels issued
 * before they are ready run on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { getMatmulThreadPool, setMatmulThreadPool } from './matmul.js';
import { CpuThreadPool, type SpawnedWorker } from './thread-pool.js';
import type { WorkerInit } from './wasm/worker-loop.js';

/** Options of {@link enableCpuThreads}. */
export interface CpuThreadOptions {
  /** Total threads including the calling one (default: defaultThreadCount(), at most 16). */
  threads?: number;
  /** How long a worker spins after a job before sleeping in Atomics.wait, in ms (default 1; 0: never spin). */
  spinMs?: number;
}

/** RECUR_THREADS when set (a positive integer), else the cores available to the process. */
export function defaultThreadCount(): number {
  const env = process.env.RECUR_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`RECUR_THREADS must be a positive integer, got '${env}'`);
    return n;
  }
  return availableParallelism();
}

class NodeThreadPool extends CpuThreadPool {}

function spawnNodeWorker(init: WorkerInit, onGone: (error?: unknown) => void): SpawnedWorker {
  // the workers keep the WebAssembly engine flags (e.g. relaxed SIMD, which the module may use) and
  // nothing else: process-level flags (--input-type, --trace-gc, ...) are refused in workers
  const execArgv = process.execArgv.filter((a) => /^--(no-)?(experimental-)?wasm/.test(a));
  const w = new Worker(new URL('./matmul-worker.js', import.meta.url), { workerData: init, name: `recur-cpu-${init.index}`, execArgv });
  w.on('error', (e) => onGone(e));
  w.on('exit', () => onGone());
  w.unref();
  return { terminate: () => void w.terminate() };
}

/**
 * Uses `threads` threads (the calling one included) for the CPU kernels: matmul, the element-wise
 * SIMD kernels and the fused cells, each above its size threshold. Returns the total now in use
 * (1: threads off, e.g. on one core). Also the public `setCpuThreads` of the Node entry point.
 */
export function enableCpuThreads(options: CpuThreadOptions | number = {}): number {
  const opts = typeof options === 'number' ? { threads: options } : options;
  const total = Math.max(1, Math.min(16, Math.floor(opts.threads ?? defaultThreadCount())));
  const current = getMatmulThreadPool();
  if (current instanceof NodeThreadPool && current.size === total - 1) return total;
  if (total <= 1) {
    setMatmulThreadPool(null);
    return 1;
  }
  setMatmulThreadPool(new NodeThreadPool(total - 1, opts.spinMs ?? 1, spawnNodeWorker));
  return total;
}

/** Stops the worker threads (kernels continue single-threaded). */
export function disableCpuThreads(): void {
  setMatmulThreadPool(null);
}

/** Resolves once all workers are ready to take work (or after timeoutMs) with the thread count usable now. */
export async function cpuThreadsReady(timeoutMs = 5000): Promise<number> {
  const pool = getMatmulThreadPool();
  return pool instanceof CpuThreadPool ? pool.whenReady(timeoutMs) : 1;
}
