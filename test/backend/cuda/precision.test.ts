/**
 * bf16 mixed-precision training on the GPU (src/train/precision.ts through LMTrainer): the same
 * small character LM trained with --dtype f32 and --dtype bf16 from the same seed; the bf16 run's
 * losses track the f32 run's, the masters and the checkpoint stay f32, the working copies are
 * bf16, and GPU memory is back where it started afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { setBackend } from '../../../src/tensor/engine.js';
import { Rng } from '../../../src/tensor/random.js';
import { disposeTensorTree, loadCheckpoint } from '../../../src/train/checkpoint.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, type TrainArgs } from '../../../src/train/lm-trainer.js';
import { runTraining } from '../../../src/train/loop.js';
import { gpu, skipReason } from './compare.js';

/** A text with structure to learn: words from a small vocabulary in a Markov-ish order. */
function makeText(n: number): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away', 'from', 'home', 'today'];
  const rng = new Rng(7);
  let out = '', prev = 0;
  while (out.length < n) {
    prev = (prev * 3 + Math.floor(rng.uniform() * 4)) % words.length;
    out += `${words[prev]}${rng.uniform() < 0.1 ? '.\n' : ' '}`;
  }
  return out;
}

describe('bf16 mixed-precision training on the GPU', { skip: skipReason }, () => {
  test('bf16 tracks f32 on the same run; masters and checkpoint stay f32; memory flat', async () => {
    const g = gpu();
    setBackend('cuda');
    const dir = mkdtempSync(join(tmpdir(), 'recur-bf16-'));
    try {
      const text = makeText(60_000);
      const textInfo = { path: 'synthetic', chars: text.length, sha256: 'x' };
      const args: TrainArgs = {
        ...DEFAULT_TRAIN_ARGS, dim: 64, depth: 2, expansion: 2, conv: 4, dropout: 0.1, lr: 3e-3, warmup: 10, schedule: 'cosine',
        batch: 16, seq: 64, steps: 150, evalEvery: 150, logEvery: 50, valWindows: 32, clip: 1,
      };
      const live0 = g.liveBuffers();
      const results: Record<string, { val: number; first: number; last: number }> = {};
      for (const dtype of ['f32', 'bf16'] as const) {
        const trainer = LMTrainer.create({ args: { ...args, dtype }, text, textInfo });
        if (dtype === 'bf16') {
          assert.ok(trainer.precision);
          assert.ok(trainer.model.parameters().every((p) => p.dtype === 'f32'), 'masters are f32');
          assert.ok(trainer.precision.working.parameters().every((p) => p.dtype === 'bf16'), 'working copies are bf16');
        } else {
          assert.equal(trainer.precision, null);
        }
        let first = NaN, last = NaN;
        const r = await runTraining(trainer, join(dir, dtype), {
          onStep: (s) => { if (s.step === 1) first = s.loss; last = s.loss; },
        });
        results[dtype] = { val: r.lastEval!.loss, first, last };
        trainer.dispose();
        const ckpt = await loadCheckpoint(join(dir, dtype));
        assert.ok(Object.values(ckpt.weights).every((t) => t.dtype === 'f32'), `${dtype}: the checkpoint holds f32 weights`);
        disposeTensorTree(ckpt.weights);
      }
      const { f32, bf16 } = results;
      process.stdout.write(`# f32: val ${f32.val.toFixed(4)} (train ${f32.first.toFixed(3)} → ${f32.last.toFixed(3)}); bf16: val ${bf16.val.toFixed(4)} (train ${bf16.first.toFixed(3)} → ${bf16.last.toFixed(3)})\n`);
      assert.ok(Math.abs(bf16.first - f32.first) < 0.02 * f32.first, 'the same initial loss (same weights, rounded)');
      assert.ok(f32.val < 0.75 * f32.first, 'the f32 run learned');
      assert.ok(Math.abs(bf16.val - f32.val) < 0.03 * f32.val, `bf16 validation loss ${bf16.val} within 3% of f32's ${f32.val}`);
      assert.equal(g.liveBuffers(), live0, 'no GPU buffers left behind');
    } finally {
      setBackend('cpu');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
