/**
 * Threads by default in Node: importing the package starts the CPU worker threads (RECUR_THREADS
 * sets the count, setCpuThreads changes it), and ready() reports the kernel and the threads in use.
 * Each case runs in a fresh process (the thread pool is process state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

const entry = fileURLToPath(new URL('../../../src/index.js', import.meta.url));

function run(script: string, env: Record<string, string | undefined>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(entry)}); ${script}`], {
    env: { ...process.env, RECUR_THREADS: undefined, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const READY = 'console.log(JSON.stringify(await m.ready()));';

test('import starts RECUR_THREADS threads; ready() reports the wasm SIMD kernel and the count', () => {
  for (const n of [1, 2]) {
    const r = run(READY, { RECUR_THREADS: String(n) });
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { kernel: string; threads: number; sharedMemory: boolean; notice: string | null };
    assert.match(info.kernel, /^wasm-simd/);
    assert.equal(info.threads, n);
    assert.equal(info.sharedMemory, true);
    assert.equal(info.notice, null);
  }
});

test('without RECUR_THREADS the import uses the available cores; setCpuThreads changes the count', () => {
  const r = run(`const a = await m.ready(); m.setCpuThreads(1); const b = await m.ready(); console.log(JSON.stringify([a.threads, b.threads]));`, {});
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [Math.min(16, availableParallelism()), 1]);
});

test('a bad RECUR_THREADS stops the import with one sentence', () => {
  const r = run(READY, { RECUR_THREADS: 'many' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /RECUR_THREADS must be a positive integer, got 'many'/);
});
