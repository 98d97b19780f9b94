/**
 * Unary, binary (with broadcasting), comparison, where and cast ops: forward against plain
 * JavaScript, backward against central differences in f64 (tolerances: see test/helpers/gradcheck.ts;
 * 1e-6 relative unless stated at the check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { fromHost, tensor } from '../../src/tensor/creation.js';
import { Tensor, scope } from '../../src/tensor/tensor.js';
import { getBackend } from '../../src/tensor/engine.js';
import { broadcastRef, checkOp, f64, type Ref } from '../helpers/gradcheck.js';
import { input } from '../../src/backend/pointwise/expr.js';
import { minGruG, minGruLogG } from '../../src/cells/definitions/index.js';
import { evaluateTensors } from '../../src/cells/pointwise.js';

const map = (x: Ref, f: (v: number) => number): Ref => ({ data: x.data.map(f), shape: x.shape });
const sig = (v: number) => 1 / (1 + Math.exp(-v));
const softplusRef = (v: number) => Math.log(1 + Math.exp(v));

/** erf to ~1e-15, independent of the library's approximation: Taylor series, or the erfc continued fraction. */
function erfRef(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 200; n++) {
      term *= -z * z / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * 2 / Math.sqrt(Math.PI);
  }
  // Lentz evaluation of erfc(z) = e^{-z²}/√π · 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
  let f = z, C = z, D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = z + an * D; D = 1 / D;
    C = z + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

interface UnaryCase {
  op: (x: Tensor) => Tensor;
  ref: (v: number) => number;
  range?: readonly [number, number];
  avoid?: number[];
  rtol?: number;
  forwardRtol?: number;
}

// Shapes: odd sizes, a 0-d scalar, a size-1 axis.
const SHAPES = [[3, 5], [], [2, 1, 3]];

const UNARY: Record<string, UnaryCase> = {
  neg: { op: ops.neg, ref: (v) => -v },
  abs: { op: ops.abs, ref: Math.abs, avoid: [0] },
  sign: { op: ops.sign, ref: Math.sign, avoid: [0] },
  exp: { op: ops.exp, ref: Math.exp },
  log: { op: ops.log, ref: Math.log, range: [0.2, 3] },
  sqrt: { op: ops.sqrt, ref: Math.sqrt, range: [0.2, 3] },
  rsqrt: { op: ops.rsqrt, ref: (v) => 1 / Math.sqrt(v), range: [0.2, 3] },
  square: { op: ops.square, ref: (v) => v * v },
  reciprocalPos: { op: ops.reciprocal, ref: (v) => 1 / v, range: [0.3, 2] },
  reciprocalNeg: { op: ops.reciprocal, ref: (v) => 1 / v, range: [-2, -0.3] },
  sin: { op: ops.sin, ref: Math.sin, range: [-4, 4] },
  cos: { op: ops.cos, ref: Math.cos, range: [-4, 4] },
  sigmoid: { op: ops.sigmoid, ref: sig, range: [-6, 6] },
  logSigmoid: { op: ops.logSigmoid, ref: (v) => Math.log(sig(v)), range: [-6, 6] },
  tanh: { op: ops.tanh, ref: Math.tanh },
  relu: { op: ops.relu, ref: (v) => Math.max(v, 0), avoid: [0] },
  // The erf inside gelu is a Chebyshev fit with fractional error < 1.2e-7: the forward is checked to
  // 2e-7 against an exact erf, and the analytic derivative (of exact gelu, with the fitted erf) to 1e-5.
  gelu: { op: ops.gelu, ref: (v) => 0.5 * v * (1 + erfRef(v / Math.SQRT2)), range: [-4, 4], rtol: 1e-5, forwardRtol: 2e-7 },
  geluTanh: {
    op: ops.geluTanh, range: [-4, 4],
    ref: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
  },
  silu: { op: ops.silu, ref: (v) => v * sig(v), range: [-5, 5] },
  softplus: { op: ops.softplus, ref: softplusRef, range: [-5, 5] },
  // minGRU's g on both sides of its kink at 0 (an expression of the minGRU definition, evaluated with tensor ops).
  minGruG: { op: (x) => evaluateTensors([minGruG(input('x'))], { x })[0], ref: (v) => (v >= 0 ? v + 0.5 : sig(v)), range: [-3, 3], avoid: [0] },
  minGruLogG: { op: (x) => evaluateTensors([minGruLogG(input('x'))], { x })[0], ref: (v) => Math.log(v >= 0 ? v + 0.5 : sig(v)), range: [-3, 3], avoid: [0] },
};

for (const [name, c] of Object.entries(UNARY)) {
  test(`unary ${name}: forward and f64 gradient`, () => {
    for (const shape of SHAPES) {
      checkOp({
        name: `${name} ${JSON.stringify(shape)}`, shapes: [shape], fn: c.op, reference: (x) => map(x, c.ref),
        range: c.range ?? [-2, 2], avoid: c.avoid, rtol: c.rtol, forwardRtol: c.forwardRtol, seed: shape.length + 1,
      });
    }
  });
}

test('unary minGruG / minGruLogG: both sides of 0 are actually sampled, and large |x| stays finite', () => {
  const xs = [-30, -3, -1e-3, 1e-3, 2, 50];
  const x = f64(xs, [6]);
  const [g, lg] = evaluateTensors([minGruG(input('x')), minGruLogG(input('x'))], { x }).map((t) => t.dataSync());
  xs.forEach((v, i) => {
    const want = v >= 0 ? v + 0.5 : sig(v);
    assert.ok(Math.abs(g[i] - want) <= 1e-15 * Math.abs(want), `g(${v})`);
    assert.ok(Number.isFinite(lg[i]) && Math.abs(lg[i] - Math.log(want)) <= 1e-12 * Math.max(1, Math.abs(lg[i])), `log g(${v})`);
  });
});

test('unary ops reject integer tensors', () => {
  assert.throws(() => ops.exp(tensor([1, 2], [2], { dtype: 'i32' })), /exp: .*\[2\] i32 must be a float tensor/);
});

// ------------------------------------------------------------------------------------------------
// binary ops with broadcasting

const BROADCASTS: [number[], number[]][] = [
  [[3, 1, 5], [4, 1]], // → [3, 4, 5], both operands broadcast
  [[2, 3], [2, 3]], // same shape (contiguous fast path)
  [[], [2, 3]], // 0-d scalar on the left
  [[3, 5], []], // 0-d scalar on the right
  [[5], [3, 5]], // rank promotion
  [[7, 1], [1, 3]], // outer product shape
];

interface BinaryCase {
  op: (a: Tensor, b: Tensor) => Tensor;
  ref: (a: number, b: number) => number;
  range?: (i: number) => readonly [number, number];
}

const BINARY: Record<string, BinaryCase> = {
  add: { op: ops.add, ref: (a, b) => a + b },
  sub: { op: ops.sub, ref: (a, b) => a - b },
  mul: { op: ops.mul, ref: (a, b) => a * b },
  div: { op: ops.div, ref: (a, b) => a / b, range: (i) => (i === 0 ? [-2, 2] : [0.5, 2]) },
  pow: { op: ops.pow, ref: Math.pow, range: (i) => (i === 0 ? [0.5, 2] : [-2, 2]) },
  maximum: { op: ops.maximum, ref: Math.max },
  minimum: { op: ops.minimum, ref: Math.min },
};

for (const [name, c] of Object.entries(BINARY)) {
  test(`binary ${name}: broadcasting forward and f64 gradient to both operands`, () => {
    for (const [sa, sb] of BROADCASTS) {
      checkOp({
        name: `${name} ${JSON.stringify(sa)}×${JSON.stringify(sb)}`, shapes: [sa, sb], fn: c.op,
        reference: (a, b) => broadcastRef([a, b], c.ref), range: c.range,
      });
    }
    // Gradient to one operand only (the other is a constant tensor).
    checkOp({ name: `${name} wrt a`, shapes: [[3, 1, 5], [4, 1]], fn: c.op, wrt: [0], range: c.range });
    checkOp({ name: `${name} wrt b`, shapes: [[3, 1, 5], [4, 1]], fn: c.op, wrt: [1], range: c.range });
  });
}

test('binary ops with number operands on either side', () => {
  checkOp({ name: 'x + 2.5', shapes: [[4, 3]], fn: (x) => ops.add(x, 2.5), reference: (x) => map(x, (v) => v + 2.5) });
  checkOp({ name: '1 − x', shapes: [[4, 3]], fn: (x) => ops.sub(1, x), reference: (x) => map(x, (v) => 1 - v) });
  checkOp({ name: '3 / x', shapes: [[5]], range: [0.5, 2], fn: (x) => ops.div(3, x), reference: (x) => map(x, (v) => 3 / v) });
  checkOp({ name: 'x ^ 3', shapes: [[5]], fn: (x) => ops.pow(x, 3), reference: (x) => map(x, (v) => v ** 3) });
  checkOp({ name: '2 ^ x', shapes: [[5]], fn: (x) => ops.pow(2, x), reference: (x) => map(x, (v) => 2 ** v) });
  checkOp({ name: 'max(x, 0.3)', shapes: [[9]], avoid: [0.3], fn: (x) => ops.maximum(x, 0.3), reference: (x) => map(x, (v) => Math.max(v, 0.3)) });
  checkOp({ name: 'min(0.3, x)', shapes: [[9]], avoid: [0.3], fn: (x) => ops.minimum(0.3, x), reference: (x) => map(x, (v) => Math.min(v, 0.3)) });
});

test('binary ops on one tensor used for both operands (x·x, x/x, x − x)', () => {
  checkOp({ name: 'x*x', shapes: [[2, 3]], fn: (x) => ops.mul(x, x), reference: (x) => map(x, (v) => v * v) });
  checkOp({ name: 'x/x', shapes: [[2, 3]], range: [0.5, 2], fn: (x) => ops.div(x, x), reference: (x) => map(x, () => 1) });
  checkOp({ name: 'x-x', shapes: [[2, 3]], fn: (x) => ops.sub(x, x), reference: (x) => map(x, () => 0) });
  checkOp({ name: 'x^x', shapes: [[4]], range: [0.5, 2], fn: (x) => ops.pow(x, x), reference: (x) => map(x, (v) => v ** v) });
});

test('maximum / minimum: at ties the gradient goes to a', () => {
  scope(() => {
    const a = f64([1, 2, 3], [3], true), b = f64([1, 5, 0], [3], true);
    ops.sum(ops.maximum(a, b)).backward();
    assert.deepEqual([...a.grad!.dataSync()], [1, 0, 1]);
    assert.deepEqual([...b.grad!.dataSync()], [0, 1, 0]);
    a.grad!.dispose(); a.grad = null; b.grad!.dispose(); b.grad = null;
    ops.sum(ops.minimum(a, b)).backward();
    assert.deepEqual([...a.grad!.dataSync()], [1, 1, 0]);
    assert.deepEqual([...b.grad!.dataSync()], [0, 0, 1]);
    a.dispose(); b.dispose();
  });
});

test('comparisons: 1/0 in the operand dtype, broadcast, no gradient recorded', () => {
  const CMP: Record<string, [(a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number]> = {
    gt: [ops.gt, (a, b) => +(a > b)], ge: [ops.ge, (a, b) => +(a >= b)], lt: [ops.lt, (a, b) => +(a < b)],
    le: [ops.le, (a, b) => +(a <= b)], eq: [ops.eq, (a, b) => +(a === b)],
  };
  for (const [name, [op, f]] of Object.entries(CMP)) {
    // Values on a coarse grid so that equal pairs occur.
    const av = [0, 1, 2, 1, 0, 2], bv = [1, 1, 0];
    checkOp({
      name, shapes: [[2, 1, 3], [3]], values: [av, bv], wrt: [],
      fn: (a, b) => op(a, b), reference: (a, b) => broadcastRef([a, b], f),
    });
    scope(() => {
      const y = op(f64(av, [2, 1, 3], true), f64(bv, [3]));
      assert.equal(y.requiresGrad, false, `${name} must not record a gradient`);
      assert.equal(y.dtype, 'f64');
      const yi = op(tensor([1, 2, 3], [3], { dtype: 'i32' }), tensor([2], [1], { dtype: 'i32' }));
      assert.equal(yi.dtype, 'i32');
      assert.deepEqual([...yi.dataSync()], [1, 2, 3].map((v) => f(v, 2)));
    });
  }
});

test('where: broadcast cond / a / b, gradients routed by the condition', () => {
  const cond = [1, 0, 0, 1, 1, 0];
  scope(() => {
    const c = tensor(cond, [3, 1, 2], { dtype: 'f64' }); // cond broadcast over the middle axis
    checkOp({
      name: 'where [3,1,2] ? [3,4,2] : [2]', shapes: [[3, 4, 2], [2]],
      fn: (a, b) => ops.where(c, a, b),
      reference: (a, b) => broadcastRef([{ data: Float64Array.from(cond), shape: [3, 1, 2] }, a, b], (k, x, y) => (k !== 0 ? x : y)),
    });
    checkOp({
      name: 'where(cond, x, 0)', shapes: [[3, 1, 2]],
      fn: (x) => ops.where(c, x, 0),
      reference: (x) => ({ data: x.data.map((v, i) => (cond[i] ? v : 0)), shape: x.shape }),
    });
    checkOp({
      name: 'where(cond, 2, x)', shapes: [[3, 1, 2]],
      fn: (x) => ops.where(c, 2, x),
      reference: (x) => ({ data: x.data.map((v, i) => (cond[i] ? 2 : v)), shape: x.shape }),
    });
    // Two numbers: the result takes the condition's float dtype (f32 for an i32 condition), no leaks.
    const before = getBackend().liveBuffers();
    scope(() => {
      const y = ops.where(c, 1, -1);
      assert.equal(y.dtype, 'f64');
      assert.deepEqual([...y.dataSync()], cond.map((k) => (k ? 1 : -1)));
      const yi = ops.where(tensor(cond, [6], { dtype: 'i32' }), 2, 0);
      assert.equal(yi.dtype, 'f32');
      assert.deepEqual([...yi.dataSync()], cond.map((k) => (k ? 2 : 0)));
    });
    assert.equal(getBackend().liveBuffers(), before);
    // An i32 condition selecting between f64 tensors.
    const ci = tensor(cond, [3, 1, 2], { dtype: 'i32' });
    checkOp({
      name: 'where(i32 cond)', shapes: [[3, 1, 2], [3, 1, 2]], fn: (a, b) => ops.where(ci, a, b),
      reference: (a, b) => ({ data: a.data.map((v, i) => (cond[i] ? v : b.data[i])), shape: a.shape }),
    });
  });
});

test('cast f32 ↔ f64: values round as Float32Array does, gradients flow back in the source dtype', () => {
  scope(() => {
    const vals = [0.1, -1 / 3, 12345.678, 1e-40, 2];
    const x64 = f64(vals, [5], true);
    const y32 = ops.cast(x64, 'f32');
    assert.equal(y32.dtype, 'f32');
    assert.deepEqual([...y32.dataSync()], [...Float32Array.from(vals)]);
    const w32 = fromHost(Float32Array.from([1, 2, 3, 4, 5]), [5]);
    y32.backward(w32);
    assert.equal(x64.grad!.dtype, 'f64');
    assert.deepEqual([...x64.grad!.dataSync()], [1, 2, 3, 4, 5]);
    x64.dispose();

    const x32 = fromHost(Float32Array.from(vals), [5], { requiresGrad: true });
    const y64 = ops.cast(x32, 'f64');
    assert.equal(y64.dtype, 'f64');
    assert.deepEqual([...y64.dataSync()], [...Float32Array.from(vals)]);
    y64.backward(f64([0.1, 0.2, 0.3, 0.4, 0.5], [5]));
    assert.equal(x32.grad!.dtype, 'f32');
    assert.deepEqual([...x32.grad!.dataSync()], [...Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5])]);
    x32.dispose();

    // Round trip f64 → f32 → f64 inside a larger graph, checked with a step f32 resolves (eps 1e-2,
    // x² is quadratic so the central difference is exact up to f32 rounding of the values: tol 1e-4).
    checkOp({
      name: 'cast round trip', shapes: [[4]], values: [[0.5, -1.25, 2, 0.75]], eps: 1e-2, rtol: 1e-4,
      fn: (x) => ops.square(ops.cast(ops.cast(x, 'f32'), 'f64')), reference: (x) => map(x, (v) => v * v),
    });
    // f32 → i32 truncates toward zero and records no gradient.
    const xi = ops.cast(fromHost(Float32Array.from([1.7, -1.7, 0.2]), [3], { requiresGrad: true }), 'i32');
    assert.deepEqual([...xi.dataSync()], [1, -1, 0]);
    assert.equal(xi.requiresGrad, false);
  });
});

test('cast to the same dtype is an identity that keeps the gradient', () => {
  checkOp({ name: 'cast f64→f64', shapes: [[2, 3]], fn: (x) => ops.mul(ops.cast(x, 'f64'), 2), reference: (x) => map(x, (v) => 2 * v) });
});

test('elementwise ops leave no buffers behind inside scope()', () => {
  const before = getBackend().liveBuffers();
  scope(() => {
    const x = f64([1, 2, 3], [3], true);
    ops.sum(ops.mul(ops.exp(x), ops.add(x, 1))).backward();
    x.dispose();
  });
  assert.equal(getBackend().liveBuffers(), before);
});

test('shape helpers: contiguousStrides, broadcastShapes, sumTo', () => {
  assert.deepEqual(ops.contiguousStrides([2, 3, 4]), [12, 4, 1]);
  assert.deepEqual(ops.contiguousStrides([]), []);
  assert.deepEqual(ops.broadcastShapes([3, 1, 5], [4, 1]), [3, 4, 5]);
  assert.deepEqual(ops.broadcastShapes([], [2, 3]), [2, 3]);
  assert.deepEqual(ops.broadcastShapes([1], [0]), [0]);
  assert.throws(() => ops.broadcastShapes([2, 3], [3, 2], 'op', 'x', 'y'), /op: shapes x \[2, 3\] and y \[3, 2\] do not broadcast \(dim 0: 2 vs 3\)/);
  checkOp({
    name: 'sumTo [3,4,5] → [4,1]', shapes: [[3, 4, 5]], fn: (g) => ops.sumTo(g, [4, 1]),
    reference: (g) => {
      const out = new Float64Array(4);
      g.data.forEach((v, i) => { out[Math.floor(i / 5) % 4] += v; });
      return { data: out, shape: [4, 1] };
    },
  });
  checkOp({ name: 'sumTo same shape', shapes: [[2, 2]], fn: (g) => ops.sumTo(g, [2, 2]), reference: (g) => g });
  checkOp({ name: 'sumTo → 0-d', shapes: [[2, 3]], fn: (g) => ops.sumTo(g, []), reference: (g) => [g.data.reduce((s, v) => s + v, 0)] });
});
