/**
 * The three robustness fuzzers (test/fuzz/fuzzers.ts) with a fixed seed and few cases, so CI keeps
 * them working; `npm run fuzz -- --cases N` runs them longer. The CLI time limit here is looser
 * than the 5 s of docs/reliability.md because CI machines run many tests at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzCheckpointFiles, fuzzFlags, fuzzRunDirectories, makeRun } from './fuzzers.js';

const SEED = 7;
const LIMIT_MS = 20_000;
let dir = '', run = '', text = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'recur-fuzz-ci-'));
  ({ run, text } = await makeRun(dir));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('checkpoint files: mutated model.safetensors load cleanly or fail with a CheckpointError', async () => {
  const r = await fuzzCheckpointFiles(run, SEED, 40);
  assert.deepEqual(r.failures, []);
  assert.equal(r.clean, 40);
});

test('CLI flags: bad values exit with one sentence, no stack trace', async () => {
  const r = await fuzzFlags(run, text, SEED, 10, LIMIT_MS);
  assert.deepEqual(r.failures, []);
  assert.equal(r.tried, 10);
});

test('run directories: tampered runs are refused in one sentence or still work', async () => {
  const r = await fuzzRunDirectories(run, text, SEED, 10, LIMIT_MS);
  assert.deepEqual(r.failures, []);
  assert.equal(r.tried, 10);
});
