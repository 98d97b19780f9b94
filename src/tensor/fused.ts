/**
 * Fused ops: one differentiable op that a backend may run as a single kernel, with a composite
 * fallback written in ordinary ops (the reference the fused kernel is tested against).
 *
 * minRnnScan: the minGRU/minLSTM gate math + linear scan from the input projection.
 * A backend offers it through the optional minRnnScan/minRnnScanGrad methods; the CUDA backend does.
 *
 * norm / addNorm: RMSNorm and LayerNorm over the last axis, optionally after the residual add of
 * a pre-norm block. A backend offers them through the optional norm/normGrad methods of
 * optional norm/normGrad methods of the Backend interface; the CUDA backend does.
 */
import type { Backend, MinRnnKind, NormKind, RnnCellKind, RnnDims } from '../backend/backend.js';
import {
  add, exp, linearScan, log, logScan, logSigmoid, mean, minGruG, minGruLogG, mul, neg, rsqrt, sigmoid, softplus, split, square, sub,
} from './ops.js';
import { Tensor, describe, formatShape, result } from './tensor.js';

export type { MinRnnKind };

export interface MinRnnScanOptions {
  /** Initial state [batch, dim]; absent means zeros. In log mode it must be positive. */
  h0?: Tensor | null;
  /**
   * How the composite fallback evaluates the recurrence: 'log' (log-space scan, the default) or
   * 'real'. A fused kernel computes the same function in f32 real space whatever this says.
   */
  scan?: 'log' | 'real';
  /** Set false to force the composite path (tests, debugging). */
  fused?: boolean;
}

/** Whether t's backend runs minRnnScan as one kernel. */
export function hasFusedMinRnn(b: Backend): boolean {
  return typeof b.minRnnScan === 'function' && typeof b.minRnnScanGrad === 'function';
}

/**
 * h [B, T, D] of a minGRU ('gru') or minLSTM ('lstm') from its projected input proj [B, T, C·D]:
 *  - gru:  a = σ(−k_z), b = σ(k_z)·g(k_h)
 *  - lstm: d = softplus(−k_f) − softplus(−k_i), a = σ(−d), b = σ(d)·g(k_h)
 * and h_t = a_t ⊙ h_{t−1} + b_t (docs/models.md#mingru-minlstm), differentiable w.r.t. proj and h0.
 */
export function minRnnScan(kind: MinRnnKind, proj: Tensor, opts: MinRnnScanOptions = {}): Tensor {
  const chunks = kind === 'gru' ? 2 : 3;
  if (proj.rank !== 3 || proj.shape[2] % chunks !== 0) {
    throw new Error(`minRnnScan(${kind}): proj ${describe(proj)} must be [B, T, ${chunks}·D]`);
  }
  if (proj.dtype === 'i32') throw new Error(`minRnnScan(${kind}): proj ${describe(proj)} must be a float tensor`);
  const [batch, time, width] = proj.shape;
  const dim = width / chunks;
  const h0 = opts.h0 ?? null;
  if (h0) {
    if (formatShape(h0.shape) !== formatShape([batch, dim]) || h0.dtype !== proj.dtype) {
      throw new Error(`minRnnScan(${kind}): h0 ${describe(h0)} must be ${formatShape([batch, dim])} ${proj.dtype}`);
    }
    if (h0.backend !== proj.backend) throw new Error(`minRnnScan(${kind}): h0 is on ${h0.backend.name}, proj on ${proj.backend.name}`);
  }
  const b = proj.backend;
  if (opts.fused === false || !hasFusedMinRnn(b)) return composite(kind, proj, h0, dim, opts.scan ?? 'log');

  const out = b.alloc(batch * time * dim, proj.dtype);
  b.minRnnScan!(kind, proj.buffer, h0?.buffer ?? null, out, batch, time, dim);
  const inputs = h0 ? [proj, h0] : [proj];
  const h = result(b, out, [batch, time, dim], `minRnnScan(${kind})`, inputs, (g) => {
    const dproj = b.alloc(proj.size, proj.dtype);
    const wantH0 = h0 !== null && h0.requiresGrad;
    const dh0 = wantH0 ? b.alloc(h0!.size, h0!.dtype) : null;
    b.minRnnScanGrad!(kind, proj.buffer, h0?.buffer ?? null, h.buffer, g.buffer, dproj, dh0, batch, time, dim);
    const grads: (Tensor | null)[] = [Tensor.fromBuffer(b, dproj, proj.shape)];
    if (h0) grads.push(dh0 ? Tensor.fromBuffer(b, dh0, h0.shape) : null);
    return grads;
  });
  return h;
}

/** The recurrence h_t = a_t ⊙ h_{t−1} + b_t of a minGRU/minLSTM, in log or real space. */
export interface MinRnnRecurrence { a: Tensor; b: Tensor }

/**
 * The cells' gate math from the projection's chunks (hidden, gate) or (hidden, f, i), the one
 * definition shared by the composite scan and the cells' step():
 *  - real space: gru a = σ(−k), b = σ(k)·g(h̃); lstm a = σ(−d), b = σ(d)·g(h̃), d = log(i/f)
 *  - log space: the logs of the same, computed without forming them (−softplus, logσ, log g).
 */
export function minRnnRecurrence(kind: MinRnnKind, parts: readonly Tensor[], space: 'log' | 'real'): MinRnnRecurrence {
  const [hidden, k1] = parts;
  // gru: the gate logit k; lstm: d = log(i/f) = softplus(−k_f) − softplus(−k_i), so f' = σ(−d), i' = σ(d)
  const k = kind === 'gru' ? k1 : sub(softplus(neg(k1)), softplus(neg(parts[2])));
  if (space === 'log') return { a: logSigmoid(neg(k)), b: add(logSigmoid(k), minGruLogG(hidden)) };
  return { a: sigmoid(neg(k)), b: mul(sigmoid(k), minGruG(hidden)) };
}

/** The same function in ordinary ops: the reference the fused kernels are tested against. */
function composite(kind: MinRnnKind, proj: Tensor, h0: Tensor | null, dim: number, mode: 'log' | 'real'): Tensor {
  const parts = split(proj, new Array(kind === 'gru' ? 2 : 3).fill(dim), -1);
  const { a, b } = minRnnRecurrence(kind, parts, mode);
  if (mode === 'log') return exp(logScan(a, b, { h0: h0 ? log(h0) : null, axis: 1 }));
  return linearScan(a, b, { h0, axis: 1 });
}

// ---------------------------------------------------------------------------------------------
// Normalisation over the last axis

export type { NormKind };

/** Whether a backend runs norm as one kernel (and its gradient as one kernel plus a column reduction). */
export function hasFusedNorm(b: Backend): boolean {
  return b.fusedNorm !== false && typeof b.norm === 'function' && typeof b.normGrad === 'function';
}

export interface NormOpOptions {
  /** LayerNorm's bias [cols] (RMSNorm has none). */
  bias?: Tensor | null;
  /** Set false to force the composite path (tests, debugging). */
  fused?: boolean;
}

function checkNorm(what: string, kind: NormKind, x: Tensor, weight: Tensor, bias: Tensor | null): number {
  if (kind !== 'rms' && kind !== 'layer') throw new Error(`${what}: kind must be 'rms' or 'layer', got ${String(kind)}`);
  const cols = x.rank > 0 ? x.shape[x.rank - 1] : 0;
  if (x.rank < 1 || weight.rank !== 1 || weight.size !== cols) {
    throw new Error(`${what}: input ${describe(x)} must have last dimension ${weight.size} (the weight ${describe(weight)})`);
  }
  if (bias && formatShape(bias.shape) !== formatShape(weight.shape)) throw new Error(`${what}: bias ${describe(bias)} must be ${formatShape(weight.shape)}`);
  return cols;
}

/** The norm in ordinary ops (the reference the fused kernels are tested against). */
function compositeNorm(kind: NormKind, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): Tensor {
  if (kind === 'rms') {
    const inv = rsqrt(add(mean(square(x), -1, true), eps));
    const y = mul(mul(x, inv), weight);
    return bias ? add(y, bias) : y;
  }
  const centered = sub(x, mean(x, -1, true));
  const inv = rsqrt(add(mean(square(centered), -1, true), eps));
  const y = mul(mul(centered, inv), weight);
  return bias ? add(y, bias) : y;
}

/** Whether the fused kernel can take these tensors (one backend, one float dtype). */
function fusable(b: Backend, tensors: readonly (Tensor | null)[], opts: NormOpOptions): boolean {
  if (opts.fused === false || !hasFusedNorm(b)) return false;
  const first = tensors[0]!;
  return first.dtype !== 'i32' && tensors.every((t) => !t || (t.backend === b && t.dtype === first.dtype));
}

/** The fused forward on s-or-(x, residual); returns y and, with a residual, the sum s. */
function fusedNorm(kind: NormKind, x: Tensor, residual: Tensor | null, weight: Tensor, bias: Tensor | null, eps: number): { sum: Tensor; y: Tensor } {
  const b = x.backend ;
  const cols = weight.size, rows = cols === 0 ? 0 : x.size / cols;
  const out = b.alloc(x.size, x.dtype);
  let s = x;
  if (residual) {
    const sumBuffer = b.alloc(x.size, x.dtype);
    b.norm!(kind, x.buffer, residual.buffer, weight.buffer, bias?.buffer ?? null, sumBuffer, out, rows, cols, eps);
    // the sum's own node: its gradient passes to both addends (the add of a pre-norm block)
    s = result(b, sumBuffer, x.shape, 'add', [x, residual], (g) => [g, g]);
  } else {
    b.norm!(kind, x.buffer, null, weight.buffer, bias?.buffer ?? null, null, out, rows, cols, eps);
  }
  const inputs = bias ? [s, weight, bias] : [s, weight];
  const y = result(b, out, x.shape, `norm(${kind})`, inputs, (g) => {
    const dx = b.alloc(s.size, s.dtype), dw = b.alloc(weight.size, weight.dtype);
    const db = bias ? b.alloc(bias.size, bias.dtype) : null;
    b.normGrad!(kind, s.buffer, weight.buffer, g.buffer, dx, dw, db, rows, cols, eps);
    const grads = [Tensor.fromBuffer(b, dx, s.shape), Tensor.fromBuffer(b, dw, weight.shape)];
    if (bias) grads.push(Tensor.fromBuffer(b, db!, bias.shape));
    return grads;
  });
  return { sum: s, y };
}

/**
 * RMSNorm (kind 'rms') or LayerNorm ('layer') of x over its last axis, with weight [cols] and for
 * LayerNorm an optional bias: one kernel forward and one (plus a column reduction for the weight
 * and bias gradients) backward where the backend offers it, the composite ops otherwise.
 */
export function norm(kind: NormKind, x: Tensor, weight: Tensor, eps: number, opts: NormOpOptions = {}): Tensor {
  const bias = opts.bias ?? null;
  checkNorm(`norm(${kind})`, kind, x, weight, bias);
  if (!fusable(x.backend, [x, weight, bias], opts)) return compositeNorm(kind, x, weight, bias, eps);
  return fusedNorm(kind, x, null, weight, bias, eps).y;
}

/**
 * The pre-norm residual step: sum = x + delta and y = norm(sum) (as `norm`), in one kernel where
 * the backend offers it (x read once, delta once, sum and y written once). x and delta must have
 * the same shape for the fused path; otherwise (broadcasting) the composite ops run.
 */
export function addNorm(kind: NormKind, x: Tensor, delta: Tensor, weight: Tensor, eps: number, opts: NormOpOptions = {}): { sum: Tensor; y: Tensor } {
  const bias = opts.bias ?? null;
  checkNorm(`addNorm(${kind})`, kind, x, weight, bias);
  if (!fusable(x.backend, [x, delta, weight, bias], opts) || formatShape(x.shape) !== formatShape(delta.shape)) {
    const sum = add(x, delta);
    checkNorm(`addNorm(${kind})`, kind, sum, weight, bias);
    return { sum, y: compositeNorm(kind, sum, weight, bias, eps) };
  }
  return fusedNorm(kind, x, delta, weight, bias, eps);
}

// ---------------------------------------------------------------------------------------------
// rnnFused: the whole time loop of a non-linear recurrence (LSTM, GRU, Elman, sLSTM) as one op.
// Its entry point is rnn() (src/cells/rnn.ts): rnn() checks the shapes, packs and unpacks the
// states, and runs its autograd time loop (the reference) where the backend lacks the kernels.

import { isGradEnabled as rnnGradEnabled } from './engine.js';

export type { RnnCellKind, RnnDims };

/** Whether a backend runs the recurrence as one kernel (rnnSavedLength, rnnForward, rnnBackward). */
export function hasFusedRnn(b: Backend): boolean {
  return typeof b.rnnForward === 'function' && typeof b.rnnBackward === 'function' && typeof b.rnnSavedLength === 'function';
}

/**
 * wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d], state0 [S, B, N·d] or null (zeros) → one flat
 * tensor: the outputs [B, T, N·d], then the S last states [S, B, N·d]. Differentiable in all four.
 * What the backward needs is kept only when a gradient will be recorded, in a tensor of the
 * current scope (made next to the output, so it lives as long as the output does).
 */
export function rnnFused(cell: RnnCellKind, states: number, wx: Tensor, r: Tensor, b: Tensor, state0: Tensor | null): Tensor {
  const be = wx.backend;
  if (!hasFusedRnn(be)) throw new Error(`rnnFused(${cell}): the ${be.name} backend has no fused recurrence (use rnn())`);
  for (const t of state0 ? [r, b, state0] : [r, b]) {
    if (t.backend !== be || t.dtype !== wx.dtype) throw new Error(`rnnFused(${cell}): ${describe(t)} must be ${wx.dtype} on ${be.name}, as wx`);
  }
  const [batch, time, , heads, headDim] = wx.shape;
  const dims: RnnDims = { batch, time, heads, headDim };
  const inputs = state0 ? [wx, r, b, state0] : [wx, r, b];
  const savedLength = be.rnnSavedLength!(cell, dims);
  const saved = rnnGradEnabled() && inputs.some((t) => t.requiresGrad)
    ? Tensor.fromBuffer(be, be.alloc(savedLength, wx.dtype), [savedLength]) : null;
  const length = (time + states) * batch * heads * headDim;
  const out = be.alloc(length, wx.dtype);
  be.rnnForward!(cell, wx.buffer, r.buffer, b.buffer, state0?.buffer ?? null, out, saved?.buffer ?? null, dims);
  return result(be, out, [length], `rnn(${cell})`, inputs, saved && ((g) => {
    const like = (t: Tensor) => be.alloc(t.size, t.dtype);
    const dwx = like(wx), dr = like(r), db = like(b);
    const ds0 = state0?.requiresGrad ? like(state0) : null;
    be.rnnBackward!(cell, r.buffer, saved.buffer, g.buffer, dwx, dr, db, ds0, dims);
    const grads: (Tensor | null)[] = [Tensor.fromBuffer(be, dwx, wx.shape), Tensor.fromBuffer(be, dr, r.shape), Tensor.fromBuffer(be, db, b.shape)];
    if (state0) grads.push(ds0 && Tensor.fromBuffer(be, ds0, state0.shape));
    return grads;
  }));
}
