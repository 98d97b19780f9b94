/**
 * Every op of src/tensor/ops.ts on the CUDA backend against the CPU backend (f64 reference from
 * the same inputs), forward and backward, on random shapes including odd sizes; see compare.ts for
 * the tolerances. Skipped (with the reason) where no CUDA device is present.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import type { UnaryOp } from '../../../src/backend/backend.js';
import * as ops from '../../../src/tensor/ops.js';
import { fromHost, full, randn } from '../../../src/tensor/creation.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, compareOp, cpu, gpu, skipReason, TOL } from './compare.js';

describe('CUDA backend ops vs CPU', { skip: skipReason }, () => {
  test('unary ops and their gradients', () => {
    const positive = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt', 'reciprocal']);
    const all: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'sigmoid',
      'logSigmoid', 'tanh', 'relu', 'gelu', 'geluTanh', 'silu', 'softplus'];
    const fns: Record<UnaryOp, (x: Tensor) => Tensor> = {
      neg: ops.neg, abs: ops.abs, sign: ops.sign, exp: ops.exp, log: ops.log, sqrt: ops.sqrt, rsqrt: ops.rsqrt, square: ops.square,
      reciprocal: ops.reciprocal, sin: ops.sin, cos: ops.cos, sigmoid: ops.sigmoid, logSigmoid: ops.logSigmoid, tanh: ops.tanh,
      relu: ops.relu, gelu: ops.gelu, geluTanh: ops.geluTanh, silu: ops.silu, softplus: ops.softplus,
    };
    for (const op of all) {
      compareOp(op, [{ shape: [7, 33], kind: positive.has(op) ? 'positive' : 'normal' }], fns[op]);
    }
  });

  test('binary ops with broadcasting, scalars and comparisons', () => {
    const shapes: [number[], number[]][] = [[[5, 7], [5, 7]], [[3, 1, 5], [4, 5]], [[1], [6, 3]], [[2, 3, 4, 5, 3], [3, 1, 5, 1]], [[], [4]]];
    for (const [sa, sb] of shapes) {
      for (const [name, f] of [['add', ops.add], ['sub', ops.sub], ['mul', ops.mul], ['div', ops.div], ['maximum', ops.maximum], ['minimum', ops.minimum]] as const) {
        compareOp(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, [{ shape: sa }, { shape: sb, kind: name === 'div' ? 'positive' : 'normal' }], (a, b) => f(a, b));
      }
    }
    compareOp('pow', [{ shape: [4, 9], kind: 'positive' }, { shape: [9], kind: 'uniform' }], (a, b) => ops.pow(a, b));
    compareOp('scalar ops', [{ shape: [3, 5] }], (a) => ops.add(ops.mul(ops.sub(2, a), 3), ops.div(a, 4)));
    const vals = [0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 1, 1];
    for (const [name, f] of [['gt', ops.gt], ['ge', ops.ge], ['lt', ops.lt], ['le', ops.le], ['eq', ops.eq]] as const) {
      compareOp(name, [{ shape: [3, 4], values: vals }, { shape: [4], values: [1, 1, 0, 2] }], (a, b) => f(a, b), { grad: false });
    }
    // i32 arithmetic (the crossEntropy mean counts targets this way)
    compareOp('i32 arithmetic', [{ shape: [10], int: 7 }], (t) => ops.cast(ops.sub(1, ops.eq(t, 3)), 'f32'), { grad: false });
  });

  test('where, cast, dropout', () => {
    compareOp('where', [{ shape: [4, 1], values: [1, 0, 0, 1] }, { shape: [4, 6] }, { shape: [6] }], (c, a, b) => ops.where(c, a, b));
    compareOp('where (i32 cond)', [{ shape: [5], int: 2 }, { shape: [3, 5] }], (c, a) => ops.where(c, a, 0.5));
    compareOp('cast to i32 and back', [{ shape: [4, 5], values: Array.from({ length: 20 }, (_, i) => (i - 10) * 0.7) }],
      (x) => ops.cast(ops.cast(x, 'i32'), 'f32'), { grad: false });
    compareOp('dropout (the same hash-generated mask on both backends)', [{ shape: [67, 129] }], (x) => ops.dropout(x, 0.3, new Rng(5)));
  });

  test('reductions: sum, mean, max, min, logsumexp, argmax over axes, long rows and columns', () => {
    const cases: [number[], number | number[] | undefined][] = [
      [[3, 4, 5], 1], [[3, 4, 5], [0, 2]], [[3, 4, 5], undefined], [[7, 1000], 1], [[3, 70001], 1], [[50000, 3], 0],
      [[4, 3000, 5], 1], [[1, 5], 1], [[129], 0],
    ];
    for (const [shape, axes] of cases) {
      const tag = `${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`;
      compareOp(`sum ${tag}`, [{ shape }], (x) => ops.sum(x, axes));
      compareOp(`mean ${tag} keepDims`, [{ shape }], (x) => ops.mean(x, axes, true));
      compareOp(`max ${tag}`, [{ shape }], (x) => ops.max(x, axes));
      compareOp(`min ${tag}`, [{ shape }], (x) => ops.min(x, axes));
      compareOp(`logsumexp ${tag}`, [{ shape }], (x) => ops.logsumexp(x, axes));
      if (typeof axes === 'number') compareOp(`argmax ${tag}`, [{ shape }], (x) => ops.argmax(x, axes), { grad: false });
    }
    compareOp('max with NaN and ties', [{ shape: [2, 4], values: [1, NaN, 3, 0, 2, 2, -1, 2] }], (x) => ops.max(x, 1), { grad: false });
    compareOp('argmax ties take the first', [{ shape: [2, 4], values: [1, 3, 3, 0, -Infinity, -Infinity, -Infinity, -Infinity] }], (x) => ops.argmax(x, 1), { grad: false });
  });

  test('shape ops: reshape, permute, transpose, slice, concat, stack, pad, flip, expand, split', () => {
    compareOp('permute', [{ shape: [2, 3, 4, 5] }], (x) => ops.permute(x, [2, 0, 3, 1]));
    compareOp('transpose', [{ shape: [3, 7, 5] }], (x) => ops.transpose(x, 0, 2));
    compareOp('slice', [{ shape: [4, 9, 3] }], (x) => ops.slice(x, 1, 2, -3));
    compareOp('concat', [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }], (a, b) => ops.concat([a, b], 1));
    compareOp('stack', [{ shape: [3, 4] }, { shape: [3, 4] }], (a, b) => ops.stack([a, b], 1));
    compareOp('pad', [{ shape: [3, 4] }], (x) => ops.pad(x, [[1, 2], [0, 3]], 0.5));
    compareOp('flip', [{ shape: [3, 5, 2] }], (x) => ops.flip(x, 1));
    compareOp('expand', [{ shape: [3, 1, 2] }], (x) => ops.expand(x, [4, 3, 5, 2]));
    compareOp('split', [{ shape: [2, 9] }], (x) => ops.split(x, [2, 3, 4], 1));
    compareOp('reshape', [{ shape: [6, 4] }], (x) => ops.mul(ops.reshape(x, [2, 3, 4]), 2));
  });

  test('matmul: 2-D, batched, broadcast, transposes, odd sizes', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[7, 13], [13, 5], false, false], [[13, 7], [13, 5], true, false], [[7, 13], [5, 13], false, true], [[13, 7], [5, 13], true, true],
      [[3, 7, 13], [13, 5], false, false], [[13, 5], [4, 5, 9], false, false], [[2, 6, 33], [2, 33, 17], false, false],
      [[2, 1, 4, 6], [3, 6, 5], false, false], [[65, 129], [129, 31], false, false],
    ];
    for (const [sa, sb, transA, transB] of cases) {
      compareOp(`matmul ${JSON.stringify(sa)}·${JSON.stringify(sb)} ${transA} ${transB}`, [{ shape: sa }, { shape: sb }], (a, b) => ops.matmul(a, b, { transA, transB }));
    }
  });

  test('matmul: accumulate and offsets at the backend level', () => {
    const g = gpu(), c = cpu();
    const rng = new Rng(3);
    const a = new Float32Array(2 * 3 * 4 + 2), b = new Float32Array(4 * 5 + 1);
    rng.fillNormal(a);
    rng.fillNormal(b);
    const c0 = new Float32Array(2 * 3 * 5 + 3).map((_, i) => i * 0.1);
    const spec = { batch: 2, m: 3, n: 5, k: 4, transA: false, transB: false, aOffset: 2, bOffset: 1, cOffset: 3, aBatchStride: 12, bBatchStride: 0, accumulate: true };
    const outs = [g, c].map((be) => {
      const [ab, bb, cb] = [a, b, c0].map((h) => { const x = be.alloc(h.length, 'f32'); be.write(x, h); return x; });
      be.matmul(ab, bb, cb, spec);
      const r = be.readSync!(cb);
      for (const x of [ab, bb, cb]) be.free(x);
      return r;
    });
    assertNear(outs[0], outs[1], TOL.f32, 'accumulated GEMM');
  });

  test('TF32 GEMMs are opt-in and close to f32', () => {
    const g = gpu();
    assert.equal(g.allowTF32, false);
    g.allowTF32 = true;
    try {
      compareOp('matmul tf32', [{ shape: [64, 256] }, { shape: [256, 96] }], (a, b) => ops.matmul(a, b), { precision: 'tf32' });
    } finally {
      g.allowTF32 = false;
    }
  });

  test('softmax, logSoftmax, crossEntropy (ignoreIndex, reductions) and their gradients', () => {
    compareOp('softmax', [{ shape: [5, 37] }], (x) => ops.softmax(x));
    compareOp('logSoftmax axis 0', [{ shape: [6, 4, 3] }], (x) => ops.logSoftmax(x, 0));
    compareOp('softmax wide', [{ shape: [3, 5000] }], (x) => ops.softmax(x));
    const targets = [3, -100, 0, 6, 2, -100, 1];
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      compareOp(`crossEntropy ${reduction}`, [{ shape: [7, 7] }, { shape: [7], int: 1, values: targets }],
        (l, t) => ops.crossEntropy(l, t, { reduction }));
    }
    compareOp('crossEntropy ignoreIndex 2', [{ shape: [2, 3, 5] }, { shape: [2, 3], int: 1, values: [2, 1, 4, 2, 0, 3] }],
      (l, t) => ops.crossEntropy(l, t, { ignoreIndex: 2 }));
  });

  test('index errors are the CPU backend\'s errors', () => {
    for (const be of ['cpu', 'cuda'] as const) {
      scope(() => {
        const logits = randn([3, 4], { backend: be });
        const bad = fromHost(Int32Array.from([1, 9, 2]), [3], { backend: be });
        assert.throws(() => ops.crossEntropy(logits, bad), { name: 'RangeError', message: 'crossEntropy: target 9 at row 1 is outside [0, 4)' }, be);
        const w = randn([5, 2], { backend: be });
        const ids = fromHost(Int32Array.from([0, 4, 7, -1]), [2, 2], { backend: be });
        assert.throws(() => ops.embedding(w, ids), { name: 'RangeError', message: 'index 7 is out of range [0, 5)' }, be);
      });
    }
  });

  test('embedding, indexSelect, takeAlongLastAxis (gather / scatterAdd)', () => {
    compareOp('embedding', [{ shape: [11, 6] }, { shape: [3, 4], int: 11 }], (w, ids) => ops.embedding(w, ids));
    compareOp('indexSelect axis 1', [{ shape: [3, 8, 5] }, { shape: [6], int: 8 }], (x, i) => ops.indexSelect(x, 1, i));
    compareOp('takeAlongLastAxis', [{ shape: [4, 9] }, { shape: [4, 3], int: 9 }], (x, i) => ops.takeAlongLastAxis(x, i));
  });

  test('cumsum, logcumsumexp (with −∞), linear and log scans with and without h0, long and odd lengths', () => {
    for (const shape of [[3, 17, 5], [2, 3000, 3], [1, 1, 4], [4, 257, 1]]) {
      const tag = JSON.stringify(shape);
      compareOp(`cumsum ${tag}`, [{ shape }], (x) => ops.cumsum(x, 1));
      compareOp(`cumsum reverse ${tag}`, [{ shape }], (x) => ops.cumsum(x, 1, true));
      compareOp(`logcumsumexp ${tag}`, [{ shape, kind: 'uniform' }], (x) => ops.logcumsumexp(x, 1));
      compareOp(`linearScan ${tag}`, [{ shape, kind: 'uniform' }, { shape }], (a, b) => ops.linearScan(ops.sigmoid(a), b));
      const state = [shape[0], shape[2]];
      compareOp(`linearScan h0 ${tag}`, [{ shape, kind: 'uniform' }, { shape }, { shape: state }], (a, b, h0) => ops.linearScan(ops.sigmoid(a), b, { h0 }));
      compareOp(`logScan ${tag}`, [{ shape }, { shape }], (a, b) => ops.logScan(ops.logSigmoid(a), b));
      compareOp(`logScan h0 ${tag}`, [{ shape }, { shape }, { shape: state }], (a, b, h0) => ops.logScan(ops.logSigmoid(a), b, { h0 }));
    }
    compareOp('cumsum axis 0 and 2', [{ shape: [6, 3, 4] }], (x) => [ops.cumsum(x, 0), ops.cumsum(x, 2, true)]);
    const withInf = [0.5, -Infinity, 1, -Infinity, -Infinity, 2, 0.1, -Infinity];
    compareOp('logcumsumexp with −∞', [{ shape: [2, 4], values: withInf }], (x) => ops.logcumsumexp(x, 1), { grad: false });
    compareOp('logScan with −∞ in b', [{ shape: [1, 8, 1] }, { shape: [1, 8, 1], values: withInf }], (a, b) => ops.logScan(ops.logSigmoid(a), b));
  });

  test('bf16: elementwise, reductions, matmul, softmax, scans within the stated tolerance', () => {
    const o = { precision: 'bf16' as const };
    compareOp('bf16 gelu·x + y', [{ shape: [9, 31] }, { shape: [31] }], (x, y) => ops.add(ops.mul(ops.gelu(x), x), y), o);
    compareOp('bf16 sum / max', [{ shape: [5, 3001] }], (x) => [ops.sum(x, 1), ops.max(x, 0)], o);
    compareOp('bf16 matmul', [{ shape: [3, 65, 96] }, { shape: [96, 40] }], (a, b) => ops.matmul(a, b), o);
    compareOp('bf16 logSoftmax', [{ shape: [17, 50] }], (x) => ops.logSoftmax(x), o);
    compareOp('bf16 linearScan', [{ shape: [2, 500, 7], kind: 'uniform' }, { shape: [2, 500, 7] }], (a, b) => ops.linearScan(ops.sigmoid(a), b), o);
    compareOp('bf16 embedding', [{ shape: [11, 6] }, { shape: [7], int: 11 }], (w, ids) => ops.embedding(w, ids), o);
  });

  test('readSync / data round trips for every dtype, fill, zero-size tensors', async () => {
    const g = gpu();
    const f = fromHost(Float32Array.from([1.5, -2, 3e-5]), [3], { backend: 'cuda' });
    assert.deepEqual([...f.dataSync()], [1.5, -2, Math.fround(3e-5)]);
    const d = fromHost(Float64Array.from([1 / 3, 1e300]), [2], { backend: 'cuda' });
    assert.deepEqual([...(await d.data())], [1 / 3, 1e300]);
    const i = fromHost(Int32Array.from([-7, 2 ** 31 - 1]), [2], { backend: 'cuda' });
    assert.deepEqual([...i.dataSync()], [-7, 2 ** 31 - 1]);
    const b = fromHost(Float32Array.from([1, 1.0078125, 1.00390625, 3.14159]), [4], { backend: 'cuda', dtype: 'bf16' });
    assert.deepEqual([...b.dataSync()], [1, 1.0078125, 1, 3.140625]); // 1 + 2⁻⁸ is a tie: to even
    const q = full([4], -0.25, { backend: 'cuda', dtype: 'bf16' });
    assert.deepEqual([...q.dataSync()], [-0.25, -0.25, -0.25, -0.25]);
    const z = full([0, 3], 1, { backend: 'cuda' });
    assert.deepEqual([...z.dataSync()], []);
    const before = g.liveBuffers();
    for (const t of [f, d, i, b, q, z]) t.dispose();
    assert.equal(g.liveBuffers(), before - 6);
  });
});
