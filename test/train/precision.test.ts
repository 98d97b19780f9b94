/**
 * Mixed precision (src/train/precision.ts) on the CPU, with stand-ins for the GPU's dtypes: f64
 * master weights and f32 working copies. The mechanism is dtype-agnostic, so one step must equal,
 * bit for bit, the hand-made sequence it promises: cast the masters, forward and backward in the
 * working dtype, cast the gradients up, clip and AdamW in the master dtype. bf16 itself runs on
 * the GPU (test/backend/cuda/precision.test.ts); here its refusal without one is checked too.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { AdamW } from '../../src/optim/adamw.js';
import { clipGradNorm } from '../../src/optim/clip.js';
import { fromHost } from '../../src/tensor/creation.js';
import { noGrad } from '../../src/tensor/engine.js';
import { cast, mul } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { MixedPrecision, precisionUnsupported } from '../../src/train/precision.js';
import { NonFiniteError } from '../../src/train/step.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, checkTrainArgs, type TrainArgs } from '../../src/train/lm-trainer.js';
import { TrainConfigError } from '../../src/train/args.js';

const config = { vocabSize: 11, dim: 8, depth: 2, expansion: 1.5, convKernel: 3, dropout: 0.25, scan: 'log' as const };

function tokens(seed: number): Tensor {
  const rng = new Rng(seed);
  return fromHost(Int32Array.from({ length: 3 * 9 }, () => Math.floor(rng.uniform() * config.vocabSize)), [3, 9]);
}

const bits = (t: Tensor) => Array.from(t.dataSync());

test('one mixed-precision step is exactly: cast masters → working forward/backward → cast grads up → clip → AdamW on masters', async () => {
  // master f64 + working f32, and the reference: an f32 model and an f64 copy stepped by hand
  const master = new RecurrentLM(config, { rng: new Rng(1), dtype: 'f64' });
  // the same generator seed for both f32 models: their dropouts draw the same masks in sequence
  // (their initial weights differ from the master's and are overwritten by it)
  const working = new RecurrentLM(config, { rng: new Rng(5), dtype: 'f32' });
  const refWork = new RecurrentLM(config, { rng: new Rng(5), dtype: 'f32' });
  const refMaster = new RecurrentLM(config, { rng: new Rng(4), dtype: 'f64' });
  scope(() => { refMaster.loadStateDict(master.stateDict()); });
  const mp = new MixedPrecision(master, working);
  assert.equal(mp.computeDtype, 'f32');
  for (const [p, q] of master.parameters().map((p, i) => [p, working.parameters()[i]] as const)) {
    assert.equal(p.dtype, 'f64');
    assert.equal(q.dtype, 'f32');
    assert.deepEqual(bits(q), Array.from(Float32Array.from(p.dataSync())), `${p.name}: the working copy is the rounded master`);
  }
  const opt = new AdamW(master.parameters(), { lr: 1e-2, weightDecay: 0.1 });
  const refOpt = new AdamW(refMaster.parameters(), { lr: 1e-2, weightDecay: 0.1 });
  const clip = 0.05; // small enough to clip

  for (let step = 0; step < 3; step++) {
    const r = await mp.step(opt, () => working.loss(tokens(step)).loss, { clip });

    // reference, by hand
    scope(() => { refWork.loadStateDict(refMaster.stateDict()); }); // f64 → f32 rounding, as syncWorking
    refWork.zeroGrad();
    refMaster.zeroGrad();
    const refLoss = scope(() => {
      const l = refWork.loss(tokens(step)).loss;
      l.backward();
      return l.detach();
    });
    noGrad(() => {
      refMaster.parameters().forEach((p, i) => {
        const g = refWork.parameters()[i].grad;
        if (g) p.grad = scope(() => cast(g, 'f64')).keep();
      });
    });
    const norm = clipGradNorm(refMaster.parameters(), clip);
    assert.equal(r.loss, (await refLoss.item()), `step ${step}: loss`);
    assert.equal(r.gradNorm, await norm.item(), `step ${step}: gradient norm (f64, before clipping)`);
    refLoss.dispose();
    norm.dispose();
    refOpt.step();
    master.parameters().forEach((p, i) => {
      assert.equal(p.dtype, 'f64');
      assert.deepEqual(bits(p), bits(refMaster.parameters()[i]), `step ${step}: master ${p.name}`);
      assert.equal(p.grad?.dtype ?? 'f64', 'f64');
      assert.equal(working.parameters()[i].grad, null, 'the working gradients were moved to the masters');
    });
  }
  // the next step's sync rounds the updated masters into the working copies
  mp.syncWorking();
  master.parameters().forEach((p, i) => assert.deepEqual(bits(working.parameters()[i]), Array.from(Float32Array.from(p.dataSync()))));
  opt.dispose();
  refOpt.dispose();
  mp.dispose();
  for (const m of [master, refWork, refMaster]) m.dispose();
});

test('a non-finite loss or gradient stops the step before the masters change', async () => {
  const master = new RecurrentLM({ ...config, dropout: 0 }, { rng: new Rng(1), dtype: 'f64' });
  const working = new RecurrentLM({ ...config, dropout: 0 }, { rng: new Rng(1), dtype: 'f32' });
  const mp = new MixedPrecision(master, working);
  const opt = new AdamW(master.parameters());
  const before = master.parameters().map(bits);
  await assert.rejects(mp.step(opt, () => mul(working.loss(tokens(0)).loss, NaN), { step: 7 }),
    (e: Error) => e instanceof NonFiniteError && /at step 7/.test(e.message));
  await assert.rejects(mp.step(opt, () => mul(working.loss(tokens(0)).loss, Infinity)), NonFiniteError);
  assert.deepEqual(master.parameters().map(bits), before);
  opt.dispose();
  mp.dispose();
  master.dispose();
});

test('the working model must mirror the master', () => {
  const master = new RecurrentLM(config, { rng: new Rng(1), dtype: 'f64' });
  const other = new RecurrentLM({ ...config, dim: 12 }, { rng: new Rng(1), dtype: 'f32' });
  const deeper = new RecurrentLM({ ...config, depth: 3 }, { rng: new Rng(1), dtype: 'f32' });
  assert.throws(() => new MixedPrecision(master, other), /does not mirror the master: 'token_emb.weight': master/);
  assert.throws(() => new MixedPrecision(master, deeper), /extra 'layers.2/);
  for (const m of [master, other, deeper]) m.dispose();
});

test('--dtype: bf16 needs the CUDA backend; other values are rejected', () => {
  assert.equal(precisionUnsupported('f32', 'cpu'), null);
  assert.equal(precisionUnsupported('bf16', 'cuda'), null);
  const why = precisionUnsupported('bf16', 'cpu');
  assert.match(why!, /^--dtype bf16 needs --device cuda/);
  const text = 'the quick brown fox jumps over the lazy dog. '.repeat(20);
  const args: TrainArgs = { ...DEFAULT_TRAIN_ARGS, dim: 8, depth: 1, batch: 2, seq: 8, steps: 1, dtype: 'bf16' };
  assert.throws(() => LMTrainer.create({ args, text, textInfo: { path: 'x', chars: text.length, sha256: '0' } }),
    (e: Error) => e instanceof TrainConfigError && e.message === why);
  assert.throws(() => checkTrainArgs({ ...args, dtype: 'f16' as never }), /dtype must be f32 or bf16, got f16/);
  assert.equal(DEFAULT_TRAIN_ARGS.dtype, 'f32');
});

test('recur train --dtype bf16 without --device cuda: one line, exit code 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recur-precision-'));
  try {
    const textPath = join(dir, 'text.txt');
    writeFileSync(textPath, 'to be or not to be, that is the question. '.repeat(20));
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const { RECUR_DEVICE: _, RECUR_DEBUG: __, ...env } = process.env;
    const r = spawnSync(process.execPath, [main, '--threads', '1', 'train', '--text', textPath, '--dtype', 'bf16', '--steps', '1', '--out', join(dir, 'run')],
      { env, encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'recur: --dtype bf16 needs --device cuda (bf16 is a GPU storage type; the cpu backend trains in f32)\n');
    const bad = spawnSync(process.execPath, [main, 'train', '--text', textPath, '--dtype', 'f16'], { env, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^recur: .*f16/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
