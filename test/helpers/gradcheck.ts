/**
 * Test helper: checks an op's forward against a plain JavaScript reference and its backward
 * against central finite differences, in f64 on the current backend (the CPU backend in tests).
 *
 *   checkOp({
 *     shapes: [[3, 1, 5], [4, 1]],
 *     fn: (a, b) => ops.mul(a, b),
 *     reference: (a, b) => broadcastRef([a, b], (x, y) => x * y),
 *   });
 *
 * The backward is tested on L = Σ y ⊙ w for a fixed random w of mixed signs, |w| in [0.5, 1.5)
 * (so every output element matters, with a different weight): y.backward(w) gives the analytic gradients, and each input element
 * is nudged by ±eps to get (L(x+eps) − L(x−eps)) / 2eps.
 *
 * Tolerances (the defaults, stated once here): a gradient element passes when
 *   |analytic − numeric| ≤ rtol · max(|analytic|, |numeric|, floor)
 * with rtol = 1e-6 and floor = 1e-2 (so an absolute 1e-8 for near-zero gradients: the round-off of
 * a central difference with eps = 1e-6 on outputs of order 1–10 is ~1e-9). The forward passes when
 * |y − ref| ≤ forwardRtol · max(|ref|, 1) with forwardRtol = 1e-10.
 *
 * Every check also runs inside scope() and asserts that the backend's live buffer count is back to
 * its value before the check: forward, backward and the input gradients leak nothing.
 */
import assert from 'node:assert/strict';
import type { DType } from '../../src/backend/backend.js';
import { getBackend, noGrad } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { Tensor, scope, sizeOf, formatShape, type Shape } from '../../src/tensor/tensor.js';
import { fromHost } from '../../src/tensor/creation.js';

/** A host-side tensor for references: flat row-major f64 data and a shape. */
export interface Ref {
  data: Float64Array;
  shape: number[];
}

export function ref(data: ArrayLike<number>, shape: Shape): Ref {
  assert.equal(data.length, sizeOf(shape), `ref: ${data.length} values for shape ${formatShape(shape)}`);
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
  return s;
}

/** The multi-index of flat position i in shape. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = i % shape[d]; i = Math.floor(i / shape[d]); }
  return idx;
}

/** The flat position of a multi-index (broadcast dims of size 1 read index 0; leading dims dropped). */
export function ravelBroadcast(idx: readonly number[], shape: Shape): number {
  const lead = idx.length - shape.length;
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + (shape[d] === 1 ? 0 : idx[lead + d]);
  return flat;
}

/** NumPy broadcast of shapes, written independently of the library's version. */
export function broadcastShape(...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    let n = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + d] ?? 1;
      if (v !== 1) {
        if (n !== 1 && n !== v) throw new Error(`reference: shapes do not broadcast`);
        n = v;
      }
    }
    out.push(n);
  }
  return out;
}

/** Elementwise reference over broadcast inputs. */
export function broadcastRef(xs: readonly Ref[], f: (...v: number[]) => number): Ref {
  const shape = broadcastShape(...xs.map((x) => x.shape));
  const n = sizeOf(shape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    out[i] = f(...xs.map((x) => x.data[ravelBroadcast(idx, x.shape)]));
  }
  return { data: out, shape };
}

/** Reference reduction of x over `axes` (sorted or not), with f folding the values of one output cell. */
export function reduceRef(x: Ref, axes: readonly number[], keepDims: boolean, f: (vals: number[]) => number): Ref {
  const ax = axes.map((a) => (a < 0 ? a + x.shape.length : a));
  const keptShape = x.shape.map((s, d) => (ax.includes(d) ? 1 : s));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, d) => (ax.includes(d) ? 0 : v));
    let flat = 0;
    for (let d = 0; d < idx.length; d++) flat = flat * keptShape[d] + idx[d];
    let g = groups.get(flat);
    if (!g) groups.set(flat, (g = []));
    g.push(x.data[i]);
  }
  const n = sizeOf(keptShape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(groups.get(i) ?? []);
  return { data: out, shape: keepDims ? keptShape : x.shape.filter((_, d) => !ax.includes(d)) };
}

export interface OpCheck {
  /** Shapes of the differentiable inputs (f64 tensors with requiresGrad). */
  shapes: Shape[];
  /** The op under test. */
  fn: (...xs: Tensor[]) => Tensor;
  /** Plain-JS forward reference: a Ref (shape checked too) or flat row-major values. */
  reference?: (...xs: Ref[]) => Ref | ArrayLike<number>;
  /** Explicit input values per input (flat); others are drawn uniformly from `range`. */
  values?: (ArrayLike<number> | undefined)[];
  /** Range of the random inputs: one for all, or per input. Default [−2, 2]. */
  range?: readonly [number, number] | ((input: number) => readonly [number, number]);
  /** Points where the op is not differentiable (kinks): random inputs are kept ≥ 1e-3 away. */
  avoid?: readonly number[];
  /** Inputs to differentiate (default: all). The others do not require grad. */
  wrt?: readonly number[];
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative gradient tolerance (default 1e-6). */
  rtol?: number;
  /** Magnitude below which the gradient tolerance becomes absolute (default 1e-2). */
  floor?: number;
  /** Relative forward tolerance against the reference (default 1e-10). */
  forwardRtol?: number;
  /** Seed of the inputs and of the output weights (default 1). */
  seed?: number;
  /** Label used in failure messages. */
  name?: string;
  /** Skip the live-buffer check (for ops that deliberately keep state). Default false. */
  skipLeakCheck?: boolean;
}

export interface CheckResult {
  /** Largest |analytic − numeric| / max(|analytic|, |numeric|, floor) seen. */
  maxGradError: number;
  /** Largest |y − ref| / max(|ref|, 1) seen (0 without a reference). */
  maxForwardError: number;
}

const DTYPE: DType = 'f64';

function drawInputs(c: OpCheck, rng: Rng): Float64Array[] {
  return c.shapes.map((shape, i) => {
    const n = sizeOf(shape);
    const given = c.values?.[i];
    if (given) {
      assert.equal(given.length, n, `${c.name ?? 'checkOp'}: values[${i}] has ${given.length} values for ${formatShape(shape)}`);
      return Float64Array.from(given);
    }
    const [lo, hi] = typeof c.range === 'function' ? c.range(i) : c.range ?? [-2, 2];
    const out = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      let v: number;
      do v = lo + (hi - lo) * rng.uniform();
      while ((c.avoid ?? []).some((p) => Math.abs(v - p) < 1e-3));
      out[j] = v;
    }
    return out;
  });
}

function asRef(r: Ref | ArrayLike<number>, fallbackShape: Shape): Ref {
  if ((r as Ref).data instanceof Float64Array && Array.isArray((r as Ref).shape)) return r as Ref;
  return ref(r as ArrayLike<number>, fallbackShape);
}

/** Runs fn on host values under noGrad and returns the output values as f64. */
function evaluate(c: OpCheck, values: Float64Array[]): { data: Float64Array; shape: Shape } {
  return noGrad(() => scope(() => {
    const xs = values.map((v, i) => fromHost(v, c.shapes[i], { dtype: DTYPE }));
    const y = c.fn(...xs);
    return { data: Float64Array.from(y.dataSync()), shape: [...y.shape] };
  }));
}

/**
 * Forward against the reference, backward against central differences, no leaked buffers.
 * Throws an AssertionError naming the op, input, element and both values on a mismatch.
 */
export function checkOp(c: OpCheck): CheckResult {
  const name = c.name ?? 'op';
  const eps = c.eps ?? 1e-6, rtol = c.rtol ?? 1e-6, floor = c.floor ?? 1e-2, frtol = c.forwardRtol ?? 1e-10;
  const rng = new Rng(c.seed ?? 1);
  const values = drawInputs(c, rng);
  const wrt = c.wrt ?? c.shapes.map((_, i) => i);
  const backend = getBackend();
  const baseline = backend.liveBuffers();
  let maxForwardError = 0, maxGradError = 0;

  // Forward and analytic gradients.
  const { y, grads, shape, weights: w } = scope(() => {
    const xs = values.map((v, i) => fromHost(v, c.shapes[i], { dtype: DTYPE, requiresGrad: wrt.includes(i) }));
    const out = c.fn(...xs);
    assert.equal(out.dtype, DTYPE, `${name}: output dtype ${out.dtype}, expected ${DTYPE}`);
    const w = new Float64Array(out.size);
    for (let j = 0; j < w.length; j++) w[j] = (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + rng.uniform()); // distinct, both signs
    const yv = Float64Array.from(out.dataSync());
    const gs: (Float64Array | null)[] = xs.map(() => null);
    if (wrt.length) {
      assert.ok(out.requiresGrad, `${name}: the output does not require grad`);
      out.backward(fromHost(w, out.shape, { dtype: DTYPE }));
      xs.forEach((x, i) => {
        if (!wrt.includes(i)) return;
        if (x.grad) {
          assert.deepEqual(x.grad.shape, x.shape, `${name}: grad of input ${i} has shape ${formatShape(x.grad.shape)}, input ${formatShape(x.shape)}`);
          assert.equal(x.grad.dtype, DTYPE, `${name}: grad of input ${i} has dtype ${x.grad.dtype}`);
          gs[i] = Float64Array.from(x.grad.dataSync());
        } else {
          gs[i] = new Float64Array(x.size); // not reached: zero gradient
        }
        x.dispose(); // also frees the kept .grad
      });
    }
    return { y: yv, grads: gs, shape: [...out.shape], weights: w };
  });

  // Forward against the reference.
  if (c.reference) {
    const r = asRef(c.reference(...values.map((v, i) => ref(v, c.shapes[i]))), shape);
    assert.deepEqual(shape, r.shape, `${name}: output shape ${formatShape(shape)}, reference ${formatShape(r.shape)}`);
    for (let j = 0; j < r.data.length; j++) {
      const err = Math.abs(y[j] - r.data[j]) / Math.max(Math.abs(r.data[j]), 1);
      if (!(err <= frtol) && !(Object.is(y[j], r.data[j]) || y[j] === r.data[j])) {
        assert.fail(`${name}: forward element ${j} (${unravel(j, shape).join(',')}) is ${y[j]}, reference ${r.data[j]} (rel err ${err.toExponential(2)} > ${frtol})`);
      }
      if (Number.isFinite(err)) maxForwardError = Math.max(maxForwardError, err);
    }
  }

  // Backward against central differences of L = Σ y ⊙ w.
  for (const i of wrt) {
    const analytic = grads[i]!;
    for (let j = 0; j < values[i].length; j++) {
      const orig = values[i][j];
      values[i][j] = orig + eps;
      const plus = evaluate(c, values).data;
      values[i][j] = orig - eps;
      const minus = evaluate(c, values).data;
      values[i][j] = orig;
      let diff = 0;
      for (let k = 0; k < w.length; k++) diff += w[k] * (plus[k] - minus[k]);
      const numeric = diff / (2 * eps);
      const a = analytic[j];
      const err = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), floor);
      if (!(err <= rtol)) {
        assert.fail(`${name}: d/d input ${i} [${unravel(j, c.shapes[i]).join(',')}] (value ${orig}): analytic ${a}, numeric ${numeric} (rel err ${err.toExponential(2)} > ${rtol})`);
      }
      maxGradError = Math.max(maxGradError, err);
    }
  }

  if (!c.skipLeakCheck) {
    assert.equal(backend.liveBuffers(), baseline, `${name}: ${backend.liveBuffers() - baseline} buffers leaked by forward + backward`);
  }
  return { maxGradError, maxForwardError };
}

/** An f64 tensor of the given values (a convenience for tests). */
export function f64(values: ArrayLike<number>, shape: Shape, requiresGrad = false): Tensor {
  return fromHost(Float64Array.from(values), shape, { dtype: 'f64', requiresGrad });
}

/** Asserts two arrays agree elementwise within |a − b| ≤ tol · max(|b|, 1). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const err = Math.abs(a - e) / Math.max(Math.abs(e), 1);
    if (!(err <= tol)) assert.fail(`${what}[${i}]: ${a}, expected ${e} (rel err ${err.toExponential(2)} > ${tol})`);
  }
}
