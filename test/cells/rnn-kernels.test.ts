/**
 * The fused recurrence kernels (src/backend/cpu/rnn.ts, rendered from each cell's definition)
 * against the reference, rnn()'s autograd time loop, for every cell: forward outputs and last
 * states, and the gradients w.r.t. wx, r, b and every initial state, in f32 with
 * |fused − loop| ≤ 1e-4 · max(|loop|, 1) elementwise (test/helpers/assert.ts). The f64 gradient
 * checks of both paths against central differences and the plain-JS reference are in
 * rnn.test.ts.
 *
 * Sweep: T ∈ {1, 3, 64} × heads {1, 2, 4} × batch {1, 3, 5} (head size 3), and T = 1024 with
 * heads 1, 2, 4 paired with batch 5, 3, 1 (hidden 8, so the reference loop stays fast).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { rnn, RNN_CELLS, type RnnCellName } from '../../src/cells/rnn.js';
import { defineRnnCell, type RnnCellDef } from '../../src/backend/pointwise/rnn-cell.js';
import * as expr from '../../src/backend/pointwise/expr.js';
import type { Backend } from '../../src/backend/backend.js';
import { getBackend, noGrad } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { rand, randn } from '../../src/tensor/creation.js';
import { add, mul, sign, sum } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from '../helpers/assert.js';

const CELLS = Object.keys(RNN_CELLS) as RnnCellName[];
const TOL = 1e-4;

/** Counts the backend's rnnForward calls made by fn (to know which path ran). */
function countFusedCalls(fn: () => void): number {
  const be = getBackend() as Backend & { rnnForward: NonNullable<Backend['rnnForward']> };
  const original = be.rnnForward;
  let calls = 0;
  be.rnnForward = (...args) => {
    calls++;
    return original.apply(be, args);
  };
  try {
    fn();
  } finally {
    be.rnnForward = original;
  }
  return calls;
}

interface Case { cell: RnnCellName | RnnCellDef; B: number; T: number; N: number; d: number; withState: boolean; wxScale?: number }

/** Inputs of a case: wx ~ N(0, wxScale²), r ~ N(0, 1/d), b ~ N(0, 0.25); sLSTM's n state in [1, 2] (a valid normaliser). */
function makeInputs(c: Case, rng: Rng): Tensor[] {
  const spec = typeof c.cell === 'string' ? RNN_CELLS[c.cell] : c.cell;
  const H = c.N * c.d;
  const wx = randn([c.B, c.T, spec.gates, c.N, c.d], { rng, std: c.wxScale ?? 1 });
  const r = randn([spec.gates, c.N, c.d, c.d], { rng, std: 1 / Math.sqrt(c.d) });
  const b = randn([spec.biases, c.N, c.d], { rng, std: 0.5 });
  const states = c.withState
    ? Array.from({ length: spec.states }, (_, s) => (spec.name === 'slstm' && s === 2 ? rand([c.B, H], { rng, low: 1, high: 2 }) : randn([c.B, H], { rng, std: 0.5 })))
    : [];
  return [wx, r, b, ...states];
}

interface Run { values: Float32Array[]; names: string[] }

/**
 * rnn() on one path: outputs, last states, then the gradients of
 * L = Σ w ⊙ outputs + Σ_s Σ v_s ⊙ state_s (fixed random w, v_s) w.r.t. every input.
 */
function runPath(c: Case, inputs: readonly Tensor[], fused: boolean): Run {
  return scope(() => {
    const xs = inputs.map((t) => {
      const x = t.detach();
      x.requiresGrad = true;
      return x;
    });
    const [wx, r, b, ...state] = xs;
    let out: ReturnType<typeof rnn> | null = null;
    const calls = countFusedCalls(() => { out = rnn(wx, r, b, { cell: c.cell, state: state.length ? state : null, fused }); });
    assert.equal(calls, fused ? 1 : 0, `${fused ? 'fused' : 'loop'} path ran`);
    const { outputs, state: last } = out!;
    const wrng = new Rng(99);
    let loss = sum(mul(outputs, randn(outputs.shape, { rng: wrng })));
    for (const s of last) loss = loss.add(sum(mul(s, randn(s.shape, { rng: wrng }))));
    loss.backward();
    const names = ['outputs', ...last.map((_, i) => `state ${i}`), 'd wx', 'd r', 'd b', ...state.map((_, i) => `d state0 ${i}`)];
    const values = [outputs, ...last, ...xs.map((x) => x.grad!)].map((t) => t.dataSync() as Float32Array);
    return { values, names };
  });
}

function compare(c: Case, seed: number): void {
  const label = `${typeof c.cell === 'string' ? c.cell : c.cell.name} B=${c.B} T=${c.T} N=${c.N} d=${c.d}${c.withState ? ' with state' : ''}`;
  const before = getBackend().liveBuffers();
  scope(() => {
    const inputs = makeInputs(c, new Rng(seed));
    const ref = runPath(c, inputs, false);
    const got = runPath(c, inputs, true);
    got.values.forEach((v, i) => {
      for (const x of v) assert.ok(Number.isFinite(x), `${label}: ${got.names[i]} has a non-finite value`);
      assertClose(v, ref.values[i], TOL, `${label}: fused ${got.names[i]}`);
    });
  });
  assert.equal(getBackend().liveBuffers(), before, `${label}: no buffers leak`);
}

test('every cell definition has the documented gates, bias rows, states and saved values (src/cells/rnn.ts)', () => {
  const documented: Record<RnnCellName, number[]> = { lstm: [4, 4, 2, 4], gru: [3, 4, 1, 4], elman: [1, 1, 1, 0], slstm: [4, 4, 4, 6] };
  for (const cell of CELLS) {
    const { gates, biases, states, saved } = RNN_CELLS[cell];
    assert.deepEqual([gates, biases, states, saved], documented[cell], cell);
  }
});

for (const cell of CELLS) {
  for (const T of [1, 3, 64]) {
    test(`${cell}, T = ${T}: fused kernel = autograd loop (forward, last states, gradients) for heads 1, 2, 4 × batch 1, 3, 5`, () => {
      let seed = 1;
      for (const N of [1, 2, 4]) {
        for (const B of [1, 3, 5]) compare({ cell, B, T, N, d: 3, withState: (N + B + T) % 2 === 0 }, seed++);
      }
    });
  }
  test(`${cell}, T = 1024: fused kernel = autograd loop for (heads, batch) = (1, 5), (2, 3), (4, 1)`, () => {
    compare({ cell, B: 5, T: 1024, N: 1, d: 8, withState: true }, 11);
    compare({ cell, B: 3, T: 1024, N: 2, d: 4, withState: false }, 12);
    compare({ cell, B: 1, T: 1024, N: 4, d: 2, withState: true }, 13);
  });
}

test('slstm: large gate pre-activations (±30) stay finite on both paths and agree', () => {
  // Wx = ±30 with random signs (+ noise): exp(ĩ) alone would reach e^30 per step; the stabiliser
  // keeps i, f ≤ 1 and n ≥ 1. Also with a zero initial state (the m = ĩ first step).
  let seed = 40;
  for (const withState of [true, false]) {
    for (const [B, T, N] of [[3, 64, 2], [5, 257, 1]] as const) {
      const c: Case = { cell: 'slstm', B, T, N, d: 3, withState };
      const before = getBackend().liveBuffers();
      scope(() => {
        const [wx, ...rest] = makeInputs(c, new Rng(seed++));
        const signs = randn(wx.shape, { rng: new Rng(seed++) });
        const big = add(mul(sign(signs), 30), mul(signs, 0.5));
        const inputs = [big, ...rest];
        const ref = runPath(c, inputs, false);
        const got = runPath(c, inputs, true);
        got.values.forEach((v, i) => {
          for (const x of [...v, ...ref.values[i]]) assert.ok(Number.isFinite(x), `±30: ${got.names[i]} has a non-finite value`);
          assertClose(v, ref.values[i], TOL, `±30 ${withState ? 'with state' : 'zero state'} B=${B} T=${T}: fused ${got.names[i]}`);
        });
        // The stabiliser's invariants on the reached states: n ≥ 1 (here n_0 ∈ [1, 2] or 0).
        const n = noGrad(() => rnn(big, rest[0], rest[1], { cell: 'slstm', state: withState ? rest.slice(2) : null }).state[2]);
        for (const x of n.dataSync()) assert.ok(x >= 1 - 1e-6, `n = ${x} < 1`);
      });
      assert.equal(getBackend().liveBuffers(), before, 'no buffers leak');
    }
  }
});

test('fused path: nothing is saved for the backward under noGrad or without gradients, and no buffer outlives the scope', () => {
  const be = getBackend();
  const c: Case = { cell: 'lstm', B: 3, T: 20, N: 2, d: 4, withState: true };
  const live = be.liveBuffers();
  const inputs = makeInputs(c, new Rng(3));
  const bufferCount = (fn: () => unknown) => scope(() => {
    const start = be.liveBuffers();
    fn();
    return be.liveBuffers() - start;
  });
  const [wx, r, b, ...state] = inputs;
  // Without gradients: wx·r·b·state packed (1) + the output (1) + its unpacked outputs and states (3).
  const plain = bufferCount(() => rnn(wx, r, b, { cell: 'lstm', state }));
  const p = r.detach();
  p.requiresGrad = true;
  const inference = bufferCount(() => noGrad(() => rnn(wx, p, b, { cell: 'lstm', state })));
  const training = bufferCount(() => rnn(wx, p, b, { cell: 'lstm', state }));
  assert.equal(inference, plain, 'noGrad allocates what a no-gradient call does');
  assert.equal(training, plain + 1, 'with a gradient to record, one more buffer: what the backward reads');
  assert.equal(be.liveBuffers(), live + inputs.length, 'only the inputs remain (the detached copy shares r\'s buffer)');
  for (const t of [...inputs, p]) t.dispose();
  assert.equal(be.liveBuffers(), live, 'all freed');
});

test('rnn(fused: true) equals fused: false for a 1-step call with every cell\'s states given (the step() path)', () => {
  for (const cell of CELLS) compare({ cell, B: 2, T: 1, N: 2, d: 5, withState: true }, 77);
});

// A cell that exists only in this file: a gated Elman with a forget gate, h' = f·h + (1 − f)·tanh(z),
// f = σ(x_f + R_f h). One definition gives the fused CPU kernel (rendered) and the reference loop.
const toyCell = defineRnnCell({
  name: 'toy_gated',
  gates: 2,
  states: 1,
  forward: ({ x, r, s: [h] }) => {
    const f = expr.sigmoid(expr.add(x[0], r[0])), z = expr.tanh(expr.add(x[1], r[1]));
    return { states: [expr.add(expr.mul(f, h), expr.mul(expr.sub(1, f), z))], saved: [f, z] };
  },
  backward: ({ g: [f, z], s: [h], d: [dh] }) => {
    const df = expr.mul(expr.mul(dh, expr.sub(h, z)), expr.sigmoidSlope(f));
    const dz = expr.mul(expr.mul(dh, expr.sub(1, f)), expr.oneMinusSquare(z));
    return { dx: [df, dz], dp: [expr.mul(dh, f)] };
  },
});

test('a cell defined in a test file runs fused on the CPU and equals the autograd loop (forward, states, gradients)', () => {
  let seed = 500;
  for (const [T, N, B] of [[1, 1, 1], [5, 2, 3], [33, 1, 4]]) {
    compare({ cell: toyCell, B, T, N, d: 3, withState: T % 2 === 1 }, seed++);
  }
});
