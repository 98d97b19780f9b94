/**
 * Fused ops: one differentiable op that a backend may run as a single kernel, with a composite
 * fallback written in ordinary ops (the reference the fused kernel is tested against).
 *
 * minRnnScan: the minGRU/minLSTM gate math + linear scan from the input projection.
 * A backend offers it through the optional methods of `FusedBackend`; the CUDA backend does.
 */
import type { Backend, BackendBuffer } from '../backend/backend.js';
import {
  add, exp, linearScan, log, logScan, logSigmoid, minGruG, minGruLogG, mul, neg, sigmoid, softplus, split, sub,
} from './ops.js';
import { Tensor, describe, formatShape, result } from './tensor.js';

export type MinRnnKind = 'gru' | 'lstm';

/** Optional fused kernels a backend may add to the Backend interface. */
export interface FusedBackend extends Backend {
  /**
   * proj [batch, time, C·dim] (C = 2 for 'gru': hidden, gate; C = 3 for 'lstm': hidden, f, i, the
   * chunk order of minGRU-pytorch's projection), h0 [batch, dim] or null (zeros) → out h
   * [batch, time, dim] with h_t = a_t·h_{t−1} + b_t, the cell's gates computed on the fly.
   */
  minRnnScan?(kind: MinRnnKind, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
              batch: number, time: number, dim: number): void;
  /** Gradients of minRnnScan w.r.t. proj (written to dproj) and h0 (to dh0, when both are given). */
  minRnnScanGrad?(kind: MinRnnKind, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
                  dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number): void;
}

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
  const f = b as FusedBackend;
  return typeof f.minRnnScan === 'function' && typeof f.minRnnScanGrad === 'function';
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
  const b = proj.backend as FusedBackend;
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

/** The same function in ordinary ops (what src/cells/min-rnn.ts computes). */
function composite(kind: MinRnnKind, proj: Tensor, h0: Tensor | null, dim: number, mode: 'log' | 'real'): Tensor {
  const parts = split(proj, new Array(kind === 'gru' ? 2 : 3).fill(dim), -1);
  const [hidden, k1] = parts;
  if (mode === 'log') {
    let a: Tensor, bb: Tensor;
    if (kind === 'gru') {
      a = neg(softplus(k1));
      bb = add(logSigmoid(k1), minGruLogG(hidden));
    } else {
      const d = sub(softplus(neg(k1)), softplus(neg(parts[2])));
      a = logSigmoid(neg(d));
      bb = add(logSigmoid(d), minGruLogG(hidden));
    }
    return exp(logScan(a, bb, { h0: h0 ? log(h0) : null, axis: 1 }));
  }
  let a: Tensor, bb: Tensor;
  if (kind === 'gru') {
    a = sigmoid(neg(k1));
    bb = mul(sigmoid(k1), minGruG(hidden));
  } else {
    const d = sub(softplus(neg(k1)), softplus(neg(parts[2])));
    a = sigmoid(neg(d));
    bb = mul(sigmoid(d), minGruG(hidden));
  }
  return linearScan(a, bb, { h0, axis: 1 });
}
