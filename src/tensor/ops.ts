/**
 * Every differentiable op, written once over the backend interface. Each op validates its inputs
 * (errors name the tensors and shapes), resolves shapes into the kernel's layout, runs the kernel,
 * and records a backward made of other ops. Backward functions run with grad mode off.
 */
import type { AxisLayout, BinaryOp, DType, ReduceOp, StridedView, UnaryOp } from '../backend/backend.js';
import { isGradEnabled } from './engine.js';
import { Tensor, describe, formatShape, result, sizeOf, withGrad, type Shape } from './tensor.js';
import { full } from './creation.js';
import { globalRng, type Rng } from './random.js';

// ---------------------------------------------------------------------------------------------
// helpers

/** Row-major strides of a contiguous tensor of `shape` (elements, not bytes): the last axis has stride 1. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
  return strides;
}

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${what}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function axisLayout(shape: Shape, axis: number): AxisLayout {
  return { outer: sizeOf(shape.slice(0, axis)), size: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
}

function sameBackend(op: string, ...ts: Tensor[]): void {
  const b = ts[0].backend;
  for (const t of ts) if (t.backend !== b) throw new Error(`${op}: ${describe(t)} is on ${t.backend.name}, ${describe(ts[0])} on ${b.name}; move one with .to()`);
}

function isFloat(dtype: DType): boolean {
  return dtype !== 'i32';
}

function requireFloat(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) throw new Error(`${op}: ${describe(t)} must be a float tensor (cast integer tensors first)`);
}

function scalarLike(like: Tensor, value: number): Tensor {
  return full([], value, { dtype: like.dtype, backend: like.backend });
}

const asTensor = (like: Tensor, v: Tensor | number): Tensor => (typeof v === 'number' ? scalarLike(like, v) : v);

/**
 * Frees an op's internal temporary, unless autograd recorded it: then it is part of the graph
 * (disposing it would cut the gradient there) and the enclosing scope() frees it.
 */
function release(t: Tensor): void {
  if (!t.node) t.dispose();
}

/** Allocates an output buffer on t's backend. */
function alloc(t: Tensor, length: number, dtype: DType = t.dtype) {
  return t.backend.alloc(length, dtype);
}

// ---------------------------------------------------------------------------------------------
// unary

function unary(op: UnaryOp, x: Tensor): Tensor {
  requireFloat(op, x);
  const out = alloc(x, x.size);
  x.backend.unary(op, x.buffer, out);
  const y = result(x.backend, out, x.shape, op, [x], (g) => {
    const dx = alloc(x, x.size);
    x.backend.unaryGrad(op, x.buffer, y.buffer, g.buffer, dx);
    return [Tensor.fromBuffer(x.backend, dx, x.shape)];
  });
  return y;
}

/** Elementwise −x. */
export const neg = (x: Tensor): Tensor => unary('neg', x);
/** Elementwise |x| (gradient sign(x), 0 at 0). */
export const abs = (x: Tensor): Tensor => unary('abs', x);
/** Elementwise sign: −1, 0 or 1 (no gradient). */
export const sign = (x: Tensor): Tensor => unary('sign', x);
/** Elementwise eˣ. */
export const exp = (x: Tensor): Tensor => unary('exp', x);
/** Elementwise natural logarithm. */
export const log = (x: Tensor): Tensor => unary('log', x);
/** Elementwise square root. */
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
/** Elementwise 1/√x. */
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
/** Elementwise x². */
export const square = (x: Tensor): Tensor => unary('square', x);
/** Elementwise 1/x. */
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
/** Elementwise sine. */
export const sin = (x: Tensor): Tensor => unary('sin', x);
/** Elementwise cosine. */
export const cos = (x: Tensor): Tensor => unary('cos', x);
/** Elementwise logistic sigmoid 1 / (1 + e⁻ˣ). */
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
/** Elementwise log σ(x) = −softplus(−x), stable for large |x|. */
export const logSigmoid = (x: Tensor): Tensor => unary('logSigmoid', x);
/** Elementwise hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
/** Elementwise max(x, 0). */
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** GELU, exact (erf) form as PyTorch's default. */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export const geluTanh = (x: Tensor): Tensor => unary('geluTanh', x);
/** Elementwise SiLU (swish): x · σ(x). */
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** Elementwise softplus log(1 + eˣ) (x itself above 20, as PyTorch). */
export const softplus = (x: Tensor): Tensor => unary('softplus', x);

// ---------------------------------------------------------------------------------------------
// broadcasting binary ops

/** The NumPy broadcast of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, what = 'broadcast', na = 'a', nb = 'b'): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: shapes ${na} ${formatShape(a)} and ${nb} ${formatShape(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** A view of t read over `shape` (t's shape broadcast to it): strides 0 on broadcast dims. */
function broadcastView(t: Tensor, shape: Shape): StridedView {
  const own = contiguousStrides(t.shape);
  const offset = shape.length - t.rank;
  const strides = shape.map((_, d) => {
    const td = d - offset;
    return td < 0 || t.shape[td] === 1 ? 0 : own[td];
  });
  return { buffer: t.buffer, offset: 0, strides };
}

/** Sums g over the axes where `shape` was broadcast, giving a tensor of `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (formatShape(g.shape) === formatShape(shape)) return reshape(g, shape); // a view (differentiable)
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  const s = sum(g, axes, false);
  const r = reshape(s, shape);
  release(s);
  return r;
}

function rawBinary(op: BinaryOp, a: Tensor, b: Tensor, shape: Shape, dtype: DType): Tensor {
  const out = a.backend.alloc(sizeOf(shape), dtype);
  a.backend.binary(op, broadcastView(a, shape), broadcastView(b, shape), out, shape);
  return Tensor.fromBuffer(a.backend, out, shape, dtype);
}

function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number,
                grad: ((g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null]) | null): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a tensor`);
  const A = typeof a === 'number' ? scalarLike(b as Tensor, a) : a;
  const B = asTensor(A, b);
  sameBackend(op, A, B);
  if (A.dtype !== B.dtype) throw new Error(`${op}: dtypes differ: ${describe(A)} and ${describe(B)}`);
  const shape = broadcastShapes(A.shape, B.shape, op, describe(A), describe(B));
  const y = rawBinary(op, A, B, shape, A.dtype);
  if (!grad) return y;
  return withGrad(y, op, [A, B], (g) => {
    const [ga, gb] = grad(g, A, B, y);
    const out: (Tensor | null)[] = [null, null];
    if (ga && A.requiresGrad) out[0] = sumTo(ga, A.shape);
    if (gb && B.requiresGrad) out[1] = sumTo(gb, B.shape);
    if (ga && ga !== g) ga.dispose();
    if (gb && gb !== g) gb.dispose();
    return out;
  });
}

/** a + b with NumPy broadcasting; either side may be a number. */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary('add', a, b, (g) => [g, g]);
/** a − b with NumPy broadcasting; either side may be a number. */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary('sub', a, b, (g, _a, B) => [g, B.requiresGrad ? neg(g) : null]);
/** a · b elementwise with NumPy broadcasting; either side may be a number. */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary('mul', a, b, (g, A, B) => [A.requiresGrad ? mul(g, B) : null, B.requiresGrad ? mul(g, A) : null]);
/** a / b elementwise with NumPy broadcasting; either side may be a number. */
export const div = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary('div', a, b, (g, A, B, y) => [
    A.requiresGrad ? div(g, B) : null,
    B.requiresGrad ? neg(div(mul(g, y), B)) : null,
  ]);
/** aᵇ elementwise with NumPy broadcasting; either side may be a number. */
export const pow = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary('pow', a, b, (g, A, B, y) => [
    A.requiresGrad ? mul(g, mul(B, pow(A, sub(B, 1)))) : null,
    B.requiresGrad ? mul(g, mul(y, log(A))) : null,
  ]);
/** Elementwise maximum; at ties the gradient goes to a. */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary('maximum', a, b, (g, A, B) => {
    const mask = ge(A, B);
    return [A.requiresGrad ? mul(g, mask) : null, B.requiresGrad ? mul(g, sub(1, mask)) : null];
  });
/** Elementwise minimum; at ties the gradient goes to a. */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary('minimum', a, b, (g, A, B) => {
    const mask = le(A, B);
    return [A.requiresGrad ? mul(g, mask) : null, B.requiresGrad ? mul(g, sub(1, mask)) : null];
  });
// Comparisons give 1/0 in the operands' dtype and have no gradient.
/** a > b as 1 or 0, broadcast (no gradient). */
export const gt = (a: Tensor | number, b: Tensor | number): Tensor => binary('gt', a, b, null);
/** a ≥ b as 1 or 0, broadcast (no gradient). */
export const ge = (a: Tensor | number, b: Tensor | number): Tensor => binary('ge', a, b, null);
/** a < b as 1 or 0, broadcast (no gradient). */
export const lt = (a: Tensor | number, b: Tensor | number): Tensor => binary('lt', a, b, null);
/** a ≤ b as 1 or 0, broadcast (no gradient). */
export const le = (a: Tensor | number, b: Tensor | number): Tensor => binary('le', a, b, null);
/** a = b as 1 or 0, broadcast (no gradient). */
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binary('eq', a, b, null);

/** cond ≠ 0 ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const A = typeof a === 'number'
    ? (typeof b === 'number' ? (cond.dtype === 'i32' ? full([], a, { backend: cond.backend }) : scalarLike(cond, a)) : scalarLike(b, a))
    : a;
  const B = asTensor(A, b);
  sameBackend('where', cond, A, B);
  if (A.dtype !== B.dtype) throw new Error(`where: dtypes differ: ${describe(A)} and ${describe(B)}`);
  const shape = broadcastShapes(broadcastShapes(cond.shape, A.shape, 'where', 'cond', 'a'), B.shape, 'where', 'cond/a', 'b');
  const out = alloc(A, sizeOf(shape));
  A.backend.where(broadcastView(cond, shape), broadcastView(A, shape), broadcastView(B, shape), out, shape);
  return result(A.backend, out, shape, 'where', [A, B], (g) => {
    const zero = scalarLike(g, 0);
    return [
      A.requiresGrad ? sumTo(where(cond, g, zero), A.shape) : null,
      B.requiresGrad ? sumTo(where(cond, zero, g), B.shape) : null,
    ];
  });
}

/** Converts dtype; the gradient flows back through float casts. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return reshape(x, x.shape); // a view that keeps the autograd history
  const out = alloc(x, x.size, dtype);
  x.backend.cast(x.buffer, out);
  const floatToFloat = isFloat(x.dtype) && isFloat(dtype);
  return result(x.backend, out, x.shape, 'cast', [x], floatToFloat ? (g) => [cast(g, x.dtype)] : null);
}

// ---------------------------------------------------------------------------------------------
// reductions

function normAxes(axes: number | readonly number[] | undefined, rank: number, what: string): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(a, rank, what)))].sort((p, q) => p - q);
  return out;
}

function reducedShape(shape: Shape, axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((s, d) => {
    if (!axes.includes(d)) out.push(s);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Raw reduction (no autograd) over sorted axes, merging runs of adjacent axes into one kernel call. */
function rawReduce(op: ReduceOp, x: Tensor, axes: readonly number[]): Tensor {
  let cur = x.detach();
  let shape = [...x.shape];
  // Reduce from the last run to the first so earlier axis numbers stay valid.
  const runs: number[][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else runs.push([a]);
  }
  for (let r = runs.length - 1; r >= 0; r--) {
    const run = runs[r];
    const first = run[0], lastAxis = run[run.length - 1];
    const layout = { outer: sizeOf(shape.slice(0, first)), size: sizeOf(shape.slice(first, lastAxis + 1)), inner: sizeOf(shape.slice(lastAxis + 1)) };
    const out = alloc(cur, layout.outer * layout.inner);
    cur.backend.reduce(op, cur.buffer, out, layout);
    shape = [...shape.slice(0, first), 1, ...shape.slice(lastAxis + 1)];
    const next = Tensor.fromBuffer(cur.backend, out, shape);
    cur.dispose();
    cur = next;
  }
  // A run of several axes collapsed into one 1 above: give every reduced axis its own 1.
  return reshapeRaw(cur, reducedShape(x.shape, axes, true));
}

/** Sum over `axes` (all when omitted); `keepDims` keeps them as size 1. */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  requireFloat('sum', x);
  const ax = normAxes(axes, x.rank, 'sum');
  const kept = reducedShape(x.shape, ax, true);
  const r = rawReduce('sum', x, ax);
  const y = keepDims ? r : reshapeRaw(r, reducedShape(x.shape, ax, false));
  return withGrad(y, 'sum', [x], (g) => [expand(reshape(g, kept), x.shape)]);
}

/** A reshape of a temporary that nothing else references (no autograd; the temporary is consumed). */
function reshapeRaw(t: Tensor, shape: Shape): Tensor {
  const y = t.shareWithShape(shape);
  t.dispose();
  return y;
}

/** Mean over `axes` (all when omitted); `keepDims` keeps them as size 1. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'mean');
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const s = sum(x, ax, keepDims);
  const m = mul(s, 1 / count);
  release(s);
  return m;
}

function extremum(op: 'max' | 'min', x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  requireFloat(op, x);
  const ax = normAxes(axes, x.rank, op);
  const kept = reducedShape(x.shape, ax, true);
  const r = rawReduce(op, x, ax);
  const y = keepDims ? r : reshapeRaw(r, reducedShape(x.shape, ax, false));
  return withGrad(y, op, [x], (g) => {
    // Ties share the gradient equally (like PyTorch's amax/amin).
    const yk = reshape(y.detach(), kept);
    const mask = eq(x, yk);
    const count = sum(mask, ax, true);
    return [mul(mask, div(reshape(g, kept), count))];
  });
}

/** Maximum over `axes` (all when omitted); the gradient goes to the maximal elements. */
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => extremum('max', x, axes, keepDims);
/** Minimum over `axes` (all when omitted); the gradient goes to the minimal elements. */
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => extremum('min', x, axes, keepDims);

/** log Σ exp(x) over axes, stable. */
export function logsumexp(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'logsumexp');
  const m = rawReduce('max', x, ax); // constant shift: no gradient needed through it
  const safe = where(eq(abs(m), Infinity), 0, m);
  const s = log(sum(exp(sub(x, safe)), ax, true));
  const out = add(s, safe);
  return keepDims ? out : reshape(out, reducedShape(x.shape, ax, false));
}

/** Index of the maximum along an axis (i32, no gradient). */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  const a = normAxis(axis, x.rank, 'argmax');
  const layout = axisLayout(x.shape, a);
  const out = alloc(x, layout.outer * layout.inner, 'i32');
  x.backend.argmax(x.buffer, out, layout);
  return Tensor.fromBuffer(x.backend, out, reducedShape(x.shape, [a], keepDims), 'i32');
}

// ---------------------------------------------------------------------------------------------
// shape ops

/** Same data, another shape (one dim may be −1). Shares storage: no copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const unknown = s.indexOf(-1);
  if (unknown >= 0) {
    const known = s.reduce((n, d, i) => (i === unknown ? n : n * d), 1);
    s[unknown] = known === 0 ? 0 : x.size / known;
  }
  if (sizeOf(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot view ${describe(x)} (${x.size} elements) as ${formatShape(shape)}`);
  }
  return withGrad(x.shareWithShape(s), 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

/** Merges axes startAxis..endAxis (inclusive, negative counts from the end) into one. */
export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  const s = normAxis(startAxis, x.rank, 'flatten'), e = normAxis(endAxis, x.rank, 'flatten');
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Inserts an axis of size 1 at `axis` (a view). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Removes `axis`, which must have size 1 (a view). */
export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} of ${describe(x)} has size ${x.shape[a]}, not 1`);
  return reshape(x, [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
}

/** Copies a strided view of x into a new contiguous tensor of `shape` (no autograd). */
function rawCopy(x: Tensor, shape: Shape, offset: number, strides: readonly number[]): Tensor {
  const out = alloc(x, sizeOf(shape));
  if (sizeOf(shape) > 0) {
    x.backend.copy({ buffer: x.buffer, offset, strides }, { buffer: out, offset: 0, strides: contiguousStrides(shape) }, shape);
  }
  return Tensor.fromBuffer(x.backend, out, shape, x.dtype);
}

/** Reorders the axes: output axis i is input axis order[i] (a contiguous copy). */
export function permute(x: Tensor, order: readonly number[]): Tensor {
  const axes = order.map((a) => normAxis(a, x.rank, 'permute'));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new Error(`permute: order [${order.join(', ')}] is not a permutation of ${x.rank} axes of ${describe(x)}`);
  }
  const own = contiguousStrides(x.shape);
  const shape = axes.map((a) => x.shape[a]);
  const raw = rawCopy(x, shape, 0, axes.map((a) => own[a]));
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return withGrad(raw, 'permute', [x], (g) => [permute(g, inverse)]);
}

/** Swaps two axes (default the last two; a contiguous copy). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normAxis(axis0, x.rank, 'transpose'), b = normAxis(axis1, x.rank, 'transpose');
  const order = Array.from({ length: x.rank }, (_, i) => i);
  order[a] = b;
  order[b] = a;
  return permute(x, order);
}

/** Broadcasts x to a larger shape (materialised). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes(x.shape, shape, 'expand', describe(x), 'target');
  if (formatShape(target) !== formatShape(shape)) throw new Error(`expand: ${describe(x)} cannot expand to ${formatShape(shape)}`);
  const view = broadcastView(x, shape);
  const raw = rawCopy(x, shape, view.offset, view.strides);
  return withGrad(raw, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

/** Elements start..end−1 along one axis (negative indices count from the end). */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const a = normAxis(axis, x.rank, 'slice');
  const n = x.shape[a];
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
  const own = contiguousStrides(x.shape);
  const shape = [...x.shape];
  shape[a] = e - s;
  const raw = rawCopy(x, shape, s * own[a], own);
  return withGrad(raw, 'slice', [x], (g) => {
    const pads = x.shape.map(() => [0, 0] as [number, number]);
    pads[a] = [s, n - e];
    return [pad(g, pads)];
  });
}

/** Splits along an axis into pieces of the given sizes. */
export function split(x: Tensor, sizes: readonly number[], axis = -1): Tensor[] {
  const a = normAxis(axis, x.rank, 'split');
  if (sizes.reduce((p, q) => p + q, 0) !== x.shape[a]) {
    throw new Error(`split: sizes [${sizes.join(', ')}] do not add up to axis ${a} of ${describe(x)}`);
  }
  let at = 0;
  return sizes.map((n) => slice(x, a, at, (at += n)));
}

/** Splits into `chunks` equal parts along an axis (as torch.chunk for divisible sizes). */
export function chunk(x: Tensor, chunks: number, axis = -1): Tensor[] {
  const a = normAxis(axis, x.rank, 'chunk');
  if (x.shape[a] % chunks !== 0) throw new Error(`chunk: axis ${a} of ${describe(x)} does not divide into ${chunks}`);
  return split(x, new Array(chunks).fill(x.shape[a] / chunks), a);
}

/** Pads with a constant: pads[d] = [before, after] for each axis. */
export function pad(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value = 0): Tensor {
  if (pads.length !== x.rank) throw new Error(`pad: ${pads.length} pad pairs for ${describe(x)}`);
  if (pads.some(([b, e]) => b < 0 || e < 0 || !Number.isInteger(b) || !Number.isInteger(e))) throw new Error('pad: pads must be non-negative integers');
  const shape = x.shape.map((s, d) => s + pads[d][0] + pads[d][1]);
  const out = alloc(x, sizeOf(shape));
  x.backend.fill(out, value);
  const os = contiguousStrides(shape);
  const offset = pads.reduce((o, [b], d) => o + b * os[d], 0);
  if (x.size > 0) x.backend.copy({ buffer: x.buffer, offset: 0, strides: contiguousStrides(x.shape) }, { buffer: out, offset, strides: os }, x.shape);
  return result(x.backend, out, shape, 'pad', [x], (g) => {
    let cur = g.detach();
    pads.forEach(([b], d) => {
      if (b === 0 && pads[d][1] === 0) return;
      const next = slice(cur, d, b, b + x.shape[d]);
      cur.dispose();
      cur = next;
    });
    return [cur];
  });
}

/** Joins tensors of equal shape except along `axis`. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors');
  const first = tensors[0];
  const a = normAxis(axis, first.rank, 'concat');
  sameBackend('concat', ...tensors);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.dtype !== first.dtype || t.shape.some((s, d) => d !== a && s !== first.shape[d])) {
      throw new Error(`concat: ${describe(t)} does not match ${describe(first)} outside axis ${a}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((n, t) => n + t.shape[a], 0);
  const out = alloc(first, sizeOf(shape));
  const os = contiguousStrides(shape);
  let at = 0;
  for (const t of tensors) {
    if (t.size > 0) first.backend.copy({ buffer: t.buffer, offset: 0, strides: contiguousStrides(t.shape) }, { buffer: out, offset: at * os[a], strides: os }, t.shape);
    at += t.shape[a];
  }
  return result(first.backend, out, shape, 'concat', tensors, (g) => {
    let start = 0;
    return tensors.map((t) => {
      const s = start;
      start += t.shape[a];
      return t.requiresGrad ? slice(g, a, s, s + t.shape[a]) : null;
    });
  });
}

/** Joins tensors of one shape along a new axis at `axis`. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: no tensors');
  const a = normAxis(axis, tensors[0].rank + 1, 'stack');
  for (const t of tensors) {
    if (formatShape(t.shape) !== formatShape(tensors[0].shape)) throw new Error(`stack: ${describe(t)} does not match ${describe(tensors[0])}`);
  }
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Reverses the order along an axis. */
export function flip(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank, 'flip');
  const strides = contiguousStrides(x.shape);
  const offset = (x.shape[a] - 1) * strides[a];
  strides[a] = -strides[a];
  const raw = rawCopy(x, x.shape, x.shape[a] > 0 ? offset : 0, strides);
  return withGrad(raw, 'flip', [x], (g) => [flip(g, a)]);
}

// ---------------------------------------------------------------------------------------------
// matmul

/** Transpose flags of {@link matmul}: op(A) = Aᵀ when transA, likewise B. */
export interface MatmulOptions { transA?: boolean; transB?: boolean }

/**
 * Batched matrix product over the last two axes: op(a)·op(b) where op transposes when asked.
 * Leading (batch) axes broadcast; a 2-D operand is shared across the other's batch.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  sameBackend('matmul', a, b);
  requireFloat('matmul', a);
  if (a.dtype !== b.dtype) throw new Error(`matmul: dtypes differ: ${describe(a)} and ${describe(b)}`);
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: both operands need ≥ 2 dims, got ${describe(a)} and ${describe(b)}`);
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar, k = transA ? ar : ac;
  const kb = transB ? bc : br, n = transB ? br : bc;
  if (k !== kb) {
    throw new Error(`matmul: inner dimensions differ: ${describe(a)}${transA ? 'ᵀ' : ''} · ${describe(b)}${transB ? 'ᵀ' : ''} (${k} vs ${kb})`);
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(aBatch, bBatch, 'matmul batch', describe(a), describe(b));
  const batch = sizeOf(batchShape);
  const shape = [...batchShape, m, n];
  let A = a, B = b;
  // General batch broadcasting (both batched, differently) is materialised; the common cases are not.
  const fits = (t: Shape) => t.length === 0 || formatShape(t) === formatShape(batchShape);
  if (!fits(aBatch)) A = expand(a.detach(), [...batchShape, ...a.shape.slice(-2)]);
  if (!fits(bBatch)) B = expand(b.detach(), [...batchShape, ...b.shape.slice(-2)]);
  const out = alloc(a, sizeOf(shape));
  const aShared = A.rank === 2 && batch > 1, bShared = B.rank === 2 && batch > 1;
  if (bShared && !transA) {
    // [batch·m, k] · B as a single GEMM: better blocking than many small ones.
    a.backend.matmul(A.buffer, B.buffer, out, { batch: 1, m: batch * m, n, k, transA, transB, aOffset: 0, bOffset: 0, cOffset: 0, aBatchStride: 0, bBatchStride: 0, accumulate: false });
  } else {
    a.backend.matmul(A.buffer, B.buffer, out, {
      batch, m, n, k, transA, transB, aOffset: 0, bOffset: 0, cOffset: 0,
      aBatchStride: aShared ? 0 : m * k, bBatchStride: bShared ? 0 : k * n, accumulate: false,
    });
  }
  if (A !== a) A.dispose();
  if (B !== b) B.dispose();
  return result(a.backend, out, shape, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      const full = transA ? matmul(b, g, { transA: transB, transB: true }) : matmul(g, b, { transB: !transB });
      ga = sumTo(full, a.shape);
      full.dispose();
    }
    if (b.requiresGrad && bShared && !transA) {
      // A weight shared over the batch (every Linear on [B, T, ·]): one GEMM over all B·m rows,
      // not B per-batch products summed afterwards (B times the memory and a reduction pass).
      const g2 = reshape(g, [batch * m, n]), a2 = reshape(a, [batch * m, k]);
      gb = transB ? matmul(g2, a2, { transA: true }) : matmul(a2, g2, { transA: true });
      release(g2);
      release(a2);
    } else if (b.requiresGrad) {
      const full = transB ? matmul(g, a, { transA: true, transB: transA }) : matmul(a, g, { transA: !transA });
      gb = sumTo(full, b.shape);
      full.dispose();
    }
    return [ga, gb];
  });
}

// ---------------------------------------------------------------------------------------------
// softmax, losses, indexing

function lastAxisOp(x: Tensor, axis: number, what: string, fn: (x2: Tensor) => Tensor): Tensor {
  const a = normAxis(axis, x.rank, what);
  if (a === x.rank - 1) return fn(x);
  const moved = transpose(x, a, -1);
  const y = fn(moved);
  const back = transpose(y, a, -1);
  release(moved);
  release(y);
  return back;
}

function softmaxImpl(x: Tensor, axis: number, logForm: boolean): Tensor {
  requireFloat('softmax', x);
  return lastAxisOp(x, axis, logForm ? 'logSoftmax' : 'softmax', (v) => {
    const cols = v.shape[v.rank - 1] ?? 1, rows = v.size / Math.max(cols, 1);
    const out = alloc(v, v.size);
    v.backend.softmax(v.buffer, out, rows, cols, logForm);
    const y = result(v.backend, out, v.shape, logForm ? 'logSoftmax' : 'softmax', [v], (g) => {
      const dx = alloc(v, v.size);
      v.backend.softmaxGrad(y.buffer, g.buffer, dx, rows, cols, logForm);
      return [Tensor.fromBuffer(v.backend, dx, v.shape)];
    });
    return y;
  });
}

/** Softmax along `axis` (default the last). */
export const softmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, false);
/** log softmax along `axis` (default the last), computed stably. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, true);

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (and excluded from the mean). Default −100, as PyTorch. */
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/** Cross-entropy of logits [..., V] against integer targets [...], fused with the softmax. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  requireFloat('crossEntropy', logits);
  if (targets.dtype !== 'i32') throw new Error(`crossEntropy: targets ${describe(targets)} must be i32`);
  if (formatShape(logits.shape.slice(0, -1)) !== formatShape(targets.shape)) {
    throw new Error(`crossEntropy: logits ${describe(logits)} need targets of shape ${formatShape(logits.shape.slice(0, -1))}, got ${describe(targets)}`);
  }
  sameBackend('crossEntropy', logits, targets);
  const cols = logits.shape[logits.rank - 1], rows = targets.size;
  const out = alloc(logits, rows);
  logits.backend.crossEntropy(logits.buffer, targets.buffer, out, rows, cols, ignoreIndex);
  const perRow = result(logits.backend, out, targets.shape, 'crossEntropy', [logits], (g) => {
    const dx = alloc(logits, logits.size);
    logits.backend.crossEntropyGrad(logits.buffer, targets.buffer, g.buffer, dx, rows, cols, ignoreIndex);
    return [Tensor.fromBuffer(logits.backend, dx, logits.shape)];
  });
  if (reduction === 'none') return perRow;
  const total = sum(perRow);
  release(perRow);
  if (reduction === 'sum') return total;
  // The mean is over counted targets; the count stays on the device (no readback in the hot path).
  const counted = sum(cast(sub(1, eq(targets, ignoreIndex)), logits.dtype));
  const m = div(total, maximum(counted, 1));
  release(total);
  release(counted);
  return m;
}

/**
 * out[..., j, ...] = x[..., index[j], ...] along `axis` for a 1-D (or any-shape) i32 index:
 * embedding lookup is indexSelect(weight, 0, ids). The backward scatter-adds.
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis(axis, x.rank, 'indexSelect');
  if (index.dtype !== 'i32') throw new Error(`indexSelect: index ${describe(index)} must be i32`);
  sameBackend('indexSelect', x, index);
  const layout = axisLayout(x.shape, a);
  const k = index.size;
  const shape = [...x.shape.slice(0, a), ...index.shape, ...x.shape.slice(a + 1)];
  const out = alloc(x, layout.outer * k * layout.inner);
  x.backend.gather(x.buffer, index.buffer, out, layout, k, 0);
  return result(x.backend, out, shape, 'indexSelect', [x], (g) => {
    const dx = alloc(x, x.size);
    x.backend.scatterAdd(g.buffer, index.buffer, dx, layout, k, 0);
    return [Tensor.fromBuffer(x.backend, dx, x.shape)];
  });
}

/** Embedding lookup: weight [V, D], ids i32 [...] → [..., D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) throw new Error(`embedding: weight ${describe(weight)} must be [vocab, dim]`);
  return indexSelect(weight, 0, ids);
}

/** Picks x[..., index[..., j]] along the last axis (torch.gather on dim −1); index is i32 [..., k]. */
export function takeAlongLastAxis(x: Tensor, index: Tensor): Tensor {
  if (index.dtype !== 'i32') throw new Error(`takeAlongLastAxis: index ${describe(index)} must be i32`);
  if (index.rank !== x.rank || formatShape(index.shape.slice(0, -1)) !== formatShape(x.shape.slice(0, -1))) {
    throw new Error(`takeAlongLastAxis: index ${describe(index)} must match ${describe(x)} except in the last axis`);
  }
  const size = x.shape[x.rank - 1], k = index.shape[index.rank - 1];
  const outer = x.size / Math.max(size, 1);
  const layout = { outer, size, inner: 1 };
  const out = alloc(x, outer * k);
  x.backend.gather(x.buffer, index.buffer, out, layout, k, k);
  return result(x.backend, out, index.shape, 'takeAlongLastAxis', [x], (g) => {
    const dx = alloc(x, x.size);
    x.backend.scatterAdd(g.buffer, index.buffer, dx, layout, k, k);
    return [Tensor.fromBuffer(x.backend, dx, x.shape)];
  });
}

// ---------------------------------------------------------------------------------------------
// cumulative ops and the linear scan

/** Cumulative sum along `axis`; `reverse` sums from the end. */
export function cumsum(x: Tensor, axis: number, reverse = false): Tensor {
  requireFloat('cumsum', x);
  const a = normAxis(axis, x.rank, 'cumsum');
  const out = alloc(x, x.size);
  x.backend.cumsum(x.buffer, out, axisLayout(x.shape, a), reverse);
  return result(x.backend, out, x.shape, 'cumsum', [x], (g) => [cumsum(g, a, !reverse)]);
}

/** log Σ_{s ≤ t} exp(x_s) along an axis. */
export function logcumsumexp(x: Tensor, axis: number): Tensor {
  requireFloat('logcumsumexp', x);
  const a = normAxis(axis, x.rank, 'logcumsumexp');
  const out = alloc(x, x.size);
  x.backend.logcumsumexp(x.buffer, out, axisLayout(x.shape, a));
  const y = result(x.backend, out, x.shape, 'logcumsumexp', [x], (g) => {
    // dx_s = e^{x_s} Σ_{t ≥ s} g_t e^{−y_t}: split g by sign so both sums stay in log space.
    const yd = y.detach();
    const part = (gs: Tensor) => exp(add(x, flip(logcumsumexp(flip(sub(log(gs), yd), a), a), a)));
    const pos = part(maximum(g, 0));
    const negPart = part(maximum(neg(g), 0));
    return [sub(pos, negPart)];
  });
  return y;
}

/** Options of {@link linearScan} and {@link logScan}. */
export interface ScanOptions {
  /** Initial state, shaped like a and b without the time axis. Absent means h_0 = 0. */
  h0?: Tensor | null;
  /** The time axis (default 1: [B, T, ...]). */
  axis?: number;
}

function scanImpl(a: Tensor, b: Tensor, opts: ScanOptions, logSpace: boolean): Tensor {
  const what = logSpace ? 'logScan' : 'linearScan';
  requireFloat(what, a);
  sameBackend(what, a, b);
  if (formatShape(a.shape) !== formatShape(b.shape) || a.dtype !== b.dtype) {
    throw new Error(`${what}: a ${describe(a)} and b ${describe(b)} must have the same shape and dtype`);
  }
  const axis = normAxis(opts.axis ?? 1, a.rank, what);
  const layout = axisLayout(a.shape, axis);
  const h0 = opts.h0 ?? null;
  const stateShape = [...a.shape.slice(0, axis), ...a.shape.slice(axis + 1)];
  if (h0) {
    sameBackend(what, a, h0);
    if (h0.size !== layout.outer * layout.inner || h0.dtype !== a.dtype) {
      throw new Error(`${what}: h0 ${describe(h0)} must have shape ${formatShape(stateShape)} and dtype ${a.dtype}`);
    }
  }
  const out = alloc(a, a.size);
  a.backend.scan(a.buffer, b.buffer, h0?.buffer ?? null, out, layout, logSpace);
  const inputs = h0 ? [a, b, h0] : [a, b];
  const y = result(a.backend, out, a.shape, what, inputs, (g) => {
    const da = alloc(a, a.size), db = alloc(a, a.size);
    const dh0 = h0 ? alloc(a, h0.size) : null;
    a.backend.scanGrad(a.buffer, b.buffer, y.buffer, h0?.buffer ?? null, g.buffer, da, db, dh0, layout, logSpace);
    const grads = [Tensor.fromBuffer(a.backend, da, a.shape), Tensor.fromBuffer(a.backend, db, a.shape)];
    if (h0 && dh0) grads.push(Tensor.fromBuffer(a.backend, dh0, h0.shape));
    return grads;
  });
  return y;
}

/**
 * The first-order linear recurrence h_t = a_t ⊙ h_{t−1} + b_t along the time axis, as one
 * primitive with a reverse-scan backward.
 */
export function linearScan(a: Tensor, b: Tensor, opts: ScanOptions = {}): Tensor {
  return scanImpl(a, b, opts, false);
}

/**
 * The same recurrence in log space for positive h: given log a, log b (and log h_0), returns
 * log h with log h_t = logaddexp(log a_t + log h_{t−1}, log b_t). Stable for gates near 0 and 1.
 */
export function logScan(logA: Tensor, logB: Tensor, opts: ScanOptions = {}): Tensor {
  return scanImpl(logA, logB, opts, true);
}

// ---------------------------------------------------------------------------------------------
// dropout

/**
 * Inverted dropout: zeroes a fraction p of x and rescales the rest; identity when p = 0. The mask
 * is made on x's backend from a key drawn from rng (the same mask on every backend).
 */
export function dropout(x: Tensor, p: number, rng: Rng = globalRng): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return mul(x, 1);
  requireFloat('dropout', x);
  const maskBuffer = x.backend.alloc(x.size, x.dtype);
  x.backend.dropoutMask(maskBuffer, p, [rng.nextU32(), rng.nextU32()]);
  const mask = Tensor.fromBuffer(x.backend, maskBuffer, x.shape, x.dtype);
  const y = mul(x, mask);
  // The mask is what mul's backward reads: keep it when a graph was recorded.
  if (!y.requiresGrad) mask.dispose();
  return y;
}
