/**
 * The CUDA complexScan/complexScanGrad kernels (kernels/complex-scan.ts) against the CPU backend's
 * kernels in f64 from the same inputs (compare.ts: f32 rtol 2e-5, atol 2e-6·max|ref|; bf16
 * norm-wise 1e-2): with and without x0, odd sizes, time axis 1, 0 and last, short and long T,
 * gradients of λ, u and x0; and an LRU layer forward/backward on the GPU (f32) against the same
 * layer on the CPU (f64, same parameters) with the tolerance stated there. Skipped (with the
 * reason) where no CUDA device is present.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LRU } from '../../../src/cells/lru.js';
import { complexScan, hasComplexScan } from '../../../src/tensor/complex-scan.js';
import { fromHost } from '../../../src/tensor/creation.js';
import * as ops from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, compareOp, cpu, gpu, skipReason, type InputSpec, type Tolerance } from './compare.js';

/** λ_re, λ_im, u_re, u_im specs of `shape`: |λ| ∈ [0.3, 0.95) at a random phase, u in [−1, 1). */
function scanSpecs(shape: number[], rng: Rng): InputSpec[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const lr = new Float64Array(n), li = new Float64Array(n), ur = new Float64Array(n), ui = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const r = 0.3 + 0.65 * rng.uniform(), th = 2 * Math.PI * rng.uniform();
    lr[k] = r * Math.cos(th); li[k] = r * Math.sin(th);
    ur[k] = 2 * rng.uniform() - 1; ui[k] = 2 * rng.uniform() - 1;
  }
  return [lr, li, ur, ui].map((v) => ({ shape, values: [...v] }));
}

describe('CUDA complexScan vs the CPU kernel', { skip: skipReason }, () => {
  test('the GPU backend has the kernel', () => assert.ok(hasComplexScan(gpu())));

  test('forward and gradients of λ, u, x0 (f32; axis 1, 0, last; odd sizes; short and long T)', () => {
    const rng = new Rng(11);
    const cases: [number[], number][] = [[[3, 13, 5], 1], [[2, 1, 7], 1], [[1, 1500, 9], 1], [[17, 3, 5], 0], [[2, 3, 11], 2], [[2, 9, 3, 4], 1], [[5, 300, 33], 1]];
    for (const [shape, axis] of cases) {
      const specs = scanSpecs(shape, rng);
      const state = shape.filter((_, i) => i !== axis);
      const tag = `[${shape.join(', ')}] axis ${axis}`;
      compareOp(`complexScan ${tag}`, specs, (lr, li, ur, ui) => complexScan(lr, li, ur, ui, { axis }));
      compareOp(`complexScan x0 ${tag}`, [...specs, { shape: state, kind: 'uniform' }, { shape: state, kind: 'uniform' }],
        (lr, li, ur, ui, x0r, x0i) => complexScan(lr, li, ur, ui, { axis, x0: [x0r, x0i] }));
    }
  });

  test('bf16 storage (f32 state) within the stated tolerance', () => {
    const specs = scanSpecs([2, 400, 24], new Rng(12));
    compareOp('complexScan bf16', [...specs, { shape: [2, 24], kind: 'uniform' }, { shape: [2, 24], kind: 'uniform' }],
      (lr, li, ur, ui, x0r, x0i) => complexScan(lr, li, ur, ui, { x0: [x0r, x0i] }), { precision: 'bf16' });
  });

  test('LRU layer forward/backward on the GPU (f32) matches the CPU (f64)', () => {
    // f32 GEMMs (strict FP32) over H and N plus f32 gradient sums over B·T: rtol 1e-4, atol 1e-5·max|ref|.
    const tol: Tolerance = { rtol: 1e-4, atol: 1e-5 };
    const [B, T, H, N] = [3, 37, 24, 17];
    const g = gpu(), c = cpu();
    const before = g.liveBuffers();
    const lg = new LRU({ dModel: H, dState: N, rMin: 0.4, rMax: 0.99, backend: g, dtype: 'f32', rng: new Rng(5) });
    const lc = new LRU({ dModel: H, dState: N, rMin: 0.4, rMax: 0.99, backend: c, dtype: 'f64', rng: new Rng(5) });
    const sd = lg.stateDict();
    lc.loadStateDict(sd);
    for (const t of Object.values(sd)) t.dispose();
    const rng = new Rng(6);
    const uHost = Float64Array.from(Float32Array.from({ length: B * T * H }, () => 2 * rng.uniform() - 1));
    const wHost = Float64Array.from(Float32Array.from({ length: B * T * H }, () => 2 * rng.uniform() - 1));
    const run = (l: LRU, be: typeof g | typeof c, dtype: 'f32' | 'f64') => scope(() => {
      const u = fromHost(uHost, [B, T, H], { backend: be, dtype });
      u.requiresGrad = true;
      const w = fromHost(wHost, [B, T, H], { backend: be, dtype });
      const { output, state } = l.forward(u);
      const loss = ops.add(ops.sum(ops.mul(output, w)), ops.add(ops.sum(state[0]), ops.mul(ops.sum(state[1]), 0.5)));
      loss.backward();
      const res: [string, Float64Array][] = [['y', Float64Array.from(output.dataSync())], ['du', Float64Array.from(u.grad!.dataSync())]];
      for (const [name, p] of l.namedParameters()) res.push([`d${name}`, Float64Array.from(p.grad!.dataSync())]);
      l.zeroGrad();
      return res;
    });
    const got = run(lg, g, 'f32'), want = run(lc, c, 'f64');
    assert.equal(got.length, want.length);
    want.forEach(([name, w], i) => { assert.equal(got[i][0], name); assertNear(got[i][1], w, tol, `LRU ${name}`); });
    lg.dispose();
    lc.dispose();
    assert.equal(g.liveBuffers(), before, 'GPU buffers leaked');
  });
});
