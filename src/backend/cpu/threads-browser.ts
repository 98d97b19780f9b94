/**
 * Worker threads for the CPU backend in a browser page (Web Workers running cpu-worker-browser.js,
 * the pool itself is thread-pool.ts). Threads need shared WebAssembly memory, which browsers give
 * only to cross-origin isolated pages (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`); elsewhere the backend runs on one thread and
 * cpuThreadNotice() says why. The worker script is loaded from next to this module
 * (`new URL('./cpu-worker-browser.js', import.meta.url)`): a bundle must ship it beside itself.
 */
import { getMatmulThreadPool, setMatmulThreadPool } from './matmul.js';
import { CpuThreadPool, type SpawnedWorker } from './thread-pool.js';
import type { WorkerInit } from './wasm/worker-loop.js';

/** Whether this page may share memory with workers (cross-origin isolated, SharedArrayBuffer and Worker present). */
export function canUseBrowserThreads(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  return g.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function' && typeof g.Worker === 'function';
}

/** One line saying why the page runs on one CPU thread, or null when threads are possible. */
export function cpuThreadNotice(): string | null {
  if (canUseBrowserThreads()) return null;
  return 'recur: the CPU backend runs on one thread: this page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp to use every core)';
}

function spawnBrowserWorker(init: WorkerInit, onGone: (error?: unknown) => void): SpawnedWorker {
  const w = new Worker(new URL('./cpu-worker-browser.js', import.meta.url), { type: 'module', name: `recur-cpu-${init.index}` });
  w.addEventListener('error', (e) => onGone(e.message));
  w.postMessage(init);
  return { terminate: () => w.terminate() };
}

/**
 * Starts `threads` threads in total (default: navigator.hardwareConcurrency, at most 16) where the
 * page allows it; returns the total in use (1 when it does not).
 */
export function enableBrowserThreads(threads?: number): number {
  if (!canUseBrowserThreads()) return 1;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const total = Math.max(1, Math.min(16, Math.floor(threads ?? cores)));
  const current = getMatmulThreadPool();
  if (current instanceof CpuThreadPool && current.size === total - 1) return total;
  if (total <= 1) { setMatmulThreadPool(null); return 1; }
  setMatmulThreadPool(new CpuThreadPool(total - 1, 1, spawnBrowserWorker));
  return total;
}
