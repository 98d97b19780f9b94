/**
 * Control-block layout shared by threads-node.ts (main side) and matmul-worker.ts: one
 * CTRL_STRIDE-int slot per worker (64 bytes apart, so workers do not share cache lines) in a
 * SharedArrayBuffer owned by the pool. It only carries wake-ups; the work itself is described by
 * the job descriptor in wasm memory, which helpers join through its gate (see gemm.ts).
 */
export const CTRL = {
  /** Bumped by the main thread to wake the worker (the worker waits on this word). */
  seq: 0,
  /** Byte offset of the job descriptor in wasm memory. */
  jobPtr: 1,
  /** CMD_RUN or CMD_EXIT, read by the worker when seq changes. */
  cmd: 2,
  /** 1 once the worker has instantiated the module, -1 if it failed or exited. */
  ready: 3,
} as const;
export const CTRL_STRIDE = 16;
export const CMD_RUN = 0;
export const CMD_EXIT = 1;
