/**
 * tools/reproduce-chunks.sh, one job of the reproductions: runs named by their folders start from
 * their flags or continue from their run.tgz, side by side, and come back packed (split on request);
 * bad arguments are one line and exit 2. On the CPU with a tiny selective-copying run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';

const TOOLS = fileURLToPath(new URL('../../../tools/', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'recur-reproduce-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const runs = join(dir, 'runs'), work = join(dir, 'work');
const env = { ...process.env, RUNS: runs, WORK: work, RECUR: `${process.execPath} ${MAIN} --threads 1` };
const job = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync('bash', [join(TOOLS, 'reproduce-chunks.sh'), ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
/** The step of the checkpoint an archive holds. */
const packedStep = (archive: string) => {
  const names = execFileSync('tar', ['tzf', archive], { encoding: 'utf8' });
  return Number(/ckpt-(\d+)\//.exec(names)![1]);
};

mkdirSync(join(runs, 'copy'), { recursive: true });
writeFileSync(join(runs, 'copy', 'flags'), '--task selective-copy --seq 16 --letters 3 --dim 16 --batch 4 --val-examples 16 --steps 400 --eval-every 2\n');

test('a job starts a run from its flags, the next continues it from the run.tgz it brought back', () => {
  const out1 = join(dir, 'out1');
  const first = job(['1', out1, 'copy']);
  assert.equal(first.status, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /^copy: time budget 1s reached: step \d+\/400/m);
  const step1 = packedStep(join(out1, 'copy.tgz'));
  assert.ok(step1 >= 1);
  copyFileSync(join(out1, 'copy.tgz'), join(runs, 'copy', 'run.tgz'));

  const out2 = join(dir, 'out2');
  const second = job(['1', out2, 'copy'], { SPLIT: '20k' });
  assert.equal(second.status, 0, second.stderr + second.stdout);
  assert.match(readFileSync(join(out2, 'copy.out'), 'utf8'), new RegExp(`resuming at step ${step1}\\b`));
  const parts = readdirSync(out2).filter((f) => f.startsWith('copy.tgz.part-')).sort();
  assert.ok(parts.length >= 2, `split into ${parts.join(', ')}`);
  const joined = join(dir, 'joined.tgz');
  writeFileSync(joined, Buffer.concat(parts.map((p) => readFileSync(join(out2, p)))));
  assert.ok(packedStep(joined) > step1);
});

test('bad arguments: one line, exit 2, nothing run', () => {
  const cases: [string[], RegExp][] = [
    [['9m', join(dir, 'o'), 'copy'], /BUDGET_SECONDS must be a whole number of seconds, got '9m'/],
    [['5', join(dir, 'o'), 'nowhere'], /'.*nowhere\/flags' does not exist/],
    [['5', join(dir, 'o'), 'copy@5'], /the delay in 'copy@5' leaves no time of the 5 s budget/],
    [['5', join(dir, 'o'), 'copy@x'], /the delay in 'copy@x' must be whole seconds/],
  ];
  for (const [args, pattern] of cases) {
    const r = job(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal(job(['5']).status, 2, 'usage');
});
