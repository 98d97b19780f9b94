/**
 * The gated linear recurrence of a LinearScanCellDef (minGRU, minLSTM, or a user's) as one
 * differentiable op: h_t = a_t ⊙ h_{t−1} + b_t with (a_t, b_t) computed from the projection's
 * chunks by the cell's expressions. One kernel forward and one backward where the backend
 * renders the definition (cellScan/cellScanGrad), the composite ops otherwise: the cell's
 * expressions evaluated with tensor ops and a log- or real-space scan, differentiated by autograd
 * (the reference the kernels are tested against).
 */
import type { Backend } from '../backend/backend.js';
import type { LinearScanCellDef } from '../backend/pointwise/linear-scan-cell.js';
import { exp, linearScan, log, logScan, reshape, split, where } from '../tensor/ops.js';
import { Tensor, describe, formatShape, result } from '../tensor/tensor.js';
import { evaluateTensors } from './pointwise.js';
import { checkLengths, lengthsTensor, validMask, type Lengths } from './sequence.js';

/** Options of {@link cellScan}. */
export interface CellScanOptions {
  /** Initial state [batch, dim]; absent means zeros. In log mode it must be positive. */
  h0?: Tensor | null;
  /**
   * How the composite path evaluates the recurrence: 'log' (log-space scan, the default) or
   * 'real'. A fused kernel computes the same function in real space whatever this says.
   */
  scan?: 'log' | 'real';
  /** Set false to force the composite path (tests, debugging). */
  fused?: boolean;
  /** A padded batch: real steps per row (src/cells/sequence.ts). */
  lengths?: Lengths | null;
}

/** Whether a backend runs cellScan as one kernel. */
export function hasFusedCellScan(b: Backend): boolean {
  return typeof b.cellScan === 'function' && typeof b.cellScanGrad === 'function';
}

/** The recurrence's coefficients h_t = a_t ⊙ h_{t−1} + b_t, in log or real space. */
export interface ScanCoefficients { a: Tensor; b: Tensor }

/** The cell's coefficients from the projection's chunks (the composite scan and the cells' step() use it). */
export function scanCoefficients(cell: LinearScanCellDef, parts: readonly Tensor[], space: 'log' | 'real'): ScanCoefficients {
  const inputs = Object.fromEntries(parts.map((p, i) => [`p${i}`, p]));
  const { a, b } = space === 'log' ? cell.log : cell.coefficients;
  const [ta, tb] = evaluateTensors([a, b], inputs);
  return { a: ta, b: tb };
}

/**
 * h [B, T, D] of the cell from its projected input proj [B, T, C·D] (C = cell.chunks),
 * differentiable w.r.t. proj and h0.
 */
export function cellScan(cell: LinearScanCellDef, proj: Tensor, opts: CellScanOptions = {}): Tensor {
  const C = cell.chunks, what = `cellScan(${cell.name})`;
  if (proj.rank !== 3 || proj.shape[2] % C !== 0) throw new Error(`${what}: proj ${describe(proj)} must be [B, T, ${C}·D]`);
  if (proj.dtype === 'i32') throw new Error(`${what}: proj ${describe(proj)} must be a float tensor`);
  const [batch, time, width] = proj.shape;
  const dim = width / C;
  const h0 = opts.h0 ?? null;
  if (h0) {
    if (formatShape(h0.shape) !== formatShape([batch, dim]) || h0.dtype !== proj.dtype) {
      throw new Error(`${what}: h0 ${describe(h0)} must be ${formatShape([batch, dim])} ${proj.dtype}`);
    }
    if (h0.backend !== proj.backend) throw new Error(`${what}: h0 is on ${h0.backend.name}, proj on ${proj.backend.name}`);
  }
  const b = proj.backend;
  const lengths = opts.lengths ? checkLengths(what, opts.lengths, batch, time) : null;
  if (opts.fused === false || !hasFusedCellScan(b) || (lengths && !b.sequenceLengths)) return composite(cell, proj, h0, dim, opts.scan ?? 'log', lengths);

  const lens = lengths && lengthsTensor(lengths, b);
  const out = b.alloc(batch * time * dim, proj.dtype);
  b.cellScan!(cell, proj.buffer, h0?.buffer ?? null, out, batch, time, dim, lens?.buffer ?? null);
  const inputs = h0 ? [proj, h0] : [proj];
  const h = result(b, out, [batch, time, dim], what, inputs, (g) => {
    const dproj = b.alloc(proj.size, proj.dtype);
    const wantH0 = h0 !== null && h0.requiresGrad;
    const dh0 = wantH0 ? b.alloc(h0!.size, h0!.dtype) : null;
    b.cellScanGrad!(cell, proj.buffer, h0?.buffer ?? null, h.buffer, g.buffer, dproj, dh0, batch, time, dim, lens?.buffer ?? null);
    const grads: (Tensor | null)[] = [Tensor.fromBuffer(b, dproj, proj.shape)];
    if (h0) grads.push(dh0 ? Tensor.fromBuffer(b, dh0, h0.shape) : null);
    return grads;
  });
  return h;
}

/** The same function in ordinary ops: the reference the fused kernels are tested against. */
function composite(cell: LinearScanCellDef, proj: Tensor, h0: Tensor | null, dim: number, mode: 'log' | 'real', lengths: Int32Array | null): Tensor {
  const parts = split(proj, new Array(cell.chunks).fill(dim), -1);
  let { a, b } = scanCoefficients(cell, parts, mode);
  if (lengths) {
    // padding is h_t = h_{t−1}: a = 1, b = 0 (log space: 0 and −∞) inside the scan
    const real = reshape(validMask(lengths, proj.shape[1], proj), [proj.shape[0], proj.shape[1], 1]);
    a = where(real, a, mode === 'log' ? 0 : 1);
    b = where(real, b, mode === 'log' ? -Infinity : 0);
  }
  if (mode === 'log') return exp(logScan(a, b, { h0: h0 ? log(h0) : null, axis: 1 }));
  return linearScan(a, b, { h0, axis: 1 });
}
