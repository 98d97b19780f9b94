/**
 * The CPU backend's helper-thread pool (implements MatmulThreadPool of matmul.ts), for Node worker
 * threads (threads-node.ts) and browser Web Workers (threads-browser.ts) alike: they differ only in
 * how a worker is started, which `spawn` says. No Node or DOM imports here.
 *
 * Handoff is through a small SharedArrayBuffer control block (wasm/threads-protocol.ts): the main
 * thread bumps a worker's wake-up word and Atomics.notify()s it; after each wake-up a worker spins
 * for spinMs before falling back to Atomics.wait (wasm/worker-loop.ts).
 */
import type { MatmulThreadPool } from './matmul.js';
import { CMD_EXIT, CMD_RUN, CTRL, CTRL_STRIDE } from './wasm/threads-protocol.js';
import type { WorkerInit } from './wasm/worker-loop.js';

/** A started worker: how to stop it. `onGone` is called if it fails or exits. */
export interface SpawnedWorker { terminate(): void }
export type SpawnWorker = (init: WorkerInit, onGone: (error?: unknown) => void) => SpawnedWorker;

export class CpuThreadPool implements MatmulThreadPool {
  private ctrl: Int32Array;
  private workers: SpawnedWorker[] = [];
  private seq: number[];

  constructor(readonly size: number, private readonly spinMs: number, private readonly spawn: SpawnWorker) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(size * CTRL_STRIDE * 4));
    this.seq = new Array<number>(size).fill(0);
  }

  attach(memory: WebAssembly.Memory, module: WebAssembly.Module): void {
    this.stopWorkers();
    // A fresh control block per generation: exit events of old workers must not touch new slots.
    const ctrl = new Int32Array(new SharedArrayBuffer(this.size * CTRL_STRIDE * 4));
    this.ctrl = ctrl;
    this.seq.fill(0);
    for (let i = 0; i < this.size; i++) {
      const base = i * CTRL_STRIDE;
      this.workers.push(this.spawn({ memory, module, ctrl: ctrl.buffer as SharedArrayBuffer, index: i, spinMs: this.spinMs }, (error) => {
        Atomics.store(ctrl, base + CTRL.ready, -1);
        if (error !== undefined) console.error('recur: CPU worker error:', error);
      }));
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

  /** Resolves once every worker is ready (or after timeoutMs) with the thread count usable now. */
  async whenReady(timeoutMs = 5000): Promise<number> {
    const t0 = Date.now();
    while (this.readyWorkers() < this.size && this.workers.length && Date.now() - t0 < timeoutMs) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return 1 + this.readyWorkers();
  }

  detach(): void {
    this.stopWorkers();
  }

  private stopWorkers(): void {
    for (let i = 0; i < this.workers.length; i++) {
      const base = i * CTRL_STRIDE;
      this.ctrl[base + CTRL.cmd] = CMD_EXIT;
      Atomics.store(this.ctrl, base + CTRL.ready, 0);
      Atomics.store(this.ctrl, base + CTRL.seq, (this.seq[i]! + 1) | 0);
      Atomics.notify(this.ctrl, base + CTRL.seq);
      this.workers[i]!.terminate();
    }
    this.workers = [];
  }
}
