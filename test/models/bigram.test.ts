/**
 * The comparison study in miniature: on one small repeated text, the bigram baseline reaches the
 * empirical bigram entropy H₂ (its optimum), and a RecurrentLM around each study cell (lstm, gru,
 * smr, msmr; additive and multiplicative residual) runs forward and step consistently and goes
 * below H₂ within a few dozen steps, i.e. it learns to use context.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { BigramLM } from '../../src/models/bigram.js';
import { RecurrentLM, resolveLMConfig, type LMState } from '../../src/models/recurrent-lm.js';
import { AdamW } from '../../src/optim/adamw.js';
import { trainStep } from '../../src/train/step.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost } from '../../src/tensor/creation.js';
import { add, mul, reshape, slice, stack } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertTensorClose } from '../helpers/assert.js';

const TEXT = 'the cat sat on the mat; the rat ate the hat. '.repeat(20);
const CHARS = [...new Set(TEXT)];
const IDS = Int32Array.from([...TEXT].map((c) => CHARS.indexOf(c)));
const V = CHARS.length;

/** H₂ = −(1/n) Σ log p(next | prev) with p the bigram frequencies of the text itself (nats). */
function bigramEntropy(ids: Int32Array, vocab: number): number {
  const counts = new Float64Array(vocab * vocab), rows = new Float64Array(vocab);
  for (let i = 0; i + 1 < ids.length; i++) { counts[ids[i] * vocab + ids[i + 1]]++; rows[ids[i]]++; }
  let h = 0;
  counts.forEach((c, k) => { if (c > 0) h -= c * Math.log(c / rows[Math.floor(k / vocab)]); });
  return h / (ids.length - 1);
}
const H2 = bigramEntropy(IDS, V);

test('BigramLM reaches the empirical bigram entropy of the text (its optimum) and never goes below it', async () => {
  assert.ok(H2 > 0.5 && H2 < 1.2, `H2 = ${H2}`);
  const model = new BigramLM({ vocabSize: V });
  assert.equal(model.numParameters(), V * V);
  const optimizer = new AdamW(model.parameters(), { lr: 0.3, weightDecay: 0 });
  const tokens = fromHost(IDS, [1, IDS.length]);
  let first = 0, last = 0;
  for (let step = 0; step < 100; step++) {
    const { loss } = await trainStep(model, optimizer, () => model.loss(tokens).loss);
    if (step === 0) first = loss;
    last = loss;
  }
  assert.ok(Math.abs(first - Math.log(V)) < 1e-5, `zero init predicts uniformly: ${first} vs log V ${Math.log(V)}`);
  assert.ok(last <= H2 + 5e-3 && last >= H2 - 1e-5, `bigram loss ${last} vs entropy ${H2}`);
  tokens.dispose();
  optimizer.dispose();
  model.dispose();
});

test('BigramLM has RecurrentLM\'s API shape: forward, step, loss, generate, empty state', async () => {
  const model = new BigramLM({ vocabSize: 5 });
  scope(() => {
    model.table.assign(fromHost(Float32Array.from({ length: 25 }, (_, k) => ((Math.floor(k / 5) + 1) % 5 === k % 5 ? 3 : 0)), [5, 5])); // a → a + 1 (mod 5) likely
    const tokens = fromHost(Int32Array.from([0, 1, 2, 3, 4, 0]), [2, 3]);
    const f = model.forward(tokens, []);
    assert.deepEqual([...f.logits.shape], [2, 3, 5]);
    assert.deepEqual(f.state, []);
    const st = model.step(reshape(slice(tokens, 1, 2, 3), [2]), f.state);
    assertTensorClose(st.logits, reshape(slice(f.logits, 1, 2, 3), [2, 5]), 0, 'step = last forward position');
    const { loss } = model.loss(fromHost(Int32Array.from([0, 1, 2, 3, 4, 0]), [1, 6]));
    const expected = -(3 - Math.log(Math.exp(3) + 4)); // every target is the likely successor
    assert.ok(Math.abs(loss.dataSync()[0] - expected) < 1e-5);
    assert.throws(() => model.forward(fromHost(new Float32Array(2), [1, 2])), /BigramLM\.forward: tokens tensor \[1, 2\] f32 must be i32 \[B, T\]/);
  });
  const before = getBackend().liveBuffers();
  const run = async () => {
    const out: number[] = [];
    for await (const t of model.generate([2], { maxTokens: 6, temperature: 0 })) out.push(t);
    return out;
  };
  assert.deepEqual(await run(), [3, 4, 0, 1, 2, 3]);
  assert.equal(getBackend().liveBuffers(), before, 'generation leaves no live buffers behind');
  await assert.rejects(async () => { for await (const _ of model.generate([7], { maxTokens: 1 })) void _; }, /outside the vocabulary/);
  assert.throws(() => new BigramLM({ vocabSize: 0 }), /vocabSize must be a positive integer/);
  model.dispose();
});

test('resolveLMConfig: residual defaults to add and is validated; mul computes x ⊙ cell(norm1(x))', () => {
  assert.equal(resolveLMConfig({ vocabSize: 5, dim: 4, depth: 1 }).residual, 'add');
  assert.throws(() => new RecurrentLM({ vocabSize: 5, dim: 4, depth: 1, residual: 'max' as 'add' }), /residual must be 'add' or 'mul', got max/);
  const model = new RecurrentLM({ vocabSize: 7, dim: 6, depth: 1, cell: 'smr', residual: 'mul' }, { rng: new Rng(2) });
  scope(() => {
    const tokens = fromHost(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const block = model.layers.at(0);
    let x = model.tokenEmb.forward(tokens);
    x = mul(x, block.rnn.forward(block.norm1.forward(x)).output);
    x = add(x, block.ff.forward(block.norm2.forward(x)));
    assertTensorClose(model.forward(tokens).logits, model.toLogits!.forward(model.norm.forward(x)), 1e-6, 'mul residual');
  });
  model.dispose();
});

/** Random windows [B, T + 1] of the text. */
function batch(rng: Rng, B: number, T: number): Int32Array {
  const out = new Int32Array(B * (T + 1));
  for (let b = 0; b < B; b++) {
    const at = rng.int(IDS.length - T - 1);
    out.set(IDS.subarray(at, at + T + 1), b * (T + 1));
  }
  return out;
}

for (const cell of ['lstm', 'gru', 'smr', 'msmr']) {
  for (const residual of ['add', 'mul'] as const) {
    test(`RecurrentLM (${cell}, residual ${residual}): step equals forward, chunks carry state, and the loss falls below the bigram entropy`, async () => {
      const rng = new Rng(1);
      const model = new RecurrentLM({ vocabSize: V, dim: 16, depth: 1, cell, residual, ffMult: 2 }, { rng });
      // 1. modes agree (depth 2 on a copy of the config, conv included, so states of every kind flow)
      const deep = new RecurrentLM({ vocabSize: V, dim: 8, depth: 2, cell, residual, convKernel: 3 }, { rng });
      scope(() => {
        const tokens = fromHost(IDS.slice(0, 2 * 20), [2, 20]);
        const whole = deep.forward(tokens);
        let state: LMState | null = null;
        const logits: Tensor[] = [];
        for (let t = 0; t < 20; t++) {
          const r = deep.step(reshape(slice(tokens, 1, t, t + 1), [2]), state);
          logits.push(r.logits);
          state = r.state;
        }
        assertTensorClose(stack(logits, 1), whole.logits, 1e-4, 'step vs forward');
        const first = deep.forward(slice(tokens, 1, 0, 7));
        assertTensorClose(deep.forward(slice(tokens, 1, 7, 20), first.state).logits, slice(whole.logits, 1, 7, 20), 1e-4, 'chunked forward');
      });
      deep.dispose();
      // 2. it learns: 30 AdamW steps on windows of the repeated text
      const optimizer = new AdamW(model.parameters(), { lr: 2e-2, weightDecay: 0 });
      const losses: number[] = [];
      for (let step = 0; step < 30; step++) {
        const data = batch(rng, 4, 24);
        const { loss } = await trainStep(model, optimizer, () => model.loss(fromHost(data, [4, 25])).loss, { clip: 1 });
        losses.push(loss);
      }
      const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
      assert.ok(losses[0] > 2, `initial loss ${losses[0]}`);
      assert.ok(tail < H2, `${cell}/${residual}: mean of the last 5 losses ${tail.toFixed(3)} is not below the bigram entropy ${H2.toFixed(3)} (losses ${losses.map((l) => l.toFixed(2)).join(' ')})`);
      optimizer.dispose();
      model.dispose();
    });
  }
}
