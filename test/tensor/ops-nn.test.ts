/**
 * matmul, softmax / logSoftmax, crossEntropy, indexSelect / embedding, takeAlongLastAxis, cumsum,
 * logcumsumexp, linearScan / logScan and dropout: forward against plain JavaScript, backward
 * against central differences in f64 (1e-6 relative unless stated; see test/helpers/gradcheck.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { fromHost, tensor } from '../../src/tensor/creation.js';
import { Rng, dropoutHash } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/tensor.js';
import { getBackend } from '../../src/tensor/engine.js';
import { assertClose, broadcastShape, checkOp, ravelBroadcast, ref, stridesOf, unravel, type Ref } from '../helpers/gradcheck.js';

// ------------------------------------------------------------------------------------------------
// matmul

function matmulRef(a: Ref, b: Ref, transA = false, transB = false): Ref {
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar, k = transA ? ar : ac, n = transB ? br : bc;
  const aB = a.shape.slice(0, -2), bB = b.shape.slice(0, -2);
  const batchShape = broadcastShape(aB, bB);
  const batch = batchShape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const idx = unravel(bi, batchShape);
    const ao = ravelBroadcast(idx, aB) * ar * ac, bo = ravelBroadcast(idx, bB) * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a.data[ao + (transA ? p * ac + i : i * ac + p)];
          const bv = b.data[bo + (transB ? j * bc + p : p * bc + j)];
          s += av * bv;
        }
        out[(bi * m + i) * n + j] = s;
      }
    }
  }
  return { data: out, shape: [...batchShape, m, n] };
}

/** Stored shape of an operand that is [rows, cols] after the optional transpose. */
const stored = (batch: number[], rows: number, cols: number, trans: boolean) => [...batch, ...(trans ? [cols, rows] : [rows, cols])];

test('matmul: plain, batched, broadcast 2-D operands, general batch broadcast, all transA/transB', () => {
  const m = 3, k = 4, n = 5;
  const batches: [number[], number[]][] = [
    [[], []], // 2-D · 2-D
    [[2], [2]], // batched
    [[2], []], // 2-D b shared by a batch of a
    [[], [2]], // 2-D a shared by a batch of b
    [[2, 1], [3]], // general batch broadcasting (materialised)
    [[1], [2]], // batch of 1 against 2
  ];
  for (const [ba, bb] of batches) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        checkOp({
          name: `matmul ${JSON.stringify(ba)}·${JSON.stringify(bb)} transA ${transA} transB ${transB}`,
          shapes: [stored(ba, m, k, transA), stored(bb, k, n, transB)],
          fn: (a, b) => ops.matmul(a, b, { transA, transB }),
          reference: (a, b) => matmulRef(a, b, transA, transB),
        });
      }
    }
  }
});

test('matmul f32 (the optimised kernels) against an f64 reference, all layouts, 1e-5 relative to max(1, |ref|)', () => {
  // Large enough for the non-scalar CPU kernel; odd sizes to exercise edge tiles.
  const m = 19, k = 23, n = 17;
  const rng = new Rng(3);
  for (const [ba, bb] of [[[], []], [[3], [3]], [[3], []], [[], [3]]] as [number[], number[]][]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        scope(() => {
          const sa = stored(ba, m, k, transA), sb = stored(bb, k, n, transB);
          const av = new Float64Array(sa.reduce((p, q) => p * q, 1)).map(() => rng.uniform() * 2 - 1);
          const bv = new Float64Array(sb.reduce((p, q) => p * q, 1)).map(() => rng.uniform() * 2 - 1);
          const a32 = Float32Array.from(av), b32 = Float32Array.from(bv);
          const y = ops.matmul(fromHost(a32, sa), fromHost(b32, sb), { transA, transB });
          const want = matmulRef(ref(a32, sa), ref(b32, sb), transA, transB);
          assert.deepEqual(y.shape, want.shape);
          assertClose(y.dataSync(), want.data, 1e-5, `matmul f32 ${JSON.stringify(ba)}·${JSON.stringify(bb)} ${transA} ${transB}`);
        });
      }
    }
  }
});

// ------------------------------------------------------------------------------------------------
// softmax

function softmaxRef(x: Ref, axis: number, log: boolean): Ref {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const st = stridesOf(x.shape);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    const base = i - idx[a] * st[a];
    let mx = -Infinity;
    for (let j = 0; j < x.shape[a]; j++) mx = Math.max(mx, x.data[base + j * st[a]]);
    let s = 0;
    for (let j = 0; j < x.shape[a]; j++) s += Math.exp(x.data[base + j * st[a]] - mx);
    out[i] = log ? x.data[i] - mx - Math.log(s) : Math.exp(x.data[i] - mx) / s;
  }
  return { data: out, shape: x.shape };
}

test('softmax / logSoftmax on the last axis and on other axes', () => {
  for (const log of [false, true]) {
    const op = log ? ops.logSoftmax : ops.softmax;
    for (const axis of [-1, 0, 1]) {
      checkOp({
        name: `${log ? 'logSoftmax' : 'softmax'} axis ${axis}`, shapes: [[3, 4, 5]], range: [-3, 3],
        fn: (x) => op(x, axis), reference: (x) => softmaxRef(x, axis, log),
      });
    }
    checkOp({ name: `${log ? 'logSoftmax' : 'softmax'} 1-D`, shapes: [[7]], fn: (x) => op(x), reference: (x) => softmaxRef(x, 0, log) });
  }
  scope(() => {
    const y = ops.softmax(tensor([1000, 1000, -1000], [3], { dtype: 'f64' })).dataSync();
    assertClose(y, [0.5, 0.5, 0], 1e-15, 'softmax of large logits');
  });
});

// ------------------------------------------------------------------------------------------------
// cross-entropy

function crossEntropyRef(logits: Ref, targets: number[], ignoreIndex: number, reduction: 'none' | 'sum' | 'mean'): Ref {
  const cols = logits.shape[logits.shape.length - 1];
  const rows = targets.length;
  const per = new Float64Array(rows);
  let total = 0, count = 0;
  for (let r = 0; r < rows; r++) {
    if (targets[r] === ignoreIndex) continue;
    const row = Array.from(logits.data.subarray(r * cols, (r + 1) * cols));
    const mx = Math.max(...row);
    per[r] = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0)) - row[targets[r]];
    total += per[r];
    count++;
  }
  if (reduction === 'none') return { data: per, shape: logits.shape.slice(0, -1) };
  if (reduction === 'sum') return ref([total], []);
  return ref([count ? total / count : 0], []);
}

test('crossEntropy: none / sum / mean, ignoreIndex (default −100 and custom), 3-D logits', () => {
  const t2 = [2, -100, 0, 4, 4, 1];
  const t3 = [1, 3, -1, 0, -1, 2];
  for (const reduction of ['none', 'sum', 'mean'] as const) {
    scope(() => {
      const targets = tensor(t2, [6], { dtype: 'i32' });
      checkOp({
        name: `crossEntropy ${reduction}`, shapes: [[6, 5]], range: [-3, 3],
        fn: (x) => ops.crossEntropy(x, targets, { reduction }),
        reference: (x) => crossEntropyRef(x, t2, -100, reduction),
      });
      const targets3 = tensor(t3, [2, 3], { dtype: 'i32' });
      checkOp({
        name: `crossEntropy 3-D ${reduction} ignoreIndex −1`, shapes: [[2, 3, 4]], range: [-3, 3],
        fn: (x) => ops.crossEntropy(x, targets3, { reduction, ignoreIndex: -1 }),
        reference: (x) => crossEntropyRef(x, t3, -1, reduction),
      });
    });
  }
  // Every row ignored: the mean is 0, not NaN, and so is the gradient.
  scope(() => {
    const targets = tensor([-100, -100], [2], { dtype: 'i32' });
    checkOp({ name: 'crossEntropy all ignored', shapes: [[2, 3]], fn: (x) => ops.crossEntropy(x, targets), reference: () => [0] });
  });
  // A target outside [0, V) is an error, not a silent read.
  scope(() => {
    assert.throws(() => ops.crossEntropy(tensor([0, 0, 0, 0], [2, 2]), tensor([0, 2], [2], { dtype: 'i32' })), /target 2 at row 1 is outside \[0, 2\)/);
  });
});

// ------------------------------------------------------------------------------------------------
// indexing

test('indexSelect / embedding with repeated indices: the scatter-add accumulates', () => {
  scope(() => {
    const ids = tensor([0, 2, 2, 4, 1, 2, 0, 0], [2, 4], { dtype: 'i32' });
    const idv = [...ids.dataSync()];
    checkOp({
      name: 'embedding [5,3] ids [2,4]', shapes: [[5, 3]], fn: (w) => ops.embedding(w, ids),
      reference: (w) => ({ data: Float64Array.from(idv.flatMap((i) => [...w.data.subarray(i * 3, i * 3 + 3)])), shape: [2, 4, 3] }),
    });
    const index = tensor([3, 1, 3, 3], [4], { dtype: 'i32' });
    checkOp({
      name: 'indexSelect axis 1 of [3,5,2]', shapes: [[3, 5, 2]], fn: (x) => ops.indexSelect(x, 1, index),
      reference: (x) => {
        const out: number[] = [];
        for (let o = 0; o < 3; o++) for (const j of [3, 1, 3, 3]) for (let i = 0; i < 2; i++) out.push(x.data[(o * 5 + j) * 2 + i]);
        return { data: Float64Array.from(out), shape: [3, 4, 2] };
      },
    });
    checkOp({
      name: 'indexSelect last axis', shapes: [[2, 5]], fn: (x) => ops.indexSelect(x, -1, index),
      reference: (x) => ({ data: Float64Array.from([0, 1].flatMap((o) => [3, 1, 3, 3].map((j) => x.data[o * 5 + j]))), shape: [2, 4] }),
    });
    // The accumulated gradient of a thrice-picked row, exactly.
    const w = fromHost(new Float64Array(15), [5, 3], { requiresGrad: true });
    ops.sum(ops.embedding(w, ids)).backward();
    assert.deepEqual([...w.grad!.dataSync()], [3, 3, 3, 1, 1, 1, 3, 3, 3, 0, 0, 0, 1, 1, 1]);
    w.dispose();
    assert.throws(() => ops.embedding(fromHost(new Float64Array(6), [2, 3]), tensor([2], [1], { dtype: 'i32' })), /index 2 is out of range \[0, 2\)/);
  });
});

test('takeAlongLastAxis with repeated picks', () => {
  scope(() => {
    const idx = [0, 5, 5, 2, 1, 1, 1, 1, 3, 0, 4, 3, 2, 2, 0, 5, 0, 1, 4, 4, 4, 4, 5, 0];
    const index = tensor(idx, [2, 3, 4], { dtype: 'i32' });
    checkOp({
      name: 'takeAlongLastAxis [2,3,6] by [2,3,4]', shapes: [[2, 3, 6]], fn: (x) => ops.takeAlongLastAxis(x, index),
      reference: (x) => ({ data: Float64Array.from(idx.map((j, p) => x.data[Math.floor(p / 4) * 6 + j])), shape: [2, 3, 4] }),
    });
  });
});

// ------------------------------------------------------------------------------------------------
// cumulative ops

function cumRef(x: Ref, axis: number, step: (acc: number, v: number) => number, init: number, reverse = false): Ref {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const st = stridesOf(x.shape);
  const out = new Float64Array(x.data.length);
  const n = x.shape[a];
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    if (idx[a] !== 0) continue;
    let acc = init;
    for (let j = 0; j < n; j++) {
      const t = reverse ? n - 1 - j : j;
      acc = step(acc, x.data[i + t * st[a]]);
      out[i + t * st[a]] = acc;
    }
  }
  return { data: out, shape: x.shape };
}
const lae = (p: number, q: number) => (p === -Infinity ? q : Math.max(p, q) + Math.log1p(Math.exp(-Math.abs(p - q))));

test('cumsum forward and reverse along every axis', () => {
  for (const reverse of [false, true]) {
    for (const axis of [0, 1, -1]) {
      checkOp({
        name: `cumsum axis ${axis} reverse ${reverse}`, shapes: [[3, 4, 2]], fn: (x) => ops.cumsum(x, axis, reverse),
        reference: (x) => cumRef(x, axis, (s, v) => s + v, 0, reverse),
      });
    }
  }
});

test('logcumsumexp along every axis (gradient weights of both signs)', () => {
  for (const axis of [0, 1, -1]) {
    checkOp({
      name: `logcumsumexp axis ${axis}`, shapes: [[3, 4, 2]], range: [-3, 3], fn: (x) => ops.logcumsumexp(x, axis),
      reference: (x) => cumRef(x, axis, lae, -Infinity),
    });
  }
  scope(() => {
    const y = ops.logcumsumexp(tensor([1000, 1000, -Infinity], [3], { dtype: 'f64' }), 0).dataSync();
    assertClose(y, [1000, 1000 + Math.LN2, 1000 + Math.LN2], 1e-15, 'logcumsumexp large');
  });
});

// ------------------------------------------------------------------------------------------------
// scans

/** Reference scan along `axis` of a, b (+ optional h0 shaped without that axis). */
function scanRef(a: Ref, b: Ref, h0: Ref | null, axis: number, log: boolean): Ref {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const st = stridesOf(a.shape);
  const out = new Float64Array(a.data.length);
  const stateShape = a.shape.filter((_, d) => d !== ax);
  const stateStrides = stridesOf(stateShape);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    if (idx[ax] !== 0) continue;
    const sIdx = idx.filter((_, d) => d !== ax);
    let h = h0 ? h0.data[sIdx.reduce((o, v, d) => o + v * stateStrides[d], 0)] : log ? -Infinity : 0;
    for (let t = 0; t < a.shape[ax]; t++) {
      const p = i + t * st[ax];
      h = log ? lae(a.data[p] + h, b.data[p]) : a.data[p] * h + b.data[p];
      out[p] = h;
    }
  }
  return { data: out, shape: a.shape };
}

test('linearScan / logScan, with and without h0, along axis 1 and along other axes', () => {
  const cases: [number[], number][] = [[[2, 5, 3], 1], [[4, 3, 2], 0], [[2, 3, 4], 2], [[2, 6], -1]];
  for (const [shape, axis] of cases) {
    const ax = axis < 0 ? axis + shape.length : axis;
    const state = shape.filter((_, d) => d !== ax);
    for (const log of [false, true]) {
      const op = log ? ops.logScan : ops.linearScan;
      const what = `${log ? 'logScan' : 'linearScan'} ${JSON.stringify(shape)} axis ${axis}`;
      // Real space: gates in (−1.2, 1.2), inputs in (−1, 1). Log space: log a ≤ 0, log b and log h0 in (−2, 1).
      const range = (i: number) => (log ? (i === 0 ? [-2, -0.01] : [-2, 1]) : i === 0 ? [-1.2, 1.2] : [-1, 1]) as [number, number];
      checkOp({
        name: `${what} no h0`, shapes: [shape, shape], range, seed: 11,
        fn: (a, b) => op(a, b, { axis }), reference: (a, b) => scanRef(a, b, null, axis, log),
      });
      checkOp({
        name: `${what} h0`, shapes: [shape, shape, state], range, seed: 12,
        fn: (a, b, h0) => op(a, b, { axis, h0 }), reference: (a, b, h0) => scanRef(a, b, h0, axis, log),
      });
    }
  }
  // The default axis is 1.
  checkOp({ name: 'linearScan default axis', shapes: [[2, 4, 1], [2, 4, 1]], fn: (a, b) => ops.linearScan(a, b), reference: (a, b) => scanRef(a, b, null, 1, false) });
});

test('linearScan forward equals a plain JS loop for T = 1 … 4096 (f32 and f64)', () => {
  const rng = new Rng(5);
  for (const T of [1, 2, 3, 17, 256, 4096]) {
    for (const dtype of ['f64', 'f32'] as const) {
      scope(() => {
        const B = 2, C = 3, n = B * T * C;
        const av = new Float64Array(n).map(() => 0.5 + 0.5 * rng.uniform()); // decaying gates: bounded state
        const bv = new Float64Array(n).map(() => rng.uniform() * 2 - 1);
        const h0v = new Float64Array(B * C).map(() => rng.uniform());
        const A = dtype === 'f32' ? Float32Array.from(av) : av, Bv = dtype === 'f32' ? Float32Array.from(bv) : bv;
        const H0 = dtype === 'f32' ? Float32Array.from(h0v) : h0v;
        const y = ops.linearScan(fromHost(A, [B, T, C]), fromHost(Bv, [B, T, C]), { h0: fromHost(H0, [B, C]) }).dataSync();
        const want = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
        for (let b = 0; b < B; b++) {
          for (let c = 0; c < C; c++) {
            let h = H0[b * C + c];
            for (let t = 0; t < T; t++) {
              const p = (b * T + t) * C + c;
              h = dtype === 'f32' ? Math.fround(A[p] * h + Bv[p]) : A[p] * h + Bv[p];
              want[p] = h;
            }
          }
        }
        // The kernel evaluates a·h + b in f64 and stores in the buffer's dtype, like the loop above: exact.
        assert.deepEqual(y, want, `linearScan T=${T} ${dtype}`);
      });
    }
  }
});

test('logScan over T = 4096 is stable for gates near 1 and near 0, and equals the real-space scan', () => {
  const T = 4096;
  scope(() => {
    const rng = new Rng(9);
    // Gates a = 1 − 1e-7 (log a = log1p(−1e-7)) and a = e^-50 (log a very negative); b in (0.5, 1.5).
    for (const logA of [Math.log1p(-1e-7), -50, -700]) {
      const bv = new Float64Array(T).map(() => 0.5 + rng.uniform());
      const la = fromHost(new Float64Array(T).fill(logA), [1, T, 1]);
      const lb = fromHost(bv.map(Math.log), [1, T, 1]);
      const logH = ops.logScan(la, lb).dataSync();
      const real = ops.linearScan(fromHost(new Float64Array(T).fill(Math.exp(logA)), [1, T, 1]), fromHost(bv, [1, T, 1])).dataSync();
      for (let t = 0; t < T; t++) {
        assert.ok(Number.isFinite(logH[t]), `log h[${t}] = ${logH[t]} for log a = ${logA}`);
        // Both are f64; the log-space result is within a few ulps·T of the real-space one.
        const err = Math.abs(Math.exp(logH[t]) - real[t]) / real[t];
        assert.ok(err < 1e-11, `log a = ${logA}, t = ${t}: exp(logScan) ${Math.exp(logH[t])} vs linearScan ${real[t]} (rel ${err})`);
      }
    }
    // Where the real-space state underflows (every term ≈ e^-800), the log-space scan stays finite and exact.
    const la = fromHost(new Float64Array(T).fill(Math.log1p(-1e-7)), [1, T, 1]);
    const lb = fromHost(new Float64Array(T).fill(-800), [1, T, 1]);
    const logH = ops.logScan(la, lb).dataSync();
    for (const t of [0, 1, 100, T - 1]) {
      // Σ_{s ≤ t} a^{t−s} e^-800 = e^-800 (1 − a^{t+1}) / (1 − a)
      const a = 1 - 1e-7;
      const want = -800 + Math.log((1 - a ** (t + 1)) / (1 - a));
      assert.ok(Math.abs(logH[t] - want) < 1e-7, `underflow regime t=${t}: ${logH[t]} vs ${want}`);
    }
    // Gradients stay finite over the long sequence too.
    const lav = fromHost(new Float64Array(T).fill(Math.log1p(-1e-7)), [1, T, 1], { requiresGrad: true });
    const lbv = fromHost(new Float64Array(T).map(() => Math.log(0.5 + rng.uniform())), [1, T, 1], { requiresGrad: true });
    ops.sum(ops.logScan(lav, lbv)).backward();
    assert.ok(lav.grad!.dataSync().every(Number.isFinite) && lbv.grad!.dataSync().every(Number.isFinite), 'finite logScan gradients');
    lav.dispose(); lbv.dispose();
  });
});

// ------------------------------------------------------------------------------------------------
// dropout

test('dropout: mean preserved, fraction zeroed ≈ p, deterministic under a seeded Rng, gradient = mask', () => {
  scope(() => {
    const n = 200_000, p = 0.3;
    const x = fromHost(new Float64Array(n).fill(1), [n]);
    const y = ops.dropout(x, p, new Rng(123)).dataSync();
    let zeros = 0, sum = 0;
    for (const v of y) { if (v === 0) zeros++; else assert.ok(Math.abs(v - 1 / (1 - p)) < 1e-15); sum += v; }
    // Binomial: std of the zeroed fraction is √(p(1−p)/n) ≈ 1e-3; of the mean ≈ 1.5e-3. Allow 5σ.
    assert.ok(Math.abs(zeros / n - p) < 5e-3, `zeroed fraction ${zeros / n}`);
    assert.ok(Math.abs(sum / n - 1) < 8e-3, `mean ${sum / n}`);
    const again = ops.dropout(x, p, new Rng(123)).dataSync();
    assert.deepEqual(again, y, 'same seed, same mask');
    const other = ops.dropout(x, p, new Rng(124)).dataSync();
    assert.notDeepEqual(other, y);
    assert.deepEqual(ops.dropout(x, 0).dataSync(), x.dataSync(), 'p = 0 is the identity');
    assert.throws(() => ops.dropout(x, 1), /p must be in \[0, 1\)/);
    // f32 works and gives the same mask.
    const y32 = ops.dropout(fromHost(new Float32Array(n).fill(1), [n]), p, new Rng(123)).dataSync();
    assert.deepEqual([...y32].map((v) => v === 0), [...y].map((v) => v === 0));
  });
  checkOp({
    name: 'dropout gradient', shapes: [[4, 5]], fn: (x) => ops.dropout(x, 0.4, new Rng(77)),
    reference: (x) => {
      // the documented mask: element i is kept when dropoutHash(key, i) ≥ ⌊p·2³²⌋, key = two draws of the Rng
      const r = new Rng(77), k0 = r.nextU32(), k1 = r.nextU32();
      return { data: x.data.map((v, i) => (dropoutHash(k0, k1, i) >= Math.floor(0.4 * 2 ** 32) ? v / 0.6 : 0)), shape: x.shape };
    },
  });
});

test('composite graphs free everything inside scope()', () => {
  const before = getBackend().liveBuffers();
  scope(() => {
    const x = fromHost(new Float64Array(24).map((_, i) => Math.sin(i)), [2, 3, 4], { requiresGrad: true });
    const y = ops.softmax(x, 1);
    const z = ops.logScan(ops.logSigmoid(x), ops.logSoftmax(x, 0));
    const loss = ops.add(ops.mean(ops.mul(y, z)), ops.crossEntropy(ops.reshape(x, [6, 4]), tensor([0, 1, 2, 3, -100, 1], [6], { dtype: 'i32' })));
    loss.backward();
    x.dispose();
  });
  assert.equal(getBackend().liveBuffers(), before);
});

