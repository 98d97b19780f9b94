/**
 * The CPU backend's kernels, called directly (no tensors, no autograd), against plain loops:
 * memory accounting, elementwise kernels on every layout their fast paths distinguish, reductions
 * in (outer, size, inner) layout, softmax / cross-entropy, gather / scatter-add, the linear scan in
 * real and log space (T up to 4096) with its reverse-scan gradient, and the fused AdamW update.
 * Tolerances: exact where the kernel and the loop do the same arithmetic; else stated per check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { CpuBackend } from '../../../src/backend/cpu/cpu.js';
import { UNARY, erf } from '../../../src/backend/cpu/elementwise.js';
import type { BackendBuffer, BinaryOp, DType, HostArray, UnaryOp } from '../../../src/backend/backend.js';
import { Rng } from '../../../src/tensor/random.js';
import { assertClose } from '../../helpers/assert.js';

const cpu = new CpuBackend();
const rng = new Rng(31);

function buf(values: ArrayLike<number>, dtype: DType = 'f64'): BackendBuffer {
  const b = cpu.alloc(values.length, dtype);
  const host = dtype === 'f64' ? Float64Array.from(values) : dtype === 'i32' ? Int32Array.from(values) : Float32Array.from(values);
  cpu.write(b, host);
  return b;
}
const out = (n: number, dtype: DType = 'f64') => {
  const b = cpu.alloc(n, dtype);
  cpu.fill(b, NaN); // every kernel must write all of its output
  return b;
};
const read = (b: BackendBuffer): number[] => Array.from(cpu.readSync(b) as HostArray);
const randArray = (n: number, lo = -2, hi = 2) => Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());

test('alloc / free / liveBuffers, the size-keyed pool, read copies, write checks lengths', () => {
  const c = new CpuBackend();
  assert.equal(c.liveBuffers(), 0);
  const a = c.alloc(5, 'f32'), b = c.alloc(5, 'f64'), i = c.alloc(3, 'i32');
  assert.equal(c.liveBuffers(), 3);
  assert.equal(a.dtype, 'f32'); assert.equal(a.length, 5);
  c.write(a, Float32Array.from([1, 2, 3, 4, 5]));
  const r = c.readSync(a);
  assert.ok(r instanceof Float32Array);
  r[0] = 99;
  assert.equal(c.readSync(a)[0], 1, 'readSync returns a copy');
  assert.throws(() => c.write(a, new Float32Array(4)), /write: 4 values into a buffer of 5/);
  c.free(a);
  assert.equal(c.liveBuffers(), 2);
  const a2 = c.alloc(5, 'f32');
  assert.equal(c.readSync(a2)[0], 1, 'the freed array is reused for the same dtype and length');
  const a3 = c.alloc(5, 'f64');
  assert.ok(c.readSync(a3) instanceof Float64Array, 'pools are per dtype');
  for (const x of [a2, a3, b, i]) c.free(x);
  assert.equal(c.liveBuffers(), 0);
  assert.throws(() => c.alloc(2, 'bf16'), /no bf16 storage/);
});

test('fill and cast (f64 → f32 rounds, float → i32 truncates toward zero, i32 → f64)', async () => {
  const x = buf([0.1, -2.7, 2.7, 1e-50]);
  const y = out(4, 'f32');
  cpu.cast(x, y);
  assert.deepEqual(read(y), Array.from(Float32Array.from([0.1, -2.7, 2.7, 1e-50])));
  const k = out(4, 'i32');
  cpu.cast(x, k);
  assert.deepEqual(read(k), [0, -2, 2, 0]);
  const back = out(4, 'f64');
  cpu.cast(k, back);
  assert.deepEqual(read(back), [0, -2, 2, 0]);
  assert.deepEqual(Array.from(await cpu.read(back)), [0, -2, 2, 0]);
  cpu.fill(back, 7);
  assert.deepEqual(read(back), [7, 7, 7, 7]);
});

test('copy: offsets, transposes, negative strides, scattered destinations, 0-d', () => {
  const x = buf(Array.from({ length: 24 }, (_, i) => i));
  // Transpose of the [4, 6] matrix starting at element 0.
  const t = out(24);
  cpu.copy({ buffer: x, offset: 0, strides: [1, 6] }, { buffer: t, offset: 0, strides: [4, 1] }, [6, 4]);
  assert.deepEqual(read(t), Array.from({ length: 24 }, (_, p) => (p % 4) * 6 + Math.floor(p / 4)));
  // Rows reversed, columns 1..3, from a [4, 6] source.
  const r = out(12);
  cpu.copy({ buffer: x, offset: 18 + 1, strides: [-6, 1] }, { buffer: r, offset: 0, strides: [3, 1] }, [4, 3]);
  assert.deepEqual(read(r), [19, 20, 21, 13, 14, 15, 7, 8, 9, 1, 2, 3]);
  // Inner axis reversed (non-unit inner stride on both sides).
  const f = out(12);
  cpu.fill(f, -1);
  cpu.copy({ buffer: x, offset: 5, strides: [6, -1] }, { buffer: f, offset: 1, strides: [6, 2] }, [2, 3]);
  assert.deepEqual(read(f), [-1, 5, -1, 4, -1, 3, -1, 11, -1, 10, -1, 9]);
  // 0-d copy of one element.
  const s = out(1);
  cpu.copy({ buffer: x, offset: 17, strides: [] }, { buffer: s, offset: 0, strides: [] }, []);
  assert.deepEqual(read(s), [17]);
});

test('unary: every op against its scalar definition; the fast paths agree with the table', () => {
  const xs = [...randArray(37, -6, 6), 0, -0, 1e-8, -1e-8];
  const x = buf(xs);
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    const y = out(xs.length);
    cpu.unary(op, x, y);
    const f = UNARY[op].f;
    assert.deepEqual(read(y), xs.map(f), `unary ${op}`);
    const dy = buf(randArray(xs.length));
    const dx = out(xs.length);
    cpu.unaryGrad(op, x, y, dy, dx);
    const dyv = read(dy), yv = read(y);
    assertClose(read(dx), xs.map((v, i) => dyv[i] * UNARY[op].df(v, yv[i])), 1e-15, `unaryGrad ${op}`);
  }
});

test('unary ops stay finite and exact in the tails (±800)', () => {
  const x = buf([-800, 800]);
  const expect: Partial<Record<UnaryOp, number[]>> = {
    sigmoid: [0, 1], logSigmoid: [-800, 0], softplus: [0, 800], silu: [-0, 800], tanh: [-1, 1], relu: [0, 800],
    gelu: [-0, 800], geluTanh: [-0, 800],
  };
  for (const [op, want] of Object.entries(expect) as [UnaryOp, number[]][]) {
    const y = out(2);
    cpu.unary(op, x, y);
    const v = read(y);
    assert.ok(v.every(Number.isFinite), `${op} finite: ${v}`);
    assertClose(v, want, 1e-15, op);
  }
  // erf: odd, saturates, and matches known values to the stated 1.2e-7.
  assertClose([erf(0), erf(0.5), erf(-1), erf(2), erf(6)], [0, 0.5204998778130465, -0.8427007929497149, 0.9953222650189527, 1], 1.2e-7, 'erf');
});

/** Reference of the broadcasting binary kernel: reads a and b through offsets and strides. */
function binaryRef(f: (a: number, b: number) => number, a: number[], aOff: number, aStr: number[], b: number[], bOff: number, bStr: number[], shape: number[]): number[] {
  const n = shape.reduce((p, q) => p * q, 1);
  const res: number[] = [];
  for (let i = 0; i < n; i++) {
    let rem = i, ao = aOff, bo = bOff;
    for (let d = shape.length - 1; d >= 0; d--) {
      const k = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      ao += k * aStr[d]; bo += k * bStr[d];
    }
    res.push(f(a[ao], b[bo]));
  }
  return res;
}

test('binary: every op on every layout (contiguous, scalar operand, broadcast, strided with offsets)', () => {
  const F: Record<BinaryOp, (a: number, b: number) => number> = {
    add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, pow: Math.pow,
    maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
    minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
    gt: (a, b) => +(a > b), ge: (a, b) => +(a >= b), lt: (a, b) => +(a < b), le: (a, b) => +(a <= b), eq: (a, b) => +(a === b),
  };
  const av = Array.from(randArray(40, 0.5, 2)), bv = Array.from(randArray(40, 0.5, 2));
  av[3] = bv[3]; av[7] = bv[2]; // some ties
  const layouts: [string, number, number[], number, number[], number[]][] = [
    ['contiguous', 0, [5, 1], 0, [5, 1], [4, 5]],
    ['contiguous with offsets', 3, [5, 1], 7, [5, 1], [4, 5]],
    ['b scalar', 2, [5, 1], 9, [0, 0], [4, 5]],
    ['a scalar', 4, [0, 0], 0, [5, 1], [4, 5]],
    ['b row broadcast', 0, [5, 1], 1, [0, 1], [4, 5]],
    ['b column broadcast', 0, [5, 1], 1, [1, 0], [4, 5]],
    ['a transposed', 0, [1, 4], 0, [5, 1], [4, 5]],
    ['both strided inner', 1, [10, 2], 0, [1, 8], [3, 4]],
    ['rank 3 mixed', 0, [8, 0, 2], 5, [0, 3, 1], [2, 3, 3]],
    ['0-d', 6, [], 11, [], []],
  ];
  for (const op of Object.keys(F) as BinaryOp[]) {
    for (const [what, aOff, aStr, bOff, bStr, shape] of layouts) {
      const n = shape.reduce((p, q) => p * q, 1);
      const o = out(n);
      cpu.binary(op, { buffer: buf(av), offset: aOff, strides: aStr }, { buffer: buf(bv), offset: bOff, strides: bStr }, o, shape);
      assert.deepEqual(read(o), binaryRef(F[op], av, aOff, aStr, bv, bOff, bStr, shape), `${op} ${what}`);
    }
  }
  // maximum / minimum propagate NaN from either side.
  for (const op of ['maximum', 'minimum'] as const) {
    const o = out(3);
    cpu.binary(op, { buffer: buf([NaN, 1, NaN]), offset: 0, strides: [1] }, { buffer: buf([1, NaN, NaN]), offset: 0, strides: [1] }, o, [3]);
    assert.ok(read(o).every(Number.isNaN), `${op} NaN`);
  }
  // f32 buffers round their results.
  const o32 = out(2, 'f32');
  cpu.binary('div', { buffer: buf([1, 2], 'f32'), offset: 0, strides: [1] }, { buffer: buf([3, 3], 'f32'), offset: 0, strides: [1] }, o32, [2]);
  assert.deepEqual(read(o32), [Math.fround(1 / 3), Math.fround(2 / 3)]);
});

test('where: condition, a and b read through their own strides', () => {
  const c = buf([1, 0, 0, 1, 1, 0]);
  const a = buf([10, 20, 30]);
  const b = buf([-1, -2, -3, -4, -5, -6, -7, -8]);
  const o = out(6);
  cpu.where({ buffer: c, offset: 0, strides: [3, 1] }, { buffer: a, offset: 0, strides: [0, 1] }, { buffer: b, offset: 7, strides: [-3, -1] }, o, [2, 3]);
  assert.deepEqual(read(o), [10, -7, -6, 10, 20, -3]);
});

function layoutRef(x: number[], outer: number, size: number, inner: number, f: (vals: number[]) => number): number[] {
  const res: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const vals: number[] = [];
      for (let s = 0; s < size; s++) vals.push(x[(o * size + s) * inner + i]);
      res.push(f(vals));
    }
  }
  return res;
}

test('reduce sum / max / min and argmax in (outer, size, inner) layout', () => {
  for (const [outer, size, inner] of [[1, 7, 1], [3, 5, 1], [1, 5, 4], [2, 3, 5], [2, 0, 3], [4, 1, 2]]) {
    const xs = Array.from(randArray(outer * size * inner));
    const x = buf(xs);
    const layout = { outer, size, inner };
    for (const [op, f] of [
      ['sum', (v: number[]) => v.reduce((p, q) => p + q, 0)],
      ['max', (v: number[]) => Math.max(...v)],
      ['min', (v: number[]) => Math.min(...v)],
    ] as const) {
      const o = out(outer * inner);
      cpu.reduce(op, x, o, layout);
      assertClose(read(o), layoutRef(xs, outer, size, inner, f), 1e-15, `reduce ${op} ${outer},${size},${inner}`);
    }
    if (size > 0) {
      const o = out(outer * inner, 'i32');
      cpu.argmax(x, o, layout);
      assert.deepEqual(read(o), layoutRef(xs, outer, size, inner, (v) => v.indexOf(Math.max(...v))));
    }
  }
  const o = out(1);
  cpu.reduce('max', buf([1, NaN, 3]), o, { outer: 1, size: 3, inner: 1 });
  assert.ok(Number.isNaN(read(o)[0]), 'max propagates NaN');
  cpu.reduce('min', buf([1, NaN, -3]), o, { outer: 1, size: 3, inner: 1 });
  assert.ok(Number.isNaN(read(o)[0]), 'min propagates NaN');
  const am = out(1, 'i32');
  cpu.argmax(buf([2, 5, 5, 1]), am, { outer: 1, size: 4, inner: 1 });
  assert.deepEqual(read(am), [1], 'argmax takes the first of tied maxima');
});

test('cumsum (both directions) and logcumsumexp in (outer, size, inner) layout', () => {
  const outer = 2, size = 5, inner = 3;
  const xs = Array.from(randArray(outer * size * inner));
  const x = buf(xs);
  for (const reverse of [false, true]) {
    const o = out(xs.length);
    cpu.cumsum(x, o, { outer, size, inner }, reverse);
    const want = new Array<number>(xs.length);
    for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let j = 0; j < size; j++) { const s = reverse ? size - 1 - j : j; const p = (a * size + s) * inner + i; acc += xs[p]; want[p] = acc; }
    }
    assert.deepEqual(read(o), want, `cumsum reverse=${reverse}`);
  }
  const o = out(xs.length);
  cpu.logcumsumexp(x, o, { outer, size, inner });
  const want = new Array<number>(xs.length);
  for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) {
    let acc = 0;
    for (let s = 0; s < size; s++) { const p = (a * size + s) * inner + i; acc += Math.exp(xs[p]); want[p] = Math.log(acc); }
  }
  assertClose(read(o), want, 1e-14, 'logcumsumexp');
  const big = out(4);
  cpu.logcumsumexp(buf([-Infinity, 1000, -Infinity, 1000]), big, { outer: 1, size: 4, inner: 1 });
  assertClose(read(big), [-Infinity, 1000, 1000, 1000 + Math.LN2], 1e-15, 'logcumsumexp with −∞ and large values');
});

test('softmax / log-softmax rows and their gradients', () => {
  const rows = 3, cols = 5;
  const xs = Array.from(randArray(rows * cols, -4, 4));
  xs[0] = 700; // overflow-prone
  const x = buf(xs);
  const sm = out(xs.length), lsm = out(xs.length);
  cpu.softmax(x, sm, rows, cols, false);
  cpu.softmax(x, lsm, rows, cols, true);
  const wantSm: number[] = [], wantLsm: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = xs.slice(r * cols, (r + 1) * cols);
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    for (const v of row) { wantSm.push(Math.exp(v - m) / z); wantLsm.push(v - m - Math.log(z)); }
  }
  assertClose(read(sm), wantSm, 1e-15, 'softmax');
  assertClose(read(lsm), wantLsm, 1e-14, 'logSoftmax');
  const dys = Array.from(randArray(xs.length));
  const dy = buf(dys);
  const g = out(xs.length), gl = out(xs.length);
  cpu.softmaxGrad(sm, dy, g, rows, cols, false);
  cpu.softmaxGrad(lsm, dy, gl, rows, cols, true);
  const wantG: number[] = [], wantGl: number[] = [];
  for (let r = 0; r < rows; r++) {
    const y = wantSm.slice(r * cols, (r + 1) * cols), d = dys.slice(r * cols, (r + 1) * cols);
    const dot = y.reduce((s, v, c) => s + v * d[c], 0), sd = d.reduce((s, v) => s + v, 0);
    y.forEach((v, c) => { wantG.push(v * (d[c] - dot)); wantGl.push(d[c] - v * sd); });
  }
  assertClose(read(g), wantG, 1e-14, 'softmaxGrad');
  assertClose(read(gl), wantGl, 1e-14, 'logSoftmaxGrad');
});

test('crossEntropy and its gradient, with ignored rows and range checks', () => {
  const rows = 4, cols = 3;
  const xs = Array.from(randArray(rows * cols));
  const tg = [2, -100, 0, 1];
  const logits = buf(xs), targets = buf(tg, 'i32');
  const loss = out(rows);
  cpu.crossEntropy(logits, targets, loss, rows, cols, -100);
  const lse = (r: number) => Math.log(xs.slice(r * cols, (r + 1) * cols).reduce((s, v) => s + Math.exp(v), 0));
  assertClose(read(loss), tg.map((t, r) => (t === -100 ? 0 : lse(r) - xs[r * cols + t])), 1e-14, 'crossEntropy');
  const dl = [0.5, 9, -1, 2];
  const grad = out(rows * cols);
  cpu.crossEntropyGrad(logits, targets, buf(dl), grad, rows, cols, -100);
  const want: number[] = [];
  tg.forEach((t, r) => { for (let c = 0; c < cols; c++) want.push(t === -100 ? 0 : dl[r] * (Math.exp(xs[r * cols + c] - lse(r)) - (c === t ? 1 : 0))); });
  assertClose(read(grad), want, 1e-14, 'crossEntropyGrad');
  assert.throws(() => cpu.crossEntropy(logits, buf([0, 3, 0, 0], 'i32'), loss, rows, cols, -100), /target 3 at row 1 is outside \[0, 3\)/);
  assert.throws(() => cpu.crossEntropy(logits, buf([0, -1, 0, 0], 'i32'), loss, rows, cols, -100), /target -1 at row 1/);
});

test('gather / scatterAdd: shared and per-row indices, repeated indices accumulate, out is cleared', () => {
  // x: outer 2, size 4, inner 3.
  const xs = Array.from({ length: 24 }, (_, i) => i);
  const x = buf(xs);
  const layout = { outer: 2, size: 4, inner: 3 };
  const idx = buf([3, 0, 3], 'i32');
  const g = out(2 * 3 * 3);
  cpu.gather(x, idx, g, layout, 3, 0);
  const want: number[] = [];
  for (let o = 0; o < 2; o++) for (const s of [3, 0, 3]) for (let i = 0; i < 3; i++) want.push(xs[(o * 4 + s) * 3 + i]);
  assert.deepEqual(read(g), want);
  const sa = out(24); // NaN-filled: scatterAdd must clear it first
  cpu.scatterAdd(g, idx, sa, layout, 3, 0);
  const wantSa = new Array(24).fill(0);
  for (let o = 0; o < 2; o++) [3, 0, 3].forEach((s, j) => { for (let i = 0; i < 3; i++) wantSa[(o * 4 + s) * 3 + i] += want[(o * 3 + j) * 3 + i]; });
  assert.deepEqual(read(sa), wantSa);
  // Per-row indices along the last axis (inner 1, indexOuterStride = k).
  const y = buf([10, 11, 12, 20, 21, 22]);
  const rowIdx = buf([2, 2, 0, 1], 'i32');
  const picked = out(4);
  cpu.gather(y, rowIdx, picked, { outer: 2, size: 3, inner: 1 }, 2, 2);
  assert.deepEqual(read(picked), [12, 12, 20, 21]);
  const back = out(6);
  cpu.scatterAdd(buf([1, 2, 3, 4]), rowIdx, back, { outer: 2, size: 3, inner: 1 }, 2, 2);
  assert.deepEqual(read(back), [0, 0, 3, 3, 4, 0]);
  assert.throws(() => cpu.gather(y, buf([3], 'i32'), out(2), { outer: 2, size: 3, inner: 1 }, 1, 0), /index 3 is out of range \[0, 3\)/);
  assert.throws(() => cpu.scatterAdd(buf([1]), buf([-1], 'i32'), out(3), { outer: 1, size: 3, inner: 1 }, 1, 0), /index -1 is out of range/);
});

// ------------------------------------------------------------------------------------------------
// scan

interface ScanCase { outer: number; size: number; inner: number }

/** Plain loops: forward, and the backward by the chain rule written out per element. */
function scanLoop(a: number[], b: number[], h0: number[] | null, { outer, size, inner }: ScanCase, log: boolean) {
  const lae = (p: number, q: number) => (p === -Infinity ? q : q === -Infinity ? p : Math.max(p, q) + Math.log1p(Math.exp(-Math.abs(p - q))));
  const h = new Array<number>(a.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let prev = h0 ? h0[o * inner + i] : log ? -Infinity : 0;
    for (let t = 0; t < size; t++) {
      const p = (o * size + t) * inner + i;
      prev = log ? lae(a[p] + prev, b[p]) : a[p] * prev + b[p];
      h[p] = prev;
    }
  }
  return h;
}

test('scan forward equals plain loops for T up to 4096, real and log space, with and without h0', () => {
  for (const c of [{ outer: 1, size: 1, inner: 1 }, { outer: 2, size: 7, inner: 3 }, { outer: 3, size: 4096, inner: 2 }, { outer: 1, size: 4096, inner: 1 }]) {
    for (const log of [false, true]) {
      const n = c.outer * c.size * c.inner;
      const a = Array.from(log ? randArray(n, -1, 0) : randArray(n, 0.5, 1));
      const b = Array.from(log ? randArray(n, -2, 1) : randArray(n, -1, 1));
      for (const h0 of [null, Array.from(randArray(c.outer * c.inner, log ? -1 : -1, 1))]) {
        const o = out(n);
        cpu.scan(buf(a), buf(b), h0 && buf(h0), o, c, log);
        const want = scanLoop(a, b, h0, c, log);
        if (log) assertClose(read(o), want, 1e-14, `logScan ${JSON.stringify(c)}`);
        else assert.deepEqual(read(o), want, `scan ${JSON.stringify(c)} h0=${!!h0}`);
      }
    }
  }
});

test('log-space scan over T = 4096 with gates near 1 and near 0 matches the real-space scan', () => {
  const T = 4096;
  for (const logA of [Math.log1p(-1e-7), -40, -745]) {
    const bv = Array.from(randArray(T, 0.5, 1.5));
    const lo = out(T), ro = out(T);
    cpu.scan(buf(new Array(T).fill(logA)), buf(bv.map(Math.log)), null, lo, { outer: 1, size: T, inner: 1 }, true);
    cpu.scan(buf(new Array(T).fill(Math.exp(logA))), buf(bv), null, ro, { outer: 1, size: T, inner: 1 }, false);
    const l = read(lo), r = read(ro);
    for (let t = 0; t < T; t++) {
      assert.ok(Number.isFinite(l[t]), `finite at ${t}`);
      assert.ok(Math.abs(Math.exp(l[t]) - r[t]) <= 1e-11 * r[t], `log a=${logA} t=${t}: ${Math.exp(l[t])} vs ${r[t]}`);
    }
  }
  // A gate of exactly 0 (log a = −∞) resets the state: h_t = b_t.
  const o = out(3);
  cpu.scan(buf([0, -Infinity, 0]), buf([0, Math.log(2), Math.log(3)]), buf([Math.log(5)]), o, { outer: 1, size: 3, inner: 1 }, true);
  assertClose(read(o), [Math.log(6), Math.log(2), Math.log(5)], 1e-15, 'log a = −∞');
});

test('scanGrad equals central differences of the scan kernel (real and log space, with h0)', () => {
  const c = { outer: 2, size: 6, inner: 3 };
  const n = c.outer * c.size * c.inner, ns = c.outer * c.inner;
  for (const log of [false, true]) {
    const a = Array.from(log ? randArray(n, -1.5, -0.05) : randArray(n, -1.1, 1.1));
    const b = Array.from(log ? randArray(n, -2, 1) : randArray(n, -1, 1));
    const h0 = Array.from(randArray(ns, -1, 1));
    const w = Array.from(randArray(n)); // L = Σ w ⊙ h
    const run = (aa: number[], bb: number[], hh: number[]) => {
      const o = out(n);
      cpu.scan(buf(aa), buf(bb), buf(hh), o, c, log);
      return read(o).reduce((s, v, i) => s + v * w[i], 0);
    };
    const h = out(n);
    cpu.scan(buf(a), buf(b), buf(h0), h, c, log);
    const da = out(n), db = out(n), dh0 = out(ns);
    cpu.scanGrad(buf(a), buf(b), h, buf(h0), buf(w), da, db, dh0, c, log);
    const eps = 1e-6;
    for (const [name, arr, got] of [['a', a, read(da)], ['b', b, read(db)], ['h0', h0, read(dh0)]] as const) {
      for (let j = 0; j < arr.length; j++) {
        const orig = arr[j];
        (arr as number[])[j] = orig + eps;
        const plus = run(a, b, h0);
        (arr as number[])[j] = orig - eps;
        const minus = run(a, b, h0);
        (arr as number[])[j] = orig;
        const num = (plus - minus) / (2 * eps);
        assert.ok(Math.abs(got[j] - num) <= 1e-6 * Math.max(Math.abs(num), Math.abs(got[j]), 1e-2), `${log ? 'log' : 'real'} d${name}[${j}]: ${got[j]} vs ${num}`);
      }
    }
    // Without h0 the kernel needs no dh0 buffer.
    const h2 = out(n);
    cpu.scan(buf(a), buf(b), null, h2, c, log);
    const da2 = out(n), db2 = out(n);
    cpu.scanGrad(buf(a), buf(b), h2, null, buf(w), da2, db2, null, c, log);
    assert.ok(read(da2).every(Number.isFinite) && read(db2).every(Number.isFinite));
  }
});

test('adamw: one fused step equals the textbook AdamW update', () => {
  const n = 7;
  const p0 = Array.from(randArray(n)), g = Array.from(randArray(n)), m0 = Array.from(randArray(n, -0.1, 0.1)), v0 = Array.from(randArray(n, 0, 0.1));
  const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, correction1: 1 - 0.9 ** 3, correction2: 1 - 0.999 ** 3 };
  const p = buf(p0), m = buf(m0), v = buf(v0);
  cpu.adamw(p, buf(g), m, v, h);
  const wantM = m0.map((x, i) => h.beta1 * x + (1 - h.beta1) * g[i]);
  const wantV = v0.map((x, i) => h.beta2 * x + (1 - h.beta2) * g[i] ** 2);
  const wantP = p0.map((x, i) => x * (1 - h.lr * h.weightDecay) - h.lr * (wantM[i] / h.correction1) / (Math.sqrt(wantV[i] / h.correction2) + h.eps));
  assertClose(read(m), wantM, 1e-15, 'adamw m');
  assertClose(read(v), wantV, 1e-15, 'adamw v');
  assertClose(read(p), wantP, 1e-13, 'adamw param');
});
