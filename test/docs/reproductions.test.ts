/**
 * docs/reproductions.md's runs: every committed run folder holds a log, every figure the page shows
 * exists, and every unfinished run's packed folder (run.tgz) unpacks with tools/chunked-run.sh into
 * a checkpoint that loads with finite weights at the step its committed log ends on, so the next
 * GPU job can continue it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/default-backend.js';
import { disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { ROOT, scratchDir } from './doc-runner.js';

const RUNS = join(ROOT, 'docs', 'reproductions', 'runs');
const PAGE = readFileSync(join(ROOT, 'docs', 'reproductions.md'), 'utf8');

const records = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
const lastStep = (file: string) => Math.max(...records(file).filter((r) => r.type === 'train').map((r) => r.step));

test('every run folder has the flags it starts with, shown on the page; every log is a run\'s; every figure exists', () => {
  const runs = readdirSync(RUNS);
  assert.ok(runs.length >= 4, runs.join(', '));
  for (const run of runs) {
    const flags = readFileSync(join(RUNS, run, 'flags'), 'utf8').trim();
    assert.ok(PAGE.includes(`train ${flags}`), `${run}: the page shows no 'recur train ${flags}'`);
  }
  const logged = runs.filter((run) => existsSync(join(RUNS, run, 'log.jsonl')));
  assert.ok(logged.length >= 4, logged.join(', '));
  for (const run of logged) assert.ok(records(join(RUNS, run, 'log.jsonl')).length > 1, run);
  const figures = [...PAGE.matchAll(/!\[[^\]]*\]\(([^)]+\.svg)\)/g)].map((m) => m[1]!);
  assert.ok(figures.length >= 4, `figures: ${figures.join(', ')}`);
  for (const f of figures) assert.ok(readFileSync(join(ROOT, 'docs', f), 'utf8').includes('<svg'), f);
});

const packed = readdirSync(RUNS).filter((run) => existsSync(join(RUNS, run, 'run.tgz')));

test('the unfinished runs are packed where the page says', () => {
  assert.ok(packed.length >= 1);
  for (const run of packed) assert.ok(PAGE.includes(`docs/reproductions/runs/${run}/run.tgz`), `${run} is not named on the page`);
});

for (const run of packed) {
  test(`${run}/run.tgz unpacks into a checkpoint that loads, at the step its committed log ends on`, async () => {
    const dir = join(scratchDir(), `unpacked-${run}`);
    try {
      execFileSync('bash', [join(ROOT, 'tools', 'chunked-run.sh'), 'unpack', join(RUNS, run, 'run.tgz'), dir]);
      assert.equal(readFileSync(join(dir, 'log.jsonl'), 'utf8'), readFileSync(join(RUNS, run, 'log.jsonl'), 'utf8'), 'the committed log is the packed one');
      const ckpt = await loadCheckpoint(dir, { training: true });
      try {
        // The checkpoint is the log's end: the log held exactly these bytes when it was saved.
        const log = join(RUNS, run, 'log.jsonl');
        assert.equal((ckpt.trainer as { logBytes?: number }).logBytes, readFileSync(log).length);
        const step = ckpt.trainer!.step, logged = lastStep(log);
        assert.ok(step >= logged && step < logged + 50, `checkpoint at step ${step}, log ends at ${logged}`);
      } finally {
        disposeTensorTree(ckpt.weights);
        disposeTensorTree(ckpt.optimizer);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
