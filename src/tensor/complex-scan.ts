/**
 * complexScan: the complex diagonal linear recurrence x_t = λ ⊙ x_{t−1} + u_t along the time axis,
 * one complex λ per channel shared by all steps and sequences (the LRU's recurrence,
 * docs/models.md#lru). Complex tensors are packed with re/im on the second-to-last axis:
 * u, x [..., T, 2, C], λ [2, C], x0 [..., 2, C]. The packing is what lets the LRU read x with one GEMM
 * (Re(C x) = [C_re, −C_im]·[x_re; x_im]) and write B u with another, without copies.
 *
 * One differentiable primitive where the backend offers the optional complexScan/complexScanGrad
 * methods (CPU: src/backend/cpu/complex-scan.ts, CUDA: kernels/complex-scan.ts): a sequential
 * forward and a reverse-scan backward that also sums dλ over steps and sequences, so no
 * [.., T, C]-sized λ or dλ is ever made. Gradients are conjugate-correct for a real loss (the
 * gradient of a complex z is ∂L/∂Re z + i ∂L/∂Im z). Elsewhere a composite fallback in ordinary
 * ops: a Hillis–Steele parallel prefix over the pairs (λ, u) with (a_i, b_i) ∘ (a_j, b_j) =
 * (a_j a_i, a_j b_i + b_j), log₂ T rounds, then x_t += (Π_{s≤t} λ_s) x0.
 */
import type { Backend } from '../backend/backend.js';
import { add, expand, pad, slice, squeeze, stack, sub, mul, unsqueeze } from './ops.js';
import { Tensor, describe, formatShape, result, sizeOf } from './tensor.js';

/** Options of {@link complexScan}. */
export interface ComplexScanOptions {
  /** Initial state [..., 2, C] (u's shape without the time axis). Absent means zeros. */
  x0?: Tensor | null;
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
 * x [..., T, 2, C] with x_t = λ x_{t−1} + u_t for λ [2, C] and u [..., T, 2, C] (re, im on axis −2).
 * Differentiable w.r.t. λ, u and x0.
 */
export function complexScan(lambda: Tensor, u: Tensor, opts: ComplexScanOptions = {}): Tensor {
  const what = 'complexScan';
  const C = u.shape[u.rank - 1];
  if (u.rank < 3 || u.shape[u.rank - 2] !== 2) throw new Error(`${what}: u ${describe(u)} must be [..., T, 2, C] (re and im on axis −2)`);
  if (formatShape(lambda.shape) !== formatShape([2, C])) throw new Error(`${what}: λ ${describe(lambda)} must be [2, ${C}] for u ${describe(u)}`);
  const x0 = opts.x0 ?? null;
  const stateShape = [...u.shape.slice(0, u.rank - 3), 2, C];
  if (x0 && formatShape(x0.shape) !== formatShape(stateShape)) throw new Error(`${what}: x0 ${describe(x0)} must be ${formatShape(stateShape)} for u ${describe(u)}`);
  for (const t of x0 ? [lambda, x0] : [lambda]) {
    if (t.dtype !== u.dtype) throw new Error(`${what}: ${describe(t)} and u ${describe(u)} differ in dtype`);
    if (t.backend !== u.backend) throw new Error(`${what}: ${describe(t)} is on ${t.backend.name}, u on ${u.backend.name}`);
  }
  if (u.dtype === 'i32') throw new Error(`${what}: u ${describe(u)} must be a float tensor`);
  const b = u.backend;
  if (opts.fused === false || !hasComplexScan(b)) return composite(lambda, u, x0);

  const dims = { outer: sizeOf(u.shape.slice(0, u.rank - 3)), time: u.shape[u.rank - 3], channels: C };
  const out = b.alloc(u.size, u.dtype);
  b.complexScan!(lambda.buffer, u.buffer, x0?.buffer ?? null, out, dims);
  const inputs = x0 ? [lambda, u, x0] : [lambda, u];
  const x: Tensor = result(b, out, u.shape, what, inputs, (g) => {
    const du = b.alloc(u.size, u.dtype), dLambda = b.alloc(2 * C, u.dtype);
    const dx0 = x0 && x0.requiresGrad ? b.alloc(x0.size, u.dtype) : null;
    b.complexScanGrad!(lambda.buffer, x.buffer, x0?.buffer ?? null, g.buffer, du, dLambda, dx0, dims);
    const grads = [Tensor.fromBuffer(b, dLambda, lambda.shape), Tensor.fromBuffer(b, du, u.shape)];
    return x0 ? [...grads, dx0 ? Tensor.fromBuffer(b, dx0, x0.shape) : null] : grads;
  });
  return x;
}

/** The same function in ordinary ops (any backend; its autograd gives the gradients). */
function composite(lambda: Tensor, u: Tensor, x0: Tensor | null): Tensor {
  const part = (z: Tensor, k: number, axis: number) => squeeze(slice(z, axis, k, k + 1), axis);
  const pairAxis = u.rank - 2, axis = u.rank - 3;
  const partShape = [...u.shape.slice(0, pairAxis), u.shape[u.rank - 1]];
  const T = u.shape[axis];
  const padSpec = (dist: number) => partShape.map((_, d) => (d === axis ? [dist, 0] as const : [0, 0] as const));
  // shift(z, d, fill)_t = z_{t−d} for t ≥ d, fill before.
  const shift = (z: Tensor, dist: number, fill: number) => pad(slice(z, axis, 0, T - dist), padSpec(dist), fill);
  let ar = expand(part(lambda, 0, 0), partShape), ai = expand(part(lambda, 1, 0), partShape);
  let xr = part(u, 0, pairAxis), xi = part(u, 1, pairAxis);
  for (let dist = 1; dist < T; dist *= 2) {
    const [pr, pi] = complexMul(ar, ai, shift(xr, dist, 0), shift(xi, dist, 0));
    const [nr, ni] = complexMul(ar, ai, shift(ar, dist, 1), shift(ai, dist, 0));
    xr = add(xr, pr); xi = add(xi, pi);
    ar = nr; ai = ni;
  }
  if (x0) {
    const stateAxis = x0.rank - 2;
    const [cr, ci] = complexMul(ar, ai, unsqueeze(part(x0, 0, stateAxis), axis), unsqueeze(part(x0, 1, stateAxis), axis));
    xr = add(xr, cr); xi = add(xi, ci);
  }
  return stack([xr, xi], pairAxis);
}
