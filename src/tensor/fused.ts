/**
 * Fused ops: one differentiable op that a backend may run as a single kernel, with a composite
 * fallback written in ordinary ops (the reference the fused kernel is tested against).
 *
 * minRnnScan: the minGRU/minLSTM gate math + linear scan from the input projection.
 * A backend offers it through the optional minRnnScan/minRnnScanGrad methods; the CUDA backend does.
 */
import type { Backend, MinRnnKind } from '../backend/backend.js';
import {
  add, exp, linearScan, log, logScan, logSigmoid, minGruG, minGruLogG, mul, neg, sigmoid, softplus, split, sub,
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
 * and h_t = a_t ⊙ h_{t−1} + b_t (REFERENCE.md §1), differentiable w.r.t. proj and h0.
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
