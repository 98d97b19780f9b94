import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/default-backend.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { NonFiniteError } from '../../src/train/step.js';
import { disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, storedTraining, type TrainArgs } from '../../src/train/lm-trainer.js';
import { TrainConfigError, mergeResumeArgs } from '../../src/train/args.js';
import { readLog, runTraining } from '../../src/train/loop.js';

/** A made-up text: words drawn by a seeded RNG (so tests never read a data file). */
function makeText(chars: number, seed = 7): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away', 'from', 'home', 'today'];
  const rng = new Rng(seed);
  let s = '';
  while (s.length < chars) s += words[rng.int(words.length)] + (rng.uniform() < 0.1 ? '.\n' : ' ');
  return s.slice(0, chars);
}

const text = makeText(3000);
const textInfo = { path: 'mem', chars: text.length, sha256: 'sha-of-mem' };
const tiny: TrainArgs = { ...DEFAULT_TRAIN_ARGS, dim: 12, depth: 2, expansion: 1.5, conv: 3, ffMult: 2, batch: 3, seq: 12, valWindows: 4, logEvery: 1, evalEvery: 4 };

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'recur-trainer-'));
}

async function resumeFrom(dir: string, given: Partial<TrainArgs>): Promise<LMTrainer> {
  const ck = await loadCheckpoint(dir, { training: true });
  try {
    return LMTrainer.resume(ck, mergeResumeArgs(storedTraining(ck).args, given), text, textInfo);
  } finally {
    disposeTensorTree([ck.weights, ck.optimizer?.tensors, ck.carried]);
  }
}

/** Every train record, and the validation records at multiples of evalEvery (a shorter run also validates at its end). */
const trainLosses = async (dir: string) => (await readLog(dir))
  .filter((r) => r.type === 'train' || (r.type === 'val' && r.step % tiny.evalEvery === 0))
  .map((r) => [r.type, r.step, r.loss]);
const weightBytes = (dir: string, step: number) => readFileSync(join(dir, `ckpt-${String(step).padStart(6, '0')}`, 'model.safetensors'));

for (const variant of [
  { name: 'random windows, dropout, warm-up + cosine; stopped midway (as by Ctrl-C)', args: { dropout: 0.2, warmup: 3, schedule: 'cosine' as const }, stop: true },
  { name: 'stateful streams (state in the checkpoint), dropout; N/2 steps then --steps N', args: { stateful: true, dropout: 0.1 }, stop: false },
]) {
  test(`resume is bit-for-bit: ${variant.name}`, async () => {
    const N = 10;
    const straight = tmp(), split = tmp();
    try {
      const a = LMTrainer.create({ args: { ...tiny, ...variant.args, steps: N }, text, textInfo });
      await runTraining(a, straight);
      a.dispose();

      let b: LMTrainer;
      if (variant.stop) {
        b = LMTrainer.create({ args: { ...tiny, ...variant.args, steps: N }, text, textInfo });
        const r = await runTraining(b, split, { shouldStop: () => b.step >= N / 2 });
        assert.equal(r.status, 'interrupted');
        assert.equal(r.step, N / 2);
      } else {
        b = LMTrainer.create({ args: { ...tiny, ...variant.args, steps: N / 2 }, text, textInfo });
        await runTraining(b, split);
      }
      b.dispose();
      const c = await resumeFrom(split, { steps: N });
      assert.equal(c.step, N / 2);
      const r = await runTraining(c, split);
      c.dispose();
      assert.equal(r.status, 'completed');
      assert.deepEqual(await trainLosses(split), await trainLosses(straight), 'every logged train and validation loss is identical');
      assert.ok(weightBytes(split, N).equals(weightBytes(straight, N)), 'identical final weights');
      assert.ok(readFileSync(join(split, `ckpt-0000${N}`, 'optimizer.safetensors')).equals(readFileSync(join(straight, `ckpt-0000${N}`, 'optimizer.safetensors'))), 'identical optimizer state');
      const log = await readLog(split);
      assert.deepEqual(log.map((x) => x.type).filter((t) => t === 'start' || t === 'resume'), ['start', 'resume']);
      assert.ok(existsSync(join(split, 'curves.svg')));
    } finally {
      rmSync(straight, { recursive: true, force: true });
      rmSync(split, { recursive: true, force: true });
    }
  });
}

test('other models plug in by name and resume bit-for-bit too: stateful LSTM (state [h, c]) and the bigram baseline', async () => {
  for (const model of ['lstm', 'bigram']) {
    const straight = tmp(), split = tmp();
    try {
      const args = { ...tiny, model, depth: 1, stateful: true, lr: 1e-2 };
      const a = LMTrainer.create({ args: { ...args, steps: 6 }, text, textInfo });
      await runTraining(a, straight);
      a.dispose();
      const b = LMTrainer.create({ args: { ...args, steps: 3 }, text, textInfo });
      await runTraining(b, split);
      b.dispose();
      const c = await resumeFrom(split, { steps: 6 });
      await runTraining(c, split);
      c.dispose();
      assert.deepEqual(await trainLosses(split), await trainLosses(straight), model);
      assert.ok(weightBytes(split, 6).equals(weightBytes(straight, 6)), model);
    } finally {
      rmSync(straight, { recursive: true, force: true });
      rmSync(split, { recursive: true, force: true });
    }
  }
});

test('the log is truncated to the checkpoint on resume (lines of steps redone are not duplicated)', async () => {
  const dir = tmp();
  try {
    const a = LMTrainer.create({ args: { ...tiny, steps: 8, saveEvery: 4, evalEvery: 8 }, text, textInfo });
    // A crash after step 6: the log has steps 1..6, the checkpoint is at 4.
    await runTraining(a, dir, { shouldStop: () => false, onStep: (s) => { if (s.step === 6) throw new Error('simulated crash'); } }).catch(() => undefined);
    a.dispose();
    assert.equal((await readLog(dir)).filter((r) => r.type === 'train').length, 6);
    const b = await resumeFrom(dir, {});
    await runTraining(b, dir);
    b.dispose();
    assert.deepEqual((await readLog(dir)).filter((r) => r.type === 'train').map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a diverging run (lr 1e30) stops with NonFiniteError before the update and writes no checkpoint', async () => {
  const dir = tmp();
  try {
    const t = LMTrainer.create({ args: { ...tiny, lr: 1e30, clip: 0, steps: 50, evalEvery: 50 }, text, textInfo });
    await assert.rejects(runTraining(t, dir), (e: unknown) => e instanceof NonFiniteError && /became (NaN|-?Infinity) at step \d+/.test(e.message));
    for (const [, p] of t.model.namedParameters()) {
      assert.ok(!Array.from(p.dataSync()).some(Number.isNaN), 'the failing step did not write NaN weights');
    }
    t.dispose();
    assert.ok(!existsSync(join(dir, 'latest.json')), 'no checkpoint');
    const log = await readLog(dir);
    assert.equal(log[log.length - 1]!.type, 'diverged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mergeResumeArgs: only steps and the eval/save/log cadence may change; conflicts are listed', () => {
  const stored = { ...tiny, steps: 10 };
  assert.equal(mergeResumeArgs(stored, { steps: 40, evalEvery: 2, dim: stored.dim }).steps, 40);
  assert.throws(() => mergeResumeArgs(stored, { dim: 99, lr: 0.5, steps: 20 }),
    (e: unknown) => e instanceof TrainConfigError && /dim 99 \(the run has 12\); lr 0.5 \(the run has 0.001\)/.test(e.message));
});

test('sizes that do not fit the text are TrainConfigErrors', () => {
  assert.throws(() => LMTrainer.create({ args: { ...tiny, seq: 5000 }, text, textInfo }), /too few for --seq 5000/);
  assert.throws(() => LMTrainer.create({ args: { ...tiny, stateful: true, batch: 300, seq: 12 }, text, textInfo }), /300 streams of 9, too short for --seq 12/);
  assert.throws(() => LMTrainer.create({ args: { ...tiny, seq: 4 }, text: 'abcdefghij', textInfo }), /validation split .* too short/);
  assert.throws(() => LMTrainer.create({ args: { ...tiny, model: 'nope' }, text, textInfo }), /unknown model 'nope'/);
});

test('training, validation, saving and disposing leave no live buffers behind', async () => {
  const dir = tmp();
  const backend = getBackend();
  const before = backend.liveBuffers();
  try {
    const t = LMTrainer.create({ args: { ...tiny, stateful: true, steps: 4, evalEvery: 2 }, text, textInfo });
    await runTraining(t, dir);
    t.dispose();
    assert.equal(backend.liveBuffers(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
