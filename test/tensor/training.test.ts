/**
 * End-to-end learning with the raw ops and plain SGD: a 2-layer tanh MLP on a regression task
 * (loss falls by a large factor; two runs with one seed give bit-identical losses), and a tiny
 * recurrent model built on linearScan that learns an exponential moving average.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { randn, rand, zeros, full } from '../../src/tensor/creation.js';
import { Rng } from '../../src/tensor/random.js';
import { Tensor, scope } from '../../src/tensor/tensor.js';
import { getBackend, noGrad } from '../../src/tensor/engine.js';

function param(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t.keep();
}

/** p ← p − lr·∇p for every parameter (replaced by a new kept tensor); gradients freed. */
function sgd(params: Tensor[], lr: number): void {
  noGrad(() => params.forEach((p, i) => {
    const next = ops.sub(p, ops.mul(p.grad!, lr)).keep();
    next.requiresGrad = true;
    p.dispose();
    params[i] = next;
  }));
}

/** Trains a 2-layer tanh MLP (3 → 16 → 1) on targets from a random teacher MLP; returns the losses. */
function trainMlp(seed: number, steps: number): number[] {
  const rng = new Rng(seed);
  const base = getBackend().liveBuffers();
  const [X, Y] = scope(() => {
    const x = randn([64, 3], { rng });
    const tW1 = randn([3, 6], { rng }), tW2 = randn([6, 1], { rng });
    return [x, ops.matmul(ops.tanh(ops.matmul(x, tW1)), tW2)];
  });
  X.keep(); Y.keep();
  const params = [
    param(randn([3, 16], { rng, std: 1 / Math.sqrt(3) })), param(zeros([16])),
    param(randn([16, 1], { rng, std: 0.25 })), param(zeros([1])),
  ];
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    losses.push(scope(() => {
      const [W1, b1, W2, b2] = params;
      const pred = ops.add(ops.matmul(ops.tanh(ops.add(ops.matmul(X, W1), b1)), W2), b2);
      const loss = ops.mean(ops.square(ops.sub(pred, Y)));
      loss.backward();
      sgd(params, 0.1);
      return loss.dataSync()[0];
    }));
  }
  for (const t of [X, Y, ...params]) t.dispose();
  assert.equal(getBackend().liveBuffers(), base);
  return losses;
}

test('a 2-layer tanh MLP learns a regression task with plain SGD, bit-reproducibly', () => {
  const a = trainMlp(7, 400);
  const first = a[0], last = a[a.length - 1];
  assert.ok(Number.isFinite(last));
  assert.ok(last < first / 20, `loss fell from ${first} to ${last} (less than 20×)`);
  const b = trainMlp(7, 400);
  assert.deepEqual(b, a, 'same seed, bit-identical losses');
  const c = trainMlp(8, 5);
  assert.notDeepEqual(c, a.slice(0, 5), 'another seed, other losses');
});

test('a linear-scan recurrent model learns an exponential moving average', () => {
  // Model: a_t = σ(x_t W_a + c_a), b_t = x_t W_b, h = linearScan(a, b), y_t = h_t W_o.
  // Task: y_t = 0.8·y_{t−1} + x_t, reachable with a = 0.8 (W_a = 0, c_a = logit 0.8), W_b W_o = 1.
  const rng = new Rng(11);
  const B = 16, T = 24, H = 4;
  const base = getBackend().liveBuffers();
  const [X, Y] = scope(() => {
    const x = rand([B, T, 1], { rng, low: -1, high: 1 });
    return [x, ops.linearScan(full([B, T, 1], 0.8), x)];
  });
  X.keep(); Y.keep();
  const params = [
    param(randn([1, H], { rng, std: 0.5 })), param(zeros([H])),
    param(randn([1, H], { rng, std: 0.5 })), param(randn([H, 1], { rng, std: 0.5 })),
  ];
  const losses: number[] = [];
  for (let step = 0; step < 300; step++) {
    losses.push(scope(() => {
      const [Wa, ca, Wb, Wo] = params;
      const a = ops.sigmoid(ops.add(ops.matmul(X, Wa), ca));
      const h = ops.linearScan(a, ops.matmul(X, Wb));
      const loss = ops.mean(ops.square(ops.sub(ops.matmul(h, Wo), Y)));
      loss.backward();
      sgd(params, 0.05);
      return loss.dataSync()[0];
    }));
  }
  const first = losses[0], last = losses[losses.length - 1];
  assert.ok(last < first / 10, `loss fell from ${first} to ${last} (less than 10×)`);
  for (const t of [X, Y, ...params]) t.dispose();
  assert.equal(getBackend().liveBuffers(), base);
});
