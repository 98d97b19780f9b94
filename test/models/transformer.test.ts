import '../../src/default-backend.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecurrentLM, type LMState } from '../../src/models/recurrent-lm.js';
import { kindForName } from '../../src/train/model-kinds.js';
import { AdamW } from '../../src/optim/adamw.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost } from '../../src/tensor/creation.js';
import { concat } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { DEFAULT_TRAIN_ARGS } from '../../src/train/lm-trainer.js';
import { assertClose } from '../helpers/gradcheck.js';

const V = 7;
const models = {
  transformer: { vocabSize: V, dim: 16, depth: 2, cell: 'transformer', cellOptions: { heads: 2 } },
  hybrid: { vocabSize: V, dim: 16, depth: 2, cell: 'mingru', attentionEvery: 2 },
};

test('--model transformer and --model hybrid: RecurrentLMs of attention blocks, and of minGRU blocks with attention every k-th', () => {
  const a = { ...DEFAULT_TRAIN_ARGS, dim: 8, depth: 4 };
  const t = kindForName('transformer').create(kindForName('transformer').spec({ ...a, model: 'transformer' }, V).config, new Rng(1));
  const h = kindForName('hybrid').create(kindForName('hybrid').spec({ ...a, model: 'hybrid', attentionEvery: 0 }, V).config, new Rng(1));
  const h3 = kindForName('hybrid').create(kindForName('hybrid').spec({ ...a, model: 'hybrid', attentionEvery: 3 }, V).config, new Rng(1));
  const attentionBlocks = (m: typeof t) => [0, 1, 2, 3].filter((i) => m.namedParameters().some(([n]) => n === `layers.${i}.rnn.qkv.weight`));
  assert.deepEqual(attentionBlocks(t), [0, 1, 2, 3]);
  assert.deepEqual(attentionBlocks(h), [1, 3], 'default k = 2');
  assert.deepEqual(attentionBlocks(h3), [2]);
  for (const m of [t, h, h3]) m.dispose();
});

for (const [name, config] of Object.entries(models)) {
  test(`${name}: streaming step-by-step logits equal the parallel forward (f64)`, () => {
    const model = new RecurrentLM(config, { rng: new Rng(3), dtype: 'f64' });
    scope(() => {
      const tokens = Int32Array.from([1, 4, 2, 6, 0, 3]);
      const parallel = model.forward(fromHost(tokens, [1, 6])).logits.dataSync();
      let state: LMState | null = null;
      const steps: Tensor[] = [];
      for (const tok of tokens) {
        const r = model.step(fromHost(Int32Array.of(tok), [1]), state);
        steps.push(r.logits);
        state = r.state;
      }
      assertClose(concat(steps, 0).dataSync(), parallel, 1e-10, 'step vs parallel');
    });
    model.dispose();
  });

  test(`${name}: a tiny CPU training run falls in loss; live buffers flat`, () => {
    const rng = new Rng(5);
    // a periodic text with a long period: predictable from context, not from the last token alone
    const text = Int32Array.from({ length: 400 }, (_, i) => [0, 1, 2, 0, 3, 4, 0, 5, 6, 1][i % 10]);
    const model = new RecurrentLM(config, { rng: new Rng(4) });
    const opt = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
    let afterFirst = 0;
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const loss = scope(() => {
        const starts = Array.from({ length: 8 }, () => Math.floor(rng.uniform() * (text.length - 17)));
        const batch = fromHost(Int32Array.from(starts.flatMap((s) => [...text.subarray(s, s + 17)])), [8, 17]);
        const l = model.loss(batch).loss;
        l.backward();
        return l.dataSync()[0];
      });
      opt.step();
      opt.zeroGrad();
      losses.push(loss);
      if (step === 0) afterFirst = getBackend().liveBuffers(); // parameters and the optimizer's moments
    }
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5, last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < 0.5 * first, `${name}: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    assert.equal(getBackend().liveBuffers(), afterFirst, 'live buffers flat across steps');
    model.dispose();
  });
}

test('RecurrentLM refuses a bad attentionEvery in one sentence', () => {
  assert.throws(() => new RecurrentLM({ ...models.hybrid, attentionEvery: -1 }), /attentionEvery must be a non-negative integer, got -1/);
});
