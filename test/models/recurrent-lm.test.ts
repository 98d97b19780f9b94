import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { RecurrentLM, disposeState, sampleToken, type LMState } from '../../src/models/recurrent-lm.js';
import { readSafetensorsWithMetadata } from '../../src/io/files.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost } from '../../src/tensor/creation.js';
import { crossEntropy, reshape, slice, stack } from '../../src/tensor/ops.js';
import { getBackend } from '../../src/tensor/engine.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertTensorClose } from '../helpers/assert.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}.safetensors`, import.meta.url));

test('RecurrentLM loads the PyTorch minLM checkpoint and reproduces logits, loss and every gradient', async () => {
  const { tensors: f, metadata } = await readSafetensorsWithMetadata(fixture('minlm'));
  const cfg = JSON.parse(metadata.config);
  const model = new RecurrentLM({
    vocabSize: cfg.vocab, dim: cfg.dim, depth: cfg.depth, cell: 'mingru', expansion: cfg.expansion,
    convKernel: cfg.convKernel, ffMult: cfg.ffMult, normEps: cfg.normEps, norm: 'rms',
  });
  const params = Object.fromEntries(Object.entries(f).filter(([k]) => !k.startsWith('grad.') && !['tokens', 'logits', 'loss'].includes(k)));
  model.loadStateDict(params);
  assert.equal(model.numParameters(), Object.values(params).reduce((n, t) => n + t.size, 0));
  scope(() => {
    const { logits } = model.forward(f.tokens);
    assertTensorClose(logits, f.logits, 1e-5, 'logits');
    const [B, T] = f.tokens.shape;
    const V = cfg.vocab;
    const loss = crossEntropy(reshape(slice(logits, 1, 0, T - 1), [B * (T - 1), V]), reshape(slice(f.tokens, 1, 1, T), [B * (T - 1)]));
    assertTensorClose(loss, f.loss, 1e-5, 'loss');
    assertTensorClose(model.loss(f.tokens).loss, f.loss, 1e-5, 'model.loss');
    model.zeroGrad();
    loss.backward();
    for (const [name, p] of model.namedParameters()) assertTensorClose(p.grad!, f[`grad.${name}`], 2e-5, `grad.${name}`);
  });
  model.dispose();
});

for (const cell of ['mingru', 'minlstm']) {
  test(`RecurrentLM (${cell}, conv 4): step-by-step logits equal the parallel forward, and state carries across calls`, () => {
    const rng = new Rng(5);
    const model = new RecurrentLM({ vocabSize: 13, dim: 12, depth: 2, cell, expansion: 2, convKernel: 4 }, { rng });
    model.eval();
    scope(() => {
      const ids = Int32Array.from({ length: 2 * 30 }, () => rng.int(13));
      const tokens = fromHost(ids, [2, 30]);
      const whole = model.forward(tokens);
      let state: LMState | null = null;
      const stepLogits: Tensor[] = [];
      for (let t = 0; t < 30; t++) {
        const r = model.step(reshape(slice(tokens, 1, t, t + 1), [2]), state);
        stepLogits.push(r.logits);
        state = r.state;
      }
      assertTensorClose(stack(stepLogits, 1), whole.logits, 1e-4, 'step vs forward');
      // two halves with the state carried
      const first = model.forward(slice(tokens, 1, 0, 11));
      const second = model.forward(slice(tokens, 1, 11, 30), first.state);
      assertTensorClose(second.logits, slice(whole.logits, 1, 11, 30), 1e-4, 'chunked forward');
    });
    model.dispose();
  });
}

test('generate streams deterministic tokens under a seed with constant memory', async () => {
  const model = new RecurrentLM({ vocabSize: 9, dim: 8, depth: 1, convKernel: 3 }, { rng: new Rng(1) });
  const run = async () => {
    const out: number[] = [];
    for await (const t of model.generate([1, 2, 3], { maxTokens: 40, temperature: 0.8, topK: 5, seed: 42 })) out.push(t);
    return out;
  };
  const before = getBackend().liveBuffers();
  const a = await run();
  const afterFirst = getBackend().liveBuffers();
  const b = await run();
  assert.deepEqual(a, b);
  assert.equal(a.length, 40);
  assert.ok(a.every((t) => t >= 0 && t < 9));
  assert.equal(afterFirst, before, 'generation leaves no live buffers behind');
  assert.equal(getBackend().liveBuffers(), before);
  await assert.rejects(async () => { for await (const _ of model.generate([99], { maxTokens: 1 })) void _; }, /outside the vocabulary/);
  model.dispose();
});

test('sampleToken: greedy at temperature 0, top-k restricts the support', () => {
  const rng = new Rng(3);
  const logits = [0.1, 3, -1, 2.9, 0];
  assert.equal(sampleToken(logits, 0, 0, rng), 1);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, 1, 2, rng));
  assert.deepEqual([...seen].sort(), [1, 3]);
});

test('RecurrentLM rejects bad configs and token tensors clearly', () => {
  assert.throws(() => new RecurrentLM({ vocabSize: 0, dim: 8, depth: 1 }), /vocabSize must be a positive integer/);
  assert.throws(() => new RecurrentLM({ vocabSize: 5, dim: 8, depth: 1, cell: 'nope' }), /unknown cell 'nope'/);
  const model = new RecurrentLM({ vocabSize: 5, dim: 4, depth: 1 });
  scope(() => {
    assert.throws(() => model.forward(fromHost(new Float32Array(6), [2, 3])), /tokens tensor \[2, 3\] f32 must be i32 \[B, T\]/);
  });
  disposeState(null);
  model.dispose();
});
