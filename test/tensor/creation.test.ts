/** Creating tensors and reading them back: nested arrays, host arrays, constants, ranges. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { arange, fromHost, full, ones, onesLike, tensor, zeros, zerosLike } from '../../src/tensor/creation.js';
import { scope } from '../../src/tensor/tensor.js';

test('tensor() infers shapes from nested arrays and converts to the requested dtype', async () => {
  const t = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.dtype, 'f32');
  assert.deepEqual(await t.toArray(), [[1, 2, 3], [4, 5, 6]]);
  const s = tensor(2.5, undefined, { dtype: 'f64' });
  assert.deepEqual(s.shape, []);
  assert.equal(await s.item(), 2.5);
  assert.equal(await s.toArray(), 2.5);
  const flat = tensor([1, 2, 3, 4], [2, 2], { dtype: 'i32' });
  assert.ok(flat.dataSync() instanceof Int32Array);
  assert.deepEqual(await flat.toArray(), [[1, 2], [3, 4]]);
  const h = tensor(Float64Array.from([0.1, 0.2]));
  assert.equal(h.dtype, 'f64');
  assert.deepEqual(tensor(Float64Array.from([0.1]), [1], { dtype: 'f32' }).dataSync(), Float32Array.from([0.1]));
  for (const x of [t, s, flat, h]) x.dispose();
});

test('ragged nested arrays and wrong sizes are errors', () => {
  assert.throws(() => tensor([[1, 2], [3]]), /ragged nested array/);
  assert.throws(() => tensor([[1], 2] as never), /ragged nested array/);
  assert.throws(() => tensor([1, [2]] as never), /ragged nested array/);
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\] \(4 needed\)/);
  assert.throws(() => fromHost(new Float32Array(2), [-2]), /invalid shape \[-2\]/);
});

test('full / zeros / ones / *Like / arange', async () => {
  scope(() => {
    assert.deepEqual([...full([2, 2], 7, { dtype: 'f64' }).dataSync()], [7, 7, 7, 7]);
    const z = zeros([3]);
    assert.deepEqual([...z.dataSync()], [0, 0, 0]);
    assert.deepEqual([...ones([2], { dtype: 'i32' }).dataSync()], [1, 1]);
    const o = onesLike(tensor([1, 2], [2], { dtype: 'f64' }));
    assert.equal(o.dtype, 'f64');
    assert.deepEqual([...zerosLike(o).dataSync()], [0, 0]);
    assert.deepEqual([...arange(4).dataSync()], [0, 1, 2, 3]);
    assert.deepEqual([...arange(1, 2, 0.25, { dtype: 'f64' }).dataSync()], [1, 1.25, 1.5, 1.75]);
    assert.deepEqual([...arange(5, 0, -2, { dtype: 'i32' }).dataSync()], [5, 3, 1]);
    assert.deepEqual(arange(3, 3).shape, [0]);
    assert.equal(zeros([2, 0, 3]).size, 0);
    assert.ok(ones([1], { requiresGrad: true }).requiresGrad);
  });
  await assert.rejects(async () => zeros([2]).item(), /item\(\) needs a one-element tensor, got tensor \[2\] f32/);
});
