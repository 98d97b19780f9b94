/**
 * Control-block layout shared by threads-node.ts (main side) and matmul-worker.ts: one
 * CTRL_STRIDE-int slot per worker (64 bytes apart, so workers do not share cache lines) in a
 * SharedArrayBuffer owned by the pool.
 */
export const CTRL = {
  /** Bumped by the main thread to start a job (the worker waits on this word). */
  seq: 0,
  /** Byte offset of the job descriptor in wasm memory. */
  jobPtr: 1,
  /** Thread index within the job (1-based; the calling thread is 0). */
  thread: 2,
  /** Set by the worker to the seq it finished (the main thread waits on this word). */
  done: 3,
  /** STATUS_OK or STATUS_ERROR for the last job. */
  status: 4,
  /** 1 once the worker has instantiated the module, -1 if that failed. */
  ready: 5,
  /** CMD_RUN or CMD_EXIT, read by the worker when seq changes. */
  cmd: 6,
} as const;
export const CTRL_STRIDE = 16;
export const CMD_RUN = 0;
export const CMD_EXIT = 1;
export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
