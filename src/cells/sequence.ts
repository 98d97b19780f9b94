/**
 * Padded batches: sequences of different lengths in one [B, T, …] batch, each real for its first
 * lengths[b] steps. A padded step keeps the state as it is (its output repeats the last real h),
 * takes no input and returns no gradient to it, so the state after the batch, the outputs that
 * are read and every gradient equal those of each sequence run alone (test/cells/sequence.test.ts).
 * The fused kernels take the lengths (Backend.sequenceLengths); elsewhere the scans' coefficients
 * are masked inside the recurrence (a = 1, b = 0 on padding), never the outputs afterwards.
 */
import type { Backend } from '../backend/backend.js';
import { fromHost } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** Real steps per batch row: each in 1..T. */
export type Lengths = readonly number[] | Int32Array;

/** Options of a cell's forward over a padded batch. */
export interface SequenceOptions {
  /** Real steps per row (1..T); absent: every row has T. */
  lengths?: Lengths | null;
}

/** The lengths as an Int32Array after checking them against the batch (B rows of T steps). */
export function checkLengths(what: string, lengths: Lengths, B: number, T: number): Int32Array {
  if (lengths.length !== B) throw new Error(`${what}: ${lengths.length} lengths for a batch of ${B}`);
  const out = Int32Array.from(lengths);
  out.forEach((n, b) => {
    if (!Number.isInteger(lengths[b]) || n < 1 || n > T) throw new Error(`${what}: length ${lengths[b]} of row ${b} must be an integer in 1..${T}`);
  });
  return out;
}

/** The lengths on a backend (i32 [B]) for a fused kernel. */
export function lengthsTensor(lengths: Int32Array, backend: Backend): Tensor {
  return fromHost(lengths, [lengths.length], { dtype: 'i32', backend });
}

/** 1 where step t of row b is real, 0 on padding: [B, T] in the dtype and on the backend of `like`. */
export function validMask(lengths: Int32Array, T: number, like: Tensor): Tensor {
  const m = like.dtype === 'f64' ? new Float64Array(lengths.length * T) : new Float32Array(lengths.length * T);
  lengths.forEach((n, b) => m.fill(1, b * T, b * T + n));
  return fromHost(m, [lengths.length, T], { dtype: like.dtype, backend: like.backend });
}
