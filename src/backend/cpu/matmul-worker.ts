/**
 * Worker thread of the Node matmul pool (spawned by threads-node.ts; not imported by anything).
 *
 * It instantiates the GEMM kernel module against the shared wasm memory, marks itself ready, then
 * loops: wait for its wake-up word to change (spinning briefly, then Atomics.wait), try to enter
 * the current job through its gate, claim and run work units, leave. No postMessage per call.
 */
import { workerData } from 'node:worker_threads';
import { JOB_WORDS, leaveJob, runGemmShare, tryEnterJob } from './wasm/gemm.js';
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
  let seen = Atomics.load(ctrl, base + CTRL.seq);
  Atomics.store(ctrl, base + CTRL.ready, 1);
  const spinMs = init.spinMs;
  for (;;) {
    let seq = Atomics.load(ctrl, base + CTRL.seq);
    if (seq === seen) {
      // Spin a little first: matmuls in a training loop come back to back, and waking from a
      // futex costs tens of microseconds.
      const t0 = performance.now();
      let spins = 0;
      while ((seq = Atomics.load(ctrl, base + CTRL.seq)) === seen) {
        if ((++spins & 127) === 0 && performance.now() - t0 > spinMs) {
          Atomics.wait(ctrl, base + CTRL.seq, seen);
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
      runGemmShare(exports, job, t);
    } catch (e) {
      ok = false;
      console.error('recur matmul worker failed:', e);
    }
    leaveJob(job, ok);
  }
}

main();
