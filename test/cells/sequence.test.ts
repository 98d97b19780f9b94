/**
 * Padded batches (src/cells/sequence.ts): a batch of sequences of different lengths, padded to T,
 * gives for every cell exactly what each sequence gives alone: the outputs at its real steps,
 * the state after its last real step, and the gradients w.r.t. the inputs (real steps; padding
 * gets none), the initial state and every parameter — on the fused CPU kernels (which take the
 * lengths) and on the composite / reference path (which masks the coefficients inside the scan).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { MinGRU, MinLSTM } from '../../src/cells/min-rnn.js';
import { LSTM } from '../../src/cells/lstm.js';
import { GRU } from '../../src/cells/gru.js';
import { Elman } from '../../src/cells/elman.js';
import { SLSTM } from '../../src/cells/slstm.js';
import type { Module } from '../../src/nn/module.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost } from '../../src/tensor/creation.js';
import { mul, slice, sum, add } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import type { SequenceOptions } from '../../src/cells/sequence.js';
import { assertClose } from '../helpers/assert.js';

type AnyState = Tensor | readonly Tensor[];
interface Cell extends Module {
  forward(x: Tensor, state?: AnyState | null, opts?: SequenceOptions): { output: Tensor; state: AnyState };
}

const D = 4, T = 7, LENGTHS = [7, 3, 1, 5];
const rng = () => new Rng(11);
const CELLS: Array<[string, (fused: boolean) => Cell]> = [
  ['minGRU', (fused) => new MinGRU({ dim: D, rng: rng(), dtype: 'f64', fused, scan: 'log' }) as unknown as Cell],
  ['minLSTM', (fused) => new MinLSTM({ dim: D, expansionFactor: 1.5, rng: rng(), dtype: 'f64', fused, scan: 'real' }) as unknown as Cell],
  ['LSTM', (fused) => new LSTM({ inputSize: D, hiddenSize: 6, heads: 2, rng: rng(), dtype: 'f64', fused }) as unknown as Cell],
  ['GRU', (fused) => new GRU({ inputSize: D, hiddenSize: 6, rng: rng(), dtype: 'f64', fused }) as unknown as Cell],
  ['Elman', (fused) => new Elman({ inputSize: D, hiddenSize: 6, rng: rng(), dtype: 'f64', fused }) as unknown as Cell],
  ['sLSTM', (fused) => new SLSTM({ inputSize: D, hiddenSize: 6, heads: 3, rng: rng(), dtype: 'f64', fused }) as unknown as Cell],
];

const states = (s: AnyState): Tensor[] => (Array.isArray(s) ? [...(s as Tensor[])] : [s as Tensor]);
const rowOf = (t: Tensor, b: number) => slice(t, 0, b, b + 1);

/** Loss weights: distinct per (row, step, unit), so every output that is read matters. */
function weights(B: number, width: number): Tensor {
  return fromHost(Float64Array.from({ length: B * T * width }, (_, i) => Math.sin(i + 1)), [B, T, width], { dtype: 'f64' });
}

for (const [name, make] of CELLS) {
  for (const fused of [true, false]) {
    test(`${name} (${fused ? 'fused CPU kernel' : 'composite / reference'}): a padded batch equals each sequence run alone`, () => {
      const before = getBackend().liveBuffers();
      const cell = make(fused);
      const r = new Rng(3);
      scope(() => {
        const xs = fromHost(Float64Array.from({ length: LENGTHS.length * T * D }, () => 2 * r.uniform() - 1), [LENGTHS.length, T, D], { dtype: 'f64' });
        // the padded batch: loss over real steps only (padding's outputs are not read) + the final states
        const x = xs.detach();
        x.requiresGrad = true;
        const { output, state } = cell.forward(x, null, { lengths: LENGTHS });
        const w = weights(LENGTHS.length, output.shape[2]);
        const mask = fromHost(Float64Array.from({ length: LENGTHS.length * T }, (_, i) => (i % T < LENGTHS[Math.floor(i / T)] ? 1 : 0)), [LENGTHS.length, T, 1], { dtype: 'f64' });
        let loss = sum(mul(mul(output, w), mask));
        for (const s of states(state)) loss = add(loss, sum(mul(s, s)));
        loss.backward();
        const gradX = x.grad!.dataSync();
        const gradP = cell.parameters().map((p) => Array.from(p.grad!.dataSync()));
        cell.zeroGrad();

        // each sequence alone, its gradients summed
        const sumP = gradP.map((g) => new Float64Array(g.length));
        LENGTHS.forEach((len, b) => {
          const xb = slice(rowOf(xs, b), 1, 0, len).detach();
          xb.requiresGrad = true;
          const alone = cell.forward(xb);
          let l = sum(mul(alone.output, slice(rowOf(w, b), 1, 0, len)));
          for (const s of states(alone.state)) l = add(l, sum(mul(s, s)));
          l.backward();
          const outB = rowOf(output, b);
          assertClose(Array.from(slice(outB, 1, 0, len).dataSync()), Array.from(alone.output.dataSync()), 1e-10, `${name} row ${b}: outputs`);
          states(state).forEach((s, i) => assertClose(Array.from(rowOf(s, b).dataSync()), Array.from(states(alone.state)[i].dataSync()), 1e-10, `${name} row ${b}: state ${i}`));
          const gx = gradX.subarray(b * T * D, (b + 1) * T * D);
          assertClose(Array.from(gx.subarray(0, len * D)), Array.from(xb.grad!.dataSync()), 1e-9, `${name} row ${b}: dx`);
          assert.ok(gx.subarray(len * D).every((v) => v === 0), `${name} row ${b}: padding gets no gradient`);
          cell.parameters().forEach((p, i) => p.grad!.dataSync().forEach((v, j) => { sumP[i][j] += v; }));
          cell.zeroGrad();
        });
        gradP.forEach((g, i) => assertClose(g, Array.from(sumP[i]), 1e-9, `${name}: parameter ${i} gradient`));
      });
      cell.parameters().forEach((p) => { p.grad?.dispose(); p.grad = null; });
      assert.equal(getBackend().liveBuffers(), before + cell.parameters().length, `${name}: no buffers leak`);
    });
  }
}

test('lengths are checked: one per row, integers in 1..T', () => {
  const cell = new MinGRU({ dim: 2 });
  const x = fromHost(new Float32Array(2 * 3 * 2), [2, 3, 2]);
  assert.throws(() => cell.forward(x, null, { lengths: [3] }), /1 lengths for a batch of 2/);
  assert.throws(() => cell.forward(x, null, { lengths: [3, 0] }), /length 0 of row 1 must be an integer in 1\.\.3/);
  assert.throws(() => cell.forward(x, null, { lengths: [4, 1] }), /length 4 of row 0/);
  assert.throws(() => cell.forward(x, null, { lengths: [1.5, 1] }), /length 1.5 of row 0/);
});
