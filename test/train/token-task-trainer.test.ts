/**
 * `recur train --task selective-copy | recall`: small settings learn (selective copying solved,
 * recall well above chance), `recur eval` scores the run's own test set, presets imply their task,
 * and bad settings are refused in one sentence.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { DEFAULT_TOKEN_TASK_ARGS, TokenTaskTrainer, tokenTaskHeldOut } from '../../src/train/token-task-trainer.js';
import { assertUserError, recur } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'recur-token-tasks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FAST = ['--dim', '32', '--depth', '2', '--lr', '1e-2', '--warmup', '20', '--eval-every', '100', '--val-examples', '256'];

test('selective copying (T 12, 2 tokens) is solved in 200 steps; recur eval scores the held-out test set', async () => {
  const run = join(dir, 'copy');
  const r = await recur(['train', '--task', 'selective-copy', '--seq', '12', '--letters', '2', '--vocab', '6', ...FAST, '--steps', '200', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^recur train --task selective-copy: selective copying: 2 tokens in 12, vocab 6 \| mingru, 2 layers, dim 32/m);
  const done = /^done: step 200\/200 \| val loss [\d.]+ nats\/answer \| accuracy ([\d.]+)% \| sequences all right ([\d.]+)%/m.exec(r.stdout);
  assert.ok(done, r.stdout);
  assert.ok(Number(done[1]) >= 99, `val accuracy ${done[1]}%`);
  const ev = await recur(['eval', '--checkpoint', run, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout) as { task: string; split: string; examples: number; accuracy: number; sequence_accuracy: number };
  assert.deepEqual([e.task, e.split, e.examples], ['selective-copy', 'test', 1024]);
  assert.ok(e.accuracy >= 0.99 && e.sequence_accuracy >= 0.98, JSON.stringify(e));
  const svg = readFileSync(join(run, 'curves.svg'), 'utf8');
  assert.ok(svg.includes('answer-token accuracy') && svg.includes('nats/answer token'));
});

test('associative recall (T 16, 3 pairs, 4 values) rises far above chance in 200 steps', async () => {
  const run = join(dir, 'recall');
  const r = await recur(['train', '--task', 'recall', '--seq', '16', '--pairs', '3', '--vocab', '9', ...FAST, '--steps', '200', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
  const done = /^done: step 200\/200 \| val loss [\d.]+ nats\/answer \| accuracy ([\d.]+)%/m.exec(r.stdout);
  assert.ok(done, r.stdout);
  assert.ok(Number(done[1]) >= 50, `val accuracy ${done[1]}% (chance 25%)`);
});

test('held-out sets are fixed by --data-seed and differ between validation and test', () => {
  const args = { ...DEFAULT_TOKEN_TASK_ARGS, valExamples: 8, testExamples: 8 };
  const a = tokenTaskHeldOut('recall', args, 'val'), b = tokenTaskHeldOut('recall', args, 'val'), t = tokenTaskHeldOut('recall', args, 'test');
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.inputs, t.inputs);
  assert.notDeepEqual(a.inputs, tokenTaskHeldOut('recall', { ...args, dataSeed: 2 }, 'val').inputs);
});

test('the trainer frees what it made', () => {
  const trainer = TokenTaskTrainer.create('selective-copy', { ...DEFAULT_TOKEN_TASK_ARGS, dim: 8, depth: 1, seq: 8, letters: 2, valExamples: 4 });
  trainer.dispose();
  assert.ok(trainer.model.parameters().every((p) => p.isDisposed));
});

test('token-task flags and presets: one sentence for what does not fit', async () => {
  const cases: [string, string[], RegExp][] = [
    ['text with a token task', ['train', '--task', 'recall', '--text', 'x.txt'], /--text does not apply to --task recall/],
    ['letters with lm', ['train', '--text', 'x.txt', '--letters', '3'], /--letters does not apply to --task lm/],
    ['pairs too many', ['train', '--task', 'recall', '--seq', '16', '--pairs', '5'], /--seq 16 must be at least 4 × --pairs \(20\)/],
    ['letters too many', ['train', '--task', 'selective-copy', '--seq', '6', '--letters', '4'], /--seq 6 must be at least twice --letters \(4\)/],
    ['preset of another task', ['train', '--task', 'lm', '--preset', 'selective-copy-4096'], /--preset selective-copy-4096 is a --task selective-copy preset, not --task lm/],
    ['bad vocab', ['train', '--task', 'selective-copy', '--vocab', '3'], /--vocab must be an integer ≥ 4, got 3/],
  ];
  for (const [what, args, pattern] of cases) assertUserError(await recur(args), pattern, what);
});
