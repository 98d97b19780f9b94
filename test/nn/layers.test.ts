/**
 * Layers against PyTorch (test/fixtures/nn_layers.safetensors, f32: forward and the gradients of
 * sum(y ⊙ r) agree within |a − b| ≤ 1e-5 · max(|b|, 1)), gradient checks of the functional forms in
 * f64 (test/helpers/gradcheck.ts), and the causal conv's step / chunked / parallel agreement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { readSafetensors } from '../../src/io/files.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost, randn } from '../../src/tensor/creation.js';
import { concat, gelu, mul, stack, sum } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { Module } from '../../src/nn/module.js';
import { Embedding, FeedForward, GLU, Linear } from '../../src/nn/layers.js';
import { LayerNorm, RMSNorm } from '../../src/nn/norm.js';
import { CausalConv1d } from '../../src/nn/conv.js';
import { causalConv1d, causalConv1dStep, glu, layerNorm, linear, rmsNorm } from '../../src/nn/functional.js';
import { assertClose, checkOp, ref, type Ref } from '../helpers/gradcheck.js';

const FIXTURE_TOL = 1e-5;
const fx = await readSafetensors(fileURLToPath(new URL('../../../test/fixtures/nn_layers.safetensors', import.meta.url)));
const values = (t: Tensor): Float64Array => Float64Array.from(t.dataSync());
/** A fresh f32 leaf with the fixture's values, requiring grad. */
const leaf = (key: string): Tensor => fromHost(fx[key].dataSync(), fx[key].shape, { requiresGrad: true });

/** Loads fixture params into a layer, runs x through it, backprops sum(y ⊙ r), compares everything. */
function checkAgainstTorch(prefix: string, layer: Module, forward: (x: Tensor) => Tensor, params: string[]): void {
  const live = getBackend().liveBuffers() - layer.parameters().length;
  scope(() => {
    layer.loadStateDict(Object.fromEntries(params.map((p) => [p, fx[`${prefix}.${p}`]])));
    const x = leaf(`${prefix}.x`);
    const y = forward(x);
    assertClose(values(y), values(fx[`${prefix}.y`]), FIXTURE_TOL, `${prefix} y`);
    sum(mul(y, fx[`${prefix}.r`])).backward();
    assertClose(values(x.grad!), values(fx[`${prefix}.grad_x`]), FIXTURE_TOL, `${prefix} grad_x`);
    for (const [name, p] of layer.namedParameters()) {
      assertClose(values(p.grad!), values(fx[`${prefix}.grad_${name}`]), FIXTURE_TOL, `${prefix} grad_${name}`);
    }
    x.dispose();
  });
  layer.dispose();
  assert.equal(getBackend().liveBuffers(), live, `${prefix}: buffers leaked`);
}

test('Linear matches PyTorch (forward, grads of x, weight, bias)', () => {
  const lin = new Linear({ inFeatures: 5, outFeatures: 7 });
  checkAgainstTorch('linear', lin, (x) => lin.forward(x), ['weight', 'bias']);
});

test('LayerNorm matches PyTorch (eps 1e-5)', () => {
  const ln = new LayerNorm({ dim: 6 });
  checkAgainstTorch('layernorm', ln, (x) => ln.forward(x), ['weight', 'bias']);
});

test('RMSNorm matches PyTorch (eps 1e-6)', () => {
  const rn = new RMSNorm({ dim: 6 });
  checkAgainstTorch('rmsnorm', rn, (x) => rn.forward(x), ['weight']);
});

test('CausalConv1d matches PyTorch (depthwise, causal, channels last)', () => {
  const conv = new CausalConv1d({ channels: 4, kernelSize: 3 });
  checkAgainstTorch('conv', conv, (x) => conv.forward(x).output, ['weight', 'bias']);
});

test('Linear works on any leading dims (one GEMM) and on a vector', () => scope(() => {
  const lin = new Linear({ inFeatures: 5, outFeatures: 7, rng: new Rng(3) });
  const x = randn([2, 3, 5], { rng: new Rng(4) });
  const y = lin.forward(x);
  assert.deepEqual(y.shape, [2, 3, 7]);
  const flat = lin.forward(x.reshape([6, 5]));
  assert.deepEqual(Array.from(y.dataSync()), Array.from(flat.dataSync()));
  const v = lin.forward(x.reshape([30]).slice(0, 0, 5));
  assert.deepEqual(v.shape, [7]);
  assertClose(values(v), values(y).subarray(0, 7), 1e-6, 'vector input');
  assert.throws(() => lin.forward(randn([2, 4])), /last dimension 5/);
  lin.dispose();
}));

// ------------------------------------------------------------------------------------------------
// f64 gradient checks of the functional forms (parameters are inputs here)

/** Plain-loop reference of the causal depthwise conv over [B, T, C] (with optional state). */
function convRef(x: Ref, w: Ref, b: Ref, state?: Ref): Ref {
  const [B, T, C] = x.shape, K = w.shape[2];
  const out = new Float64Array(B * T * C);
  for (let bi = 0; bi < B; bi++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) {
    let acc = b.data[c];
    for (let j = 0; j < K; j++) {
      const s = t - (K - 1) + j;
      if (s >= 0) acc += w.data[c * K + j] * x.data[(bi * T + s) * C + c];
      else if (state) acc += w.data[c * K + j] * state.data[(bi * (K - 1) + (K - 1 + s)) * C + c];
    }
    out[(bi * T + t) * C + c] = acc;
  }
  return ref(out, [B, T, C]);
}

test('gradcheck: linear, rmsNorm, layerNorm, glu (f64)', () => {
  checkOp({ name: 'linear', shapes: [[2, 3, 4], [5, 4], [5]], fn: (x, w, b) => linear(x, w, b) });
  checkOp({ name: 'linear no bias', shapes: [[3, 4], [2, 4]], fn: (x, w) => linear(x, w) });
  checkOp({
    name: 'rmsNorm', shapes: [[3, 5], [5]], fn: (x, w) => rmsNorm(x, w, 1e-6),
    reference: (x, w) => {
      const out = new Float64Array(x.data.length);
      for (let r = 0; r < 3; r++) {
        let ms = 0;
        for (let c = 0; c < 5; c++) ms += x.data[r * 5 + c] ** 2 / 5;
        for (let c = 0; c < 5; c++) out[r * 5 + c] = (x.data[r * 5 + c] / Math.sqrt(ms + 1e-6)) * w.data[c];
      }
      return out;
    },
  });
  checkOp({ name: 'layerNorm', shapes: [[3, 5], [5], [5]], fn: (x, w, b) => layerNorm(x, w, b, 1e-5) });
  checkOp({
    name: 'glu', shapes: [[2, 6]], fn: (x) => glu(x),
    reference: (x) => Array.from({ length: 6 }, (_, i) => {
      const r = Math.floor(i / 3), c = i % 3;
      return x.data[r * 6 + c] / (1 + Math.exp(-x.data[r * 6 + 3 + c]));
    }),
  });
});

test('gradcheck: causalConv1d and its step, with and without state (f64)', () => {
  checkOp({
    name: 'causalConv1d', shapes: [[2, 5, 3], [3, 1, 3], [3]],
    fn: (x, w, b) => causalConv1d(x, w, b).output, reference: (x, w, b) => convRef(x, w, b),
  });
  checkOp({
    name: 'causalConv1d with state', shapes: [[2, 4, 3], [3, 1, 3], [3], [2, 2, 3]],
    fn: (x, w, b, s) => causalConv1d(x, w, b, s).output, reference: (x, w, b, s) => convRef(x, w, b, s),
  });
  checkOp({ name: 'causalConv1d new state', shapes: [[2, 1, 3], [3, 1, 3], [3], [2, 2, 3]], fn: (x, w, b, s) => causalConv1d(x, w, b, s).state });
  checkOp({ name: 'causalConv1dStep', shapes: [[2, 3], [3, 1, 4], [3], [2, 3, 3]], fn: (x, w, b, s) => causalConv1dStep(x, w, b, s).output });
});

// ------------------------------------------------------------------------------------------------
// the conv's three ways of running agree

for (const K of [1, 3, 4]) {
  test(`CausalConv1d K=${K}: step-by-step and chunked calls equal one parallel call`, () => {
    const live = getBackend().liveBuffers();
    scope(() => {
      const conv = new CausalConv1d({ channels: 3, kernelSize: K, dtype: 'f64', rng: new Rng(K) });
      const T = 7;
      const x = randn([2, T, 3], { dtype: 'f64', rng: new Rng(10 + K) });
      const full = conv.forward(x);
      assert.deepEqual(full.output.shape, [2, T, 3]);
      assert.deepEqual(full.state.shape, [2, K - 1, 3]);
      assertClose(values(full.state), values(x.slice(1, T - (K - 1))), 0, 'state = last K−1 inputs');

      // step by step
      let state: Tensor | null = null;
      const outs: Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const r = conv.step(x.slice(1, t, t + 1).reshape([2, 3]), state);
        outs.push(r.output);
        state = r.state;
      }
      assertClose(values(stack(outs, 1)), values(full.output), 1e-12, 'step outputs');
      assertClose(values(state!), values(full.state), 0, 'step state');

      // chunks, including ones shorter than K−1
      let st: Tensor | null = null;
      const pieces: Tensor[] = [];
      for (const [a, e] of [[0, 3], [3, 4], [4, 5], [5, 7]]) {
        const r = conv.forward(x.slice(1, a, e), st);
        pieces.push(r.output);
        st = r.state;
      }
      assertClose(values(concat(pieces, 1)), values(full.output), 1e-12, 'chunked outputs');
      assertClose(values(st!), values(full.state), 0, 'chunked state');
      conv.dispose();
    });
    assert.equal(getBackend().liveBuffers(), live);
  });
}

test('CausalConv1d rejects a state of the wrong shape, naming it', () => scope(() => {
  const conv = new CausalConv1d({ channels: 3, kernelSize: 3 });
  assert.throws(() => conv.forward(randn([2, 5, 3]), randn([2, 3, 3])), /state .*\[2, 3, 3\].* must be \[2, 2, 3\]/);
  assert.throws(() => conv.forward(randn([2, 5, 4])), /must be \[B, T, 3\]/);
  conv.dispose();
}));

// ------------------------------------------------------------------------------------------------
// composite layers

test('FeedForward: keys 0.* and 2.* (like nn.Sequential), Linear → GELU → Linear, gradcheck of x', () => {
  const ff = new FeedForward({ dim: 3, mult: 2, dtype: 'f64', rng: new Rng(5) });
  assert.deepEqual(ff.namedParameters().map(([k, p]) => `${k} ${p.shape.join('x')}`), ['0.weight 6x3', '0.bias 6', '2.weight 3x6', '2.bias 3']);
  scope(() => {
    const x = randn([2, 3], { dtype: 'f64', rng: new Rng(6) });
    const want = linear(gelu(linear(x, ff.up.weight, ff.up.bias)), ff.down.weight, ff.down.bias);
    assertClose(values(ff.forward(x)), values(want), 0, 'FeedForward');
  });
  for (const p of ff.parameters()) p.requiresGrad = false; // differentiate x only (no kept .grad)
  checkOp({ name: 'FeedForward', shapes: [[2, 3]], fn: (x) => ff.forward(x) });
  ff.dispose();
});

test('GLU: proj to 2·out, first half ⊙ σ(second half)', () => scope(() => {
  const g = new GLU({ inFeatures: 4, outFeatures: 3, rng: new Rng(1) });
  assert.deepEqual(g.namedParameters().map(([k, p]) => `${k} ${p.shape.join('x')}`), ['proj.weight 6x4', 'proj.bias 6']);
  const x = randn([5, 4], { rng: new Rng(2) });
  const y = g.forward(x);
  assert.deepEqual(y.shape, [5, 3]);
  const h = values(g.proj.forward(x));
  const want = Array.from({ length: 15 }, (_, i) => {
    const r = Math.floor(i / 3), c = i % 3;
    return h[r * 6 + c] / (1 + Math.exp(-h[r * 6 + 3 + c]));
  });
  assertClose(values(y), want, 1e-6, 'GLU');
  g.dispose();
}));

test('Embedding: rows of weight by id; N(0, 1) init', () => scope(() => {
  const e = new Embedding({ numEmbeddings: 50, embeddingDim: 40, rng: new Rng(9) });
  const w = values(e.weight);
  const mean = w.reduce((a, b) => a + b, 0) / w.length;
  const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
  assert.ok(Math.abs(mean) < 0.1 && Math.abs(std - 1) < 0.1, `mean ${mean}, std ${std}`);
  const y = e.forward(fromHost(Int32Array.of(3, 0, 3), [3]));
  assert.deepEqual(y.shape, [3, 40]);
  assert.deepEqual(Array.from(values(y).subarray(0, 40)), Array.from(w.subarray(120, 160)));
  assert.throws(() => e.forward(fromHost(Float32Array.of(1), [1])), /must be i32/);
  e.dispose();
}));
