/**
 * The CUDA complexScan/complexScanGrad kernels (kernels/complex-scan.ts) against the CPU backend's
 * kernels in f64 from the same inputs (compare.ts: f32 rtol 2e-5, atol 2e-6·max|ref|; bf16
 * norm-wise 1e-2): with and without x0, odd sizes, extra leading axes, short and long T,
 * gradients of λ, u and x0; and an LRU layer forward/backward on the GPU (f32) against the same
 * layer on the CPU (f64, same parameters) with the tolerance stated there. Skipped (with the
 * reason) where no CUDA device is present.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { LRU } from '../../../src/cells/lru.js';
import { complexScan, hasComplexScan } from '../../../src/tensor/complex-scan.js';
import { fromHost } from '../../../src/tensor/creation.js';
import * as ops from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, compareOp, cpu, gpu, skipReason, type InputSpec, type Tolerance } from './compare.js';

/** λ [2, C] (|λ| ∈ [0.3, 0.95) at a random phase) and u [..., T, 2, C] in [−1, 1) specs. */
function scanSpecs(shape: number[], rng: Rng): InputSpec[] {
  const C = shape[shape.length - 1];
  const lam = new Float64Array(2 * C);
  for (let c = 0; c < C; c++) {
    const r = 0.3 + 0.65 * rng.uniform(), th = 2 * Math.PI * rng.uniform();
    lam[c] = r * Math.cos(th); lam[C + c] = r * Math.sin(th);
  }
  return [{ shape: [2, C], values: [...lam] }, { shape, kind: 'uniform' }];
}

describe('CUDA complexScan vs the CPU kernel', { skip: skipReason }, () => {
  test('the GPU backend has the kernel', () => assert.ok(hasComplexScan(gpu())));

  test('forward and gradients of λ, u, x0 (f32; odd sizes; short and long T; extra leading axes)', () => {
    const rng = new Rng(11);
    // u shapes [..., T, 2, C]; 16·70 channels exercise more than one block, T = 1500 the unrolled loop's tail
    const cases: number[][] = [[3, 13, 2, 5], [2, 1, 2, 7], [1, 1500, 2, 9], [17, 3, 2, 5], [2, 9, 3, 2, 4], [5, 300, 2, 33], [16, 37, 2, 70]];
    for (const shape of cases) {
      const specs = scanSpecs(shape, rng);
      const state = [...shape.slice(0, shape.length - 3), 2, shape[shape.length - 1]];
      const tag = `[${shape.join(', ')}]`;
      compareOp(`complexScan ${tag}`, specs, (l, u) => complexScan(l, u));
      compareOp(`complexScan x0 ${tag}`, [...specs, { shape: state, kind: 'uniform' }], (l, u, x0) => complexScan(l, u, { x0 }));
    }
  });

  test('bf16 storage (f32 state) within the stated tolerance', () => {
    const specs = scanSpecs([2, 400, 2, 24], new Rng(12));
    compareOp('complexScan bf16', [...specs, { shape: [2, 2, 24], kind: 'uniform' }], (l, u, x0) => complexScan(l, u, { x0 }), { precision: 'bf16' });
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
