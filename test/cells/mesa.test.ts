import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { MesaLayer, mesaAttention, type MesaOptions, type MesaState } from '../../src/cells/mesa.js';
import { createCell } from '../../src/cells/registry.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { AdamW } from '../../src/optim/index.js';
import { trainStep } from '../../src/train/step.js';
import { SELECTIVE_COPY_PRESETS, trainSelectiveCopy } from '../../src/train/selective-copy.js';
import { getBackend, noGrad } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost } from '../../src/tensor/creation.js';
import { concat, mul, slice, sum, unsqueeze } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from '../helpers/gradcheck.js';

const f64 = (data: Float64Array, shape: number[], requiresGrad = false) => fromHost(data, shape, { dtype: 'f64', requiresGrad });
const uniform = (rng: Rng, n: number, scale = 1) => Float64Array.from({ length: n }, () => scale * (2 * rng.uniform() - 1));

function layerF64(opts: Partial<MesaOptions> & { dim: number; heads: number }, seed = 3): MesaLayer {
  return new MesaLayer({ dtype: 'f64', rng: new Rng(seed), ...opts });
}

// ---------------------------------------------------------------------------------------------
// An independent plain-JS reference of the whole layer (host f64 loops, full states per token).

type Solver = 'direct' | 'identity';

/** Solves (M) z = q for a symmetric positive definite d×d M (row-major) by Cholesky. */
function choleskySolve(M: Float64Array, q: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = M[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = i === j ? Math.sqrt(s) : s / L[j * d + j];
    }
  }
  const y = new Float64Array(d), z = new Float64Array(d);
  for (let i = 0; i < d; i++) { let s = q[i]; for (let k = 0; k < i; k++) s -= L[i * d + k] * y[k]; y[i] = s / L[i * d + i]; }
  for (let i = d - 1; i >= 0; i--) { let s = y[i]; for (let k = i + 1; k < d; k++) s -= L[k * d + i] * z[k]; z[i] = s / L[i * d + i]; }
  return z;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const silu = (x: number) => x * sigmoid(x);

function matVec(W: Float64Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) { let s = 0; for (let c = 0; c < cols; c++) s += W[r * cols + c] * x[c]; y[r] = s; }
  return y;
}

function rms(x: Float64Array, w: Float64Array): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const inv = 1 / Math.sqrt(ms / x.length + 1e-6);
  return x.map((v, i) => v * inv * w[i]);
}

function l2(x: Float64Array): Float64Array {
  let s = 0;
  for (const v of x) s += v * v;
  const inv = 1 / Math.sqrt(s + 1e-6);
  return x.map((v) => v * inv);
}

/** The layer's function x [B, T, D] → y [B, T, D] from host copies of its parameters. */
function referenceMesa(layer: MesaLayer, x: Float64Array, B: number, T: number, solver: Solver): Float64Array {
  const p = Object.fromEntries(layer.namedParameters().map(([k, v]) => [k, Float64Array.from(v.dataSync())]));
  const { dim: D, heads: h, headDim: d, innerDim: I, convKernel: K } = layer;
  const lam = p.lambda.map((v) => layer.lambdaLowerBound + Math.log1p(Math.exp(v)));
  const y = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    const row = (t: number) => x.subarray((b * T + t) * D, (b * T + t + 1) * D);
    const proj: Float64Array[] = [];
    const G = Array.from({ length: h }, () => new Float64Array(d * d)), H = Array.from({ length: h }, () => new Float64Array(d * d));
    for (let t = 0; t < T; t++) {
      const xn = rms(row(t), p['norm.weight']);
      proj.push(Float64Array.from([...matVec(p['q_proj.weight'], xn, I, D), ...matVec(p['k_proj.weight'], xn, I, D), ...matVec(p['v_proj.weight'], xn, I, D)]));
      const feat = new Float64Array(3 * I);
      for (let c = 0; c < 3 * I; c++) {
        if (K === 0) { feat[c] = silu(proj[t][c]); continue; }
        let s = p['conv.bias'][c];
        for (let j = 0; j < K; j++) { const src = t - (K - 1) + j; if (src >= 0) s += p['conv.weight'][c * K + j] * proj[src][c]; }
        feat[c] = silu(s);
      }
      const beta = matVec(p['beta_proj.weight'], row(t), h, D).map((v, i) => sigmoid(v + p['beta_proj.bias'][i]));
      const gamma = matVec(p['gamma_proj.weight'], row(t), h, D).map((v, i) => sigmoid(v + p['gamma_proj.bias'][i]));
      const out = new Float64Array(I);
      for (let i = 0; i < h; i++) {
        const q = l2(feat.slice(i * d, (i + 1) * d)), k = l2(feat.slice(I + i * d, I + (i + 1) * d)), v = feat.slice(2 * I + i * d, 2 * I + (i + 1) * d);
        for (let r = 0; r < d; r++) {
          for (let c = 0; c < d; c++) {
            G[i][r * d + c] = gamma[i] * G[i][r * d + c] + beta[i] * v[r] * k[c];
            H[i][r * d + c] = gamma[i] * H[i][r * d + c] + beta[i] * k[r] * k[c];
          }
        }
        const A = H[i].slice();
        for (let r = 0; r < d; r++) A[r * d + r] += lam[i * d + r];
        const z = solver === 'direct' ? choleskySolve(A, q, d) : q;
        out.set(rms(matVec(G[i], z, d, d), p['out_norm.weight']), i * d);
      }
      y.set(matVec(p['out_proj.weight'], out, D, I), (b * T + t) * D);
    }
  }
  return y;
}

test('MesaLayer with cgSteps ≥ headDim equals a direct (Cholesky) solve of (H_t + Λ) z = q_t to 1e-4, chunked and sequential', () => {
  const [B, T, D] = [2, 11, 8];
  const rng = new Rng(1);
  const x = uniform(rng, B * T * D, 1.5);
  for (const [heads, conv] of [[2, 4], [1, 0]] as const) {
    const layer = layerF64({ dim: D, heads, conv, chunkSize: 4 });
    layer.cgSteps = layer.headDim;
    // Move Λ off I and make the gates less uniform, so the test sees them.
    layer.lambda.backend.write(layer.lambda.buffer, uniform(rng, layer.lambda.size, 1.5));
    const expected = referenceMesa(layer, x, B, T, 'direct');
    for (const mode of ['chunked', 'sequential'] as const) {
      layer.mode = mode;
      scope(() => noGrad(() => assertClose(layer.forward(f64(x, [B, T, D])).output.dataSync(), expected, 1e-4, `${mode} heads ${heads} conv ${conv}`)));
    }
    // The CG answer is in fact much closer than 1e-4 in f64.
    layer.mode = 'chunked';
    scope(() => noGrad(() => assertClose(layer.forward(f64(x, [B, T, D])).output.dataSync(), expected, 1e-9, 'chunked, tight')));
    layer.dispose();
  }
});

test('MesaLayer with 0 CG steps and the query start is gated linear attention o_t = G_t q_t (plain loop)', () => {
  const [B, T, D] = [2, 9, 6];
  const x = uniform(new Rng(2), B * T * D);
  const layer = layerF64({ dim: D, heads: 2, cgSteps: 0, cgInit: 'query', chunkSize: 4 });
  const expected = referenceMesa(layer, x, B, T, 'identity');
  for (const mode of ['chunked', 'sequential'] as const) {
    layer.mode = mode;
    scope(() => assertClose(layer.forward(f64(x, [B, T, D])).output.dataSync(), expected, 1e-10, `GLA ${mode}`));
  }
  scope(() => {
    let s: MesaState | null = null;
    const outs: Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const r = layer.step(sliceTime(f64(x, [B, T, D]), t), s);
      outs.push(unsqueeze(r.output, 1));
      s = r.state;
    }
    assertClose(concat(outs, 1).dataSync(), expected, 1e-10, 'GLA step');
  });
  layer.dispose();
});

function sliceTime(x: Tensor, t: number): Tensor {
  return mul(slice(x, 1, t, t + 1), 1).reshape([x.shape[0], x.shape[2]]);
}

// ---------------------------------------------------------------------------------------------
// chunked vs sequential vs step: forward, state and every gradient

/** Output, final state and all parameter (and initial-state) gradients of one run. */
function runLayer(layer: MesaLayer, x: Float64Array, shape: number[], w: Float64Array, state: MesaState | null) {
  return scope(() => {
    layer.zeroGrad();
    const s0 = state ? state.map((t) => f64(Float64Array.from(t.dataSync()), [...t.shape], true)) as unknown as MesaState : null;
    const r = layer.forward(f64(x, shape), s0);
    const loss = sum(mul(r.output, f64(w, shape)));
    const stateLoss = r.state.reduce((acc: Tensor, t, i) => sum(mul(t, 0.3 + 0.1 * i)).add(acc), loss);
    stateLoss.backward();
    // A parameter no path reaches (γ with no state and T = 1) has no gradient: zeros.
    const grads = Object.fromEntries(layer.namedParameters().map(([k, p]) => [k, p.grad ? Float64Array.from(p.grad.dataSync()) : new Float64Array(p.size)]));
    const stateGrads = s0 ? s0.map((t) => Float64Array.from(t.grad!.dataSync())) : [];
    const out = { y: Float64Array.from(r.output.dataSync()), state: r.state.map((t) => Float64Array.from(t.dataSync())), grads, stateGrads };
    layer.zeroGrad();
    return out;
  });
}

test('MesaLayer chunked vs sequential vs step agree (T = 1 … 13, chunk boundaries, padding, truncated CG), with state in and out, and all gradients', () => {
  const D = 6;
  const rng = new Rng(4);
  // cgSteps 2 < headDim 3: a truncated solve, so the two forms must run the very same CG.
  const layer = layerF64({ dim: D, heads: 2, cgSteps: 2, cgTol: 0, chunkSize: 4 });
  const warm = scope(() => noGrad(() => layer.forward(f64(uniform(rng, 2 * 3 * D), [2, 3, D])).state.map((t) => t.keep())));
  for (const T of [1, 3, 4, 5, 8, 13]) {
    const shape = [2, T, D];
    const x = uniform(rng, 2 * T * D), w = uniform(rng, 2 * T * D);
    for (const state of [null, warm as unknown as MesaState]) {
      const what = `T=${T}${state ? ' with state' : ''}`;
      layer.mode = 'chunked';
      const chunked = runLayer(layer, x, shape, w, state);
      layer.mode = 'sequential';
      const seq = runLayer(layer, x, shape, w, state);
      assertClose(chunked.y, seq.y, 1e-10, `${what}: output`);
      chunked.state.forEach((s, i) => assertClose(s, seq.state[i], 1e-10, `${what}: state ${i}`));
      for (const k of Object.keys(seq.grads)) assertClose(chunked.grads[k], seq.grads[k], 1e-9, `${what}: grad ${k}`);
      chunked.stateGrads.forEach((g, i) => assertClose(g, seq.stateGrads[i], 1e-9, `${what}: grad of initial state ${i}`));
      scope(() => noGrad(() => {
        let s: MesaState | null = state;
        const outs: Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const r = layer.step(sliceTime(f64(x, shape), t), s);
          outs.push(unsqueeze(r.output, 1));
          s = r.state;
        }
        assertClose(concat(outs, 1).dataSync(), chunked.y, 1e-10, `${what}: step output`);
        s!.forEach((t, i) => assertClose(t.dataSync(), chunked.state[i], 1e-10, `${what}: step state ${i}`));
      }));
    }
  }
  // Two chunked calls with the state carried equal one call.
  layer.mode = 'chunked';
  scope(() => noGrad(() => {
    const x = f64(uniform(rng, 2 * 10 * D), [2, 10, D]);
    const whole = layer.forward(x);
    const a = layer.forward(slice(x, 1, 0, 7));
    const b = layer.forward(slice(x, 1, 7), a.state);
    assertClose(concat([a.output, b.output], 1).dataSync(), whole.output.dataSync(), 1e-10, 'carried state');
  }));
  warm.forEach((t) => t.dispose());
  layer.dispose();
});

test('MesaLayer.step stops CG early at cgTol and stays close to the fixed-step answer', () => {
  const [B, T, D] = [2, 6, 8];
  const x = uniform(new Rng(6), B * T * D);
  const layer = layerF64({ dim: D, heads: 1, cgSteps: 30, chunkSize: 4 });
  const full = scope(() => noGrad(() => Float64Array.from(layer.forward(f64(x, [B, T, D])).output.dataSync())));
  layer.cgTol = 1e-4;
  scope(() => noGrad(() => {
    let s: MesaState | null = null;
    const outs: Tensor[] = [];
    const iterations: number[] = [];
    for (let t = 0; t < T; t++) {
      const r = layer.step(sliceTime(f64(x, [B, T, D]), t), s);
      iterations.push(layer.lastStepCgIterations);
      outs.push(unsqueeze(r.output, 1));
      s = r.state;
    }
    assert.ok(iterations.every((n) => n >= 1 && n < D), `CG iterations per token ${iterations.join(', ')} (cgSteps 30, headDim ${D})`);
    assertClose(concat(outs, 1).dataSync(), full, 1e-3, 'step with tolerance');
    layer.cgTol = 0;
    layer.step(sliceTime(f64(x, [B, T, D]), 0));
    assert.equal(layer.lastStepCgIterations, 30, 'cgTol 0: every step runs cgSteps');
  }));
  layer.dispose();
});

// ---------------------------------------------------------------------------------------------
// gradients against finite differences

test('MesaLayer gradients (implicit CG backward) match finite differences in f64: every parameter, the input and the initial state', () => {
  const [B, T, D] = [2, 5, 4];
  const rng = new Rng(8);
  const be = getBackend();
  for (const mode of ['chunked', 'sequential'] as const) {
    const layer = layerF64({ dim: D, heads: 2, cgSteps: 4, chunkSize: 2, mode }, 9);
    layer.lambda.backend.write(layer.lambda.buffer, uniform(rng, layer.lambda.size));
    scope(() => {
      const x = f64(uniform(rng, B * T * D, 1.5), [B, T, D], true);
      const s0 = noGrad(() => layer.forward(f64(uniform(rng, B * 3 * D), [B, 3, D])).state.map((t) => f64(Float64Array.from(t.dataSync()), [...t.shape], true)));
      const w = f64(uniform(rng, B * T * D), [B, T, D]);
      const loss = () => {
        const r = layer.forward(x, s0 as unknown as MesaState);
        return r.state.reduce((acc: Tensor, t, i) => sum(mul(t, 0.2 * (i + 1))).add(acc), sum(mul(r.output, w)));
      };
      layer.zeroGrad();
      loss().backward();
      const targets: [string, Tensor][] = [...layer.namedParameters(), ['x', x], ...s0.map((t, i) => [`state ${i}`, t] as [string, Tensor])];
      const eps = 1e-6;
      for (const [name, p] of targets) {
        const analytic = Float64Array.from(p.grad!.dataSync());
        const base = Float64Array.from(p.dataSync());
        for (let k = 0; k < base.length; k++) {
          const at = (v: number) => { const d = base.slice(); d[k] = v; be.write(p.buffer, d); return scope(() => noGrad(() => loss().dataSync()[0])); };
          const numeric = (at(base[k] + eps) - at(base[k] - eps)) / (2 * eps);
          be.write(p.buffer, base);
          const err = Math.abs(analytic[k] - numeric) / Math.max(Math.abs(analytic[k]), Math.abs(numeric), 1e-2);
          assert.ok(err < 1e-6, `${mode} ${name}[${k}]: analytic ${analytic[k]}, numeric ${numeric} (rel err ${err.toExponential(2)})`);
        }
      }
    });
    layer.zeroGrad();
    layer.dispose();
  }
});

test('MesaLayer with 0 CG steps differentiates its start directly (Jacobi and query starts)', () => {
  const [B, T, D] = [1, 4, 4];
  const rng = new Rng(12);
  const be = getBackend();
  for (const cgInit of ['jacobi', 'query'] as const) {
    const layer = layerF64({ dim: D, heads: 2, cgSteps: 0, cgInit, chunkSize: 3 }, 13);
    scope(() => {
      const x = f64(uniform(rng, B * T * D), [B, T, D]);
      const w = f64(uniform(rng, B * T * D), [B, T, D]);
      const loss = () => sum(mul(layer.forward(x).output, w));
      layer.zeroGrad();
      loss().backward();
      // (With the query start Λ is not used at all: no gradient, and none numerically.)
      for (const [name, p] of [['lambda', layer.lambda], ['gamma_proj.bias', layer.gammaProj.bias!]] as const) {
        const analytic = p.grad ? Float64Array.from(p.grad.dataSync()) : new Float64Array(p.size), base = Float64Array.from(p.dataSync());
        for (let k = 0; k < base.length; k++) {
          const at = (v: number) => { const d = base.slice(); d[k] = v; be.write(p.buffer, d); return scope(() => noGrad(() => loss().dataSync()[0])); };
          const numeric = (at(base[k] + 1e-6) - at(base[k] - 1e-6)) / 2e-6;
          be.write(p.buffer, base);
          assertClose([analytic[k]], [numeric], 1e-7, `${cgInit} ${name}[${k}]`);
        }
      }
    });
    layer.zeroGrad();
    layer.dispose();
  }
});

test('MesaLayer forward + backward leave no live buffers behind', () => {
  const layer = layerF64({ dim: 6, heads: 2, cgSteps: 5, chunkSize: 4 });
  const be = getBackend();
  const x = uniform(new Rng(3), 2 * 7 * 6);
  const once = () => scope(() => { sum(layer.forward(f64(x, [2, 7, 6])).output).backward(); });
  once();
  layer.zeroGrad();
  const baseline = be.liveBuffers();
  for (let i = 0; i < 3; i++) { once(); layer.zeroGrad(); }
  assert.equal(be.liveBuffers(), baseline);
  layer.dispose();
});

// ---------------------------------------------------------------------------------------------
// errors, init, registry and the language model

test('MesaLayer: bad options, shapes and states give messages naming the tensor and shape', () => {
  assert.throws(() => new MesaLayer({ dim: 6, heads: 4 }), /heads 4 does not divide dim 6; pass headDim/);
  assert.throws(() => new MesaLayer({ dim: 0, heads: 1 }), /dim 0 and heads 1 must be positive integers/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, cgSteps: -1 }), /cgSteps must be a non-negative integer, got -1/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, cgTol: -1 }), /cgTol must be ≥ 0/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, chunkSize: 0 }), /chunkSize must be a positive integer/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, conv: 1.5 }), /conv must be a non-negative integer/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, lambdaLowerBound: 1 }), /lambdaLowerBound must be in \[0, 1\)/);
  assert.throws(() => new MesaLayer({ dim: 4, heads: 1, cgInit: 'zero' as 'query' }), /cgInit must be 'jacobi' or 'query', got 'zero'/);
  const layer = layerF64({ dim: 4, heads: 2 });
  scope(() => {
    assert.throws(() => layer.forward(f64(new Float64Array(2 * 3 * 5), [2, 3, 5])), /MesaLayer.forward: input tensor \[2, 3, 5\] f64 must be \[B, T, 4\]/);
    assert.throws(() => layer.step(f64(new Float64Array(2 * 3 * 4), [2, 3, 4])), /MesaLayer.step: input tensor \[2, 3, 4\] f64 must be \[B, 4\]/);
    const good = noGrad(() => layer.forward(f64(new Float64Array(2 * 3 * 4).fill(0.5), [2, 3, 4])).state);
    assert.throws(() => layer.forward(f64(new Float64Array(3 * 4), [1, 3, 4]), good), /state G tensor \[2, 2, 2, 2\] f64 must be \[1, 2, 2, 2\]/);
    assert.throws(() => layer.step(f64(new Float64Array(2 * 4), [2, 4]), [good[0], good[1]]), /state has 2 tensors, expected 3 \(\[G, H, conv tail\]\)/);
    assert.throws(() => layer.step(f64(new Float64Array(2 * 4), [2, 4]), [good[0], good[1], good[0]]), /state conv tail tensor \[2, 2, 2, 2\] f64 must be \[2, 3, 12\]/);
    layer.mode = 'parallel' as 'chunked';
    assert.throws(() => layer.forward(f64(new Float64Array(2 * 3 * 4), [2, 3, 4])), /mode must be 'chunked' or 'sequential', got 'parallel'/);
  });
  layer.dispose();
});

test('MesaLayer init: Λ = I, γ near 1 (1 − γ in [0.01, 0.1] across heads), β = ½, parameter names and shapes', () => {
  const layer = new MesaLayer({ dim: 8, heads: 4, rng: new Rng(1), dtype: 'f64' });
  scope(() => assertClose(layer.lambdaDiag().dataSync(), new Float64Array(8).fill(1), 1e-12, 'Λ'));
  const gammas = Array.from(layer.gammaProj.bias!.dataSync(), sigmoid);
  assertClose(gammas.map((g) => 1 - g), [0.1, 10 ** (-4 / 3), 10 ** (-5 / 3), 0.01], 1e-12, '1 − γ');
  assert.deepEqual(Array.from(layer.betaProj.bias!.dataSync()), [0, 0, 0, 0]);
  assert.deepEqual(layer.namedParameters().map(([k, p]) => `${k} [${p.shape.join(', ')}]`), [
    'lambda [4, 2]', 'norm.weight [8]', 'q_proj.weight [8, 8]', 'k_proj.weight [8, 8]', 'v_proj.weight [8, 8]',
    'conv.weight [24, 1, 4]', 'conv.bias [24]', 'beta_proj.weight [4, 8]', 'beta_proj.bias [4]',
    'gamma_proj.weight [4, 8]', 'gamma_proj.bias [4]', 'out_norm.weight [2]', 'out_proj.weight [8, 8]',
  ]);
  layer.dispose();
});

test("registry 'mesa': one head at the residual width; RecurrentLM with cell 'mesa' trains (loss falls) and generates", async () => {
  const cell = createCell('mesa', { dim: 12, expansion: 1.5, scan: 'log', rng: new Rng(1) }) as MesaLayer;
  assert.ok(cell instanceof MesaLayer);
  assert.deepEqual([cell.heads, cell.headDim, cell.cgSteps], [1, 12, 30]);
  cell.dispose();
  const three = createCell('mesa', { dim: 12, expansion: 1, scan: 'log', heads: 3, rng: new Rng(1) }) as MesaLayer;
  assert.deepEqual([three.heads, three.headDim], [3, 4]);
  three.dispose();

  const text = 'abcabdabcabd'.repeat(8);
  const vocab = [...new Set(text)];
  const ids = Int32Array.from(text, (ch) => vocab.indexOf(ch));
  const model = new RecurrentLM({ vocabSize: vocab.length, dim: 16, depth: 1, cell: 'mesa' }, { rng: new Rng(2) });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  const [B, T] = [4, 16];
  const losses: number[] = [];
  for (let step = 0; step < 12; step++) {
    const windows = new Int32Array(B * (T + 1));
    for (let b = 0; b < B; b++) windows.set(ids.subarray((step * 7 + b * 13) % 40, (step * 7 + b * 13) % 40 + T + 1), b * (T + 1));
    const { loss } = await trainStep(model, optimizer, () => model.loss(fromHost(windows, [B, T + 1])).loss, { clip: 1 });
    losses.push(loss);
  }
  assert.ok(losses.every(Number.isFinite));
  assert.ok(losses[losses.length - 1] < 0.7 * losses[0], `loss ${losses[0].toFixed(3)} → ${losses[losses.length - 1].toFixed(3)}`);
  const generated: number[] = [];
  for await (const id of model.generate([0, 1, 2], { maxTokens: 5, temperature: 0 })) generated.push(id);
  assert.equal(generated.length, 5);
  model.dispose();
  optimizer.dispose();
});

test("selective copying runs with cell 'mesa' (integration: a few steps, no buffers left behind)", async () => {
  // Measured (not run here, too slow for the suite): the `cpu` preset's task (T = 64, 4 letters) with
  // 2 × mesa dim 64 reaches 99.8% after 425 steps (minGRU: 99.7% after 1975 steps).
  const before = getBackend().liveBuffers();
  const base = SELECTIVE_COPY_PRESETS.demo;
  const result = await trainSelectiveCopy({
    ...base, task: { seqLength: 12, numTokens: 2 }, model: { ...base.model, dim: 16, depth: 1, cell: 'mesa' },
    batch: 8, steps: 10, evalEvery: 10, evalSize: 16,
  });
  assert.equal(result.steps, 10);
  assert.ok(Number.isFinite(result.evals[0].loss));
  result.model.dispose();
  assert.equal(getBackend().liveBuffers(), before);
});

test('mesaAttention (the operator alone): chunked equals sequential, and shapes are checked by name', () => {
  scope(() => {
    const rng = new Rng(21);
    const [B, h, T, d] = [2, 2, 7, 3];
    const rand = (shape: number[], lo: number, hi: number) =>
      fromHost(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.uniform()), shape, { dtype: 'f64' });
    const unit = (t: Tensor) => { const v = t.dataSync(); for (let i = 0; i < v.length; i += d) { const n = Math.hypot(v[i], v[i + 1], v[i + 2]); for (let j = 0; j < d; j++) v[i + j] /= n; } return fromHost(v, t.shape, { dtype: 'f64' }); };
    const q = unit(rand([B, h, T, d], -1, 1)), k = unit(rand([B, h, T, d], -1, 1)), v = rand([B, h, T, d], -1, 1);
    const beta = rand([B, h, T], 0.1, 0.9), logGamma = rand([B, h, T], -0.2, -0.01), lam = rand([h, d], 0.5, 1.5);
    const chunked = mesaAttention(q, k, v, beta, logGamma, lam, { cgSteps: d, chunkSize: 3 });
    const seq = mesaAttention(q, k, v, beta, logGamma, lam, { cgSteps: d, mode: 'sequential' });
    assertClose(chunked.out.dataSync(), seq.out.dataSync(), 1e-10, 'o');
    assertClose(chunked.H.dataSync(), seq.H.dataSync(), 1e-10, 'H');
    assert.throws(() => mesaAttention(q, k, v, beta, logGamma, rand([h, d + 1], 0.5, 1)), /lambda .*must be \[2, 3\]/);
    assert.throws(() => mesaAttention(q, k, slice(v, 2, 0, 5), beta, logGamma, lam), /v .*must be \[2, 2, 7, 3\]/);
  });
});
