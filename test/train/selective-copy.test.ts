import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { SELECTIVE_COPY_PRESETS, trainSelectiveCopy } from '../../src/train/selective-copy.js';
import { getBackend } from '../../src/tensor/engine.js';

test('a 2-layer minGRU learns a small selective-copying task (T = 12, 2 tokens) to ≥ 97% token accuracy', async () => {
  const before = getBackend().liveBuffers();
  const base = SELECTIVE_COPY_PRESETS.demo;
  const result = await trainSelectiveCopy({
    ...base,
    task: { seqLength: 12, numTokens: 2 },
    model: { ...base.model, dim: 32, depth: 2 },
    steps: 500, evalEvery: 100, evalSize: 256, targetAccuracy: 0.99,
  });
  // Measured here: 100% at step 300 with seed 1 (46% → 78% → 100% at steps 100/200/300).
  assert.ok(result.accuracy >= 0.97, `accuracy ${result.accuracy} after ${result.steps} steps`);
  assert.ok(result.evals[0].accuracy < 0.8, 'it starts far from solved (the test can fail)');
  result.model.dispose();
  assert.equal(getBackend().liveBuffers(), before, 'training leaves no live buffers behind');
});
