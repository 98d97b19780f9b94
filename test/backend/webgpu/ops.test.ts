/**
 * Every op of src/tensor/ops.ts on the WebGPU backend against the CPU backend (f64 reference from
 * the same inputs), forward and backward: the cases of the CUDA backend's ops test (without its
 * bf16 and TF32 cases: f32 is WebGPU's float dtype), with tolerances in compare.ts. Skipped (with
 * the reason) only where no WebGPU adapter can be had.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import type { UnaryOp } from '../../../src/backend/backend.js';
import * as ops from '../../../src/tensor/ops.js';
import { fromHost, full, randn } from '../../../src/tensor/creation.js';
import { Rng } from '../../../src/tensor/random.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, compareOp, cpu, gpu, skipReason, TOL_F32 } from './compare.js';

describe('WebGPU backend ops vs CPU', { skip: skipReason }, () => {
  test('unary ops and their gradients', async () => {
    const positive = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt', 'reciprocal']);
    const all: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'sigmoid',
      'logSigmoid', 'tanh', 'relu', 'gelu', 'geluTanh', 'silu', 'softplus'];
    const fns: Record<UnaryOp, (x: Tensor) => Tensor> = {
      neg: ops.neg, abs: ops.abs, sign: ops.sign, exp: ops.exp, log: ops.log, sqrt: ops.sqrt, rsqrt: ops.rsqrt, square: ops.square,
      reciprocal: ops.reciprocal, sin: ops.sin, cos: ops.cos, sigmoid: ops.sigmoid, logSigmoid: ops.logSigmoid, tanh: ops.tanh,
      relu: ops.relu, gelu: ops.gelu, geluTanh: ops.geluTanh, silu: ops.silu, softplus: ops.softplus,
    };
    for (const op of all) {
      await compareOp(op, [{ shape: [7, 33], kind: positive.has(op) ? 'positive' : 'normal' }], fns[op]);
    }
  });

  test('binary ops with broadcasting, scalars and comparisons', async () => {
    const shapes: [number[], number[]][] = [[[5, 7], [5, 7]], [[3, 1, 5], [4, 5]], [[1], [6, 3]], [[2, 3, 4, 5, 3], [3, 1, 5, 1]], [[], [4]]];
    for (const [sa, sb] of shapes) {
      for (const [name, f] of [['add', ops.add], ['sub', ops.sub], ['mul', ops.mul], ['div', ops.div], ['maximum', ops.maximum], ['minimum', ops.minimum]] as const) {
        await compareOp(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, [{ shape: sa }, { shape: sb, kind: name === 'div' ? 'positive' : 'normal' }], (a, b) => f(a, b));
      }
    }
    await compareOp('pow', [{ shape: [4, 9], kind: 'positive' }, { shape: [9], kind: 'uniform' }], (a, b) => ops.pow(a, b));
    await compareOp('scalar ops', [{ shape: [3, 5] }], (a) => ops.add(ops.mul(ops.sub(2, a), 3), ops.div(a, 4)));
    const vals = [0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 1, 1];
    for (const [name, f] of [['gt', ops.gt], ['ge', ops.ge], ['lt', ops.lt], ['le', ops.le], ['eq', ops.eq]] as const) {
      await compareOp(name, [{ shape: [3, 4], values: vals }, { shape: [4], values: [1, 1, 0, 2] }], (a, b) => f(a, b), { grad: false });
    }
    // i32 arithmetic (the crossEntropy mean counts targets this way)
    await compareOp('i32 arithmetic', [{ shape: [10], int: 7 }], (t) => ops.cast(ops.sub(1, ops.eq(t, 3)), 'f32'), { grad: false });
  });

  test('where, cast, dropout', async () => {
    await compareOp('where', [{ shape: [4, 1], values: [1, 0, 0, 1] }, { shape: [4, 6] }, { shape: [6] }], (c, a, b) => ops.where(c, a, b));
    await compareOp('where (i32 cond)', [{ shape: [5], int: 2 }, { shape: [3, 5] }], (c, a) => ops.where(c, a, 0.5));
    await compareOp('cast to i32 and back', [{ shape: [4, 5], values: Array.from({ length: 20 }, (_, i) => (i - 10) * 0.7) }],
      (x) => ops.cast(ops.cast(x, 'i32'), 'f32'), { grad: false });
    await compareOp('dropout (the same hash-generated mask on both backends)', [{ shape: [67, 129] }], (x) => ops.dropout(x, 0.3, new Rng(5)));
  });

  test('reductions: sum, mean, max, min, logsumexp, argmax over axes, long rows and columns', async () => {
    const cases: [number[], number | number[] | undefined][] = [
      [[3, 4, 5], 1], [[3, 4, 5], [0, 2]], [[3, 4, 5], undefined], [[7, 1000], 1], [[3, 70001], 1], [[50000, 3], 0],
      [[4, 3000, 5], 1], [[1, 5], 1], [[129], 0],
    ];
    for (const [shape, axes] of cases) {
      const tag = `${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`;
      await compareOp(`sum ${tag}`, [{ shape }], (x) => ops.sum(x, axes));
      await compareOp(`mean ${tag} keepDims`, [{ shape }], (x) => ops.mean(x, axes, true));
      await compareOp(`max ${tag}`, [{ shape }], (x) => ops.max(x, axes));
      await compareOp(`min ${tag}`, [{ shape }], (x) => ops.min(x, axes));
      await compareOp(`logsumexp ${tag}`, [{ shape }], (x) => ops.logsumexp(x, axes));
      if (typeof axes === 'number') await compareOp(`argmax ${tag}`, [{ shape }], (x) => ops.argmax(x, axes), { grad: false });
    }
    await compareOp('max with NaN and ties', [{ shape: [2, 4], values: [1, NaN, 3, 0, 2, 2, -1, 2] }], (x) => ops.max(x, 1), { grad: false });
    await compareOp('argmax ties take the first', [{ shape: [2, 4], values: [1, 3, 3, 0, -Infinity, -Infinity, -Infinity, -Infinity] }], (x) => ops.argmax(x, 1), { grad: false });
  });

  test('shape ops: reshape, permute, transpose, slice, concat, stack, pad, flip, expand, split', async () => {
    await compareOp('permute', [{ shape: [2, 3, 4, 5] }], (x) => ops.permute(x, [2, 0, 3, 1]));
    await compareOp('transpose', [{ shape: [3, 7, 5] }], (x) => ops.transpose(x, 0, 2));
    await compareOp('slice', [{ shape: [4, 9, 3] }], (x) => ops.slice(x, 1, 2, -3));
    await compareOp('concat', [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }], (a, b) => ops.concat([a, b], 1));
    await compareOp('stack', [{ shape: [3, 4] }, { shape: [3, 4] }], (a, b) => ops.stack([a, b], 1));
    await compareOp('pad', [{ shape: [3, 4] }], (x) => ops.pad(x, [[1, 2], [0, 3]], 0.5));
    await compareOp('flip', [{ shape: [3, 5, 2] }], (x) => ops.flip(x, 1));
    await compareOp('expand', [{ shape: [3, 1, 2] }], (x) => ops.expand(x, [4, 3, 5, 2]));
    await compareOp('split', [{ shape: [2, 9] }], (x) => ops.split(x, [2, 3, 4], 1));
    await compareOp('reshape', [{ shape: [6, 4] }], (x) => ops.mul(ops.reshape(x, [2, 3, 4]), 2));
  });

  test('matmul: 2-D, batched, broadcast, transposes, odd sizes', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[7, 13], [13, 5], false, false], [[13, 7], [13, 5], true, false], [[7, 13], [5, 13], false, true], [[13, 7], [5, 13], true, true],
      [[3, 7, 13], [13, 5], false, false], [[13, 5], [4, 5, 9], false, false], [[2, 6, 33], [2, 33, 17], false, false],
      [[2, 1, 4, 6], [3, 6, 5], false, false], [[65, 129], [129, 31], false, false],
      // ≥ 64 tiles of 128×128: the large-tile kernel, ragged edges, both transposes
      [[1000, 5], [5, 1001], false, false], [[5, 1000], [1001, 5], true, true],
    ];
    for (const [sa, sb, transA, transB] of cases) {
      await compareOp(`matmul ${JSON.stringify(sa)}·${JSON.stringify(sb)} ${transA} ${transB}`, [{ shape: sa }, { shape: sb }], (a, b) => ops.matmul(a, b, { transA, transB }));
    }
  });

  test('matmul: accumulate and offsets at the backend level', async () => {
    const g = gpu(), c = cpu();
    const rng = new Rng(3);
    const a = new Float32Array(2 * 3 * 4 + 2), b = new Float32Array(4 * 5 + 1);
    rng.fillNormal(a);
    rng.fillNormal(b);
    const c0 = new Float32Array(2 * 3 * 5 + 3).map((_, i) => i * 0.1);
    const spec = { batch: 2, m: 3, n: 5, k: 4, transA: false, transB: false, aOffset: 2, bOffset: 1, cOffset: 3, aBatchStride: 12, bBatchStride: 0, accumulate: true };
    const outs = await Promise.all([g, c].map(async (be) => {
      const [ab, bb, cb] = [a, b, c0].map((h) => { const x = be.alloc(h.length, 'f32'); be.write(x, h); return x; });
      be.matmul(ab, bb, cb, spec);
      const r = await be.read(cb);
      for (const x of [ab, bb, cb]) be.free(x);
      return r;
    }));
    assertNear(outs[0], outs[1], TOL_F32, 'accumulated GEMM');
  });

  test('softmax, logSoftmax, crossEntropy (ignoreIndex, reductions) and their gradients', async () => {
    await compareOp('softmax', [{ shape: [5, 37] }], (x) => ops.softmax(x));
    await compareOp('logSoftmax axis 0', [{ shape: [6, 4, 3] }], (x) => ops.logSoftmax(x, 0));
    await compareOp('softmax wide', [{ shape: [3, 5000] }], (x) => ops.softmax(x));
    const targets = [3, -100, 0, 6, 2, -100, 1];
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await compareOp(`crossEntropy ${reduction}`, [{ shape: [7, 7] }, { shape: [7], int: 1, values: targets }],
        (l, t) => ops.crossEntropy(l, t, { reduction }));
    }
    await compareOp('crossEntropy ignoreIndex 2', [{ shape: [2, 3, 5] }, { shape: [2, 3], int: 1, values: [2, 1, 4, 2, 0, 3] }],
      (l, t) => ops.crossEntropy(l, t, { ignoreIndex: 2 }));
  });

  test('index errors are the CPU backend\'s errors, raised at the next readback', async () => {
    // a kernel cannot throw: the first bad position is recorded and the next read throws
    for (const be of ['cpu', 'webgpu'] as const) {
      const logits = randn([3, 4], { backend: be });
      const bad = fromHost(Int32Array.from([1, 9, 2]), [3], { backend: be });
      const w = randn([5, 2], { backend: be });
      const ids = fromHost(Int32Array.from([0, 4, 7, -1]), [2, 2], { backend: be });
      try {
        await assert.rejects(async () => { const l = ops.crossEntropy(logits, bad); try { await l.data(); } finally { l.dispose(); } },
          { name: 'RangeError', message: 'crossEntropy: target 9 at row 1 is outside [0, 4)' }, be);
        await assert.rejects(async () => { const e = ops.embedding(w, ids); try { await e.data(); } finally { e.dispose(); } },
          { name: 'RangeError', message: 'index 7 is out of range [0, 5)' }, be);
        // the error is reported once: the next readback is clean
        assert.equal((await logits.data()).length, 12);
      } finally {
        for (const t of [logits, bad, w, ids]) t.dispose();
      }
    }
  });

  test('embedding, indexSelect, takeAlongLastAxis (gather / scatterAdd)', async () => {
    await compareOp('embedding', [{ shape: [11, 6] }, { shape: [3, 4], int: 11 }], (w, ids) => ops.embedding(w, ids));
    await compareOp('indexSelect axis 1', [{ shape: [3, 8, 5] }, { shape: [6], int: 8 }], (x, i) => ops.indexSelect(x, 1, i));
    await compareOp('takeAlongLastAxis', [{ shape: [4, 9] }, { shape: [4, 3], int: 9 }], (x, i) => ops.takeAlongLastAxis(x, i));
  });

  test('cumsum, logcumsumexp (with −∞), linear and log scans with and without h0, long and odd lengths', async () => {
    for (const shape of [[3, 17, 5], [2, 3000, 3], [1, 1, 4], [4, 257, 1]]) {
      const tag = JSON.stringify(shape);
      await compareOp(`cumsum ${tag}`, [{ shape }], (x) => ops.cumsum(x, 1));
      await compareOp(`cumsum reverse ${tag}`, [{ shape }], (x) => ops.cumsum(x, 1, true));
      await compareOp(`logcumsumexp ${tag}`, [{ shape, kind: 'uniform' }], (x) => ops.logcumsumexp(x, 1));
      await compareOp(`linearScan ${tag}`, [{ shape, kind: 'uniform' }, { shape }], (a, b) => ops.linearScan(ops.sigmoid(a), b));
      const state = [shape[0], shape[2]];
      await compareOp(`linearScan h0 ${tag}`, [{ shape, kind: 'uniform' }, { shape }, { shape: state }], (a, b, h0) => ops.linearScan(ops.sigmoid(a), b, { h0 }));
      await compareOp(`logScan ${tag}`, [{ shape }, { shape }], (a, b) => ops.logScan(ops.logSigmoid(a), b));
      await compareOp(`logScan h0 ${tag}`, [{ shape }, { shape }, { shape: state }], (a, b, h0) => ops.logScan(ops.logSigmoid(a), b, { h0 }));
    }
    await compareOp('cumsum axis 0 and 2', [{ shape: [6, 3, 4] }], (x) => [ops.cumsum(x, 0), ops.cumsum(x, 2, true)]);
    const withInf = [0.5, -Infinity, 1, -Infinity, -Infinity, 2, 0.1, -Infinity];
    await compareOp('logcumsumexp with −∞', [{ shape: [2, 4], values: withInf }], (x) => ops.logcumsumexp(x, 1), { grad: false });
    await compareOp('logScan with −∞ in b', [{ shape: [1, 8, 1] }, { shape: [1, 8, 1], values: withInf }], (a, b) => ops.logScan(ops.logSigmoid(a), b));
  });

  test('data round trips for f32 and i32, fill, zero-size tensors; f64 and bf16 are refused in one sentence', async () => {
    const g = gpu();
    const before = g.liveBuffers();
    const f = fromHost(Float32Array.from([1.5, -2, 3e-5]), [3], { backend: 'webgpu' });
    assert.deepEqual([...(await f.data())], [1.5, -2, Math.fround(3e-5)]);
    const i = fromHost(Int32Array.from([-7, 2 ** 31 - 1]), [2], { backend: 'webgpu' });
    assert.deepEqual([...(await i.data())], [-7, 2 ** 31 - 1]);
    const q = full([4], -0.25, { backend: 'webgpu' });
    assert.deepEqual([...(await q.data())], [-0.25, -0.25, -0.25, -0.25]);
    const z = full([0, 3], 1, { backend: 'webgpu' });
    assert.deepEqual([...(await z.data())], []);
    assert.equal(g.liveBuffers(), before + 4);
    for (const t of [f, i, q, z]) t.dispose();
    assert.equal(g.liveBuffers(), before);
    assert.throws(() => full([2], 1, { backend: 'webgpu', dtype: 'f64' }), /f64 is not a webgpu dtype/);
    assert.throws(() => g.alloc(2 ** 31, 'f32'), /exceeds this adapter's maxStorageBufferBindingSize/);
  });
});
