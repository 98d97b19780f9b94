/**
 * The gated linear recurrence of a LinearScanCellDef (minGRU, minLSTM, …) on the CPU, fused: one
 * pass forward that computes each step's coefficients from the projection and applies
 * h_t = a_t·h_{t−1} + b_t, and one pass backward that runs the reverse scan
 * g_t = dh_t + a_{t+1}·g_{t+1} and the cell's backward expressions (render-wasm.ts renders both
 * from the definition). Arithmetic in doubles, storage in the dtype; the carry is f64.
 *
 * Layouts: proj [B, T, C·D] (chunk c of unit k at c·D + k), h0 [B, D] or null, h [B, T, D],
 * lengths [B] or null (steps t ≥ lengths[b] are padding: h stays, no input, no gradient to proj).
 */
import type { LinearScanCellDef } from '../pointwise/linear-scan-cell.js';
import type { FloatArray } from './matmul.js';
import { Arena, cellKernels, storage, view } from './render-wasm.js';

function check(what: string, a: FloatArray | null, n: number): void {
  if (a && a.length !== n) throw new Error(`cellScan kernel: ${what} has ${a.length} elements, expected ${n}`);
}

/** h [B, T, D] from proj and h0 (zeros when null). */
export function cellScan(cell: LinearScanCellDef, proj: FloatArray, h0: FloatArray | null, out: FloatArray,
                         B: number, T: number, D: number, lengths: Int32Array | null = null): void {
  const C = cell.chunks;
  check('proj', proj, B * T * C * D); check('h0', h0, B * D); check('out', out, B * T * D);
  const t = storage(proj), es = t === 'f64' ? 8 : 4;
  const row = cellKernels.scanKernels(cell, t);
  const mem = new Arena(es);
  const pAt = mem.take(proj.length), h0At = mem.take(B * D), hAt = mem.take(B * T * D);
  const buf = mem.commit();
  view(buf, t, pAt, proj.length).set(proj);
  const first = view(buf, t, h0At, B * D);
  if (h0) first.set(h0); else first.fill(0);
  const h = view(buf, t, hAt, B * T * D);
  for (let b = 0; b < B; b++) {
    const len = lengthOf(lengths, b, T);
    for (let s = 0; s < len; s++) {
      const prev = s === 0 ? h0At + b * D * es : hAt + ((b * T + s - 1) * D) * es;
      row.forward(pAt + ((b * T + s) * C * D) * es, D * es, prev, hAt + ((b * T + s) * D) * es, D);
    }
    // padding keeps the last real state
    for (let s = len; s < T; s++) h.copyWithin((b * T + s) * D, (b * T + s - 1) * D, (b * T + s) * D);
  }
  out.set(h);
}

/** dproj (and dh0 when given) from proj, h0, h and dh. */
export function cellScanGrad(cell: LinearScanCellDef, proj: FloatArray, h0: FloatArray | null, h: FloatArray, dh: FloatArray,
                             dproj: FloatArray, dh0: FloatArray | null, B: number, T: number, D: number, lengths: Int32Array | null = null): void {
  const C = cell.chunks;
  check('proj', proj, B * T * C * D); check('h0', h0, B * D); check('h', h, B * T * D); check('dh', dh, B * T * D);
  check('dproj', dproj, B * T * C * D); check('dh0', dh0, B * D);
  const t = storage(proj), es = t === 'f64' ? 8 : 4;
  const row = cellKernels.scanKernels(cell, t);
  const mem = new Arena(es);
  const pAt = mem.take(proj.length), h0At = mem.take(B * D), hAt = mem.take(B * T * D), dhAt = mem.take(B * T * D);
  const dpAt = mem.take(proj.length), carryAt = mem.take(B * D, 8);
  const buf = mem.commit();
  view(buf, t, pAt, proj.length).set(proj);
  const first = view(buf, t, h0At, B * D);
  if (h0) first.set(h0); else first.fill(0);
  view(buf, t, hAt, h.length).set(h);
  view(buf, t, dhAt, dh.length).set(dh);
  const carry = new Float64Array(buf, carryAt, B * D);
  carry.fill(0);
  const dp = view(buf, t, dpAt, proj.length), dhv = view(buf, t, dhAt, dh.length);
  for (let b = 0; b < B; b++) {
    const len = lengthOf(lengths, b, T);
    // a padded step is the identity: its gradient joins the carry, its projection gets none
    for (let s = T - 1; s >= len; s--) {
      for (let k = 0; k < D; k++) carry[b * D + k] += dhv[(b * T + s) * D + k];
      dp.fill(0, (b * T + s) * C * D, (b * T + s + 1) * C * D);
    }
    for (let s = len - 1; s >= 0; s--) {
      const prev = s === 0 ? h0At + b * D * es : hAt + ((b * T + s - 1) * D) * es;
      const at = ((b * T + s) * C * D) * es;
      row.backward(pAt + at, D * es, dhAt + ((b * T + s) * D) * es, carryAt + b * D * 8, prev, dpAt + at, D);
    }
  }
  dproj.set(dp);
  // after step 0 the carry is a_0·g_0 = dL/dh_0
  if (dh0) for (let i = 0; i < B * D; i++) dh0[i] = carry[i];
}

/** Real steps of row b: lengths[b] (checked to be in 1..T), or T without lengths. */
export function lengthOf(lengths: Int32Array | null, b: number, T: number): number {
  if (!lengths) return T;
  const n = lengths[b];
  if (!(n >= 1 && n <= T)) throw new Error(`sequence lengths: row ${b} has length ${n}, expected 1..${T}`);
  return n;
}
