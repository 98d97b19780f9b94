/**
 * Long runs as chains of time-boxed chunks (`recur train --time-budget`, tools/chunked-run.sh):
 * a run cut into chunks, each a fresh process that resumes the last checkpoint, ends with the
 * same weights, optimizer state, log and held-out scores, bit for bit, as one run of the same
 * steps — for every task, with dropout on and a cosine schedule (which follows --steps, the same
 * in every chunk). A budget below one step still makes each chunk take exactly one step, so the
 * number of chunks is known.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAIN, assertUserError, recur } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'recur-chunks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CHUNKED_RUN = fileURLToPath(new URL('../../../tools/chunked-run.sh', import.meta.url));

const text = join(dir, 'text.txt');
writeFileSync(text, 'the quick brown fox jumps over the lazy dog; '.repeat(40));

const STEPS = 5;
const COMMON = ['--steps', String(STEPS), '--eval-every', '2', '--log-every', '1', '--dropout', '0.1', '--schedule', 'cosine', '--warmup', '2', '--seed', '7'];
const TASKS: Record<string, string[]> = {
  lm: ['--text', text, '--dim', '16', '--depth', '1', '--batch', '4', '--seq', '16', '--val-windows', '4'],
  listops: ['--task', 'listops', '--min-length', '3', '--max-length', '12', '--max-depth', '2', '--dim', '16', '--depth', '1', '--batch', '4', '--val-examples', '16', '--test-examples', '16'],
  'selective-copy': ['--task', 'selective-copy', '--seq', '16', '--letters', '3', '--dim', '16', '--batch', '4', '--val-examples', '16'],
  recall: ['--task', 'recall', '--model', 'minlstm', '--seq', '24', '--pairs', '4', '--dim', '16', '--batch', '4', '--val-examples', '16'],
};

/** log.jsonl without the lines that name a session (start, resume) or time it. */
const scores = (run: string) => readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  .filter((r) => r.type === 'train' || r.type === 'val')
  .map(({ tokens_per_sec: _r, elapsed_s: _e, ...r }) => r);
const files = (run: string) => ['model.safetensors', 'optimizer.safetensors', 'trainer.json'].map((f) => {
  const bytes = readFileSync(join(run, `ckpt-${String(STEPS).padStart(6, '0')}`, f));
  // trainer.json holds the seconds spent, which differ from run to run.
  return f === 'trainer.json' ? JSON.stringify({ ...JSON.parse(bytes.toString('utf8')), elapsedSeconds: 0, logBytes: 0 }) : bytes.toString('base64');
});

for (const [task, flags] of Object.entries(TASKS)) {
  test(`${task}: ${STEPS} chunks of one step (--time-budget, each a new process) == one run of ${STEPS} steps, bit for bit`, async () => {
    const whole = join(dir, `${task}-whole`), chunked = join(dir, `${task}-chunked`);
    const one = await recur(['train', ...flags, ...COMMON, '--out', whole]);
    assert.equal(one.code, 0, one.stderr);
    let r = await recur(['train', ...flags, ...COMMON, '--out', chunked, '--time-budget', '0.001']);
    for (let chunk = 1; chunk < STEPS; chunk++) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^time budget 0.001s reached: step ${chunk}/${STEPS} \\|`, 'm'));
      assert.match(r.stdout, new RegExp(`continue with: recur train --resume ${chunked} --time-budget 0.001s$`, 'm'));
      r = await recur(['train', '--resume', chunked, '--time-budget', '0.001']);
      assert.match(r.stdout, new RegExp(`resuming at step ${chunk}\\b`));
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^done: step ${STEPS}/${STEPS}`, 'm'));
    assert.deepEqual(scores(chunked), scores(whole));
    assert.deepEqual(files(chunked), files(whole));
  });
}

test('tools/chunked-run.sh: chunks on machines that keep nothing (pack, wipe, unpack, run) == one run', async () => {
  const whole = join(dir, 'sh-whole'), run = join(dir, 'sh-run'), archive = join(dir, 'sh-run.tgz');
  const flags = [...TASKS['selective-copy']!, ...COMMON];
  const one = await recur(['train', ...flags, '--out', whole]);
  assert.equal(one.code, 0, one.stderr);
  const env = { ...process.env, RECUR: `${process.execPath} ${MAIN} --threads 1` };
  for (let chunk = 1; chunk <= STEPS; chunk++) {
    if (chunk > 1) execFileSync('bash', [CHUNKED_RUN, 'unpack', archive, run], { env });
    const out = execFileSync('bash', [CHUNKED_RUN, 'run', run, '0.001', ...flags], { env, encoding: 'utf8' });
    assert.match(out, chunk < STEPS ? /time budget 0.001s reached/ : /^done: step 5\/5/m);
    execFileSync('bash', [CHUNKED_RUN, 'pack', run, archive], { env });
    rmSync(run, { recursive: true });
  }
  execFileSync('bash', [CHUNKED_RUN, 'unpack', archive, run], { env });
  assert.deepEqual(scores(run), scores(whole));
  assert.deepEqual(files(run), files(whole));
  const listing = execFileSync('tar', ['tzf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean).map((p) => p.replace(/\/.*$/, '')).sort();
  assert.deepEqual([...new Set(listing)], ['ckpt-000005', 'curves.svg', 'latest.json', 'log.jsonl'], 'only the latest checkpoint travels');
});

test('tools/chunked-run.sh: a resumed language model finds its text by the --text given (the folder moved machines)', async () => {
  const run = join(dir, 'sh-lm'), moved = join(dir, 'moved.txt');
  const env = { ...process.env, RECUR: `${process.execPath} ${MAIN} --threads 1` };
  const flags = [...TASKS.lm!, ...COMMON];
  execFileSync('bash', [CHUNKED_RUN, 'run', run, '0.001', ...flags], { env, encoding: 'utf8' });
  writeFileSync(moved, readFileSync(text));
  const out = execFileSync('bash', [CHUNKED_RUN, 'run', run, '0.001', ...flags.map((f) => (f === text ? moved : f))], { env, encoding: 'utf8' });
  assert.match(out, /resuming at step 1\b/);
  assert.match(out, new RegExp(`text ${moved}:`));
});

test('tools/chunked-run.sh: a job may pass --text to every run; a run of another task resumes without it', async () => {
  const run = join(dir, 'sh-copy');
  const env = { ...process.env, RECUR: `${process.execPath} ${MAIN} --threads 1` };
  const flags = [...TASKS['selective-copy']!, ...COMMON];
  execFileSync('bash', [CHUNKED_RUN, 'run', run, '0.001', ...flags], { env, encoding: 'utf8' });
  const out = execFileSync('bash', [CHUNKED_RUN, 'run', run, '0.001', '--text', text], { env, encoding: 'utf8' });
  assert.match(out, /resuming at step 1\b/);
  assert.match(out, /time budget 0.001s reached: step 2\/5/);
});

test('--time-budget refuses what is not a duration in one sentence', async () => {
  for (const bad of ['0', '-5', '9x', 'm', '8d', '1000000000']) {
    assertUserError(await recur(['train', '--text', text, '--time-budget', bad]), /--time-budget must be a duration above 0 and at most a week, like 540, 90s, 9m or 1h30m/, bad);
  }
});
