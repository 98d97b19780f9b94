/**
 * complexScan: the complex first-order linear recurrence x_t = λ_t ⊙ x_{t−1} + u_t along a time
 * axis, complex numbers as separate real/imaginary tensors (the LRU's recurrence, REFERENCE.md §3).
 *
 * One differentiable primitive where the backend offers the optional complexScan/complexScanGrad
 * methods (the CPU backend does, src/backend/cpu/complex-scan.ts): a sequential forward and a
 * reverse-scan backward, with conjugate-correct gradients for a real loss (the gradient of a
 * complex z is ∂L/∂Re z + i ∂L/∂Im z). Elsewhere a composite fallback in ordinary ops: a
 * Hillis–Steele parallel prefix over the pairs (λ, u) with (a_i, b_i) ∘ (a_j, b_j) =
 * (a_j a_i, a_j b_i + b_j), log₂ T rounds, then x_t += (Π_{s≤t} λ_s) x0.
 */
import type { Backend } from '../backend/backend.js';
import { add, mul, pad, slice, squeeze, sub, unsqueeze } from './ops.js';
import { Tensor, describe, formatShape, result, sizeOf } from './tensor.js';

export interface ComplexScanOptions {
  /** Initial state [re, im], each shaped like λ without the time axis. Absent means zeros. */
  x0?: readonly [Tensor, Tensor] | null;
  /** The time axis (default 1: [B, T, ...]). */
  axis?: number;
  /** Set false to force the composite path (tests, debugging). */
  fused?: boolean;
}

/** Whether b runs complexScan as one kernel. */
export function hasComplexScan(b: Backend): boolean {
  return typeof b.complexScan === 'function' && typeof b.complexScanGrad === 'function';
}

/** (a + ib)(c + id) as [re, im]. */
export function complexMul(ar: Tensor, ai: Tensor, br: Tensor, bi: Tensor): [Tensor, Tensor] {
  return [sub(mul(ar, br), mul(ai, bi)), add(mul(ar, bi), mul(ai, br))];
}

/**
 * x = [re, im] with x_t = λ_t x_{t−1} + u_t; λ and u are four tensors of one shape and dtype.
 * Differentiable w.r.t. λ, u and x0.
 */
export function complexScan(lamRe: Tensor, lamIm: Tensor, uRe: Tensor, uIm: Tensor, opts: ComplexScanOptions = {}): [Tensor, Tensor] {
  const what = 'complexScan';
  const ins = [lamRe, lamIm, uRe, uIm];
  for (const t of ins) {
    if (t.dtype === 'i32') throw new Error(`${what}: ${describe(t)} must be a float tensor`);
    if (formatShape(t.shape) !== formatShape(lamRe.shape) || t.dtype !== lamRe.dtype) {
      throw new Error(`${what}: λ_re ${describe(lamRe)}, λ_im ${describe(lamIm)}, u_re ${describe(uRe)}, u_im ${describe(uIm)} must share shape and dtype`);
    }
    if (t.backend !== lamRe.backend) throw new Error(`${what}: ${describe(t)} is on ${t.backend.name}, λ on ${lamRe.backend.name}`);
  }
  const rank = lamRe.rank;
  const axis = (opts.axis ?? 1) < 0 ? (opts.axis ?? 1) + rank : (opts.axis ?? 1);
  if (!(axis >= 0 && axis < rank)) throw new Error(`${what}: axis ${opts.axis} out of range for ${describe(lamRe)}`);
  const shape = lamRe.shape;
  const stateShape = [...shape.slice(0, axis), ...shape.slice(axis + 1)];
  const x0 = opts.x0 ?? null;
  if (x0) {
    for (const t of x0) {
      if (formatShape(t.shape) !== formatShape(stateShape) || t.dtype !== lamRe.dtype || t.backend !== lamRe.backend) {
        throw new Error(`${what}: x0 ${describe(t)} must be ${formatShape(stateShape)} ${lamRe.dtype} on ${lamRe.backend.name}`);
      }
    }
  }
  const b = lamRe.backend;
  if (opts.fused === false || !hasComplexScan(b)) return composite(lamRe, lamIm, uRe, uIm, x0, axis);

  const layout = { outer: sizeOf(shape.slice(0, axis)), size: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
  const n = lamRe.size;
  const out = b.alloc(2 * n, lamRe.dtype);
  b.complexScan!(lamRe.buffer, lamIm.buffer, uRe.buffer, uIm.buffer, x0?.[0].buffer ?? null, x0?.[1].buffer ?? null, out, layout);
  const inputs = x0 ? [...ins, x0[0], x0[1]] : ins;
  const y = result(b, out, [2, ...shape], what, inputs, (g) => {
    const grads = [0, 1, 2, 3].map(() => b.alloc(n, lamRe.dtype));
    const dx0 = x0 ? [b.alloc(x0[0].size, lamRe.dtype), b.alloc(x0[0].size, lamRe.dtype)] : null;
    b.complexScanGrad!(lamRe.buffer, lamIm.buffer, y.buffer, x0?.[0].buffer ?? null, x0?.[1].buffer ?? null, g.buffer,
                       grads[0], grads[1], grads[2], grads[3], dx0?.[0] ?? null, dx0?.[1] ?? null, layout);
    const ts = grads.map((buf) => Tensor.fromBuffer(b, buf, shape));
    if (dx0) ts.push(...dx0.map((buf) => Tensor.fromBuffer(b, buf, stateShape)));
    return ts;
  });
  const re = squeeze(slice(y, 0, 0, 1), 0);
  const im = squeeze(slice(y, 0, 1, 2), 0);
  if (!y.requiresGrad) y.dispose();
  return [re, im];
}

/** The same function in ordinary ops (any backend; its autograd gives the gradients). */
function composite(lamRe: Tensor, lamIm: Tensor, uRe: Tensor, uIm: Tensor, x0: readonly [Tensor, Tensor] | null, axis: number): [Tensor, Tensor] {
  const T = lamRe.shape[axis];
  const padSpec = (dist: number) => lamRe.shape.map((_, d) => (d === axis ? [dist, 0] as const : [0, 0] as const));
  // shift(z, d, fill)_t = z_{t−d} for t ≥ d, fill before.
  const shift = (z: Tensor, dist: number, fill: number) => pad(slice(z, axis, 0, T - dist), padSpec(dist), fill);
  let ar = lamRe, ai = lamIm, xr = uRe, xi = uIm;
  for (let dist = 1; dist < T; dist *= 2) {
    const [pr, pi] = complexMul(ar, ai, shift(xr, dist, 0), shift(xi, dist, 0));
    const [nr, ni] = complexMul(ar, ai, shift(ar, dist, 1), shift(ai, dist, 0));
    xr = add(xr, pr); xi = add(xi, pi);
    ar = nr; ai = ni;
  }
  if (x0) {
    const [cr, ci] = complexMul(ar, ai, unsqueeze(x0[0], axis), unsqueeze(x0[1], axis));
    xr = add(xr, cr); xi = add(xi, ci);
  }
  return [xr, xi];
}
