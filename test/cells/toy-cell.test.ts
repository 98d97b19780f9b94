/**
 * Adding a cell takes one file plus one registry line: this file is the "one file" — a toy cell
 * defined here, with its registry entry — and `registerCell(toyCell)` is the line. From then on
 * the toy trains through the same model and trainer path as the built-in cells (RecurrentLM,
 * LMTrainer, SequenceClassifier) and its declared option reaches it from a config, with the same
 * validation as every other option. Everything runs on the CPU backend.
 *
 * The toy is a leaky integrator: h_t = a ⊙ h_{t−1} + (1 − a) ⊙ tanh(W x_t), a = sigmoid(decay),
 * run in parallel by the linear scan and in step mode by the one-step update.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import type { CellOutput, RecurrentCell } from '../../src/cells/cell.js';
import { cellNames, createCell, registerCell, type CellEntry } from '../../src/cells/registry.js';
import { Module, type LayerOptions } from '../../src/nn/module.js';
import { linear } from '../../src/nn/functional.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { SequenceClassifier } from '../../src/models/deep-lru.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer } from '../../src/train/lm-trainer.js';
import { fromHost, full, randn } from '../../src/tensor/creation.js';
import { add, linearScan, mul, sigmoid, slice, squeeze, sub, tanh } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { noGrad } from '../../src/tensor/engine.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertTensorClose } from '../helpers/assert.js';

class LeakyIntegrator extends Module implements RecurrentCell<Tensor> {
  readonly weight: Tensor;
  readonly decay: Tensor;

  constructor(readonly dim: number, decayInit: number, layer: LayerOptions) {
    super();
    const rng = layer.rng ?? new Rng(0);
    this.weight = this.param('weight', randn([dim, dim], { rng, std: 1 / Math.sqrt(dim), dtype: layer.dtype, backend: layer.backend }));
    // sigmoid(decay) = decayInit at the start.
    this.decay = this.param('decay', full([dim], Math.log(decayInit / (1 - decayInit)), { dtype: layer.dtype, backend: layer.backend }));
  }

  forward(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    const a = sigmoid(this.decay);
    const drive = tanh(linear(x, this.weight));
    const b = mul(sub(1, a), drive);
    const h = linearScan(add(mul(drive, 0), a), b, { h0: state ?? null });
    const T = x.shape[1]!;
    return { output: h, state: squeeze(slice(h, 1, T - 1, T), 1) };
  }

  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    const a = sigmoid(this.decay);
    const b = mul(sub(1, a), tanh(linear(x, this.weight)));
    const h = state ? add(mul(a, state), b) : b;
    return { output: h, state: h };
  }
}

/** The toy's registry entry: one declared option with a default, a help text and a range. */
const toyCell: CellEntry = {
  name: 'toy-leaky',
  summary: 'a leaky integrator (test only)',
  options: [{ name: 'decayInit', type: 'number', default: 0.9, min: 0, max: 1, exclusive: 'both', help: 'initial sigmoid(decay)' }],
  create: (dim, o, layer) => new LeakyIntegrator(dim, o.decayInit as number, layer),
};

registerCell(toyCell);

test('a registered toy cell is built by name with its declared option, checked like any other', () => {
  assert.ok(cellNames().includes('toy-leaky'));
  const cell = createCell('toy-leaky', { dim: 4, decayInit: 0.5, rng: new Rng(1) }) as LeakyIntegrator;
  assert.ok(Math.abs(1 / (1 + Math.exp(-cell.decay.dataSync()[0]!)) - 0.5) < 1e-6);
  cell.dispose();
  assert.throws(() => createCell('toy-leaky', { dim: 4, decayInit: 1.5 }), /cell 'toy-leaky': decayInit must be a positive number < 1, got 1\.5/);
  assert.throws(() => new RecurrentLM({ vocabSize: 5, dim: 4, depth: 1, cell: 'toy-leaky', cellOptions: { heads: 2 } }), /heads apply to the .* only, not 'toy-leaky' \(its options: decayInit\)/);
});

test('the toy cell agrees between parallel and step mode (f64, CPU), alone and inside a RecurrentLM', () => {
  const cell = createCell('toy-leaky', { dim: 3, decayInit: 0.7, rng: new Rng(2), dtype: 'f64' });
  scope(() => {
    const x = randn([2, 5, 3], { rng: new Rng(3), dtype: 'f64' });
    const h0 = randn([2, 3], { rng: new Rng(4), dtype: 'f64' });
    const parallel = cell.forward(x, h0);
    let state: Tensor = h0;
    for (let t = 0; t < 5; t++) {
      const r = cell.step(squeeze(slice(x, 1, t, t + 1), 1), state);
      assertTensorClose(r.output, squeeze(slice(parallel.output, 1, t, t + 1), 1), 1e-12, `step ${t}`);
      state = r.state as Tensor;
    }
    assertTensorClose(state, parallel.state as Tensor, 1e-12, 'final state');
  });
  cell.dispose();

  const model = new RecurrentLM({ vocabSize: 7, dim: 4, depth: 2, cell: 'toy-leaky', convKernel: 2, cellOptions: { decayInit: 0.6 } }, { rng: new Rng(5), dtype: 'f64' });
  noGrad(() => scope(() => {
    const ids = Int32Array.from([1, 4, 2, 6, 0, 3, 5, 2]);
    const whole = model.forward(fromHost(ids, [1, ids.length]));
    let state = null;
    for (let t = 0; t < ids.length; t++) {
      const r = model.step(fromHost(ids.subarray(t, t + 1), [1]), state);
      assertTensorClose(r.logits, squeeze(slice(whole.logits, 1, t, t + 1), 1), 1e-10, `LM step ${t}`);
      state = r.state;
    }
  }));
  model.dispose();
});

test('the toy cell trains through the LM trainer (its option from the args) and inside a SequenceClassifier', async () => {
  const text = 'abcab cabca bcabc '.repeat(60);
  const args = {
    ...DEFAULT_TRAIN_ARGS, model: 'toy-leaky', cellOptions: { decayInit: 0.8 }, dim: 16, depth: 1, conv: 0, ffMult: 2, batch: 8, seq: 16,
    steps: 30, lr: 1e-2, valWindows: 4,
  };
  const trainer = LMTrainer.create({ args, text, textInfo: { path: 'toy.txt', chars: text.length, sha256: 'toy' } });
  try {
    assert.deepEqual(trainer.spec.config.cellOptions, { decayInit: 0.8 });
    const first = (await trainer.trainStep()).loss;
    let last = first;
    for (let i = 1; i < args.steps; i++) last = (await trainer.trainStep()).loss;
    assert.ok(last < 0.8 * first, `loss ${first} → ${last}`);
    assert.ok(Number.isFinite((await trainer.validate()).loss));
  } finally {
    trainer.dispose();
  }

  const classifier = new SequenceClassifier({ cell: 'toy-leaky', vocabSize: 5, dModel: 4, depth: 1, numClasses: 3, decayInit: 0.5 }, { rng: new Rng(6) });
  scope(() => {
    const logits = classifier.forward(fromHost(Int32Array.from([0, 1, 2, 3, 4, 0]), [2, 3]));
    assert.deepEqual(logits.shape, [2, 3]);
  });
  classifier.dispose();
});
