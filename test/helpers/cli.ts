/** Running the built `recur` bin in tests (dist/src/cli/main.js) and checking its user errors. */
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Spawns the bin (one helper thread off: runs stay deterministic and light on a busy machine). */
export function recur(args: string[], opts: { onSpawn?: (child: ReturnType<typeof spawn>) => void; timeoutMs?: number } = {}): Promise<Run> {
  const { RECUR_DEBUG: _, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--threads', '1', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    opts.onSpawn?.(child);
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** A user error: exit 2, exactly one line 'recur: ...' on stderr, no stack frame. */
export function assertUserError(r: Run, pattern: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^recur: /, what);
  assert.match(lines[0]!, pattern, what);
  assert.doesNotMatch(r.stderr, /^\s+at /m, what);
}
