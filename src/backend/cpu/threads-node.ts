/**
 * Node-only worker-thread pool for the f32 wasm matmul (implements MatmulThreadPool from
 * matmul.ts). The Node entry point calls enableCpuThreads(); the browser bundle never imports this.
 *
 * Handoff is through a small SharedArrayBuffer control block (see wasm/threads-protocol.ts):
 * the main thread bumps a worker's wake-up word and Atomics.notify()s it; after each wake-up a
 * worker spins for spinMs before falling back to Atomics.wait (so matmuls in a loop skip the
 * futex wake-up, which takes tens of µs and sometimes milliseconds in a VM), and stops spinning
 * for a while when it notices it is being descheduled (the cores are needed elsewhere). A woken
 * worker enters the job described
 * in the shared wasm memory through its gate and claims work units (wasm/gemm.ts); the calling
 * thread works on the same job and waits only for helpers that actually entered, so a slow
 * wake-up never stalls it. Workers are unref()'d, so they never keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { getMatmulThreadPool, setMatmulThreadPool, type MatmulThreadPool } from './matmul.js';
import { CMD_EXIT, CMD_RUN, CTRL, CTRL_STRIDE } from './wasm/threads-protocol.js';

/** Options of {@link enableCpuThreads}. */
export interface CpuThreadOptions {
  /** Total threads including the calling one (default: os.availableParallelism(), at most 16). */
  threads?: number;
  /** How long a worker spins after a job before sleeping in Atomics.wait, in ms (default 1; 0: never spin). */
  spinMs?: number;
}

class NodeMatmulPool implements MatmulThreadPool {
  private ctrl: Int32Array;
  private workers: Worker[] = [];
  private seq: number[];

  constructor(readonly size: number, private readonly spinMs: number) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(size * CTRL_STRIDE * 4));
    this.seq = new Array<number>(size).fill(0);
  }

  attach(memory: WebAssembly.Memory, module: WebAssembly.Module): void {
    this.stopWorkers();
    // A fresh control block per generation: exit events of old workers must not touch new slots.
    const ctrl = new Int32Array(new SharedArrayBuffer(this.size * CTRL_STRIDE * 4));
    this.ctrl = ctrl;
    this.seq.fill(0);
    const url = new URL('./matmul-worker.js', import.meta.url);
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(url, {
        workerData: { memory, module, ctrl: ctrl.buffer, index: i, spinMs: this.spinMs },
        name: `recur-matmul-${i}`,
      });
      const base = i * CTRL_STRIDE;
      w.on('error', (e) => {
        Atomics.store(ctrl, base + CTRL.ready, -1);
        console.error('recur: matmul worker error:', e);
      });
      w.on('exit', () => {
        Atomics.store(ctrl, base + CTRL.ready, -1);
      });
      w.unref();
      this.workers.push(w);
    }
  }

  readyWorkers(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) if (Atomics.load(this.ctrl, i * CTRL_STRIDE + CTRL.ready) === 1) n++;
    return n;
  }

  wake(jobPtr: number, count: number): void {
    const ctrl = this.ctrl;
    let woken = 0;
    for (let i = 0; i < this.workers.length && woken < count; i++) {
      const base = i * CTRL_STRIDE;
      if (Atomics.load(ctrl, base + CTRL.ready) !== 1) continue;
      ctrl[base + CTRL.jobPtr] = jobPtr;
      ctrl[base + CTRL.cmd] = CMD_RUN;
      const s = (this.seq[i]! + 1) | 0;
      this.seq[i] = s;
      Atomics.store(ctrl, base + CTRL.seq, s); // seq-cst store publishes the fields above
      Atomics.notify(ctrl, base + CTRL.seq);
      woken++;
    }
  }

  detach(): void {
    this.stopWorkers();
  }

  private stopWorkers(): void {
    for (let i = 0; i < this.workers.length; i++) {
      const base = i * CTRL_STRIDE;
      ctrl_exit(this.ctrl, base, (this.seq[i]! + 1) | 0);
      void this.workers[i]!.terminate();
    }
    this.workers = [];
  }
}

function ctrl_exit(ctrl: Int32Array, base: number, seq: number): void {
  ctrl[base + CTRL.cmd] = CMD_EXIT;
  Atomics.store(ctrl, base + CTRL.ready, 0);
  Atomics.store(ctrl, base + CTRL.seq, seq);
  Atomics.notify(ctrl, base + CTRL.seq);
}

/**
 * Enables worker threads for large f32 matmuls. Returns the total number of threads now used
 * (1 means threads stay off, e.g. on a single-core machine). Workers start asynchronously (tens
 * of ms); matmuls issued before they are ready simply run on the calling thread.
 */
export function enableCpuThreads(options: CpuThreadOptions | number = {}): number {
  const opts = typeof options === 'number' ? { threads: options } : options;
  const total = Math.max(1, Math.min(16, Math.floor(opts.threads ?? availableParallelism())));
  const current = getMatmulThreadPool();
  if (current instanceof NodeMatmulPool && current.size === total - 1) return total;
  if (total <= 1) {
    setMatmulThreadPool(null);
    return 1;
  }
  setMatmulThreadPool(new NodeMatmulPool(total - 1, opts.spinMs ?? 1));
  return total;
}

/** Stops the worker threads (matmul continues single-threaded). */
export function disableCpuThreads(): void {
  setMatmulThreadPool(null);
}

/** Resolves once all workers are ready to take work (or after timeoutMs) with the thread count usable now. */
export async function cpuThreadsReady(timeoutMs = 5000): Promise<number> {
  const pool = getMatmulThreadPool();
  if (!(pool instanceof NodeMatmulPool)) return 1;
  const t0 = Date.now();
  while (pool.readyWorkers() < pool.size && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 2));
  }
  return 1 + pool.readyWorkers();
}
