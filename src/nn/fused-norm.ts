/**
 * RMSNorm and LayerNorm over the last axis as one differentiable op, optionally after the residual
 * add of a pre-norm block: one kernel where the backend offers norm/normGrad (CUDA), the
 * composite ops otherwise (the reference the fused kernels are tested against).
 */
import type { Backend, NormKind } from '../backend/backend.js';
import { add, mean, mul, rsqrt, square, sub } from '../tensor/ops.js';
import { Tensor, describe, formatShape, result } from '../tensor/tensor.js';

export type { NormKind };

/** Whether a backend runs norm as one kernel (and its gradient as one kernel plus a column reduction). */
export function hasFusedNorm(b: Backend): boolean {
  return b.fusedNorm !== false && typeof b.norm === 'function' && typeof b.normGrad === 'function';
}

/** Options of {@link norm}. */
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
