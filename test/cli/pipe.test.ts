/**
 * A reader that closes the pipe early (`recur --help | head -1`) ends the CLI quietly: no EPIPE
 * stack trace, exit status 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('recur --help piped into a reader that stops after one line: no stack trace, exit 0', () => {
  for (let i = 0; i < 3; i++) {
    const r = spawnSync('bash', ['-c', `set -o pipefail; node '${cli}' --help | head -1`], { encoding: 'utf8' });
    assert.equal(r.stderr, '', `stderr: ${r.stderr}`);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: recur/);
  }
});
