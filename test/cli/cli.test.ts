/**
 * The CLI as a user meets it: the built bin is spawned (dist/src/cli/main.js), plus the pure
 * pieces behind it (error classification, plain progress output).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { describeError, UserError } from '../../src/cli/errors.js';
import { DeviceMemoryError } from '../../src/backend/backend.js';
import { formatDuration, formatRate, Progress } from '../../src/cli/progress.js';
import type { BenchReport } from '../../src/bench/report.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function recur(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const { RECUR_DEBUG: _, ...base } = process.env;
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit 2, exactly one line 'recur: ...' on stderr, no stack frame. */
function assertUserError(r: ReturnType<typeof recur>, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^recur: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
}

test('--help lists every command and its flags', () => {
  const r = recur(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: recur /);
  for (const cmd of ['demo', 'bench']) assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `command ${cmd} listed`);
  assert.match(r.stdout, /recur bench cpu/);
  for (const flag of ['--runs <n>', '--warmup <n>', '--quick', '--out <dir>', '--threads <n>']) assert.ok(r.stdout.includes(flag), `flag ${flag} documented`);
  assert.equal(r.stderr, '');
});

test('--version prints the package version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = recur(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('an unknown flag exits 2 with one line and no stack trace', () => {
  assertUserError(recur(['--no-such-flag']), /unknown option '--no-such-flag'/);
  assertUserError(recur(['bench', 'cpu', '--no-such-flag']), /unknown option '--no-such-flag'/);
});

test('an unknown command exits 2 with a suggestion on the same line', () => {
  assertUserError(recur(['bnech']), /unknown command 'bnech'.*bench/);
});

test('a bad flag value exits 2 with one line', () => {
  assertUserError(recur(['bench', 'cpu', '--runs', 'many']), /--runs must be a positive integer, got 'many'/);
  assertUserError(recur(['bench', 'cpu', '--section', 'nope']), /unknown benchmark section 'nope'/);
});

test('RECUR_DEBUG=1 adds the stack trace to user errors', () => {
  const r = recur(['--no-such-flag'], { RECUR_DEBUG: '1' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^recur: unknown option/);
  assert.match(r.stderr, /^\s+at /m);
});

test('bench cpu --quick runs a section and writes the report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recur-bench-'));
  try {
    const r = recur(['--threads', '1', 'bench', 'cpu', '--quick', '--section', 'scan', '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^## scan$/m);
    assert.match(r.stdout, /\| linearScan forward \|/);
    const report = JSON.parse(readFileSync(join(dir, 'cpu.json'), 'utf8')) as BenchReport;
    assert.equal(report.name, 'cpu');
    assert.ok(report.machine.cores >= 1 && report.machine.cpu.length > 0);
    assert.deepEqual(report.rows.map((row) => row.name), ['linearScan forward', 'linearScan forward+backward', 'logScan forward', 'logScan forward+backward', 'complexScan forward', 'complexScan forward+backward']);
    for (const row of report.rows) assert.ok(row.throughput > 0 && row.medianMs > 0, JSON.stringify(row));
    assert.equal(readFileSync(join(dir, 'cpu.md'), 'utf8'), r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('describeError: user errors are one line with exit 2, bugs carry the stack with exit 1', () => {
  const user = describeError(new UserError('config.json: missing "model"'), 0);
  assert.deepEqual(user, { exitCode: 2, text: 'recur: config.json: missing "model"\n' });

  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x.bin'"), { code: 'ENOENT', path: 'x.bin' });
  assert.deepEqual(describeError(enoent, 0), { exitCode: 2, text: 'recur: x.bin: no such file or directory\n' });

  const bug = describeError(new TypeError('undefined is not a function'), 0);
  assert.equal(bug.exitCode, 1);
  assert.match(bug.text, /TypeError: undefined is not a function\n\s+at /);

  const oom = describeError(new DeviceMemoryError('GPU', 1.5 * 2 ** 30, 75 * 2 ** 30), 0);
  assert.deepEqual(oom, {
    exitCode: 2,
    text: 'recur: the GPU ran out of memory: 1.50 GiB more were needed while this process held 75.00 GiB (other programs on the same device count too); use a smaller --batch, --seq, --dim or --depth, or free the device\n',
  });

  assert.equal(describeError('a string', 0).exitCode, 1);
  assert.match(describeError(new UserError('x'), 1).text, /^recur: x\nUserError: x\n\s+at /);
});

function sink(): { stream: Writable & { isTTY: false }; text: () => string } {
  let buf = '';
  const stream = Object.assign(new Writable({ write(chunk, _enc, cb) { buf += String(chunk); cb(); } }), { isTTY: false as const });
  return { stream, text: () => buf };
}

test('Progress without a TTY prints a plain line at the first step, then every 10%, and log lines as they come', () => {
  const out = sink();
  const p = new Progress({ total: 50, label: 'train', stream: out.stream });
  for (let step = 1; step <= 50; step++) {
    p.update(step, { loss: 5 / step, tokensPerSec: 12_345 });
    if (step === 25) p.log('checkpoint saved');
  }
  p.stop();
  const lines = out.text().trimEnd().split('\n');
  const progressLines = lines.filter((l) => l.startsWith('train '));
  assert.deepEqual(progressLines.map((l) => Number(/^train (\d+)\//.exec(l)?.[1])), [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50], out.text());
  assert.match(progressLines[1]!, /^train 5\/50 \(10%\) \| loss 1\.0000 \| 12\.3k tok\/s \| elapsed \S+ \| ETA \S+$/);
  assert.match(progressLines.at(-1)!, /^train 50\/50 \(100%\) \| loss 0\.1000 /);
  assert.ok(lines.indexOf('checkpoint saved') === lines.indexOf(progressLines[5]!) + 1, 'log line in order');
  assert.doesNotMatch(out.text(), /\x1b\[/, 'no escape sequences');
});

test('Progress.stop() prints the final state once if the last update was not printed', () => {
  const out = sink();
  const p = new Progress({ total: 1000, stream: out.stream, everyPercent: 50 });
  p.update(1, { loss: 2 });
  p.update(3, { loss: 2 });
  p.stop();
  p.stop();
  p.update(4);
  assert.deepEqual(out.text().split('\n').filter(Boolean).map((l) => l.split(' | ')[0]), ['1/1000 (0%)', '3/1000 (0%)']);
});

test('formatRate and formatDuration', () => {
  assert.equal(formatRate(950), '950');
  assert.equal(formatRate(13_609), '13.6k');
  assert.equal(formatRate(2.5e6), '2.50M');
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(NaN), '-');
});
