/**
 * Bidirectional and LearnedInitialState (src/cells/bidirectional.ts): the backward direction of a
 * padded batch equals each sequence reversed and run alone; step mode is refused in one sentence;
 * the learned initial state's gradient matches central differences (f64) and zero-initialised it
 * equals the cell without a state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { Bidirectional, LearnedInitialState } from '../../src/cells/bidirectional.js';
import { MinGRU } from '../../src/cells/min-rnn.js';
import { LSTM } from '../../src/cells/lstm.js';
import { fromHost } from '../../src/tensor/creation.js';
import { flip, mul, slice, sum } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/engine.js';
import { assertClose } from '../helpers/assert.js';

const D = 3, T = 6, LENGTHS = [6, 2, 4];
const input = (seed: number, B = LENGTHS.length) => {
  const r = new Rng(seed);
  return fromHost(Float64Array.from({ length: B * T * D }, () => 2 * r.uniform() - 1), [B, T, D], { dtype: 'f64' });
};

test('Bidirectional over a padded batch: each row equals its sequence run forwards and reversed alone', () => {
  const bi = new Bidirectional(new MinGRU({ dim: D, rng: new Rng(1), dtype: 'f64' }), new MinGRU({ dim: D, rng: new Rng(2), dtype: 'f64' }));
  scope(() => {
    const x = input(5);
    const { output, state } = bi.forward(x, null, { lengths: LENGTHS });
    assert.deepEqual(output.shape, [3, T, 2 * D]);
    LENGTHS.forEach((len, b) => {
      const xb = slice(slice(x, 0, b, b + 1), 1, 0, len);
      const f = bi.forwardCell.forward(xb), r = bi.backwardCell.forward(flip(xb, 1));
      const row = slice(slice(output, 0, b, b + 1), 1, 0, len);
      assertClose(Array.from(slice(row, 2, 0, D).dataSync()), Array.from(f.output.dataSync()), 1e-12, `row ${b} forward`);
      assertClose(Array.from(slice(row, 2, D, 2 * D).dataSync()), Array.from(flip(r.output, 1).dataSync()), 1e-12, `row ${b} backward`);
      assertClose(Array.from(slice(state[1] as Tensor, 0, b, b + 1).dataSync()), Array.from((r.state as Tensor).dataSync()), 1e-12, `row ${b} backward state`);
    });
  });
  assert.throws(() => bi.step(), /no step mode: its backward direction needs the whole sequence/);
});

test('LearnedInitialState: zeros at the start equal no state; its gradient matches central differences', () => {
  const lstm = new LSTM({ inputSize: D, hiddenSize: 4, rng: new Rng(3), dtype: 'f64' });
  const cell = new LearnedInitialState(lstm, { widths: [4, 4], dtype: 'f64' });
  const w = fromHost(Float64Array.from({ length: 2 * T * 4 }, (_, i) => Math.cos(i)), [2, T, 4], { dtype: 'f64' });
  const loss = () => sum(mul(cell.forward(input(9, 2)).output, w));
  scope(() => {
    assertClose(Array.from(cell.forward(input(9, 2)).output.dataSync()), Array.from(lstm.forward(input(9, 2)).output.dataSync()), 0, 'zeros = no state');
  });
  // move the state off zero, then compare its gradient with central differences
  cell.initial.forEach((p, i) => p.assign(fromHost(Float64Array.from({ length: 4 }, (_, j) => 0.3 * Math.sin(i * 4 + j)), [4], { dtype: 'f64' })));
  scope(() => loss().backward());
  cell.initial.forEach((p, i) => {
    const g = Array.from(p.grad!.dataSync());
    const base = Float64Array.from(p.dataSync());
    const numeric = base.map((_, j) => {
      const at = (v: number) => {
        const moved = Float64Array.from(base); moved[j] = v;
        p.assign(fromHost(moved, [4], { dtype: 'f64' }));
        return noGrad(() => scope(() => loss().dataSync()[0]));
      };
      const eps = 1e-6, value = (at(base[j] + eps) - at(base[j] - eps)) / (2 * eps);
      p.assign(fromHost(base, [4], { dtype: 'f64' }));
      return value;
    });
    assertClose(g, Array.from(numeric), 1e-6, `initial_state_${i} gradient`);
  });
  assert.deepEqual(cell.parameters().map((p) => p.name).filter((n) => n?.startsWith('initial')), ['initial_state_0', 'initial_state_1']);
});
