/**
 * Selecting the WebGPU backend from the command line: `--device webgpu` trains on it (when an
 * adapter is here), and without one the CLI says so in one sentence and exits 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipReason } from './compare.js';

const bin = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });

test('--device webgpu without an adapter is one sentence and exit code 2', () => {
  // no Vulkan driver at all: Dawn finds no adapter
  const r = run(['--device', 'webgpu', 'demo', '--steps', '1'], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trim().split('\n').pop()!, /^recur: WebGPU has no adapter here \(.+\); use the 'cpu' backend\.$/);
});

test('recur train --device webgpu runs a few steps and writes its log', { skip: skipReason }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'recur-webgpu-cli-'));
  try {
    writeFileSync(join(dir, 'text.txt'), 'the quick brown fox jumps over the lazy dog. '.repeat(60));
    const r = run(['--device', 'webgpu', 'train', '--text', join(dir, 'text.txt'), '--dim', '16', '--depth', '1', '--batch', '4', '--seq', '16',
      '--steps', '3', '--val-windows', '2', '--eval-every', '1000', '--log-every', '1', '--out', join(dir, 'run')]);
    assert.equal(r.status, 0, r.stderr);
    const log = readFileSync(join(dir, 'run', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number });
    const losses = log.filter((l) => l.type === 'train').map((l) => l.loss!);
    assert.equal(losses.length, 3);
    assert.ok(losses.every(Number.isFinite));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
