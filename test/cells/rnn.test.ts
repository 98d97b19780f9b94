import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { LSTM } from '../../src/cells/lstm.js';
import { GRU } from '../../src/cells/gru.js';
import { Elman } from '../../src/cells/elman.js';
import { SLSTM } from '../../src/cells/slstm.js';
import { rnn, RNN_CELLS, type RnnCellName } from '../../src/cells/rnn.js';
import { createCell } from '../../src/cells/registry.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { readSafetensors } from '../../src/io/files.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost, rand, randn } from '../../src/tensor/creation.js';
import { concat, exp, mul, reshape, slice, stack, sum } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { checkOp, ref, type Ref } from '../helpers/gradcheck.js';
import { assertClose, assertTensorClose } from '../helpers/assert.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}.safetensors`, import.meta.url));

const asList = (s: Tensor | readonly Tensor[]): readonly Tensor[] => (Array.isArray(s) ? s : [s as Tensor]);

// ---------------------------------------------------------------------------------------------
// PyTorch reference (nn.LSTM(5, 6) / nn.GRU(5, 6), batch_first; f32 tolerance 1e-5 relative to max(1, |ref|))

for (const fused of [true, false]) {
  const path = fused ? 'fused kernel' : 'autograd loop';

  test(`LSTM loads nn.LSTM weights and reproduces its outputs and final h, c (with and without a state; ${path})`, async () => {
    const f = await readSafetensors(fixture('rnn_torch'));
    const [B, , D] = f.x.shape;
    const H = f['lstm.weight_hh_l0'].shape[1];
    const lstm = new LSTM({ inputSize: D, hiddenSize: H, fused });
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

  test(`GRU loads nn.GRU weights and reproduces its outputs and final h (reset-after form, separate b_hn; ${path})`, async () => {
    const f = await readSafetensors(fixture('rnn_torch'));
    const [B, , D] = f.x.shape;
    const H = f['gru.weight_hh_l0'].shape[1];
    const gru = new GRU({ inputSize: D, hiddenSize: H, fused });
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
}

// nn.RNN(5, 6, batch_first=True) in float64, PyTorch 2.11, with the closed-form weights and inputs
// of elmanFixture() below (so no data file is needed): outputs [3, 7, 6], rounded to 12 digits.
const NN_RNN_OUT = [
  -0.187313736772, -0.146710979006, -0.534197405037, 0.062301831753, 0.0829744289909, -0.746368597589,
  0.582336150605, 0.451473118617, -0.079324925684, 0.530948433928, 0.580466549865, -0.409825671647,
  0.346054864347, 0.386622261996, -0.0460051497356, 0.523760149843, 0.487334553481, -0.554705856895,
  -0.403695912773, -0.284703044651, -0.550162402523, 0.119258967392, 0.139847754374, -0.746167974147,
  0.19649777814, 0.0206830455461, -0.393468909086, 0.409367013101, 0.55872085028, -0.426693809257,
  0.499113962285, 0.365285166753, -0.0707745721422, 0.629988899885, 0.712329011244, -0.234187856437,
  -0.321377405182, -0.300828073961, -0.55858900076, 0.221897321486, 0.366669362713, -0.587717717385,
  0.26212388382, 0.124365146589, -0.540283714393, -0.131890959627, -0.085706062841, -0.733502897628,
  0.800558877088, 0.720081067732, 0.0768246616098, 0.400240440822, 0.332637780368, -0.554444075619,
  0.371895333024, 0.519999394142, 0.00429081776373, 0.343358085297, 0.0995718184322, -0.771533804354,
  -0.170719311258, 0.0523319544011, -0.395405493478, 0.0395154529532, -0.157723234516, -0.853820001225,
  0.565042759116, 0.534610016319, -0.00194875711323, 0.460254602121, 0.374635007057, -0.631122455834,
  0.551314507085, 0.64540565275, 0.253029313884, 0.605908958184, 0.427519381385, -0.657537509917,
  -0.3148045078, 0.00753075893802, -0.301312331647, 0.236071835964, 0.0175405053942, -0.837062050956,
  0.334316435798, -0.0472024211233, -0.649282812262, -0.0623643185786, 0.259192497218, -0.456710363934,
  0.752457580888, 0.550766741477, -0.160371836125, 0.396849748916, 0.533210767186, -0.278345952247,
  0.114739435288, 0.0971045787288, -0.429967740787, 0.12790763757, 0.170421460608, -0.653412159942,
  -0.105984618462, -0.195801319642, -0.626521759479, -0.0577504880153, 0.0751236874259, -0.691731227802,
  0.64292876125, 0.456689317881, -0.160086791461, 0.452112848087, 0.550366515731, -0.36482905709,
  0.397786868559, 0.387619858733, -0.115569280926, 0.447286884842, 0.435888491375, -0.546954701008,
  -0.336491526239, -0.252858755048, -0.574003242786, 0.0402744303987, 0.0731814160476, -0.749602682854,
];

/** weight_ih, weight_hh, bias_ih, bias_hh, x [3, 7, 5] and h0 [3, 6] as the PyTorch script set them. */
function elmanFixture(): { dict: Record<string, Tensor>; x: Tensor; h0: Tensor } {
  const [D, H, B, T] = [5, 6, 3, 7];
  const grid = (n: number, m: number, f: (i: number, j: number) => number) => Float64Array.from({ length: n * m }, (_, k) => f(Math.floor(k / m), k % m));
  const f64 = (v: Float64Array, shape: number[]) => fromHost(v, shape, { dtype: 'f64' });
  return {
    dict: {
      weight_ih_l0: f64(grid(H, D, (i, j) => 0.4 * Math.sin(1.3 * (i * D + j) + 0.7)), [H, D]),
      weight_hh_l0: f64(grid(H, H, (i, j) => 0.4 * Math.cos(0.9 * (i * H + j) + 0.2)), [H, H]),
      bias_ih_l0: f64(grid(1, H, (_, i) => 0.3 * Math.sin(2.1 * i)), [H]),
      bias_hh_l0: f64(grid(1, H, (_, i) => 0.3 * Math.cos(1.7 * i + 0.5)), [H]),
    },
    x: f64(grid(B * T, D, (bt, j) => Math.sin(0.37 * (bt * D + j))), [B, T, D]),
    h0: f64(grid(B, H, (b, k) => 0.5 * Math.cos(0.23 * (b * H + k))), [B, H]),
  };
}

for (const fused of [true, false]) {
  test(`Elman loads nn.RNN weights and reproduces its outputs and h_n in f64 and f32 (${fused ? 'fused kernel' : 'autograd loop'})`, () => {
    scope(() => {
      const { dict, x, h0 } = elmanFixture();
      const expected = fromHost(Float64Array.from(NN_RNN_OUT), [3, 7, 6], { dtype: 'f64' });
      for (const dtype of ['f64', 'f32'] as const) {
        const cast = (t: Tensor) => t.cast(dtype);
        const elman = new Elman({ inputSize: 5, hiddenSize: 6, dtype, fused });
        elman.loadStateDict(Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, cast(v)])));
        const r = elman.forward(cast(x), cast(h0));
        const tol = dtype === 'f64' ? 1e-11 : 1e-6;
        assertTensorClose(r.output.cast('f64'), expected, tol, `nn.RNN out (${dtype})`);
        assertTensorClose(r.state.cast('f64'), reshape(slice(expected, 1, 6, 7), [3, 6]), tol, `nn.RNN h_n (${dtype})`);
        elman.dispose();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// parallel forward vs step, chunking

type AnyCell = LSTM | GRU | Elman | SLSTM;
/** Cells whose state is a list ([h, c] or [h, c, n, m]) rather than one tensor. */
const listState = (cell: AnyCell) => cell instanceof LSTM || cell instanceof SLSTM;
const stateCount = (cell: AnyCell) => (cell instanceof LSTM ? 2 : cell instanceof SLSTM ? 4 : 1);
const makers: [string, (rng: Rng) => AnyCell][] = [];
for (const fused of [true, false]) {
  const tag = fused ? '' : ' (loop)';
  makers.push(
    [`lstm${tag}`, (rng) => new LSTM({ inputSize: 5, hiddenSize: 8, rng, fused })],
    [`lstm heads=2${tag}`, (rng) => new LSTM({ inputSize: 5, hiddenSize: 8, heads: 2, rng, fused })],
    [`gru${tag}`, (rng) => new GRU({ inputSize: 5, hiddenSize: 8, rng, fused })],
    [`gru heads=4${tag}`, (rng) => new GRU({ inputSize: 5, hiddenSize: 8, heads: 4, rng, fused })],
    [`elman${tag}`, (rng) => new Elman({ inputSize: 5, hiddenSize: 8, rng, fused })],
    [`elman heads=2${tag}`, (rng) => new Elman({ inputSize: 5, hiddenSize: 8, heads: 2, rng, fused })],
    [`slstm${tag}`, (rng) => new SLSTM({ inputSize: 5, hiddenSize: 8, rng, fused })],
    [`slstm heads=4${tag}`, (rng) => new SLSTM({ inputSize: 5, hiddenSize: 8, heads: 4, rng, fused })],
  );
}

/** A random valid state (sLSTM: n in [1, 2], as the cell itself produces n ≥ 1). */
function initialState(cell: AnyCell, B: number, rng: Rng): Tensor | Tensor[] {
  const s = Array.from({ length: stateCount(cell) }, (_, i) => (cell instanceof SLSTM && i === 2 ? rand([B, 8], { rng, low: 1, high: 2 }) : randn([B, 8], { rng, std: 0.5 })));
  return listState(cell) ? s : s[0];
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
  for (const Cell of [LSTM, GRU, Elman, SLSTM]) {
    const rng = new Rng(5);
    const G = Cell === GRU ? 3 : Cell === Elman ? 1 : 4, H = 6, N = 3, d = 2;
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
    const states = withState ? stateCount(cell) : 0;
    const s0 = Array.from({ length: states }, (_, i) => (cell instanceof SLSTM && i === 2
      ? rand([2, cell.hiddenSize], { rng, dtype: 'f64', low: 1, high: 2 })
      : randn([2, cell.hiddenSize], { rng, dtype: 'f64', std: 0.5 })));
    for (const s of s0) s.requiresGrad = true;
    const st = () => (s0.length === 0 ? null : listState(cell) ? s0 : s0[0]);
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

const gradcheckMakers: [string, (rng: Rng) => AnyCell][] = [];
for (const [cell, Cell] of [['lstm', LSTM], ['gru', GRU], ['elman', Elman], ['slstm', SLSTM]] as const) {
  for (const heads of [1, 2]) {
    gradcheckMakers.push([`${cell}${heads > 1 ? ` heads=${heads}` : ''}`, (rng: Rng) => new Cell({ inputSize: 3, hiddenSize: 4, heads, rng, dtype: 'f64' })]);
  }
}
for (const [name, make] of gradcheckMakers) {
  test(`${name}: f64 gradients of parameters and initial state match central differences`, () => {
    const rng = new Rng(23);
    const cell = make(rng);
    gradcheck(name, cell, rng, true);
    gradcheck(`${name} (no state)`, cell, rng, false);
    cell.dispose();
  });
}

// ---------------------------------------------------------------------------------------------
// rnn() against a plain-JS reference written from docs/models.md#lstm-gru-elman-slstm (scalar loops, FlashRNN layout),
// and its f64 gradients w.r.t. wx, r, b and the initial states (test/helpers/gradcheck.ts)

const sig = (v: number) => 1 / (1 + Math.exp(-v));
const logSig = (v: number) => (v >= 0 ? -Math.log1p(Math.exp(-v)) : v - Math.log1p(Math.exp(v)));

/**
 * Outputs [B, T, N·d] then the final states, flattened. sLSTM as the xLSTM reference
 * (slstm_forward_pointwise), its m_t = ĩ first-step rule taken per unit; with `unstabilised` it
 * runs the plain recurrence c̃ = σ(f̃) c̃ + e^ĩ tanh(z̃), ñ = σ(f̃) ñ + e^ĩ from c̃_0 = c_0 e^{m_0},
 * ñ_0 = n_0 e^{m_0} instead and returns h and the states [h, c̃, ñ, 0].
 */
function rnnRef(cell: RnnCellName, wx: Ref, r: Ref, b: Ref, state: Ref[], unstabilised = false): number[] {
  const [B, T, G, N, d] = wx.shape, H = N * d;
  const st = state.length ? state.map((s) => Array.from(s.data)) : Array.from({ length: RNN_CELLS[cell].states }, () => new Array(B * H).fill(0));
  if (unstabilised) for (let k = 0; k < B * H; k++) { const e = Math.exp(st[3][k]); st[1][k] *= e; st[2][k] *= e; st[3][k] = 0; }
  const out: number[] = new Array(B * T * H);
  for (let t = 0; t < T; t++) {
    for (let bb = 0; bb < B; bb++) {
      const h = st[0].slice(bb * H, (bb + 1) * H);
      const next: number[][] = st.map(() => new Array(H));
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < d; i++) {
          const k = n * d + i, u = bb * H + k;
          const x = (g: number) => wx.data[(((bb * T + t) * G + g) * N + n) * d + i];
          const rh = (g: number) => { let acc = 0; for (let j = 0; j < d; j++) acc += r.data[((g * N + n) * d + i) * d + j] * h[n * d + j]; return acc; };
          const bias = (g: number) => b.data[(g * N + n) * d + i];
          const pre = (g: number) => x(g) + rh(g) + bias(g);
          if (cell === 'lstm') {
            const c = sig(pre(1)) * st[1][u] + sig(pre(0)) * Math.tanh(pre(2));
            next[1][k] = c;
            next[0][k] = sig(pre(3)) * Math.tanh(c);
          } else if (cell === 'gru') {
            const rr = sig(x(0) + bias(0) + rh(0)), z = sig(x(1) + bias(1) + rh(1));
            const cand = Math.tanh(x(2) + bias(2) + rr * (rh(2) + bias(3)));
            next[0][k] = z * h[k] + (1 - z) * cand;
          } else if (cell === 'elman') {
            next[0][k] = Math.tanh(pre(0));
          } else if (unstabilised) {
            const c = sig(pre(1)) * st[1][u] + Math.exp(pre(0)) * Math.tanh(pre(2));
            const nn = sig(pre(1)) * st[2][u] + Math.exp(pre(0));
            [next[0][k], next[1][k], next[2][k], next[3][k]] = [sig(pre(3)) * (c / nn), c, nn, 0];
          } else {
            const a = logSig(pre(1)) + st[3][u];
            const m = st[2][u] === 0 ? pre(0) : Math.max(pre(0), a);
            const ig = Math.exp(pre(0) - m), fg = Math.exp(a - m);
            const c = fg * st[1][u] + ig * Math.tanh(pre(2));
            const nn = fg * st[2][u] + ig;
            [next[0][k], next[1][k], next[2][k], next[3][k]] = [sig(pre(3)) * (c / nn), c, nn, m];
          }
        }
      }
      next.forEach((v, si) => { for (let k = 0; k < H; k++) st[si][bb * H + k] = v[k]; });
      for (let k = 0; k < H; k++) out[(bb * T + t) * H + k] = next[0][k];
    }
  }
  return [...out, ...st.flat()];
}

const flat = (r: { outputs: Tensor; state: Tensor[] }) => concat([r.outputs, ...r.state].map((t) => reshape(t, [-1])), 0);

for (const cell of Object.keys(RNN_CELLS) as RnnCellName[]) {
  const { gates: G, biases: Gb, states: S } = RNN_CELLS[cell];
  for (const heads of [1, 2]) {
    for (const fused of [true, false]) {
      test(`rnn() ${cell}, ${heads} head(s), ${fused ? 'fused kernel' : 'autograd loop'}: forward equals the plain-JS reference; f64 gradients match central differences`, () => {
        const [B, T, d] = [2, 4, 3];
        const H = heads * d;
        const base = [[B, T, G, heads, d], [G, heads, d, d], [Gb, heads, d]];
        checkOp({
          name: `rnn ${cell} heads ${heads}`, shapes: [...base, ...Array.from({ length: S }, () => [B, H])],
          // sLSTM's normaliser state n (input 5) is drawn in [1, 2], as the cell itself keeps it ≥ 1.
          range: (i) => (cell === 'slstm' && i === 5 ? [1, 2] : [-2, 2]),
          fn: (wx, r, b, ...state) => flat(rnn(wx, r, b, { cell, state, fused })),
          reference: (wx, r, b, ...state) => rnnRef(cell, wx, r, b, state),
        });
        checkOp({
          name: `rnn ${cell} heads ${heads} (no state)`, shapes: base, wrt: [0, 1, 2],
          fn: (wx, r, b) => flat(rnn(wx, r, b, { cell, fused })),
          reference: (wx, r, b) => rnnRef(cell, wx, r, b, []),
        });
      });
    }
  }
}

test('slstm: the stabiliser is exact — h equals the unstabilised recurrence in f64 (pre-activations up to ±30), and c, n are its values scaled by e^{−m}', () => {
  const [B, T, N, d] = [2, 24, 2, 3], H = N * d;
  for (const withState of [false, true]) {
    for (const fused of [true, false]) {
      scope(() => {
        const rng = new Rng(withState ? 8 : 9);
        const big = Float64Array.from({ length: B * T * 4 * H }, () => { const v = 2 * rng.uniform() - 1; return 30 * Math.sign(v) + v; });
        const wx = fromHost(big, [B, T, 4, N, d], { dtype: 'f64' });
        const r = randn([4, N, d, d], { rng, dtype: 'f64', std: 1 / Math.sqrt(d) });
        const b = randn([4, N, d], { rng, dtype: 'f64', std: 0.5 });
        const state = withState ? [randn([B, H], { rng, dtype: 'f64' }), randn([B, H], { rng, dtype: 'f64' }), rand([B, H], { rng, dtype: 'f64', low: 1, high: 2 }), randn([B, H], { rng, dtype: 'f64', std: 3 })] : [];
        const toRef = (t: Tensor) => ref(t.dataSync(), t.shape);
        const plain = rnnRef('slstm', toRef(wx), toRef(r), toRef(b), state.map(toRef), true);
        const got = rnn(wx, r, b, { cell: 'slstm', state: withState ? state : null, fused });
        const what = `${withState ? 'given' : 'zero'} state, ${fused ? 'fused' : 'loop'}`;
        assertClose(got.outputs.dataSync(), plain.slice(0, B * T * H), 1e-9, `h (${what})`);
        const scale = exp(mul(got.state[3], 1)).dataSync(); // e^{m_T}
        const cT = got.state[1].dataSync(), nT = got.state[2].dataSync();
        for (let k = 0; k < B * H; k++) {
          const cPlain = plain[B * T * H + B * H + k], nPlain = plain[B * T * H + 2 * B * H + k];
          assert.ok(Math.abs(cT[k] * scale[k] - cPlain) <= 1e-9 * Math.max(Math.abs(cPlain), 1), `c_T e^{m_T} vs c̃_T (${what})`);
          assert.ok(Math.abs(nT[k] * scale[k] - nPlain) <= 1e-9 * Math.max(Math.abs(nPlain), 1), `n_T e^{m_T} vs ñ_T (${what})`);
          assert.ok(nT[k] >= 1, `n_T = ${nT[k]} ≥ 1 (${what})`);
        }
      });
    }
  }
});

test('registry: elman and slstm run at the residual width (heads from the config); a RecurrentLM of sLSTM blocks learns', () => {
  for (const name of ['elman', 'slstm']) {
    for (const heads of [undefined, 3]) {
      const c = createCell(name, { dim: 6, expansion: 1.5, scan: 'log', heads });
      assert.equal((c as SLSTM).heads, heads ?? 1);
      scope(() => assert.deepEqual([...c.forward(randn([1, 2, 6])).output.shape], [1, 2, 6], `${name} runs at the residual width`));
      c.dispose();
    }
  }
  const rng = new Rng(4);
  const lm = new RecurrentLM({ vocabSize: 7, dim: 16, depth: 1, cell: 'slstm' }, { rng });
  const ids = Int32Array.from({ length: 2 * 24 }, (_, i) => (i * 3) % 7); // a periodic sequence
  const losses: number[] = [];
  const params = lm.parameters();
  for (let step = 0; step < 30; step++) {
    scope(() => {
      lm.zeroGrad();
      const { loss } = lm.loss(fromHost(ids, [2, 24]));
      loss.backward();
      losses.push(loss.dataSync()[0]);
      for (const p of params) p.assign(p.sub(p.grad!.mul(0.3)));
    });
  }
  assert.ok(losses.every(Number.isFinite), 'finite losses');
  assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `sLSTM LM learns a periodic sequence: ${losses[0].toFixed(3)} → ${losses[losses.length - 1].toFixed(3)}`);
  lm.dispose();
});

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
