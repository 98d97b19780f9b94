import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { LSTM } from '../../src/cells/lstm.js';
import { GRU } from '../../src/cells/gru.js';
import { rnn } from '../../src/cells/rnn.js';
import { readSafetensors } from '../../src/io/files.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost, randn } from '../../src/tensor/creation.js';
import { concat, mul, reshape, slice, stack, sum } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { checkOp, type Ref } from '../helpers/gradcheck.js';
import { assertTensorClose } from '../helpers/assert.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}.safetensors`, import.meta.url));

const asList = (s: Tensor | readonly Tensor[]): readonly Tensor[] => (Array.isArray(s) ? s : [s as Tensor]);

// ---------------------------------------------------------------------------------------------
// PyTorch reference (nn.LSTM(5, 6) / nn.GRU(5, 6), batch_first; f32 tolerance 1e-5 relative to max(1, |ref|))

test('LSTM loads nn.LSTM weights and reproduces its outputs and final h, c (with and without a state)', async () => {
  const f = await readSafetensors(fixture('rnn_torch'));
  const [B, , D] = f.x.shape;
  const H = f['lstm.weight_hh_l0'].shape[1];
  const lstm = new LSTM({ inputSize: D, hiddenSize: H });
  lstm.loadStateDict(Object.fromEntries(['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'].map((k) => [k, f[`lstm.${k}`]])));
  scope(() => {
    const h0 = reshape(f['lstm.h0'], [B, H]), c0 = reshape(f['lstm.c0'], [B, H]);
    const r = lstm.forward(f.x, [h0, c0]);
    assertTensorClose(r.output, f['lstm.out'], 1e-5, 'lstm.out');
    assertTensorClose(r.state[0], reshape(f['lstm.hn'], [B, H]), 1e-5, 'lstm.hn');
    assertTensorClose(r.state[1], reshape(f['lstm.cn'], [B, H]), 1e-5, 'lstm.cn');
    // No state means zeros.
    const zeroState = lstm.forward(f.x, [mul(h0, 0), mul(c0, 0)]);
    assertTensorClose(lstm.forward(f.x).output, zeroState.output, 0, 'no state = zero state');
  });
  lstm.dispose();
});

test('GRU loads nn.GRU weights and reproduces its outputs and final h (reset-after form, separate b_hn)', async () => {
  const f = await readSafetensors(fixture('rnn_torch'));
  const [B, , D] = f.x.shape;
  const H = f['gru.weight_hh_l0'].shape[1];
  const gru = new GRU({ inputSize: D, hiddenSize: H });
  gru.loadStateDict(Object.fromEntries(['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'].map((k) => [k, f[`gru.${k}`]])));
  scope(() => {
    const h0 = reshape(f['gru.h0'], [B, H]);
    const r = gru.forward(f.x, h0);
    assertTensorClose(r.output, f['gru.out'], 1e-5, 'gru.out');
    assertTensorClose(r.state, reshape(f['gru.hn'], [B, H]), 1e-5, 'gru.hn');
    assertTensorClose(gru.forward(f.x).output, gru.forward(f.x, mul(h0, 0)).output, 0, 'no state = zero state');
  });
  gru.dispose();
});

// ---------------------------------------------------------------------------------------------
// parallel forward vs step, chunking

type AnyCell = LSTM | GRU;
const makers: [string, (rng: Rng) => AnyCell][] = [
  ['lstm', (rng) => new LSTM({ inputSize: 5, hiddenSize: 8, rng })],
  ['lstm heads=2', (rng) => new LSTM({ inputSize: 5, hiddenSize: 8, heads: 2, rng })],
  ['gru', (rng) => new GRU({ inputSize: 5, hiddenSize: 8, rng })],
  ['gru heads=4', (rng) => new GRU({ inputSize: 5, hiddenSize: 8, heads: 4, rng })],
];

function initialState(cell: AnyCell, B: number, rng: Rng): Tensor | Tensor[] {
  const h = randn([B, 8], { rng, std: 0.5 });
  return cell instanceof LSTM ? [h, randn([B, 8], { rng })] : h;
}

for (const [name, make] of makers) {
  test(`${name}: forward equals a step loop over T = 64 (with and without a state), chunked forward equals one call`, () => {
    const rng = new Rng(17);
    const cell = make(rng);
    const before = getBackend().liveBuffers();
    scope(() => {
      const x = randn([3, 64, 5], { rng });
      for (const state of [null, initialState(cell, 3, rng)]) {
        const whole = (cell as LSTM).forward(x, state as Tensor[] | null);
        let s: Tensor | readonly Tensor[] | null = state;
        const outs: Tensor[] = [];
        for (let t = 0; t < 64; t++) {
          const r = (cell as LSTM).step(reshape(slice(x, 1, t, t + 1), [3, 5]), s as Tensor[] | null);
          outs.push(r.output);
          s = r.state;
        }
        assertTensorClose(stack(outs, 1), whole.output, 1e-5, 'step outputs');
        asList(s!).forEach((t, i) => assertTensorClose(t, asList(whole.state)[i], 1e-5, `step state ${i}`));

        s = state;
        const pieces: Tensor[] = [];
        for (const [a, b] of [[0, 1], [1, 20], [20, 64]]) {
          const r = (cell as LSTM).forward(slice(x, 1, a, b), s as Tensor[] | null);
          pieces.push(r.output);
          s = r.state;
        }
        assertTensorClose(concat(pieces, 1), whole.output, 1e-5, 'chunked outputs');
        asList(s!).forEach((t, i) => assertTensorClose(t, asList(whole.state)[i], 1e-5, `chunked state ${i}`));
      }
    });
    assert.equal(getBackend().liveBuffers(), before, 'no buffers leak');
    cell.dispose();
  });
}

test('heads: a multi-head cell equals the single-head cell with the block-diagonal weight_hh', () => {
  for (const Cell of [LSTM, GRU]) {
    const rng = new Rng(5);
    const G = Cell === LSTM ? 4 : 3, H = 6, N = 3, d = 2;
    const multi = new Cell({ inputSize: 4, hiddenSize: H, heads: N, rng });
    const single = new Cell({ inputSize: 4, hiddenSize: H, rng });
    scope(() => {
      const blocks = multi.weightHh.dataSync();                  // [G·H, d]
      const full = new Float32Array(G * H * H);                  // [G·H, H], zero off the blocks
      for (let row = 0; row < G * H; row++) {
        const n = Math.floor((row % H) / d);
        for (let j = 0; j < d; j++) full[row * H + n * d + j] = blocks[row * d + j];
      }
      single.loadStateDict({ ...multi.stateDict(), weight_hh_l0: fromHost(full, [G * H, H]) });
      const x = randn([2, 9, 4], { rng });
      assertTensorClose((multi as LSTM).forward(x).output, (single as LSTM).forward(x).output, 1e-6, `${Cell.name} heads ${N} vs block-diagonal`);
    });
    multi.dispose();
    single.dispose();
  }
});

// ---------------------------------------------------------------------------------------------
// gradients in f64 against central differences, w.r.t. every parameter and the input state

function gradcheck(name: string, cell: AnyCell, rng: Rng, withState: boolean): void {
  scope(() => {
    const x = randn([2, 5, cell.inputSize], { rng, dtype: 'f64' });
    const w = randn([2, 5, cell.hiddenSize], { rng, dtype: 'f64' });
    const states = withState ? (cell instanceof LSTM ? 2 : 1) : 0;
    const s0 = Array.from({ length: states }, () => randn([2, cell.hiddenSize], { rng, dtype: 'f64', std: 0.5 }));
    for (const s of s0) s.requiresGrad = true;
    const st = () => (s0.length === 0 ? null : cell instanceof LSTM ? s0 : s0[0]);
    // The loss reads the outputs and the final state, so gradients through both are checked.
    const loss = () => {
      const r = (cell as LSTM).forward(x, st() as Tensor[] | null);
      return asList(r.state).reduce((acc, s) => acc.add(sum(s)), sum(mul(r.output, w)));
    };
    cell.zeroGrad();
    loss().backward();
    const targets: [string, Tensor][] = [...cell.namedParameters(), ...s0.map((s, i) => [`state${i}`, s] as [string, Tensor])];
    for (const [pname, p] of targets) {
      const analytic = p.grad!.dataSync();
      const values = Float64Array.from(p.dataSync());
      const eps = 1e-6;
      for (let i = 0; i < values.length; i += 2) {
        const probe = (delta: number) => {
          const v = Float64Array.from(values);
          v[i] += delta;
          p.assign(fromHost(v, p.shape));
          return loss().dataSync()[0];
        };
        const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
        p.assign(fromHost(values, p.shape));
        const err = Math.abs(numeric - analytic[i]) / Math.max(Math.abs(numeric), Math.abs(analytic[i]), 1e-2);
        assert.ok(err <= 1e-6, `${name} d/d ${pname}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
      }
    }
  });
}

for (const [name, make] of [
  ['lstm', (rng: Rng) => new LSTM({ inputSize: 3, hiddenSize: 4, rng, dtype: 'f64' })],
  ['lstm heads=2', (rng: Rng) => new LSTM({ inputSize: 3, hiddenSize: 4, heads: 2, rng, dtype: 'f64' })],
  ['gru', (rng: Rng) => new GRU({ inputSize: 3, hiddenSize: 4, rng, dtype: 'f64' })],
  ['gru heads=2', (rng: Rng) => new GRU({ inputSize: 3, hiddenSize: 4, heads: 2, rng, dtype: 'f64' })],
] as const) {
  test(`${name}: f64 gradients of parameters and initial state match central differences`, () => {
    const rng = new Rng(23);
    const cell = make(rng);
    gradcheck(name, cell, rng, true);
    gradcheck(`${name} (no state)`, cell, rng, false);
    cell.dispose();
  });
}

// ---------------------------------------------------------------------------------------------
// rnn() against a plain-JS reference written from REFERENCE.md §2 (scalar loops, FlashRNN layout),
// and its f64 gradients w.r.t. wx, r, b and the initial states (test/helpers/gradcheck.ts)

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** Outputs [B, T, N·d] then the final states, flattened. */
function rnnRef(cell: 'lstm' | 'gru', wx: Ref, r: Ref, b: Ref, state: Ref[]): number[] {
  const [B, T, G, N, d] = wx.shape, H = N * d;
  const st = state.length ? state.map((s) => Array.from(s.data)) : Array.from({ length: cell === 'lstm' ? 2 : 1 }, () => new Array(B * H).fill(0));
  const out: number[] = new Array(B * T * H);
  for (let t = 0; t < T; t++) {
    for (let bb = 0; bb < B; bb++) {
      const h = st[0].slice(bb * H, (bb + 1) * H);
      const next: number[][] = st.map(() => new Array(H));
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < d; i++) {
          const k = n * d + i;
          const x = (g: number) => wx.data[(((bb * T + t) * G + g) * N + n) * d + i];
          const rh = (g: number) => { let acc = 0; for (let j = 0; j < d; j++) acc += r.data[((g * N + n) * d + i) * d + j] * h[n * d + j]; return acc; };
          const bias = (g: number) => b.data[(g * N + n) * d + i];
          if (cell === 'lstm') {
            const pre = (g: number) => x(g) + rh(g) + bias(g);
            const c = sig(pre(1)) * st[1][bb * H + k] + sig(pre(0)) * Math.tanh(pre(2));
            next[1][k] = c;
            next[0][k] = sig(pre(3)) * Math.tanh(c);
          } else {
            const rr = sig(x(0) + bias(0) + rh(0)), z = sig(x(1) + bias(1) + rh(1));
            const cand = Math.tanh(x(2) + bias(2) + rr * (rh(2) + bias(3)));
            next[0][k] = z * h[k] + (1 - z) * cand;
          }
        }
      }
      next.forEach((v, si) => { for (let k = 0; k < H; k++) st[si][bb * H + k] = v[k]; });
      for (let k = 0; k < H; k++) out[(bb * T + t) * H + k] = next[0][k];
    }
  }
  return [...out, ...st.flat()];
}

for (const cell of ['lstm', 'gru'] as const) {
  for (const heads of [1, 2]) {
    test(`rnn() ${cell}, ${heads} head(s): forward equals the plain-JS reference; f64 gradients match central differences`, () => {
      const [B, T, d] = [2, 4, 3], G = cell === 'lstm' ? 4 : 3, S = cell === 'lstm' ? 2 : 1;
      const H = heads * d;
      const base = [[B, T, G, heads, d], [G, heads, d, d], [4, heads, d]];
      const flat = (r: { outputs: Tensor; state: Tensor[] }) => concat([r.outputs, ...r.state].map((t) => reshape(t, [-1])), 0);
      checkOp({
        name: `rnn ${cell} heads ${heads}`, shapes: [...base, ...Array.from({ length: S }, () => [B, H])],
        fn: (wx, r, b, ...state) => flat(rnn(wx, r, b, { cell, state })),
        reference: (wx, r, b, ...state) => rnnRef(cell, wx, r, b, state),
      });
      checkOp({
        name: `rnn ${cell} heads ${heads} (no state)`, shapes: base, wrt: [1, 2],
        fn: (wx, r, b) => flat(rnn(wx, r, b, { cell })),
        reference: (wx, r, b) => rnnRef(cell, wx, r, b, []),
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// the functional core and errors

test('rnn(): validates layouts and names the offending tensor', () => {
  scope(() => {
    const wx = randn([2, 3, 4, 2, 3]);
    assert.throws(() => rnn(wx, randn([4, 2, 3, 3]), randn([4, 2, 3]), { cell: 'gru' }), /wx tensor \[2, 3, 4, 2, 3\] f32 must be \[B, T, 3, N, d\] for gru/);
    assert.throws(() => rnn(wx, randn([4, 2, 3, 2]), randn([4, 2, 3]), { cell: 'lstm' }), /r tensor \[4, 2, 3, 2\] f32 must be \[4, 2, 3, 3\]/);
    assert.throws(() => rnn(wx, randn([4, 2, 3, 3]), randn([4, 2, 3]), { cell: 'lstm', state: [randn([2, 6])] }), /lstm takes 2 state tensor\(s\), got 1/);
    assert.throws(() => rnn(wx, randn([4, 2, 3, 3]), randn([4, 2, 3]), { cell: 'lstm', state: [randn([2, 5]), randn([2, 6])] }), /state tensor \[2, 5\] f32 must be \[2, 6\]/);
    const r = rnn(wx, randn([4, 2, 3, 3]), randn([4, 2, 3]), { cell: 'lstm' });
    assert.deepEqual([...r.outputs.shape], [2, 3, 6]);
    assert.equal(r.state.length, 2);
  });
  assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 5, heads: 2 }), /hiddenSize 5 is not divisible by heads 2/);
  const lstm = new LSTM({ inputSize: 3, hiddenSize: 4 });
  scope(() => {
    assert.throws(() => lstm.forward(randn([2, 3, 5])), /LSTM\.forward: input tensor \[2, 3, 5\] f32 must be \[B, T, 3\]/);
    assert.throws(() => lstm.step(randn([2, 3]), [randn([2, 4])]), /LSTM\.step: expected 2 state tensor\(s\), got 1/);
  });
  assert.deepEqual(lstm.namedParameters().map(([k, p]) => `${k} [${p.shape}]`), ['weight_ih_l0 [16,3]', 'weight_hh_l0 [16,4]', 'bias_ih_l0 [16]', 'bias_hh_l0 [16]']);
  lstm.dispose();
});
