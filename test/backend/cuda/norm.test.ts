/**
 * The fused norm (src/tensor/fused.ts norm / addNorm, kernels/norm.ts) against the composite ops:
 * on the GPU against the CPU backend's f64 composite from the same inputs (compare.ts: f32 tight,
 * bf16 norm-wise 1e-2), forward and gradients w.r.t. input, residual, weight and bias, on widths
 * that take every kernel variant (register-cached V = 4…32 and the loop over memory beyond 1024
 * columns) and row counts that give one or many backward blocks. The composite path itself is
 * checked on the CPU (no GPU needed) against nn/functional.ts, which the layers used before.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { layerNorm, rmsNorm } from '../../../src/nn/functional.js';
import { LayerNorm, RMSNorm } from '../../../src/nn/norm.js';
import { randn } from '../../../src/tensor/creation.js';
import { addNorm, hasFusedNorm, norm, type NormKind } from '../../../src/nn/fused-norm.js';
import { add, mul, sum } from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, compareOp, cpu, gpu, skipReason, TOL } from './compare.js';

test('norm / addNorm composite path (CPU) equals nn/functional rmsNorm and layerNorm exactly, gradients included', () => {
  assert.equal(hasFusedNorm(cpu()), false);
  scope(() => {
    const rng = new Rng(3);
    const x = randn([4, 6, 10], { rng, backend: cpu() }), d = randn([4, 6, 10], { rng, backend: cpu() });
    const w = randn([10], { rng, backend: cpu() }), b = randn([10], { rng, backend: cpu() });
    for (const t of [x, d, w, b]) t.requiresGrad = true;
    const pairs: [Tensor, Tensor][] = [
      [norm('rms', x, w, 1e-6), rmsNorm(x, w, 1e-6)],
      [norm('layer', x, w, 1e-5, { bias: b }), layerNorm(x, w, b, 1e-5)],
      [addNorm('rms', x, d, w, 1e-6).y, rmsNorm(add(x, d), w, 1e-6)],
    ];
    for (const [got, want] of pairs) {
      assert.deepEqual(Array.from(got.dataSync()), Array.from(want.dataSync()));
      const grads = (y: Tensor) => {
        for (const t of [x, d, w, b]) { t.grad?.dispose(); t.grad = null; }
        sum(mul(y, y)).backward();
        return [x, d, w, b].map((t) => (t.grad ? Array.from(t.grad.dataSync()) : null));
      };
      assert.deepEqual(grads(got), grads(want));
    }
    const rms = new RMSNorm({ dim: 10, backend: cpu() }), ln = new LayerNorm({ dim: 10, backend: cpu() });
    assert.deepEqual(Array.from(rms.forward(x).dataSync()), Array.from(rmsNorm(x, rms.weight, rms.eps).dataSync()));
    const r = ln.forwardAdd(x, d);
    assert.deepEqual(Array.from(r.sum.dataSync()), Array.from(add(x, d).dataSync()));
    assert.deepEqual(Array.from(r.y.dataSync()), Array.from(layerNorm(add(x, d), ln.weight, ln.bias, ln.eps).dataSync()));
    rms.dispose();
    ln.dispose();
  });
});

describe('CUDA fused norm vs the composite ops', { skip: skipReason }, () => {
  const kinds: NormKind[] = ['rms', 'layer'];
  // [rows…, cols]: V = 4 (5, 33, 128), 8 (200), 16 (384), 32 (1000), memory loop (1500); 1…600 rows
  const shapes = [[3, 5], [1, 33], [37, 128], [2, 3, 200], [4, 64, 384], [5, 1000], [3, 1500], [600, 48]];

  test('norm: rms and layer, f32, forward and gradients (input, weight, bias)', () => {
    assert.equal(hasFusedNorm(gpu()), true);
    for (const kind of kinds) {
      for (const shape of shapes) {
        const cols = shape[shape.length - 1];
        const specs = [{ shape }, { shape: [cols] }, ...(kind === 'layer' ? [{ shape: [cols] }] : [])];
        compareOp(`norm(${kind}) ${JSON.stringify(shape)}`, specs, (x, w, b) => norm(kind, x, w, 1e-5, { bias: b ?? null }));
      }
    }
  });

  test('addNorm (residual add + norm in one kernel): sum and y, gradients to both addends', () => {
    for (const kind of kinds) {
      for (const shape of [[3, 5], [4, 64, 384], [3, 1500]]) {
        const cols = shape[shape.length - 1];
        compareOp(`addNorm(${kind}) ${JSON.stringify(shape)}`, [{ shape }, { shape }, { shape: [cols] }, { shape: [cols] }], (x, d, w, b) => {
          const r = addNorm(kind, x, d, w, 1e-6, { bias: kind === 'layer' ? b : null });
          return [r.sum, r.y];
        });
      }
    }
  });

  test('bf16: norm and addNorm within the stated tolerance (statistics in f32)', () => {
    for (const kind of kinds) {
      for (const shape of [[37, 128], [4, 64, 384], [3, 1500]]) {
        const cols = shape[shape.length - 1];
        compareOp(`bf16 norm(${kind}) ${JSON.stringify(shape)}`, [{ shape }, { shape: [cols] }, { shape: [cols] }],
          (x, w, b) => norm(kind, x, w, 1e-5, { bias: kind === 'layer' ? b : null }), { precision: 'bf16' });
        compareOp(`bf16 addNorm(${kind}) ${JSON.stringify(shape)}`, [{ shape }, { shape }, { shape: [cols] }],
          (x, d, w) => { const r = addNorm(kind, x, d, w, 1e-5); return [r.sum, r.y]; }, { precision: 'bf16' });
      }
    }
  });

  test('the GPU fused and GPU composite paths agree (f32), and the modules take the fused path', () => {
    const g = gpu();
    const before = g.liveBuffers();
    scope(() => {
      const rng = new Rng(9);
      const x = randn([8, 100, 384], { rng, backend: g }), w = randn([384], { rng, backend: g }), b = randn([384], { rng, backend: g });
      for (const kind of kinds) {
        const fused = norm(kind, x, w, 1e-5, { bias: kind === 'layer' ? b : null });
        const plain = norm(kind, x, w, 1e-5, { bias: kind === 'layer' ? b : null, fused: false });
        assertNear(fused.dataSync(), plain.dataSync(), TOL.f32, `GPU fused vs composite ${kind}`);
      }
      const m = new RMSNorm({ dim: 384, backend: g });
      const y = m.forward(x);
      assert.equal(y.node?.op, 'norm(rms)');
      m.dispose();
    });
    assert.equal(g.liveBuffers(), before);
  });
});
