/**
 * The fused recurrences the WebGPU backend renders from cell definitions, against the CPU
 * backend's kernels on the very same inputs: rnnForward / rnnBackward (LSTM, GRU, Elman, sLSTM:
 * outputs and last states, training and inference forward, the gradients w.r.t. wx, r, b and
 * state0 for a random dout, with and without an initial state, sLSTM also with ±30 gate
 * pre-activations), and cellScan / cellScanGrad (minGRU, minLSTM) through the op against the CPU
 * in f64, with and without h0.
 *
 * Tolerances: rnn |dev − cpu| ≤ 1e-4·max(|cpu|, 1) elementwise (the CUDA tests' figure: f32 on
 * both sides, the CPU's pointwise math in doubles); cellScan compare.ts's f32 tolerance.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { rnnBackward, rnnForward, rnnSavedLength } from '../../../src/backend/cpu/rnn.js';
import type { BackendBuffer, RnnDims } from '../../../src/backend/backend.js';
import { minGruDefinition, minLstmDefinition } from '../../../src/cells/definitions/index.js';
import { cellScan, hasFusedCellScan } from '../../../src/cells/linear-scan.js';
import { RNN_CELLS, type RnnCellName } from '../../../src/cells/rnn.js';
import { Rng } from '../../../src/tensor/random.js';
import { assertClose } from '../../helpers/assert.js';
import { compareOp, gpu, skipReason } from './compare.js';

const TOL = 1e-4;

function normal(rng: Rng, n: number, std: number): Float32Array {
  const a = new Float32Array(n);
  rng.fillNormal(a, 0, std);
  return a;
}

interface Case { cell: RnnCellName; B: number; T: number; N: number; d: number; withState: boolean; big?: boolean }

async function runCase(c: Case, seed: number): Promise<void> {
  const g = gpu();
  const def = RNN_CELLS[c.cell];
  const dims: RnnDims = { batch: c.B, time: c.T, heads: c.N, headDim: c.d };
  const H = c.N * c.d, G = def.gates, S = def.states;
  const rng = new Rng(seed);
  const wx = normal(rng, c.B * c.T * G * H, 1);
  if (c.big) for (let i = 0; i < wx.length; i++) wx[i] = Math.sign(wx[i]) * 30 + 0.5 * wx[i];
  const r = normal(rng, G * c.N * c.d * c.d, 1 / Math.sqrt(c.d));
  const b = normal(rng, def.biases * H, 0.5);
  let state0: Float32Array | null = null;
  if (c.withState) {
    state0 = normal(rng, S * c.B * H, 0.5);
    if (c.cell === 'slstm') for (let i = 2 * c.B * H; i < 3 * c.B * H; i++) state0[i] = 1 + rng.uniform(); // a valid normaliser n
  }
  const outLen = (c.T + S) * c.B * H, savedLen = rnnSavedLength(def, dims);
  assert.equal(g.rnnSavedLength(def, dims), savedLen);
  const dout = normal(rng, outLen, 1);
  const out = new Float32Array(outLen), saved = new Float32Array(savedLen);
  rnnForward(def, wx, r, b, state0, out, saved, dims);
  const dwx = new Float32Array(wx.length), dr = new Float32Array(r.length), db = new Float32Array(b.length);
  const ds0 = state0 ? new Float32Array(state0.length) : null;
  rnnBackward(def, r, saved, dout, dwx, dr, db, ds0, dims);

  const live = g.liveBuffers();
  const up = (a: Float32Array) => { const x = g.alloc(a.length, 'f32'); g.write(x, a); return x; };
  const gwx = up(wx), gr = up(r), gb = up(b), gs0 = state0 ? up(state0) : null, gdout = up(dout);
  const gout = g.alloc(outLen, 'f32'), gsaved = g.alloc(savedLen, 'f32'), ginf = g.alloc(outLen, 'f32');
  g.rnnForward(def, gwx, gr, gb, gs0, gout, gsaved, dims);
  g.rnnForward(def, gwx, gr, gb, gs0, ginf, null, dims);
  const gdwx = g.alloc(wx.length, 'f32'), gdr = g.alloc(r.length, 'f32'), gdb = g.alloc(b.length, 'f32');
  const gds0 = state0 ? g.alloc(state0.length, 'f32') : null;
  g.rnnBackward(def, gr, gsaved, gdout, gdwx, gdr, gdb, gds0, dims);
  const label = `${c.cell} B=${c.B} T=${c.T} N=${c.N} d=${c.d}${c.withState ? ' with state' : ''}${c.big ? ' ±30' : ''}`;
  const check = async (x: BackendBuffer, want: Float32Array, what: string) => {
    const got = await g.read(x);
    for (let i = 0; i < got.length; i++) assert.ok(Number.isFinite(got[i]), `${label}: ${what}[${i}] = ${got[i]}`);
    assertClose(got, want, TOL, `${label}: ${what}`);
  };
  await check(gout, out, 'outputs and last states');
  await check(ginf, out, 'inference outputs and last states');
  await check(gsaved, saved, 'saved (the layout every backend shares)');
  await check(gdwx, dwx, 'd wx');
  await check(gdr, dr, 'd r');
  await check(gdb, db, 'd b');
  if (gds0) await check(gds0, ds0!, 'd state0');
  for (const x of [gwx, gr, gb, gs0, gdout, gout, gsaved, ginf, gdwx, gdr, gdb, gds0]) if (x) g.free(x);
  assert.equal(g.liveBuffers(), live, `${label}: device buffers leaked`);
}

describe('WebGPU fused recurrences rendered from cell definitions vs the CPU kernels', { skip: skipReason }, () => {
  test('the backend offers the fused recurrences', () => {
    assert.ok(hasFusedCellScan(gpu()));
    assert.equal(typeof gpu().rnnForward, 'function');
  });

  test('rnnForward / rnnBackward: every built-in cell, heads × head size × T × batch, with and without a state', async () => {
    const cases: Case[] = [];
    for (const cell of ['lstm', 'gru', 'elman', 'slstm'] as RnnCellName[]) {
      cases.push({ cell, B: 3, T: 5, N: 2, d: 4, withState: true }, { cell, B: 1, T: 1, N: 1, d: 8, withState: false },
        { cell, B: 2, T: 17, N: 3, d: 5, withState: false });
    }
    cases.push({ cell: 'slstm', B: 2, T: 6, N: 2, d: 4, withState: true, big: true });
    let seed = 1;
    for (const c of cases) await runCase(c, seed++);
  });

  test('cellScan (minGRU, minLSTM) forward and gradients, with and without h0', async () => {
    for (const def of [minGruDefinition, minLstmDefinition]) {
      const C = def.chunks;
      for (const [B, T, D] of [[2, 9, 5], [3, 1, 8], [1, 300, 3]]) {
        const tag = `${def.name} [${B}, ${T}, ${D}]`;
        await compareOp(`cellScan ${tag}`, [{ shape: [B, T, C * D] }], (p) => cellScan(def, p, { scan: 'real' }));
        await compareOp(`cellScan h0 ${tag}`, [{ shape: [B, T, C * D] }, { shape: [B, D], kind: 'positive' }], (p, h0) => cellScan(def, p, { h0, scan: 'real' }));
      }
    }
  });
});
