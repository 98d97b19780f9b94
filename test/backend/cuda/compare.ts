/**
 * Test helper for the CUDA backend: runs the same op through src/tensor/ops.ts on the GPU (f32 or
 * bf16) and on the CPU backend in f64 from the very same input values (bf16 inputs are rounded
 * first), then compares the outputs and the input gradients of L = Σ y ⊙ w for a random w.
 *
 * Tolerances (stated once here): an element passes when |gpu − ref| ≤ rtol·|ref| + atol·max|ref|.
 *  - f32: rtol 2e-5, atol 2e-6 (float32 rounding of a few operations; the f64 reference is exact
 *    to far below that);
 *  - bf16: ‖gpu − ref‖₂ / ‖ref‖₂ ≤ 1e-2 (bf16 keeps 8 mantissa bits: 4e-3 per rounding), the
 *    norm-wise test of METHOD.md, since single elements near cancellation carry larger errors;
 *  - TF32 GEMMs: norm-wise 5e-3.
 * Every check also asserts that the GPU's live buffer count is back to where it was.
 */
import assert from 'node:assert/strict';
import type { Backend, DType, HostArray } from '../../../src/backend/backend.js';
import { cudaStatus, roundToBf16, type CudaBackend } from '../../../src/backend/cuda/cuda.js';
import { registerCudaBackend } from '../../../src/register-cuda.js';
import { backend } from '../../../src/tensor/engine.js';
import { fromHost } from '../../../src/tensor/creation.js';
import { Rng } from '../../../src/tensor/random.js';
import { mul, sum } from '../../../src/tensor/ops.js';
import { Tensor, scope, formatShape, sizeOf, type Shape } from '../../../src/tensor/tensor.js';

/** false when a GPU is usable, else the reason to skip (node:test `skip`). */
export const skipReason: string | false = (() => {
  const s = cudaStatus();
  return s.available ? false : `no CUDA device here (${s.reason})`;
})();

let gpuInstance: CudaBackend | null = null;
export function gpu(): CudaBackend {
  if (!gpuInstance) {
    registerCudaBackend();
    gpuInstance = backend('cuda') as CudaBackend;
  }
  return gpuInstance;
}
export const cpu = (): Backend => backend('cpu');

export type Precision = 'f32' | 'bf16' | 'tf32';

export interface Tolerance { rtol: number; atol: number; norm?: number }
export const TOL: Record<Precision, Tolerance> = {
  f32: { rtol: 2e-5, atol: 2e-6 },
  bf16: { rtol: Infinity, atol: Infinity, norm: 1e-2 },
  tf32: { rtol: Infinity, atol: Infinity, norm: 5e-3 },
};

/** Compares two host arrays; throws with the worst element. */
export function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) maxAbs = Math.max(maxAbs, Math.abs(want[i]));
  let worst = -1, worstExcess = 0, num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      assert.ok(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${what}[${i}]: got ${g}, expected ${w}`);
      continue;
    }
    assert.ok(Number.isFinite(g), `${what}[${i}]: got ${g}, expected ${w}`);
    const err = Math.abs(g - w);
    num += err * err;
    den += w * w;
    const excess = err - (tol.rtol * Math.abs(w) + tol.atol * maxAbs);
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  if (tol.norm !== undefined) {
    const rel = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
    assert.ok(rel <= tol.norm, `${what}: relative error ${rel.toExponential(2)} > ${tol.norm}`);
  }
  if (worst >= 0) {
    assert.fail(`${what}[${worst}]: got ${got[worst]}, expected ${want[worst]} (|err| ${Math.abs(got[worst] - want[worst]).toExponential(2)}, rtol ${tol.rtol}, atol ${tol.atol}·${maxAbs.toExponential(2)})`);
  }
}

export interface InputSpec {
  shape: Shape;
  /** 'normal' (default), 'positive' (0.2 … 2.2), 'uniform' (−1 … 1), or integers in [0, int). */
  kind?: 'normal' | 'positive' | 'uniform';
  int?: number;
  /** Exact values instead of random ones. */
  values?: ArrayLike<number>;
  /** Whether the gradient w.r.t. this input is checked (floats only; default true). */
  grad?: boolean;
}

export interface CompareOptions {
  precision?: Precision;
  /** Check gradients (default true when the output is float). */
  grad?: boolean;
  seed?: number;
  tol?: Tolerance;
}

/** An input's values: given, random integers below `int`, positive, uniform or normal. */
export function makeValues(spec: InputSpec, rng: Rng): Float64Array {
  const n = sizeOf(spec.shape);
  if (spec.values) return Float64Array.from(spec.values);
  const v = new Float64Array(n);
  if (spec.int !== undefined) {
    for (let i = 0; i < n; i++) v[i] = Math.floor(rng.uniform() * spec.int);
  } else if (spec.kind === 'positive') {
    rng.fillUniform(v, 0.2, 2.2);
  } else if (spec.kind === 'uniform') {
    rng.fillUniform(v, -1, 1);
  } else {
    rng.fillNormal(v, 0, 1);
  }
  return v;
}

/** Values as the GPU dtype stores them, back in f64 (what the reference must see). */
function storedValues(v: Float64Array, dtype: DType): Float64Array {
  if (dtype === 'f64') return v;
  const f = Float32Array.from(v);
  return Float64Array.from(dtype === 'bf16' ? roundToBf16(f) : f);
}

interface Run { out: HostArray[]; grads: (HostArray | null)[] }

function runOn(b: Backend, dtype: DType, values: Float64Array[], specs: InputSpec[], weights: Float64Array[] | null,
               fn: (...xs: Tensor[]) => Tensor | Tensor[], wantGrad: boolean): { run: Run; shapes: Shape[] } {
  return scope(() => {
    const xs = values.map((v, i) => {
      const isInt = specs[i].int !== undefined;
      const t = fromHost(isInt ? Int32Array.from(v) : v, specs[i].shape, { backend: b, dtype: isInt ? 'i32' : dtype });
      if (wantGrad && !isInt && specs[i].grad !== false) t.requiresGrad = true;
      return t;
    });
    const ys = [fn(...xs)].flat();
    const out = ys.map((y) => y.dataSync());
    let grads: (HostArray | null)[] = [];
    if (wantGrad && weights) {
      let loss: Tensor | null = null;
      ys.forEach((y, i) => {
        if (y.dtype === 'i32' || !y.requiresGrad) return;
        const w = fromHost(weights[i], y.shape, { backend: b, dtype });
        const part = sum(mul(y, w));
        loss = loss ? loss.add(part) : part;
      });
      if (loss) (loss as Tensor).backward();
      grads = xs.map((x) => (x.grad ? x.grad.dataSync() : null));
      for (const x of xs) x.grad?.dispose();
    }
    return { run: { out, grads }, shapes: ys.map((y) => y.shape) };
  });
}

/**
 * Runs fn on the GPU and on the CPU (f64 reference) from the same inputs and compares outputs and
 * gradients. Returns the GPU outputs for further checks.
 */
export function compareOp(name: string, specs: InputSpec[], fn: (...xs: Tensor[]) => Tensor | Tensor[], opts: CompareOptions = {}): void {
  const precision = opts.precision ?? 'f32';
  const dtype: DType = precision === 'bf16' ? 'bf16' : 'f32';
  const tol = opts.tol ?? TOL[precision];
  const rng = new Rng(opts.seed ?? 1234);
  const values = specs.map((s) => makeValues(s, rng));
  const stored = values.map((v, i) => (specs[i].int !== undefined ? v : storedValues(v, dtype)));
  const g = gpu();
  const before = g.liveBuffers();
  const wantGrad = opts.grad ?? true;
  // The output shapes come from a reference run; the weights w of L = Σ y ⊙ w from them.
  const probe = runOn(cpu(), 'f64', stored, specs, null, fn, false);
  const weights = probe.shapes.map((s) => storedValues(makeValues({ shape: s, kind: 'uniform' }, rng), dtype));
  const ref = runOn(cpu(), 'f64', stored, specs, weights, fn, wantGrad).run;
  const got = runOn(g, dtype, stored, specs, weights, fn, wantGrad).run;
  assert.equal(g.liveBuffers(), before, `${name}: GPU buffers leaked`);
  ref.out.forEach((r, i) => {
    if (r instanceof Int32Array) assert.deepEqual([...got.out[i]], [...r], `${name}: output ${i} (${formatShape(probe.shapes[i])})`);
    else assertNear(got.out[i], r, tol, `${name}: output ${i} ${formatShape(probe.shapes[i])}`);
  });
  ref.grads.forEach((r, i) => {
    if (!r) { assert.equal(got.grads[i], null, `${name}: gradient ${i} exists only on the GPU`); return; }
    assert.ok(got.grads[i], `${name}: no GPU gradient for input ${i}`);
    assertNear(got.grads[i]!, r, tol, `${name}: d/d input ${i}`);
  });
}
