import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { MSMR, SMR, msmr, smr } from '../../src/cells/smr.js';
import { createCell } from '../../src/cells/registry.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { randn } from '../../src/tensor/creation.js';
import { concat, reshape, slice, stack } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { checkOp, type Ref } from '../helpers/gradcheck.js';
import { assertTensorClose } from '../helpers/assert.js';

// ---------------------------------------------------------------------------------------------
// Plain-JS references, written from docs/models.md#smr-msmr with scalar loops (no tensor ops).
// Each returns the outputs [B, T, U] followed by the final states, flattened, as the fns below.

function smrRef(i: Ref, S: Ref, s0: Ref | null): number[] {
  const [B, T, U] = i.shape;
  const out: number[] = new Array(B * T * U);
  const s = s0 ? Array.from(s0.data) : new Array(B * U).fill(0);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const o: number[] = [];
      for (let u = 0; u < U; u++) {
        let ss = 0;
        for (let j = 0; j < U; j++) ss += S.data[u * U + j] * s[b * U + j];
        o.push(i.data[(b * T + t) * U + u] * (ss + 0.1));
      }
      for (let u = 0; u < U; u++) { s[b * U + u] = o[u]; out[(b * T + t) * U + u] = o[u]; }
    }
  }
  return [...out, ...s];
}

function msmrRef(i: Ref, K: Ref, Dm: Ref, s0: Ref | null, m0: Ref | null): number[] {
  const [B, T, U] = i.shape, C = K.shape[0];
  const out: number[] = new Array(B * T * U);
  const s = s0 ? Array.from(s0.data) : new Array(B * U).fill(0);
  const m = m0 ? Array.from(m0.data) : new Array(B * C * U).fill(0);
  const dense = (W: Ref, v: number[], rows: number): number[] =>
    Array.from({ length: rows }, (_, r) => v.reduce((acc, x, j) => acc + W.data[r * v.length + j] * x, 0));
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const it = Array.from({ length: U }, (_, u) => i.data[(b * T + t) * U + u]);
      const logits = dense(K, it.map((x, u) => x * s[b * U + u]), C);
      const mx = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - mx));
      const k = e.map((x) => x / e.reduce((p, q) => p + q, 0));
      const d = Array.from({ length: U }, (_, u) => k.reduce((acc, kc, c) => acc + kc * m[(b * C + c) * U + u], 0));
      const dm = dense(Dm, d, U);
      const o = it.map((x, u) => x * (dm[u] + 0.1));
      const kappa = dense(K, o, C).map(Math.tanh);
      for (let c = 0; c < C; c++) {
        for (let u = 0; u < U; u++) {
          const idx = (b * C + c) * U + u;
          m[idx] = Math.tanh(m[idx] * kappa[c] + o[u] * (1 - kappa[c]));
        }
      }
      for (let u = 0; u < U; u++) { s[b * U + u] = o[u]; out[(b * T + t) * U + u] = o[u]; }
    }
  }
  return [...out, ...s, ...m];
}

const flat = (ts: Tensor[]) => concat(ts.map((t) => reshape(t, [-1])), 0);

test('smr(): forward equals the plain-JS reference and f64 gradients (inputs, S, s0) match central differences', () => {
  const [B, T, U] = [2, 6, 4];
  checkOp({
    name: 'smr with state', shapes: [[B, T, U], [U, U], [B, U]], range: [-1.5, 1.5],
    fn: (i, S, s0) => { const r = smr(i, S, s0); return flat([r.outputs, r.state]); },
    reference: (i, S, s0) => smrRef(i, S, s0),
  });
  checkOp({
    name: 'smr without state', shapes: [[B, T, U], [U, U]], range: [-1.5, 1.5],
    fn: (i, S) => { const r = smr(i, S); return flat([r.outputs, r.state]); },
    reference: (i, S) => smrRef(i, S, null),
  });
});

test('msmr(): forward equals the plain-JS reference and f64 gradients (inputs, K, Dm, s0, m0) match central differences', () => {
  const [B, T, U, C] = [2, 5, 4, 3];
  checkOp({
    name: 'msmr with state', shapes: [[B, T, U], [C, U], [U, U], [B, U], [B, C, U]], range: [-1.5, 1.5],
    fn: (i, K, Dm, s0, m0) => { const r = msmr(i, K, Dm, [s0, m0]); return flat([r.outputs, ...r.state]); },
    reference: (i, K, Dm, s0, m0) => msmrRef(i, K, Dm, s0, m0),
  });
  checkOp({
    name: 'msmr without state', shapes: [[B, T, U], [C, U], [U, U]], range: [-1.5, 1.5],
    fn: (i, K, Dm) => { const r = msmr(i, K, Dm); return flat([r.outputs, ...r.state]); },
    reference: (i, K, Dm) => msmrRef(i, K, Dm, null, null),
  });
});

// ---------------------------------------------------------------------------------------------
// the modules: forward vs step, chunking, state shapes

const asList = (s: Tensor | readonly Tensor[]): readonly Tensor[] => (Array.isArray(s) ? s : [s as Tensor]);
type Cell = SMR | MSMR;

for (const [name, make, state] of [
  ['SMR', (rng: Rng) => new SMR({ inputSize: 5, units: 8, rng }), (rng: Rng) => randn([3, 8], { rng, std: 0.5 })],
  ['MSMR', (rng: Rng) => new MSMR({ inputSize: 5, units: 8, rng }), (rng: Rng) => [randn([3, 8], { rng, std: 0.5 }), randn([3, 3, 8], { rng, std: 0.5 })]],
] as const) {
  test(`${name}: forward equals a step loop over T = 64 (with and without a state), chunked forward equals one call`, () => {
    const rng = new Rng(29);
    const cell: Cell = make(rng);
    const before = getBackend().liveBuffers();
    scope(() => {
      const x = randn([3, 64, 5], { rng });
      for (const s0 of [null, state(rng)]) {
        // The casts pick one of the two cells' signatures; both take their own state kind.
        const fwd = (xs: Tensor, s: unknown) => (cell as SMR).forward(xs, s as Tensor | null);
        const stp = (xs: Tensor, s: unknown) => (cell as SMR).step(xs, s as Tensor | null);
        const whole = fwd(x, s0);
        assert.deepEqual([...whole.output.shape], [3, 64, 8]);
        let s: unknown = s0;
        const outs: Tensor[] = [];
        for (let t = 0; t < 64; t++) {
          const r = stp(reshape(slice(x, 1, t, t + 1), [3, 5]), s);
          outs.push(r.output);
          s = r.state;
        }
        assertTensorClose(stack(outs, 1), whole.output, 1e-5, 'step outputs');
        asList(s as Tensor).forEach((t, i) => assertTensorClose(t, asList(whole.state)[i], 1e-5, `step state ${i}`));
        s = s0;
        const pieces: Tensor[] = [];
        for (const [a, b] of [[0, 1], [1, 33], [33, 64]]) {
          const r = fwd(slice(x, 1, a, b), s);
          pieces.push(r.output);
          s = r.state;
        }
        assertTensorClose(concat(pieces, 1), whole.output, 1e-5, 'chunked outputs');
        asList(s as Tensor).forEach((t, i) => assertTensorClose(t, asList(whole.state)[i], 1e-5, `chunked state ${i}`));
        // The output stays bounded over 64 steps at the documented init (no blow-up, no collapse).
        const o = Array.from(whole.output.dataSync());
        const rms = Math.sqrt(o.reduce((acc, v) => acc + v * v, 0) / o.length);
        assert.ok(rms > 1e-3 && rms < 10, `${name}: output rms ${rms} at init`);
      }
    });
    assert.equal(getBackend().liveBuffers(), before, 'no buffers leak');
    cell.dispose();
  });
}

test('SMR / MSMR: parameter names and shapes, state shapes, registry entries, errors', () => {
  const s = new SMR({ inputSize: 5, units: 8 });
  const m = new MSMR({ inputSize: 5, units: 8, cells: 2 });
  assert.deepEqual(s.namedParameters().map(([k, p]) => `${k} [${p.shape}]`), ['weight_s [8,8]', 'in_proj.weight [8,5]']);
  assert.deepEqual(m.namedParameters().map(([k, p]) => `${k} [${p.shape}]`), ['in_proj.weight [8,5]', 'key.weight [2,8]', 'mem_out.weight [8,8]']);
  scope(() => {
    const x = randn([2, 3, 5]);
    assert.deepEqual([...(s.forward(x).state as Tensor).shape], [2, 8]);
    assert.deepEqual(m.forward(x).state.map((t) => [...t.shape]), [[2, 8], [2, 2, 8]]);
    assert.throws(() => s.forward(randn([2, 3, 4])), /SMR\.forward: input tensor \[2, 3, 4\] f32 must be \[B, T, 5\]/);
    assert.throws(() => s.step(randn([2, 5]), randn([3, 8])), /SMR\.step: state tensor \[3, 8\] f32 must be \[2, 8\]/);
    assert.throws(() => m.forward(x, [randn([2, 8]), randn([2, 3, 8])]), /MSMR\.forward: state tensor \[2, 3, 8\] f32 must be \[2, 2, 8\]/);
    assert.throws(() => m.step(randn([2, 5]), [randn([2, 8])]), /MSMR\.step: state must be \[s, m\], got 1/);
  });
  for (const name of ['smr', 'msmr', 'lstm', 'gru']) {
    const c = createCell(name, { dim: 6, expansion: 1.5, scan: 'log' });
    scope(() => assert.deepEqual([...c.forward(randn([1, 2, 6])).output.shape], [1, 2, 6], `${name} runs at the residual width`));
    c.dispose();
  }
  assert.throws(() => new MSMR({ inputSize: 5, units: 8, cells: 0 }), /cells must be a positive integer/);
  s.dispose();
  m.dispose();
});
