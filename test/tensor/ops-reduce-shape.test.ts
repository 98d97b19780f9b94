/**
 * Reductions (sum, mean, max, min, logsumexp, argmax) and shape ops (reshape, flatten, squeeze,
 * unsqueeze, permute, transpose, slice, split, chunk, concat, stack, pad, flip, expand): forward
 * against plain JavaScript, backward against central differences in f64 (1e-6 relative; see
 * test/helpers/gradcheck.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { tensor } from '../../src/tensor/creation.js';
import { Tensor, scope } from '../../src/tensor/tensor.js';
import { checkOp, f64, reduceRef, ref, unravel, stridesOf, type Ref } from '../helpers/gradcheck.js';

type Axes = number | number[] | undefined;
const axesList = (axes: Axes, rank: number): number[] =>
  axes === undefined ? Array.from({ length: rank }, (_, i) => i) : typeof axes === 'number' ? [axes] : axes;

// [3, 4, 5] and a rank-4 case; axes: all, single (also negative), adjacent runs, non-adjacent.
const REDUCE_CASES: [number[], Axes][] = [
  [[3, 4, 5], undefined],
  [[3, 4, 5], 0],
  [[3, 4, 5], 1],
  [[3, 4, 5], -1],
  [[3, 4, 5], [0, 1]],
  [[3, 4, 5], [1, 2]],
  [[3, 4, 5], [0, 2]],
  [[3, 4, 5], [2, 0]], // unsorted
  [[2, 3, 2, 3], [0, 2, 3]], // a run and a single axis
  [[2, 3, 2, 3], [1, 2]],
  [[7], 0], // to a 0-d tensor
];

const logsumexpRef = (v: number[]) => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)); };
const REDUCERS: Record<string, [(x: Tensor, axes: Axes, keep: boolean) => Tensor, (v: number[]) => number]> = {
  sum: [ops.sum, (v) => v.reduce((s, x) => s + x, 0)],
  mean: [ops.mean, (v) => v.reduce((s, x) => s + x, 0) / v.length],
  max: [ops.max, (v) => Math.max(...v)],
  min: [ops.min, (v) => Math.min(...v)],
  logsumexp: [ops.logsumexp, logsumexpRef],
};

for (const [name, [op, f]] of Object.entries(REDUCERS)) {
  test(`reduce ${name}: single, adjacent and non-adjacent axes, with and without keepDims`, () => {
    let seed = 1;
    for (const [shape, axes] of REDUCE_CASES) {
      for (const keep of [false, true]) {
        checkOp({
          name: `${name}(${JSON.stringify(shape)}, axes ${JSON.stringify(axes)}, keepDims ${keep})`, shapes: [shape], seed: seed++,
          fn: (x) => op(x, axes, keep),
          reference: (x) => reduceRef(x, axesList(axes, shape.length), keep, f),
        });
      }
    }
  });
}

test('max / min: tied maxima share the gradient equally', () => {
  scope(() => {
    const x = f64([1, 3, 3, 0, 2, 2, 2, -1], [2, 4], true);
    ops.sum(ops.mul(ops.max(x, 1), f64([1, 2], [2]))).backward();
    assert.deepEqual([...x.grad!.dataSync()], [0, 0.5, 0.5, 0, 2 / 3, 2 / 3, 2 / 3, 0]);
    x.grad!.dispose(); x.grad = null;
    ops.min(x).backward();
    assert.deepEqual([...x.grad!.dataSync()], [0, 0, 0, 0, 0, 0, 0, 1]);
    x.dispose();
  });
});

test('logsumexp: stable for large inputs and exact for −∞ rows', () => {
  scope(() => {
    const y = ops.logsumexp(f64([1000, 1000, -Infinity, -Infinity, 0, Math.log(3)], [3, 2]), 1);
    const v = y.dataSync();
    assert.ok(Math.abs(v[0] - (1000 + Math.LN2)) < 1e-12);
    assert.equal(v[1], -Infinity);
    assert.ok(Math.abs(v[2] - Math.log(4)) < 1e-15);
  });
});

test('argmax: first maximum along an axis, i32, keepDims', () => {
  scope(() => {
    const x = tensor([[1, 5, 5], [7, 0, 2]], undefined, { dtype: 'f64' });
    const a1 = ops.argmax(x, 1);
    assert.equal(a1.dtype, 'i32');
    assert.deepEqual(a1.shape, [2]);
    assert.deepEqual([...a1.dataSync()], [1, 0]);
    const a0 = ops.argmax(x, 0, true);
    assert.deepEqual(a0.shape, [1, 3]);
    assert.deepEqual([...a0.dataSync()], [1, 0, 0]);
  });
});

// ------------------------------------------------------------------------------------------------
// shape ops

/** Reference strided gather: out[idx] = x[src(idx)] over outShape. */
function gatherRef(x: Ref, outShape: number[], src: (idx: number[]) => number[] | null, fill = 0): Ref {
  const n = outShape.reduce((p, q) => p * q, 1);
  const xs = stridesOf(x.shape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = src(unravel(i, outShape));
    out[i] = s === null ? fill : x.data[s.reduce((o, v, d) => o + v * xs[d], 0)];
  }
  return { data: out, shape: outShape };
}

test('reshape / flatten / unsqueeze / squeeze: same data, gradient reshaped back', () => {
  const same = (shape: number[]) => (x: Ref): Ref => ({ data: x.data, shape });
  checkOp({ name: 'reshape', shapes: [[2, 3, 4]], fn: (x) => ops.reshape(x, [4, 6]), reference: same([4, 6]) });
  checkOp({ name: 'reshape −1', shapes: [[2, 3, 4]], fn: (x) => ops.reshape(x, [3, -1, 2]), reference: same([3, 4, 2]) });
  checkOp({ name: 'reshape to 0-d', shapes: [[1, 1]], fn: (x) => ops.reshape(x, []), reference: same([]) });
  checkOp({ name: 'flatten 1..2', shapes: [[2, 3, 4, 1]], fn: (x) => ops.flatten(x, 1, 2), reference: same([2, 12, 1]) });
  checkOp({ name: 'unsqueeze −1', shapes: [[2, 3]], fn: (x) => ops.unsqueeze(x, -1), reference: same([2, 3, 1]) });
  checkOp({ name: 'squeeze', shapes: [[2, 1, 3]], fn: (x) => ops.squeeze(x, 1), reference: same([2, 3]) });
  // A reshape fed into a further op: the shared storage must not be mistaken for the result.
  checkOp({ name: 'reshape ∘ exp', shapes: [[6]], fn: (x) => ops.exp(ops.reshape(x, [2, 3])), reference: (x) => ({ data: x.data.map(Math.exp), shape: [2, 3] }) });
});

test('permute / transpose', () => {
  checkOp({
    name: 'permute [2,0,1]', shapes: [[2, 3, 4]], fn: (x) => ops.permute(x, [2, 0, 1]),
    reference: (x) => gatherRef(x, [4, 2, 3], ([k, i, j]) => [i, j, k]),
  });
  checkOp({
    name: 'permute [1,3,0,2]', shapes: [[2, 3, 2, 3]], fn: (x) => ops.permute(x, [1, 3, 0, -2]),
    reference: (x) => gatherRef(x, [3, 3, 2, 2], ([a, b, c, d]) => [c, a, d, b]),
  });
  checkOp({
    name: 'transpose default', shapes: [[2, 3, 5]], fn: (x) => ops.transpose(x),
    reference: (x) => gatherRef(x, [2, 5, 3], ([b, i, j]) => [b, j, i]),
  });
  checkOp({
    name: 'transpose 0,2', shapes: [[2, 3, 5]], fn: (x) => ops.transpose(x, 0, 2),
    reference: (x) => gatherRef(x, [5, 3, 2], ([i, j, k]) => [k, j, i]),
  });
});

test('slice with positive, negative and clamped bounds', () => {
  const cases: [number, number, number | undefined][] = [[1, 1, 4], [1, -3, -1], [1, -2, undefined], [0, 1, 100], [2, 0, 1], [-1, -5, 3]];
  for (const [axis, start, end] of cases) {
    const shape = [3, 5, 2];
    const a = axis < 0 ? axis + 3 : axis;
    const n = shape[a];
    const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
    const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
    const outShape = [...shape]; outShape[a] = e - s;
    checkOp({
      name: `slice(${axis}, ${start}, ${end})`, shapes: [shape], fn: (x) => ops.slice(x, axis, start, end),
      reference: (x) => gatherRef(x, outShape, (idx) => idx.map((v, d) => (d === a ? v + s : v))),
    });
  }
  scope(() => {
    const empty = ops.slice(f64([1, 2, 3], [3]), 0, 2, 1);
    assert.deepEqual(empty.shape, [0]);
  });
});

test('split / chunk: every piece, with gradients back into the right place', () => {
  const sizes = [1, 3, 1];
  let at = 0;
  sizes.forEach((len, k) => {
    const s = at; at += len;
    checkOp({
      name: `split piece ${k}`, shapes: [[2, 5, 3]], fn: (x) => ops.split(x, sizes, 1)[k],
      reference: (x) => gatherRef(x, [2, len, 3], ([i, j, l]) => [i, j + s, l]),
    });
  });
  for (let k = 0; k < 3; k++) {
    checkOp({
      name: `chunk ${k}`, shapes: [[2, 3, 6]], fn: (x) => ops.chunk(x, 3, -1)[k],
      reference: (x) => gatherRef(x, [2, 3, 2], ([i, j, l]) => [i, j, l + 2 * k]),
    });
  }
  // All pieces in one graph: their gradients add up into one input gradient.
  checkOp({
    name: 'split pieces recombined', shapes: [[4, 3]],
    fn: (x) => { const [p, q] = ops.split(x, [1, 3], 0); return ops.add(ops.mul(p, 2), ops.sum(q, 0, true)); },
    reference: (x) => ({ data: Float64Array.from([0, 1, 2].map((j) => 2 * x.data[j] + x.data[3 + j] + x.data[6 + j] + x.data[9 + j])), shape: [1, 3] }),
  });
});

function concatRef(xs: Ref[], axis: number): Ref {
  const outShape = [...xs[0].shape];
  outShape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
  const n = outShape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, outShape);
    let j = idx[axis], k = 0;
    while (j >= xs[k].shape[axis]) j -= xs[k++].shape[axis];
    const st = stridesOf(xs[k].shape);
    out[i] = xs[k].data[idx.reduce((o, v, d) => o + (d === axis ? j : v) * st[d], 0)];
  }
  return { data: out, shape: outShape };
}

test('concat on every axis, including an input used twice', () => {
  checkOp({
    name: 'concat axis 1', shapes: [[2, 1, 3], [2, 4, 3], [2, 2, 3]], fn: (a, b, c) => ops.concat([a, b, c], 1),
    reference: (a, b, c) => concatRef([a, b, c], 1),
  });
  checkOp({
    name: 'concat axis 0', shapes: [[1, 3], [2, 3]], fn: (a, b) => ops.concat([a, b], 0),
    reference: (a, b) => concatRef([a, b], 0),
  });
  checkOp({
    name: 'concat axis −1', shapes: [[2, 2], [2, 3]], fn: (a, b) => ops.concat([a, b], -1),
    reference: (a, b) => concatRef([a, b], 1),
  });
  checkOp({
    name: 'concat [a, b, a]', shapes: [[2, 2], [2, 1]], fn: (a, b) => ops.concat([a, b, a], 1),
    reference: (a, b) => concatRef([a, b, a], 1),
  });
  checkOp({
    name: 'concat with a constant', shapes: [[2, 2], [2, 1]], wrt: [1], fn: (a, b) => ops.concat([a, b], 1),
    reference: (a, b) => concatRef([a, b], 1),
  });
});

test('stack on a new first, middle and last axis', () => {
  for (const [axis, a] of [[0, 0], [1, 1], [-1, 2]]) {
    checkOp({
      name: `stack axis ${axis}`, shapes: [[2, 3], [2, 3]], fn: (x, y) => ops.stack([x, y], axis),
      reference: (x, y) => {
        const shape = [2, 3]; shape.splice(a, 0, 1);
        return concatRef([{ data: x.data, shape }, { data: y.data, shape: [...shape] }], a);
      },
    });
  }
});

test('pad: constant value, every side, gradient is the inner slice', () => {
  const pads: [number, number][] = [[1, 0], [0, 2], [2, 1]];
  checkOp({
    name: 'pad', shapes: [[2, 3, 1]], fn: (x) => ops.pad(x, pads, 0.5),
    reference: (x) => gatherRef(x, [3, 5, 4], (idx) => {
      const src = idx.map((v, d) => v - pads[d][0]);
      return src.every((v, d) => v >= 0 && v < x.shape[d]) ? src : null;
    }, 0.5),
  });
  checkOp({
    name: 'pad nothing', shapes: [[2, 2]], fn: (x) => ops.pad(x, [[0, 0], [0, 0]]), reference: (x) => x,
  });
});

test('flip along each axis', () => {
  for (const axis of [0, 1, -1]) {
    const a = axis < 0 ? axis + 3 : axis;
    checkOp({
      name: `flip ${axis}`, shapes: [[2, 3, 4]], fn: (x) => ops.flip(x, axis),
      reference: (x) => gatherRef(x, [2, 3, 4], (idx) => idx.map((v, d) => (d === a ? x.shape[d] - 1 - v : v))),
    });
  }
});

test('expand: broadcast materialised, gradient summed back', () => {
  checkOp({
    name: 'expand [3,1] → [2,3,4]', shapes: [[3, 1]], fn: (x) => ops.expand(x, [2, 3, 4]),
    reference: (x) => gatherRef(x, [2, 3, 4], ([, j]) => [j, 0]),
  });
  checkOp({
    name: 'expand 0-d → [2,2]', shapes: [[]], fn: (x) => ops.expand(x, [2, 2]),
    reference: (x) => ref([x.data[0], x.data[0], x.data[0], x.data[0]], [2, 2]),
  });
  checkOp({ name: 'expand to own shape', shapes: [[2, 2]], fn: (x) => ops.expand(x, [2, 2]), reference: (x) => x });
});
