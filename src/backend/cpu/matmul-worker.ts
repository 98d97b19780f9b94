/**
 * Worker thread of the Node matmul pool (spawned by threads-node.ts; not imported by anything).
 *
 * It instantiates the GEMM kernel module against the shared wasm memory, marks itself ready, then
 * loops: wait (spin briefly, then Atomics.wait) for its job sequence number to change, run its
 * share of the job described in wasm memory, publish completion. No postMessage per call.
 */
import { workerData } from 'node:worker_threads';
import { JOB_WORDS, runGemmShare } from './wasm/gemm.js';
import type { KernelExports } from './wasm/kernels.js';
import { CTRL, CTRL_STRIDE, CMD_EXIT, STATUS_ERROR, STATUS_OK } from './wasm/threads-protocol.js';

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
      // Spin a little: matmuls in a training loop come back to back, and waking from a futex costs
      // tens of microseconds.
      const t0 = performance.now();
      let spins = 0;
      while ((seq = Atomics.load(ctrl, base + CTRL.seq)) === seen) {
        if ((++spins & 255) === 0 && performance.now() - t0 > spinMs) {
          Atomics.wait(ctrl, base + CTRL.seq, seen);
          seq = Atomics.load(ctrl, base + CTRL.seq);
          if (seq !== seen) break;
        }
      }
    }
    seen = seq;
    if (Atomics.load(ctrl, base + CTRL.cmd) === CMD_EXIT) return;
    let status = STATUS_OK;
    try {
      const jobPtr = Atomics.load(ctrl, base + CTRL.jobPtr);
      const t = Atomics.load(ctrl, base + CTRL.thread);
      runGemmShare(exports, new Int32Array(init.memory.buffer, jobPtr, JOB_WORDS), t);
    } catch (e) {
      status = STATUS_ERROR;
      console.error('recur matmul worker failed:', e);
    }
    Atomics.store(ctrl, base + CTRL.status, status);
    Atomics.store(ctrl, base + CTRL.done, seq);
    Atomics.notify(ctrl, base + CTRL.done);
  }
}

main();
