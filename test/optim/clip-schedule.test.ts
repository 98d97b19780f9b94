/** clipGradNorm (PyTorch's formula, on the device) and the learning-rate schedules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost } from '../../src/tensor/creation.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { clipGradNorm } from '../../src/optim/clip.js';
import { constantSchedule, warmupCosineSchedule } from '../../src/optim/schedule.js';

function withGrads(grads: number[][]): Tensor[] {
  return grads.map((g) => {
    const p = fromHost(new Float64Array(g.length), [g.length], { dtype: 'f64', requiresGrad: true }).keep();
    p.grad = fromHost(Float64Array.from(g), [g.length], { dtype: 'f64' }).keep();
    return p;
  });
}

const norm = (ps: Tensor[]) => Math.sqrt(ps.reduce((s, p) => s + Array.from(p.grad!.dataSync()).reduce((a, v) => a + v * v, 0), 0));

test('clipGradNorm scales all gradients to the max norm (global norm, PyTorch’s 1e-6)', () => {
  const live = getBackend().liveBuffers();
  const ps = withGrads([[3, 4], [12], []]); // global norm 13
  const noGrad = fromHost(Float64Array.of(1), [1], { dtype: 'f64' }).keep();
  const total = clipGradNorm([...ps, noGrad], 6.5);
  assert.deepEqual(total.shape, []);
  assert.equal(total.dataSync()[0], 13);
  const coef = 6.5 / (13 + 1e-6);
  assert.deepEqual(Array.from(ps[0].grad!.dataSync()), [3 * coef, 4 * coef]);
  assert.deepEqual(Array.from(ps[1].grad!.dataSync()), [12 * coef]);
  assert.ok(Math.abs(norm(ps) - 6.5) <= 6.5 * 1e-7, `norm after clipping ${norm(ps)}`);
  total.dispose();

  // under the max: untouched; Infinity: measures only
  for (const max of [100, Infinity]) {
    const t = clipGradNorm(ps, max);
    assert.ok(Math.abs(t.dataSync()[0] - 6.5) < 1e-6);
    assert.deepEqual(Array.from(ps[0].grad!.dataSync()), [3 * coef, 4 * coef]);
    t.dispose();
  }
  for (const p of [...ps, noGrad]) p.dispose();
  assert.equal(getBackend().liveBuffers(), live);
  assert.throws(() => clipGradNorm([], 0), /maxNorm must be > 0/);
});

test('schedules: constant, and warm-up + cosine at key steps', () => {
  const c = constantSchedule();
  assert.deepEqual([0, 1, 1e6].map(c), [1, 1, 1]);
  const s = warmupCosineSchedule({ warmupSteps: 10, totalSteps: 110, minFactor: 0.1 });
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(s(0), 0.1);
  close(s(4), 0.5);
  close(s(9), 1);
  close(s(10), 1);
  close(s(35), 0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2));
  close(s(60), 0.55);
  close(s(109), 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 99 / 100)));
  close(s(110), 0.1);
  close(s(1000), 0.1);
  const noWarmup = warmupCosineSchedule({ warmupSteps: 0, totalSteps: 4 });
  assert.deepEqual([0, 2, 4].map(noWarmup).map((v) => Math.round(v * 1e12) / 1e12), [1, 0.5, 0]);
  assert.throws(() => warmupCosineSchedule({ warmupSteps: 5, totalSteps: 3 }), /warmupSteps ≤ totalSteps/);
});
