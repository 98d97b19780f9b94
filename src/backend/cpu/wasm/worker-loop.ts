/**
 * The loop of a CPU helper thread, shared by the Node worker (matmul-worker.ts) and the browser
 * worker (cpu-worker-browser.ts). No Node or DOM imports.
 *
 * Handoff is through a small SharedArrayBuffer control block (threads-protocol.ts): the calling
 * thread bumps a worker's wake-up word and Atomics.notify()s it; the worker enters the job
 * described in the shared wasm memory through its gate and claims work units; no postMessage per
 * call.
 */
import { J, JOB_WORDS, KIND_ELEMENTWISE, KIND_UNITS, leaveJob, runGemmShare, tryEnterJob } from './gemm.js';
import { runElementwiseShare } from './elementwise.js';
import { UJ, runUnitsShare } from './units.js';
import type { KernelExports } from './kernels.js';
import { CMD_EXIT, CTRL, CTRL_STRIDE } from './threads-protocol.js';

export interface WorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  ctrl: SharedArrayBuffer;
  index: number;
  spinMs: number;
}

/**
 * A helper thread's life: instantiate the module on the shared memory, mark itself ready, then
 * wait for wake-ups (spinning briefly, then Atomics.wait), enter the job through its gate, run
 * its share (GEMM, element-wise or unit job), leave. Returns when told to exit.
 */
export function runWorker(init: WorkerInit): void {
  const ctrl = new Int32Array(init.ctrl);
  const base = init.index * CTRL_STRIDE;
  let exports: KernelExports;
  try {
    const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
    exports = instance.exports as unknown as KernelExports;
  } catch (e) {
    Atomics.store(ctrl, base + CTRL.ready, -1);
    throw e;
  }
  // unit jobs name their kernel by export index (the calling thread numbers them the same way)
  const exportNames = WebAssembly.Module.exports(init.module).map((e) => e.name);
  let seen = Atomics.load(ctrl, base + CTRL.seq);
  Atomics.store(ctrl, base + CTRL.ready, 1);
  const spinMs = init.spinMs;
  let noSpinUntil = 0;
  for (;;) {
    let seq = Atomics.load(ctrl, base + CTRL.seq);
    if (seq === seen) {
      // Spinning briefly saves the futex wake-up (tens of µs) when matmuls come back to back.
      // But if the spin itself gets descheduled (cores oversubscribed), spinning only steals CPU
      // from the caller: then sleep right away, and do not spin again for a while.
      let tLast = performance.now();
      const t0 = tLast;
      let spins = 0;
      let spin = spinMs > 0 && tLast >= noSpinUntil;
      while ((seq = Atomics.load(ctrl, base + CTRL.seq)) === seen) {
        if (!spin) {
          Atomics.wait(ctrl, base + CTRL.seq, seen);
          continue;
        }
        if ((++spins & 127) === 0) {
          const now = performance.now();
          const preempted = now - tLast > 0.3;
          if (preempted) noSpinUntil = now + 100;
          if (preempted || now - t0 > spinMs) spin = false;
          tLast = now;
        }
      }
    }
    seen = seq;
    if (Atomics.load(ctrl, base + CTRL.cmd) === CMD_EXIT) return;
    const job = new Int32Array(init.memory.buffer, Atomics.load(ctrl, base + CTRL.jobPtr), JOB_WORDS);
    const t = tryEnterJob(job);
    if (t === 0) continue; // woken too late: the caller already finished the job alone
    let ok = true;
    try {
      if (job[J.kind] === KIND_ELEMENTWISE) runElementwiseShare(exports as unknown as Record<string, unknown>, job, J.nextUnit);
      else if (job[J.kind] === KIND_UNITS) {
        const kernel = (exports as unknown as Record<string, (...a: number[]) => void>)[exportNames[job[UJ.kernel]!]!]!;
        runUnitsShare(kernel, job, new Int32Array(init.memory.buffer), J.nextUnit);
      }
      else runGemmShare(exports, job, t);
    } catch (e) {
      ok = false;
      console.error('recur matmul worker failed:', e);
    }
    leaveJob(job, ok);
  }
}

