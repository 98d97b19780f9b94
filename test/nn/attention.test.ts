import '../../src/default-backend.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causalAttention, hasFusedAttention, rope } from '../../src/nn/attention.js';
import { getBackend } from '../../src/tensor/engine.js';
import { concat, mul, slice, sum } from '../../src/tensor/ops.js';
import { randn } from '../../src/tensor/creation.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, checkOp, type Ref } from '../helpers/gradcheck.js';

/** Plain-JS causal attention with an explicit score matrix (query i at position Tk − Tq + i). */
function attentionRef(q: Ref, k: Ref, v: Ref): Ref {
  const [B, H, Tq, D] = q.shape, [, Hkv, Tk] = k.shape;
  const out = new Float64Array(B * H * Tq * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let i = 0; i < Tq; i++) {
      const s: number[] = [];
      for (let j = 0; j <= Tk - Tq + i; j++) {
        let dot = 0;
        for (let c = 0; c < D; c++) dot += q.data[((b * H + h) * Tq + i) * D + c] * k.data[((b * Hkv + g) * Tk + j) * D + c];
        s.push(dot / Math.sqrt(D));
      }
      const m = Math.max(...s), e = s.map((x) => Math.exp(x - m)), z = e.reduce((a, x) => a + x, 0);
      for (let c = 0; c < D; c++) {
        let acc = 0;
        e.forEach((p, j) => { acc += (p / z) * v.data[((b * Hkv + g) * Tk + j) * D + c]; });
        out[((b * H + h) * Tq + i) * D + c] = acc;
      }
    }
  }
  return { data: out, shape: [...q.shape] };
}

const cases: { name: string; q: number[]; kv: number[] }[] = [
  { name: 'multi-head', q: [2, 2, 5, 4], kv: [2, 2, 5, 4] },
  { name: 'grouped keys (4 heads, 2 kv heads), odd headDim', q: [1, 4, 4, 3], kv: [1, 2, 4, 3] },
  { name: 'one kv head (multi-query)', q: [2, 3, 3, 2], kv: [2, 1, 3, 2] },
  { name: 'T 1', q: [2, 2, 1, 5], kv: [2, 2, 1, 5] },
  { name: 'fewer queries than keys (a cached step)', q: [1, 2, 2, 3], kv: [1, 1, 5, 3] },
];

test('the CPU backend runs causal attention as one kernel', () => {
  assert.ok(hasFusedAttention(getBackend()));
});

for (const c of cases) {
  for (const fused of [true, false]) {
    test(`causalAttention ${fused ? 'kernel' : 'composite'}: ${c.name}: forward vs a plain reference, gradients vs central differences`, () => {
      checkOp({
        name: `causalAttention(${c.name})`,
        shapes: [c.q, c.kv, c.kv],
        fn: (q, k, v) => causalAttention(q, k, v, { fused }),
        reference: attentionRef,
        range: [-1.5, 1.5],
      });
    });
  }
}

/** Output and input gradients of one path, for a weighted sum of the output. */
function run(q: Tensor, k: Tensor, v: Tensor, w: Tensor, fused: boolean): Float64Array[] {
  return scope(() => {
    const [qq, kk, vv] = [q, k, v].map((t) => { const d = t.detach(); d.requiresGrad = true; return d; });
    const y = causalAttention(qq, kk, vv, { fused });
    sum(mul(y, w)).backward();
    return [y, qq.grad!, kk.grad!, vv.grad!].map((t) => Float64Array.from(t.dataSync()));
  });
}

test('causalAttention: the kernel equals the composite (f64, forward and every gradient) at a longer T, grouped keys; live buffers flat', () => {
  const rng = new Rng(7);
  const before = getBackend().liveBuffers();
  scope(() => {
    const o = { dtype: 'f64' as const, rng };
    const q = randn([2, 4, 33, 7], o), k = randn([2, 2, 33, 7], o), v = randn([2, 2, 33, 7], o), w = randn([2, 4, 33, 7], o);
    const a = run(q, k, v, w, true), b = run(q, k, v, w, false);
    ['output', 'dq', 'dk', 'dv'].forEach((what, i) => assertClose(a[i], b[i], 1e-12, what));
  });
  assert.equal(getBackend().liveBuffers(), before);
});

test('causalAttention: f32 kernel agrees with the f64 composite to f32 precision', () => {
  const rng = new Rng(3);
  scope(() => {
    const q = randn([1, 2, 40, 8], { rng }), k = randn([1, 2, 40, 8], { rng }), v = randn([1, 2, 40, 8], { rng });
    const y = causalAttention(q, k, v).dataSync();
    const ref = causalAttention(...([q, k, v].map((t) => t.cast('f64')) as [Tensor, Tensor, Tensor]), { fused: false }).dataSync();
    assertClose(y, ref, 1e-5, 'f32 output');
  });
});

test('causalAttention: one query at a time against a growing KV cache equals the parallel forward', () => {
  const rng = new Rng(11);
  scope(() => {
    const o = { dtype: 'f64' as const, rng };
    const T = 6;
    const q = randn([2, 4, T, 5], o), k = randn([2, 2, T, 5], o), v = randn([2, 2, T, 5], o);
    const parallel = causalAttention(q, k, v).dataSync();
    const steps: Tensor[] = [];
    for (let t = 0; t < T; t++) steps.push(causalAttention(slice(q, 2, t, t + 1), slice(k, 2, 0, t + 1), slice(v, 2, 0, t + 1)));
    assertClose(concat(steps, 2).dataSync(), parallel, 1e-12, 'stepped vs parallel');
  });
});

test('rope (even and odd head widths): rotating at offset t equals the slice at t of the rotation of the whole sequence, and keeps norms', () => {
  const rng = new Rng(5);
  scope(() => {
    for (const hd of [6, 5]) {
    const x = randn([1, 2, 7, hd], { dtype: 'f64', rng });
    const whole = rope(x, 0);
    assertClose(rope(slice(x, 2, 4, 7), 4).dataSync(), slice(whole, 2, 4, 7).dataSync(), 1e-12, 'offset');
    assertClose(sum(mul(whole, whole)).dataSync(), sum(mul(x, x)).dataSync(), 1e-10, 'norm');
    }
  });
});

test('causalAttention refuses mismatched shapes in one sentence', () => {
  scope(() => {
    const q = randn([1, 3, 4, 2]), k = randn([1, 2, 4, 2]);
    assert.throws(() => causalAttention(q, k, k), /2 kv heads .* must divide the 3 heads/);
    assert.throws(() => causalAttention(randn([1, 2, 5, 2]), k, k), /more positions than k/);
  });
});
