/**
 * AdamW and SGD against a hand-written f64 reference of PyTorch's update rules (3 steps, two
 * parameter groups, weight decay; |ours − reference| ≤ 1e-6 on f32 parameters), training a tiny
 * model, lr setting, state round-trip (bit-exact resume) and no buffer leak over 100 steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost, randn } from '../../src/tensor/creation.js';
import { mean, square, sub } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { FeedForward } from '../../src/nn/layers.js';
import { Adam, AdamW } from '../../src/optim/adamw.js';
import { SGD } from '../../src/optim/sgd.js';
import { clipGradNorm } from '../../src/optim/clip.js';
import type { Optimizer, OptimizerState } from '../../src/optim/optimizer.js';

const TOL = 1e-6;

/** f32-exact values from a seed (so the reference starts from exactly what the tensors hold). */
function f32Values(n: number, rng: Rng, scale = 1): Float64Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * (2 * rng.uniform() - 1);
  return Float64Array.from(v);
}

interface Case {
  shapes: number[][];
  /** group of each parameter */
  group: number[];
}

const CASE: Case = { shapes: [[2, 3], [4], [3]], group: [0, 0, 1] };

/** Runs `steps` updates with fixed per-step gradients; returns final params as f64 arrays. */
function runOurs(make: (params: Tensor[]) => Optimizer, steps: number, withoutGrad: number | null = null): { params: Float64Array[]; init: Float64Array[]; grads: Float64Array[][] } {
  const rng = new Rng(7);
  const init = CASE.shapes.map((s) => f32Values(s.reduce((a, b) => a * b, 1), rng));
  const grads = Array.from({ length: steps }, () => CASE.shapes.map((s) => f32Values(s.reduce((a, b) => a * b, 1), rng, 0.5)));
  const params = init.map((v, i) => fromHost(Float32Array.from(v), CASE.shapes[i], { requiresGrad: true }).keep());
  const opt = make(params);
  for (let t = 0; t < steps; t++) {
    opt.zeroGrad();
    params.forEach((p, i) => { if (i !== withoutGrad) p.grad = fromHost(Float32Array.from(grads[t][i]), p.shape).keep(); });
    opt.step();
  }
  const out = params.map((p) => Float64Array.from(p.dataSync()));
  opt.zeroGrad();
  opt.dispose();
  for (const p of params) p.dispose();
  return { params: out, init, grads };
}

function assertNear(actual: Float64Array[], expected: Float64Array[], what: string): void {
  actual.forEach((a, i) => a.forEach((v, j) => {
    assert.ok(Math.abs(v - expected[i][j]) <= TOL, `${what}: param ${i}[${j}] = ${v}, reference ${expected[i][j]}`);
  }));
}

test('AdamW matches PyTorch’s update rule: 3 steps, two groups, decoupled weight decay', () => {
  const live = getBackend().liveBuffers();
  const hyper = { lr: 0.01, b1: 0.8, b2: 0.95, eps: 1e-6 };
  const groupLr = [0.01, 0.03], groupWd = [0.1, 0];
  const ours = runOurs((ps) => new AdamW([
    { params: [ps[0], ps[1]] },
    { params: [ps[2]], lr: 0.03, weightDecay: 0 },
  ], { lr: hyper.lr, betas: [hyper.b1, hyper.b2], eps: hyper.eps, weightDecay: 0.1 }), 3, 1);

  // torch.optim.AdamW (single-tensor path), written out in f64
  const ref = ours.init.map((p, i) => {
    const x = Float64Array.from(p), m = new Float64Array(p.length), v = new Float64Array(p.length);
    const lr = groupLr[CASE.group[i]], wd = groupWd[CASE.group[i]];
    if (i === 1) return x; // no gradient: untouched
    for (let t = 1; t <= 3; t++) {
      const g = ours.grads[t - 1][i];
      const bc1 = 1 - hyper.b1 ** t, bc2 = 1 - hyper.b2 ** t;
      for (let j = 0; j < x.length; j++) {
        x[j] *= 1 - lr * wd;
        m[j] = hyper.b1 * m[j] + (1 - hyper.b1) * g[j];
        v[j] = hyper.b2 * v[j] + (1 - hyper.b2) * g[j] * g[j];
        const denom = Math.sqrt(v[j]) / Math.sqrt(bc2) + hyper.eps;
        x[j] -= (lr / bc1) * (m[j] / denom);
      }
    }
    return x;
  });
  assertNear(ours.params, ref, 'AdamW');
  assert.deepEqual(Array.from(ours.params[1]), Array.from(ours.init[1]));
  assert.equal(getBackend().liveBuffers(), live);
});

test('Adam is AdamW without weight decay', () => {
  const a = runOurs((ps) => new Adam(ps, { lr: 0.01 }), 3).params;
  const b = runOurs((ps) => new AdamW(ps, { lr: 0.01, weightDecay: 0 }), 3).params;
  assert.deepEqual(a.map((x) => Array.from(x)), b.map((x) => Array.from(x)));
  assert.throws(() => new Adam([{ params: [], weightDecay: 0.1 }]), /use AdamW/);
});

for (const nesterov of [false, true]) {
  test(`SGD matches PyTorch’s update rule: momentum, weight decay, two groups${nesterov ? ', nesterov' : ''}`, () => {
    const mu = 0.9, groupLr = [0.1, 0.05], groupWd = [0.01, 0.2];
    const ours = runOurs((ps) => new SGD([
      { params: [ps[0], ps[1]] },
      { params: [ps[2]], lr: 0.05, weightDecay: 0.2 },
    ], { lr: 0.1, momentum: mu, weightDecay: 0.01, nesterov }), 3);
    const ref = ours.init.map((p, i) => {
      const x = Float64Array.from(p);
      let buf: Float64Array | null = null;
      const lr = groupLr[CASE.group[i]], wd = groupWd[CASE.group[i]];
      for (let t = 0; t < 3; t++) {
        const d = ours.grads[t][i].map((g, j) => g + wd * x[j]);
        buf = buf ? buf.map((b, j) => mu * b + d[j]) : Float64Array.from(d);
        const step = nesterov ? d.map((dj, j) => dj + mu * buf![j]) : buf;
        for (let j = 0; j < x.length; j++) x[j] -= lr * step[j];
      }
      return x;
    });
    assertNear(ours.params, ref, 'SGD');
  });
}

test('plain SGD: p − lr·g exactly as f32 arithmetic', () => {
  const ours = runOurs((ps) => new SGD(ps, { lr: 0.5 }), 1);
  const want = ours.init.map((p, i) => p.map((v, j) => Math.fround(v - Math.fround(0.5 * ours.grads[0][i][j]))));
  assert.deepEqual(ours.params.map((x) => Array.from(x)), want.map((x) => Array.from(x)));
});

test('lr setter drives every group and keeps their ratios', () => {
  const p = [fromHost(Float32Array.of(1), [1]).keep(), fromHost(Float32Array.of(1), [1]).keep()];
  const opt = new AdamW([{ params: [p[0]] }, { params: [p[1]], lr: 0.004 }], { lr: 0.002 });
  assert.equal(opt.groupLr(1), 0.004);
  opt.lr = 0.001;
  assert.equal(opt.lr, 0.001);
  assert.equal(opt.groupLr(0), 0.001);
  assert.equal(opt.groupLr(1), 0.002);
  assert.throws(() => { opt.lr = -1; }, /lr must be ≥ 0/);
  assert.throws(() => new SGD([p[0], p[0]], { lr: 1 }), /appears twice/);
  for (const t of p) t.dispose();
});

// ------------------------------------------------------------------------------------------------
// a tiny model: regression of a fixed random target

function tinyProblem(seed: number) {
  const model = new FeedForward({ dim: 4, mult: 2, rng: new Rng(seed) });
  const x = randn([16, 4], { rng: new Rng(100) }).keep();
  const target = randn([16, 4], { rng: new Rng(101) }).keep();
  const loss = () => mean(square(sub(model.forward(x), target)));
  const dispose = () => { model.dispose(); x.dispose(); target.dispose(); };
  return { model, loss, dispose };
}

/** zeroGrad → loss → backward → (clip) → step, in a scope; returns the loss value. */
function trainStep(model: FeedForward, opt: Optimizer, loss: () => Tensor, clip = 0): number {
  return scope(() => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    if (clip) clipGradNorm(model.parameters(), clip);
    opt.step();
    return l.dataSync()[0];
  });
}

for (const [name, make] of [
  ['AdamW', (ps: Tensor[]) => new AdamW(ps, { lr: 0.02 })],
  ['SGD', (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 })],
] as const) {
  test(`${name} trains a tiny model: the loss falls`, () => {
    const live = getBackend().liveBuffers();
    const { model, loss, dispose } = tinyProblem(1);
    const opt = make(model.parameters());
    const losses = Array.from({ length: 40 }, () => trainStep(model, opt, loss));
    assert.ok(losses[39] < 0.5 * losses[0], `${name}: loss ${losses[0]} → ${losses[39]}`);
    assert.ok(losses[10] < losses[0] && losses[39] < losses[10], `${name}: ${losses.join(', ')}`);
    opt.zeroGrad();
    opt.dispose();
    dispose();
    assert.equal(getBackend().liveBuffers(), live);
  });
}

// ------------------------------------------------------------------------------------------------
// resuming from a state dict reproduces the next step exactly

for (const [name, make] of [
  ['AdamW', (ps: Tensor[]) => new AdamW([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.01, weightDecay: 0 }], { lr: 0.02, weightDecay: 0.05 })],
  ['SGD', (ps: Tensor[]) => new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.01 }], { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
] as const) {
  test(`${name} stateDict round-trip: a resumed run takes bit-identical steps`, () => {
    const live = getBackend().liveBuffers();
    const a = tinyProblem(1);
    const optA = make(a.model.parameters());
    for (let i = 0; i < 3; i++) trainStep(a.model, optA, a.loss);
    optA.lr = 0.7 * optA.lr; // a schedule moved it: restored too

    // checkpoint: model weights + optimizer state, its meta through JSON
    const modelState = a.model.stateDict();
    const optState = (optA as AdamW & SGD).stateDict();
    const saved: OptimizerState = { meta: JSON.parse(JSON.stringify(optState.meta)), tensors: optState.tensors };
    for (const t of [...Object.values(modelState), ...Object.values(saved.tensors)]) t.keep();

    const b = tinyProblem(2);
    const optB = make(b.model.parameters());
    b.model.loadStateDict(modelState);
    (optB as AdamW & SGD).loadStateDict(saved);
    assert.equal(optB.lr, optA.lr);
    for (let i = 0; i < 2; i++) {
      const la = trainStep(a.model, optA, a.loss), lb = trainStep(b.model, optB, b.loss);
      assert.equal(lb, la);
    }
    const pa = a.model.parameters(), pb = b.model.parameters();
    pa.forEach((p, i) => assert.deepEqual(Array.from(pb[i].dataSync()), Array.from(p.dataSync()), p.name));

    // a state for the wrong optimizer or model is refused with the reasons
    const other = new AdamW(pa.slice(1));
    assert.throws(() => other.loadStateDict(saved), /AdamW.loadStateDict: .*(the state is for SGD|4 parameters saved, 3 here)/);
    other.dispose();

    for (const t of [...Object.values(modelState), ...Object.values(saved.tensors)]) t.dispose();
    for (const [o, p] of [[optA, a], [optB, b]] as const) { o.zeroGrad(); o.dispose(); p.dispose(); }
    assert.equal(getBackend().liveBuffers(), live);
  });
}

test('no buffer leak over 100 optimizer steps (AdamW + clipping, SGD with momentum)', () => {
  for (const make of [(ps: Tensor[]) => new AdamW(ps), (ps: Tensor[]) => new SGD(ps, { lr: 0.01, momentum: 0.9 })]) {
    const { model, loss, dispose } = tinyProblem(3);
    const opt = make(model.parameters());
    trainStep(model, opt, loss, 1.0); // the first step allocates the optimizer state and the grads
    const live = getBackend().liveBuffers();
    for (let i = 0; i < 100; i++) trainStep(model, opt, loss, 1.0);
    assert.equal(getBackend().liveBuffers(), live, `${opt.constructor.name}: live buffers grew over 100 steps`);
    opt.zeroGrad();
    opt.dispose();
    dispose();
  }
});
