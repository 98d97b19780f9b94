/**
 * Worker thread of the Node CPU pool (GEMM and element-wise jobs) (spawned by threads-node.ts; not imported by anything).
 *
 * It instantiates the GEMM kernel module against the shared wasm memory, marks itself ready, then
 * loops: wait for its wake-up word to change (spinning briefly, then Atomics.wait), try to enter
 * the current job through its gate, claim and run work units, leave. No postMessage per call.
 */
import { workerData } from 'node:worker_threads';
import { J, JOB_WORDS, KIND_ELEMENTWISE, KIND_UNITS, leaveJob, runGemmShare, tryEnterJob } from './wasm/gemm.js';
import { UJ, runUnitsShare } from './wasm/units.js';
import { runElementwiseShare } from './wasm/elementwise.js';
import type { KernelExports } from './wasm/kernels.js';
import { CMD_EXIT, CTRL, CTRL_STRIDE } from './wasm/threads-protocol.js';

interface WorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  ctrl: SharedArrayBuffer;
  index: number;
  spinMs: number;
}

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const base = init.index * CTRL_STRIDE;

function main(): void {
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

main();
