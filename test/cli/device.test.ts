import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { cudaStatus } from '../../src/backend/cuda/cuda.js';

const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('an unknown RECUR_DEVICE is a one-line usage error', () => {
  const r = run(['demo', '--steps', '1'], { RECUR_DEVICE: 'tpu' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), "recur: unknown device 'tpu' (RECUR_DEVICE or --device: cpu, cuda or webgpu)");
});

test('--device cuda without a GPU says so in one sentence and exits 2', { skip: cudaStatus().available && 'a GPU is present' }, () => {
  const r = run(['--device', 'cuda', 'demo', '--steps', '1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^recur: The CUDA backend is unavailable on this machine \(.+\); use the 'cpu' backend\.$/);
});
