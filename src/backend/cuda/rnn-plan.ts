/**
 * Which kernels run a fused recurrence (rnnForward / rnnBackward): the "fused" persistent kernels
 * (kernels/rnn-fused.ts, R of a head in one block's shared memory for all T steps) wherever
 * rnnFusedPlan accepts the problem, else the "grid" kernels (kernels/rnn-grid.ts, one head's units
 * split over up to one block per SM, meeting at a grid barrier every step) wherever rnnGridPlanFor
 * does, else the "alternating" path (kernels/rnn.ts, a GEMM and a pointwise launch per step).
 * RECUR_CUDA_RNN=fused|grid|alternating (or the backend's rnnKernel field) forces one.
 */
import type { DType, RnnCellDef, RnnDims } from '../backend.js';
import { RNN_FUSED_ROWS, rnnFusedSmemBytes, rnnFusedSplit } from './kernels/rnn-fused.js';
import { rnnGridPlan, type RnnGridPlan } from './kernels/rnn-grid.js';

export type RnnKernelChoice = 'auto' | 'fused' | 'grid' | 'alternating';

/** The fused path's launch shape: N × `tiles` blocks of `threads`, `smem` bytes of dynamic shared memory each. */
export interface RnnFusedPlan { ks: number; threads: number; smem: number; tiles: number }

/** The path a problem takes, with its launch shape. */
export type RnnPath = { path: 'fused'; plan: RnnFusedPlan } | { path: 'grid'; plan: RnnGridPlan } | { path: 'alternating' };

/** What the planner needs to know of the device. */
export interface RnnDeviceLimits {
  multiprocessors: number;
  /** The most dynamic shared memory a block may opt into (bytes). */
  sharedMemoryOptin: number;
}

/** Whether 'auto' takes the grid path where the single-block fused one cannot run. */
const RNN_GRID_AUTO = true;

export function rnnKernelFromEnv(v: string | undefined): RnnKernelChoice {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'fused' || v === 'grid' || v === 'alternating') return v;
  throw new Error(`RECUR_CUDA_RNN must be fused, grid, alternating or auto (got '${v}')`);
}

/**
 * The fused path's launch shape (grid N × ⌈B/4⌉ blocks of 4·d threads and their dynamic shared
 * memory), or why it cannot run: f64 storage, or R_n of all gates (in the storage type; GRU padded
 * to 4 gates) plus the partial sums not fitting the device's opt-in shared memory per block (on the
 * H100, 227 KiB: LSTM/sLSTM/GRU up to d = 116 in f32, 128 in bf16), or more than 512 threads
 * (4 per unit: d > 128).
 */
export function rnnFusedPlan(cell: RnnCellDef, dims: RnnDims, dtype: DType, limits: RnnDeviceLimits): RnnFusedPlan | { reason: string } {
  if (dtype !== 'f32' && dtype !== 'bf16') return { reason: `${dtype} storage (the fused kernels take f32 and bf16)` };
  const d = dims.headDim, ks = rnnFusedSplit(d), threads = d * ks;
  const bytes = rnnFusedSmemBytes(cell, d, ks, dtype === 'bf16' ? 2 : 4), smem = Math.max(bytes.fwd, bytes.bwd);
  const optin = limits.sharedMemoryOptin;
  if (smem > optin) return { reason: `R of one head needs ${smem} bytes of shared memory, the device gives a block ${optin}` };
  if (threads > 512) return { reason: `head size ${d} needs ${threads} threads per block (at most 512)` };
  return { ks, threads, smem, tiles: Math.ceil(dims.batch / RNN_FUSED_ROWS) };
}

/**
 * The grid path's shape (kernels/rnn-grid.ts: units per block, blocks, threads, shared memory)
 * or why it cannot run: f64 storage, more heads than multiprocessors, a block's slice of R plus
 * h of all rows (forward) or 4 rows of dRh (backward) over the opt-in shared memory, more than
 * 32 rows per warp of a unit (batch × units per block over the block's threads).
 */
export function rnnGridPlanFor(cell: RnnCellDef, dims: RnnDims, dtype: DType, limits: RnnDeviceLimits): RnnGridPlan | { reason: string } {
  if (dtype !== 'f32' && dtype !== 'bf16') return { reason: `${dtype} storage (the grid kernels take f32 and bf16)` };
  return rnnGridPlan(cell, dims.heads, dims.headDim, dims.batch, dtype === 'bf16', limits.multiprocessors, limits.sharedMemoryOptin);
}

/**
 * The path rnnForward/rnnBackward follow: fused where it runs (unless 'alternating' or 'grid' is
 * forced), else grid where it runs (when forced, or under 'auto'), else alternating. A forced
 * 'fused' or 'grid' that cannot run throws, saying why.
 */
export function rnnPath(choice: RnnKernelChoice, cell: RnnCellDef, dims: RnnDims, dtype: DType, limits: RnnDeviceLimits): RnnPath {
  if (choice !== 'alternating' && choice !== 'grid') {
    const plan = rnnFusedPlan(cell, dims, dtype, limits);
    if (!('reason' in plan)) return { path: 'fused', plan };
    if (choice === 'fused') throw new Error(`cuda rnn: the fused kernel cannot run this problem: ${plan.reason}`);
  }
  if (choice === 'grid' || (choice === 'auto' && RNN_GRID_AUTO)) {
    const plan = rnnGridPlanFor(cell, dims, dtype, limits);
    if (!('reason' in plan)) return { path: 'grid', plan };
    if (choice === 'grid') throw new Error(`cuda rnn: the grid kernel cannot run this problem: ${plan.reason}`);
  }
  return { path: 'alternating' };
}
