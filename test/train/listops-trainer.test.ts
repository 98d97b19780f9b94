/**
 * `recur train --task listops` and `recur eval` of its checkpoints, through the built bin: a tiny
 * classifier learns an easy ListOps well above the majority class, runs resume bit-for-bit (also
 * after Ctrl-C), and bad flags fail with one line. Plus the trainer's data split, in-process.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import {
  DEFAULT_LISTOPS_ARGS, LISTOPS_PRESETS, ListOpsTrainer, checkListOpsArgs, listOpsHeldOut, listOpsModelConfig, type ListOpsArgs,
} from '../../src/train/listops-trainer.js';
import { SequenceClassifier, classifierParamGroups } from '../../src/models/deep-lru.js';
import { LRU } from '../../src/cells/lru.js';
import { Rng } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/tensor.js';
import { assertUserError, recur } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'recur-listops-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One operator over 2–4 digits ([MAX 3 9 1 ]): learnable in a second or two. */
const EASY = ['--task', 'listops', '--min-length', '3', '--max-length', '8', '--max-depth', '2', '--max-args', '4', '--val-examples', '200', '--test-examples', '300'];
const TINY = [...EASY, '--dim', '16', '--depth', '1', '--batch', '8', '--val-examples', '20', '--test-examples', '20'];

const records = (run: string) => readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss?: number; accuracy?: number });
const scores = (run: string) => records(run).filter((x) => x.type === 'train' || x.type === 'val').map((x) => [x.type, x.step, x.loss, x.accuracy]);
const sameFile = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

test('a deep LRU learns easy ListOps far above the majority class; recur eval scores the test set', async () => {
  const run = join(dir, 'learn');
  const r = await recur(['train', ...EASY, '--model', 'lru', '--dim', '32', '--depth', '2', '--batch', '32', '--lr', '5e-3', '--warmup', '10',
    '--dropout', '0', '--steps', '200', '--eval-every', '100', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^recur train --task listops: ListOps 3 < length < 8, depth ≤ 2, ≤ 4 args \| 2 × \[layer norm → lru \(N 32/m);
  const done = /^done: step 200\/200 \| val loss [\d.]+ \| accuracy ([\d.]+)% \(majority class ([\d.]+)%\)/m.exec(r.stdout);
  assert.ok(done, r.stdout);
  const [acc, majority] = [Number(done[1]), Number(done[2])];
  assert.ok(acc >= 35 && acc >= 2.5 * majority, `val accuracy ${acc}% vs majority ${majority}%`);

  const ev = await recur(['eval', '--checkpoint', run, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout) as { split: string; examples: number; accuracy: number; majority: number; root_operator: number; loss: number };
  assert.ok(e.root_operator >= e.majority && e.root_operator <= 1, `root operator ${e.root_operator}`);
  assert.equal(e.split, 'test');
  assert.equal(e.examples, 300);
  assert.ok(e.accuracy >= 0.35 && e.accuracy >= 2.5 * e.majority, `test accuracy ${e.accuracy} vs majority ${e.majority}`);
  const plain = await recur(['eval', '--checkpoint', run]);
  assert.match(plain.stdout, /on ListOps test \(300 expressions, 3 < length < 8, data seed 1\): accuracy [\d.]+% \| majority class \(\d\) [\d.]+% \| root operator alone [\d.]+% \| loss [\d.]+/);
  const svg = readFileSync(join(run, 'curves.svg'), 'utf8');
  assert.ok(svg.includes('answer accuracy') && svg.includes('data-name="val accuracy"'));
});

for (const model of ['lru', 'mingru']) {
  test(`${model}: train N steps == N/2, then --resume to N (bit-for-bit, dropout on)`, async () => {
    const whole = join(dir, `whole-${model}`), half = join(dir, `half-${model}`);
    // A constant schedule after warm-up: the cosine one follows --steps, which a resume may change.
    const common = ['train', ...TINY, '--model', model, '--dropout', '0.2', '--schedule', 'constant', '--warmup', '3', '--log-every', '1', '--eval-every', '4'];
    const [a, b] = await Promise.all([recur([...common, '--steps', '8', '--out', whole]), recur([...common, '--steps', '4', '--out', half])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const c = await recur(['train', '--resume', half, '--steps', '8']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /resuming at step 4/);
    assert.deepEqual(scores(half), scores(whole));
    assert.ok(sameFile(join(half, 'ckpt-000008', 'model.safetensors'), join(whole, 'ckpt-000008', 'model.safetensors')));
  });
}

test('Ctrl-C saves a checkpoint and exits 130; resuming continues bit-for-bit', async () => {
  const out = join(dir, 'sigint'), fresh = join(dir, 'sigint-fresh');
  const common = ['train', ...TINY, '--dropout', '0.1', '--schedule', 'constant', '--log-every', '1', '--eval-every', '1000', '--save-every', '1000'];
  let sent = false;
  let poll: NodeJS.Timeout | undefined;
  const r = await recur([...common, '--steps', '100000', '--out', out], {
    onSpawn: (child) => {
      poll = setInterval(() => {
        if (sent || !existsSync(join(out, 'log.jsonl'))) return;
        if (readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).length > 4) {
          sent = true;
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
    },
  });
  clearInterval(poll);
  assert.ok(sent, 'SIGINT was sent');
  assert.equal(r.code, 130, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stdout, /^interrupted: step \d+\/100000/m);
  const step = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')).step as number;
  assert.ok(step >= 3, `checkpoint at step ${step}`);
  const [res, ref] = await Promise.all([
    recur(['train', '--resume', out, '--steps', String(step + 3)]),
    recur([...common, '--steps', String(step + 3), '--out', fresh]),
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(ref.code, 0, ref.stderr);
  const last = `ckpt-${String(step + 3).padStart(6, '0')}`;
  assert.ok(sameFile(join(out, last, 'model.safetensors'), join(fresh, last, 'model.safetensors')));
  assert.ok(sameFile(join(out, last, 'optimizer.safetensors'), join(fresh, last, 'optimizer.safetensors')));
});

test('a diverging ListOps run stops with one line and exit code 1, without a checkpoint', async () => {
  const out = join(dir, 'nan');
  const r = await recur(['train', ...TINY, '--lr', '1e30', '--clip', '0', '--steps', '30', '--eval-every', '30', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^recur: training diverged: the (loss|gradient norm|validation loss) became (NaN|-?Infinity)/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.ok(!existsSync(join(out, 'latest.json')));
});

test('bad flags: one line, exit code 2', async () => {
  const run = join(dir, 'small');
  const ok = await recur(['train', ...TINY, '--steps', '2', '--out', run]);
  assert.equal(ok.code, 0, ok.stderr);
  const cases: [string, string[], RegExp][] = [
    ['lm flag', ['train', ...TINY, '--seq', '64'], /--seq does not apply to --task listops/],
    ['text', ['train', ...TINY, '--text', 'x.txt', '--conv', '2'], /--text, --conv do not apply to --task listops/],
    ['listops flag on lm', ['train', '--text', 'x.txt', '--max-depth', '3'], /--max-depth does not apply to --task lm/],
    ['bigram', ['train', ...TINY, '--model', 'bigram'], /unknown model 'bigram' for --task listops/],
    ['max args', ['train', ...TINY, '--max-args', '1'], /maxArgs must be an integer ≥ 2, got 1/],
    ['lengths', ['train', ...TINY, '--min-length', '8', '--max-length', '9'], /maxLength must exceed minLength \+ 1/],
    ['lru flag on mingru', ['train', ...TINY, '--model', 'mingru', '--r-min', '0.5'], /--r-min does not apply to --model mingru/],
    ['scan on lru', ['train', ...TINY, '--scan', 'real'], /--scan does not apply to --model lru/],
    ['r-max', ['train', ...TINY, '--r-max', '1'], /--r-max must be a number in \[0, 1\), got '1'/],
    ['lm preset', ['train', ...TINY, '--preset', 'shakespeare-mingru'], /--preset shakespeare-mingru is a --task lm preset, not --task listops/],
    ['unknown task', ['train', '--task', 'pathx'], /'pathx' is invalid/],
    ['too few distinct', ['train', ...TINY, '--max-depth', '1', '--val-examples', '20'], /cannot make the held-out sets/],
    ['resume conflict', ['train', '--resume', run, '--dim', '32', '--steps', '4'], /conflict with the run's config: dim 32 \(the run has 16\)/],
    ['resume other task', ['train', '--resume', run, '--task', 'lm'], /--task lm conflicts with the run in .*, a listops run/],
    ['eval text', ['eval', '--checkpoint', run, '--text', 'x.txt'], /--text does not apply to a ListOps checkpoint/],
    ['generate', ['generate', '--checkpoint', run, '--prompt', '1'], /holds a listops model, not a language model/],
  ];
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const results = await Promise.all(batch.map(([, args]) => recur(args)));
    batch.forEach(([what, , pattern], j) => assertUserError(results[j]!, pattern, what));
  }
});

test('held-out sets: deterministic, disjoint, and never drawn for training', async () => {
  const args: ListOpsArgs = { ...DEFAULT_LISTOPS_ARGS, minLength: 3, maxLength: 6, maxDepth: 2, maxArgs: 3, valExamples: 300, testExamples: 300, dim: 8, depth: 1, batch: 64 };
  const a = listOpsHeldOut(args), b = listOpsHeldOut(args);
  assert.deepEqual(a.test.map((e) => e.source), b.test.map((e) => e.source));
  const held = new Set([...a.val, ...a.test].map((e) => e.source));
  assert.equal(held.size, 600, 'validation and test share no expression');
  const trainer = ListOpsTrainer.create(args);
  try {
    for (let i = 0; i < 20; i++) {
      const batch = (trainer as unknown as { nextExamples(): { source: string }[] }).nextExamples();
      for (const e of batch) assert.ok(!held.has(e.source), `training drew held-out ${e.source}`);
    }
  } finally {
    trainer.dispose();
  }
});

test('listops-lra builds the LRU paper\'s classifier (6 bidirectional LRU blocks, H 128, N 256) on LRA\'s lengths; listops-cpu stays the default', () => {
  assert.deepEqual(LISTOPS_PRESETS['listops-cpu'].args, {});
  const args = checkListOpsArgs({ ...DEFAULT_LISTOPS_ARGS, ...LISTOPS_PRESETS['listops-lra'].args });
  const model = new SequenceClassifier(listOpsModelConfig(args), { rng: new Rng(0) });
  try {
    assert.equal(model.blocks.length, 6);
    for (const block of model.blocks) {
      const cell = block.cell as LRU;
      assert.ok(cell instanceof LRU && cell.bidirectional, 'every block is a bidirectional LRU');
      assert.deepEqual([cell.dModel, cell.dState], [128, 256]);
      // the ring [0, 0.99]: every initial |λ| lies in it
      const [re, im] = scope(() => cell.lambda('backward').map((t) => t.dataSync()));
      for (let n = 0; n < 256; n++) assert.ok(Math.hypot(re[n], im[n]) <= 0.99 + 1e-6);
    }
    for (const block of model.blocks) assert.equal(block.drop.p, 0, 'no dropout');
    const [other, recurrent] = classifierParamGroups(model, args);
    assert.deepEqual([other.lr, other.weightDecay, recurrent.lr, recurrent.weightDecay], [3e-3, 0.05, 1.5e-3, 0]);
    assert.equal(recurrent.params.length, 6 * 2 * 5, 'ν, θ, γ, B_re, B_im of both directions of every block');
  } finally {
    model.dispose();
  }
  assert.deepEqual([args.minLength, args.maxLength, args.batch, args.valExamples, args.testExamples], [500, 2000, 32, 2000, 2000]);
});

test('a cell flag given with a preset changes that option only; the preset\'s other cell options stay', async () => {
  const run = join(dir, 'preset-and-flag');
  const r = await recur(['train', '--task', 'listops', '--preset', 'listops-lra', ...TINY, '--r-min', '0.5', '--steps', '1', '--eval-every', '1', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(run, 'ckpt-000001', 'config.json'), 'utf8')) as { model: { config: Record<string, unknown> } };
  const text = JSON.stringify(config.model.config);
  assert.match(text, /"rMin":0\.5/, 'the flag sets rMin');
  assert.match(text, /"rMax":0\.99/, 'the preset\'s rMax stays');
  assert.match(text, /"bidirectional":true/, 'the preset\'s bidirectional stays');
});
