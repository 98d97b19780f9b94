/** Autograd semantics: accumulation, zeroing, reuse, noGrad, detach, and the errors of misuse. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { fromHost, tensor } from '../../src/tensor/creation.js';
import { scope } from '../../src/tensor/tensor.js';
import { getBackend, isGradEnabled, noGrad } from '../../src/tensor/engine.js';
import { f64 } from '../helpers/gradcheck.js';

const vals = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

test('gradients accumulate across two backward calls (same graph and a new graph)', () => {
  scope(() => {
    const x = f64([1, -2, 3], [3], true);
    const loss = ops.sum(ops.mul(x, f64([2, 3, 4], [3])));
    loss.backward();
    assert.deepEqual(vals(x.grad!), [2, 3, 4]);
    loss.backward(); // the graph is still alive: same gradient again, added
    assert.deepEqual(vals(x.grad!), [4, 6, 8]);
    ops.sum(ops.square(x)).backward(); // a new graph: + 2x
    assert.deepEqual(vals(x.grad!), [6, 2, 14]);
    x.dispose();
  });
});

test('zeroing grads: dispose the gradient and set it to null, the next backward starts fresh', () => {
  scope(() => {
    const x = f64([1, 2], [2], true);
    ops.sum(ops.exp(x)).backward();
    const g = x.grad!;
    g.dispose();
    x.grad = null;
    assert.ok(g.isDisposed);
    ops.sum(ops.mul(x, 3)).backward();
    assert.deepEqual(vals(x.grad!), [3, 3]);
    x.dispose();
    assert.equal(x.grad, null, 'dispose() frees the gradient too');
  });
});

test('a tensor used twice: d(x·x)/dx = 2x; diamonds and longer reuse add up', () => {
  scope(() => {
    const x = f64([1.5, -2, 0.25], [3], true);
    ops.sum(ops.mul(x, x)).backward();
    assert.deepEqual(vals(x.grad!), [3, -4, 0.5]);
    x.grad!.dispose(); x.grad = null;
    // y = e^x; z = y·x + y (y reached through two paths) → dz/dx = e^x(x + 1) + e^x
    const y = ops.exp(x);
    ops.sum(ops.add(ops.mul(y, x), y)).backward();
    const g = vals(x.grad!);
    [1.5, -2, 0.25].forEach((v, i) => assert.ok(Math.abs(g[i] - Math.exp(v) * (v + 2)) < 1e-14));
    x.dispose();
  });
});

test('requiresGrad propagates from inputs; constants make no graph', () => {
  scope(() => {
    const c = f64([1, 2], [2]);
    const y = ops.exp(c);
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
    const x = f64([1, 2], [2], true);
    const z = ops.add(y, x);
    assert.equal(z.requiresGrad, true);
    assert.equal(z.node?.op, 'add');
    assert.throws(() => ops.sum(y).backward(), /backward\(\): tensor \[\] f64 does not require grad/);
    x.dispose();
  });
});

test('noGrad makes no graph, nests, and restores grad mode even when fn throws', () => {
  scope(() => {
    const x = f64([1, 2], [2], true);
    const y = noGrad(() => ops.mul(ops.exp(x), 2));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
    assert.throws(() => ops.sum(y).backward(), /does not require grad/);
    noGrad(() => { noGrad(() => {}); assert.equal(isGradEnabled(), false); });
    assert.equal(isGradEnabled(), true);
    assert.throws(() => noGrad(() => { throw new Error('boom'); }), /boom/);
    assert.equal(isGradEnabled(), true);
    x.dispose();
  });
});

test('detach stops gradients and shares storage', () => {
  scope(() => {
    const x = f64([1, 2, 3], [3], true);
    const d = x.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.node, null);
    assert.deepEqual(vals(d), [1, 2, 3]);
    ops.sum(ops.mul(d, x)).backward(); // only the direct path: grad = d = x, not 2x
    assert.deepEqual(vals(x.grad!), [1, 2, 3]);
    x.dispose();
    assert.deepEqual(vals(d), [1, 2, 3], 'a detached view keeps the storage alive');
  });
});

test('backward on a non-scalar needs an explicit gradient of the same shape', () => {
  scope(() => {
    const x = f64([1, 2, 3, 4], [2, 2], true);
    const y = ops.mul(x, 3);
    assert.throws(() => y.backward(), (e: Error) => /backward\(\): tensor \[2, 2\] f64 is not a scalar; pass the output gradient explicitly/.test(e.message));
    assert.throws(() => y.backward(f64([1, 1], [2])), /backward\(\): gradient tensor \[2\] f64 does not match tensor \[2, 2\] f64/);
    y.backward(f64([1, 0, 2, 0], [2, 2]));
    assert.deepEqual(vals(x.grad!), [3, 0, 6, 0]);
    // A one-element non-0-d tensor counts as a scalar.
    const s = ops.sum(x, 0, true).reshape([1, 2]).sum(1, true);
    assert.deepEqual(s.shape, [1, 1]);
    s.backward();
    assert.deepEqual(vals(x.grad!), [4, 1, 7, 1]);
    x.dispose();
  });
});

test('using a disposed tensor throws a clear error (ops, readback, backward through it)', () => {
  scope(() => {
    const x = f64([1, 2], [2], true);
    x.name = 'w1';
    const y = ops.exp(x);
    x.dispose();
    assert.ok(x.isDisposed);
    const clear = /'w1' \[2\] f64 was used after dispose\(\)/;
    assert.throws(() => ops.exp(x), clear);
    assert.throws(() => x.dataSync(), clear);
    assert.throws(() => ops.add(x, 1), clear);
    assert.throws(() => x.reshape([2, 1]), clear);
    x.dispose(); // twice is fine

    // An intermediate disposed before backward: an error, not silently wrong gradients.
    const a = f64([1, 2], [2], true);
    const h = ops.tanh(a);
    const loss = ops.sum(ops.mul(h, 2));
    h.dispose();
    assert.throws(() => loss.backward(), /backward\(\): tensor \[2\] f64 in the graph was disposed before backward\(\) ran/);
    a.dispose();
  });
});

test('leaf gradients are kept: they outlive the scope that ran backward', () => {
  const x = f64([1, 2, 3], [3], true).keep();
  scope(() => { ops.sum(ops.square(x)).backward(); });
  assert.deepEqual(vals(x.grad!), [2, 4, 6]);
  x.dispose();
});

test('gradients only for leaves that ask: inputs without requiresGrad get none', () => {
  scope(() => {
    const x = f64([1, 2], [2], true), c = f64([3, 4], [2]);
    ops.sum(ops.mul(x, c)).backward();
    assert.equal(c.grad, null);
    assert.deepEqual(vals(x.grad!), [3, 4]);
    x.dispose();
  });
});

test('a 20 000-op chain backpropagates without overflowing the stack', () => {
  scope(() => {
    const x = f64([0.5], [1], true);
    let y = x;
    for (let i = 0; i < 20_000; i++) y = ops.add(y, x);
    ops.sum(y).backward();
    assert.deepEqual(vals(x.grad!), [20_001]);
    x.dispose();
  });
});

test('f32 gradients stay f32; integer inputs cannot require gradients through ops', () => {
  scope(() => {
    const x = fromHost(Float32Array.from([1, 2]), [2], { requiresGrad: true });
    ops.sum(ops.square(x)).backward();
    assert.equal(x.grad!.dtype, 'f32');
    assert.deepEqual(vals(x.grad!), [2, 4]);
    x.dispose();
    const i = tensor([1, 2], [2], { dtype: 'i32' });
    assert.throws(() => ops.sum(i), /sum: tensor \[2\] i32 must be a float tensor/);
  });
});

test('the backward pass leaves no buffers behind, even outside any scope', () => {
  // Manual memory management: every tensor the caller made is disposed by hand; the temporaries
  // that each node's backward makes (reshapes, masks, broadcasts) must be freed by autograd.
  const b = getBackend();
  const before = b.liveBuffers();
  const x = f64([1, -2, 3, 0.5, 2, -1], [2, 3], true);
  const w = f64([0.5, -1, 2], [3], true);
  const xw = ops.mul(x, w); // broadcast: w's gradient is summed over rows
  const h = ops.tanh(xw);
  const m = ops.max(h, 1);
  const s = ops.sum(h, [0, 1]);
  const sm = ops.sum(m);
  const loss = ops.add(sm, s);
  loss.backward();
  for (const t of [loss, sm, s, m, h, xw]) t.dispose();
  // mul/add/tanh/sum/max made no number-operand scalars here, so nothing else is alive.
  x.dispose();
  w.dispose();
  assert.equal(b.liveBuffers(), before, `${b.liveBuffers() - before} buffers leaked`);
});
