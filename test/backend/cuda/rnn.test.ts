/**
 * The CUDA alternating recurrence (CudaBackend.rnnForward / rnnBackward, kernels/rnn.ts) against
 * the CPU fused kernel (src/backend/cpu/rnn.ts) on the very same f32 inputs: outputs, last states
 * and the gradients w.r.t. wx, r, b and state0 for a random dout, for every cell × heads {1, 4} ×
 * T {1, 3, 64, 257} × odd batch, with and without an initial state; sLSTM also with ±30 gate
 * pre-activations (the stabiliser's both branches).
 *
 * Tolerance (f32 on both sides; the CPU kernel does its pointwise math in doubles, the GPU in
 * floats): |gpu − cpu| ≤ 1e-4 · max(|cpu|, 1) elementwise. Skipped without a GPU.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RNN_CELL_LAYOUT, rnnBackward, rnnForward, rnnSavedLength } from '../../../src/backend/cpu/rnn.js';
import type { RnnCellKind, RnnDims } from '../../../src/backend/backend.js';
import { rnn } from '../../../src/cells/rnn.js';
import { randn } from '../../../src/tensor/creation.js';
import { Rng } from '../../../src/tensor/random.js';
import { sum, mul } from '../../../src/tensor/ops.js';
import { scope } from '../../../src/tensor/tensor.js';
import { assertClose } from '../../helpers/assert.js';
import { gpu, skipReason } from './compare.js';

const TOL = 1e-4;
const CELLS: RnnCellKind[] = ['lstm', 'gru', 'elman', 'slstm'];

function normal(rng: Rng, n: number, std: number): Float32Array {
  const a = new Float32Array(n);
  rng.fillNormal(a, 0, std);
  return a;
}

interface Case { cell: RnnCellKind; B: number; T: number; N: number; d: number; withState: boolean; big?: boolean }

function runCase(c: Case, seed: number): void {
  const g = gpu();
  const L = RNN_CELL_LAYOUT[c.cell];
  const dims: RnnDims = { batch: c.B, time: c.T, heads: c.N, headDim: c.d };
  const H = c.N * c.d, G = L.gates, S = L.states;
  const rng = new Rng(seed);
  const wx = normal(rng, c.B * c.T * G * H, 1);
  if (c.big) for (let i = 0; i < wx.length; i++) wx[i] = Math.sign(wx[i]) * 30 + 0.5 * wx[i];
  const r = normal(rng, G * c.N * c.d * c.d, 1 / Math.sqrt(c.d));
  const b = normal(rng, L.biases * H, 0.5);
  let state0: Float32Array | null = null;
  if (c.withState) {
    state0 = normal(rng, S * c.B * H, 0.5);
    if (c.cell === 'slstm') { // n in [1, 2] (a valid normaliser), m anything
      for (let i = 2 * c.B * H; i < 3 * c.B * H; i++) state0[i] = 1 + rng.uniform();
    }
  }
  const outLen = (c.T + S) * c.B * H, savedLen = rnnSavedLength(c.cell, dims);
  assert.equal(g.rnnSavedLength(c.cell, dims), savedLen);
  const dout = normal(rng, outLen, 1);
  // CPU reference
  const out = new Float32Array(outLen), saved = new Float32Array(savedLen);
  rnnForward(c.cell, wx, r, b, state0, out, saved, dims);
  const dwx = new Float32Array(wx.length), dr = new Float32Array(r.length), db = new Float32Array(b.length);
  const ds0 = state0 ? new Float32Array(state0.length) : null;
  rnnBackward(c.cell, r, saved, dout, dwx, dr, db, ds0, dims);
  // GPU
  const live = g.liveBuffers();
  const up = (a: Float32Array) => { const x = g.alloc(a.length, 'f32'); g.write(x, a); return x; };
  const gwx = up(wx), gr = up(r), gb = up(b), gs0 = state0 ? up(state0) : null, gdout = up(dout);
  const gout = g.alloc(outLen, 'f32'), gsaved = g.alloc(savedLen, 'f32');
  const ginf = g.alloc(outLen, 'f32');
  g.rnnForward(c.cell, gwx, gr, gb, gs0, gout, gsaved, dims);
  g.rnnForward(c.cell, gwx, gr, gb, gs0, ginf, null, dims); // inference (ring of 2 slots)
  const gdwx = g.alloc(wx.length, 'f32'), gdr = g.alloc(r.length, 'f32'), gdb = g.alloc(b.length, 'f32');
  const gds0 = state0 ? g.alloc(state0.length, 'f32') : null;
  g.rnnBackward(c.cell, gr, gsaved, gdout, gdwx, gdr, gdb, gds0, dims);
  const label = `${c.cell} B=${c.B} T=${c.T} N=${c.N} d=${c.d}${c.withState ? ' with state' : ''}${c.big ? ' ±30' : ''}`;
  const check = (x: ReturnType<typeof g.alloc>, want: Float32Array, what: string) => {
    const got = g.readSync(x);
    for (let i = 0; i < got.length; i++) assert.ok(Number.isFinite(got[i]), `${label}: ${what}[${i}] = ${got[i]}`);
    assertClose(got, want, TOL, `${label}: ${what}`);
  };
  check(gout, out, 'outputs and last states');
  check(ginf, out, 'inference outputs and last states');
  check(gdwx, dwx, 'd wx');
  check(gdr, dr, 'd r');
  check(gdb, db, 'd b');
  if (gds0) check(gds0, ds0!, 'd state0');
  for (const x of [gwx, gr, gb, gs0, gdout, gout, gsaved, ginf, gdwx, gdr, gdb, gds0]) if (x) g.free(x);
  assert.equal(g.liveBuffers(), live, `${label}: no buffers leak`);
}

describe('CUDA alternating recurrence = CPU fused kernel', { skip: skipReason }, () => {
  let seed = 1;
  for (const cell of CELLS) {
    test(`${cell}: heads 1, 4 × T 1, 3, 64, 257 × batch 3, 5 (forward, states, dwx, dr, db, dstate0)`, () => {
      for (const N of [1, 4]) {
        for (const T of [1, 3, 64, 257]) {
          for (const B of [3, 5]) {
            const d = N === 1 ? 24 : 8;
            runCase({ cell, B, T, N, d, withState: (T + B) % 2 === 0 || T === 1 }, seed++);
          }
        }
      }
    });
  }

  test('slstm with ±30 gate pre-activations (both stabiliser branches), with and without a state', () => {
    runCase({ cell: 'slstm', B: 3, T: 64, N: 4, d: 8, withState: true, big: true }, 100);
    runCase({ cell: 'slstm', B: 5, T: 257, N: 1, d: 16, withState: false, big: true }, 101);
  });

  test('rnn() on CUDA tensors runs the fused GPU path and matches the CPU (LSTM, 2 heads)', () => {
    const g = gpu();
    const res = (['cpu', 'cuda'] as const).map((be) => scope(() => {
      const rng = new Rng(7);
      const wx = randn([3, 20, 4, 2, 6], { rng, backend: be });
      const r = randn([4, 2, 6, 6], { rng, backend: be, std: 0.4 });
      const b = randn([4, 2, 6], { rng, backend: be, std: 0.5 });
      for (const t of [wx, r, b]) t.requiresGrad = true;
      const { outputs } = rnn(wx, r, b, { cell: 'lstm' });
      sum(mul(outputs, outputs)).backward();
      return [outputs, wx.grad!, r.grad!, b.grad!].map((t) => Float32Array.from(t.dataSync()));
    }));
    res[0].forEach((want, i) => assertClose(res[1][i], want, TOL, `rnn() tensor ${i}`));
    assert.ok(g.liveBuffers() >= 0);
  });
});
