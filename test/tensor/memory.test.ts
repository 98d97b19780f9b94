/** Memory: scope(), keep(), dispose(), shared storage, and a training loop with a flat buffer count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { randn, zeros, fromHost } from '../../src/tensor/creation.js';
import { Rng } from '../../src/tensor/random.js';
import { Tensor, scope } from '../../src/tensor/tensor.js';
import { getBackend, noGrad } from '../../src/tensor/engine.js';

const live = () => getBackend().liveBuffers();

test('scope() disposes intermediates and keeps the returned tensor', () => {
  const base = live();
  const y = scope(() => {
    const a = randn([4, 4]);
    const b = ops.exp(a);
    const c = ops.mul(b, a);
    return ops.sum(c, 1);
  });
  assert.equal(live(), base + 1);
  assert.equal(y.isDisposed, false);
  assert.deepEqual(y.shape, [4]);
  y.dispose();
  assert.equal(live(), base);
});

test('scope() keeps tensors inside returned arrays and nested plain objects', () => {
  const base = live();
  const out = scope(() => {
    const a = randn([3]);
    const tmp = ops.square(a);
    const b = ops.add(tmp, 1);
    return { first: a, rest: [b, { deep: ops.neg(b) }], n: 3, s: 'text' };
  });
  assert.equal(live(), base + 3);
  assert.ok(!out.first.isDisposed && !(out.rest[0] as Tensor).isDisposed);
  const deep = (out.rest[1] as { deep: Tensor }).deep;
  assert.ok(!deep.isDisposed);
  assert.equal(out.n, 3);
  for (const t of [out.first, out.rest[0] as Tensor, deep]) t.dispose();
  assert.equal(live(), base);
});

test('nested scopes: a tensor returned from the inner scope belongs to the outer one', () => {
  const base = live();
  let inner: Tensor | null = null;
  const kept = scope(() => {
    inner = scope(() => ops.exp(randn([2])));
    assert.equal(inner.isDisposed, false);
    const other = scope(() => ops.exp(randn([2]))); // returned inside, but not out of the outer scope
    void other;
    return ops.add(inner, 1);
  });
  assert.ok(inner!.isDisposed, 'the outer scope freed the inner result it did not return');
  assert.equal(live(), base + 1);
  kept.dispose();
  assert.equal(live(), base);
});

test('scope() disposes everything when fn throws, and rejects async functions', () => {
  const base = live();
  assert.throws(() => scope(() => { randn([5]); ops.exp(randn([5])); throw new Error('inside'); }), /inside/);
  assert.equal(live(), base);
  assert.throws(() => scope(() => Promise.resolve(1)), /fn returned a Promise; scopes are synchronous/);
});

test('keep() takes a tensor out of every scope; dispose() twice is safe', () => {
  const base = live();
  let k: Tensor | null = null;
  scope(() => scope(() => { k = randn([3]).keep(); ops.exp(k); }));
  assert.equal(live(), base + 1);
  assert.equal(k!.isDisposed, false);
  k!.dispose();
  k!.dispose();
  assert.equal(live(), base);
});

test('views share storage: the buffer is freed when the last view goes', () => {
  const base = live();
  const a = randn([2, 3]);
  const r = a.reshape([3, 2]);
  const d = a.detach();
  assert.equal(live(), base + 1, 'reshape and detach do not copy');
  a.dispose();
  assert.equal(live(), base + 1);
  assert.equal(r.dataSync().length, 6);
  r.dispose();
  assert.equal(live(), base + 1);
  d.dispose();
  assert.equal(live(), base);
});

test('the count returns to baseline after forward + backward of a composite graph in scope()', () => {
  const base = live();
  scope(() => {
    const w = randn([4, 3], { requiresGrad: true, dtype: 'f64' });
    const x = randn([5, 4], { dtype: 'f64' });
    const y = ops.logSoftmax(ops.matmul(x, w), 0);
    const loss = ops.mean(ops.add(ops.logsumexp(y, [0, 1], true), ops.max(y, [0, 1])));
    loss.backward();
    assert.ok(w.grad);
  });
  assert.equal(live(), base);
});

/** One SGD step of a 2-layer tanh MLP on (X, Y); returns the loss. Params are replaced by new kept tensors. */
function sgdStep(params: Tensor[], X: Tensor, Y: Tensor, lr: number): number {
  return scope(() => {
    const [W1, b1, W2, b2] = params;
    const h = ops.tanh(ops.add(ops.matmul(X, W1), b1));
    const pred = ops.add(ops.matmul(h, W2), b2);
    const loss = ops.mean(ops.square(ops.sub(pred, Y)));
    loss.backward();
    const value = loss.dataSync()[0];
    noGrad(() => {
      params.forEach((p, i) => {
        const next = ops.sub(p, ops.mul(p.grad!, lr)).keep();
        next.requiresGrad = true;
        p.dispose(); // frees the parameter and its gradient
        params[i] = next;
      });
    });
    return value;
  });
}

function makeMlp(rng: Rng, din: number, hidden: number, dout: number): Tensor[] {
  const p = [
    randn([din, hidden], { rng, std: 1 / Math.sqrt(din) }),
    zeros([hidden]),
    randn([hidden, dout], { rng, std: 1 / Math.sqrt(hidden) }),
    zeros([dout]),
  ];
  for (const t of p) { t.requiresGrad = true; t.keep(); }
  return p;
}

test('a 200-step training loop keeps liveBuffers exactly flat from step 10 to step 200', () => {
  const rng = new Rng(2024);
  const base = live();
  const X = randn([32, 3], { rng }).keep();
  const Y = scope(() => ops.sin(ops.sum(X, 1, true))).keep();
  const params = makeMlp(rng, 3, 8, 1);
  let at10 = -1;
  for (let step = 1; step <= 200; step++) {
    sgdStep(params, X, Y, 0.1);
    for (const p of params) assert.equal(p.grad, null, 'no gradient survives the step');
    if (step === 10) at10 = live();
    if (step > 10) assert.equal(live(), at10, `step ${step}: ${live()} live buffers, ${at10} at step 10`);
  }
  assert.equal(at10, base + 2 + params.length, 'only the data and the parameters stay alive');
  for (const t of [X, Y, ...params]) t.dispose();
  assert.equal(live(), base);
});

test('the CPU allocator reuses freed buffers (kernels must fully overwrite them)', () => {
  const b = getBackend();
  const base = b.liveBuffers();
  scope(() => {
    const junk = fromHost(new Float64Array(12).fill(NaN), [3, 4]);
    junk.dispose(); // back to the pool, dirty
    const s = ops.sum(fromHost(new Float64Array(12).fill(1), [3, 4]), 0); // output [4] allocated fresh
    assert.deepEqual([...s.dataSync()], [3, 3, 3, 3]);
    const p = ops.pad(fromHost(new Float64Array(6).fill(1), [2, 3]), [[1, 0], [0, 1]]); // 12 elements: the dirty buffer
    assert.deepEqual([...p.dataSync()], [0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
  });
  assert.equal(b.liveBuffers(), base);
});
