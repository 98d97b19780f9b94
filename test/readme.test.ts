import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('the README example runs as written (imports resolve through the package name) and learns', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = /<!-- readme-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'README has a marked example block');
  // A file inside the package resolves `import ... from 'recur-rnn'` to the package itself.
  const dir = mkdtempSync(join(root, 'dist', 'readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, match[1]);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    const loss = Number(/loss after 60 steps: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(loss < 1.0, `the example's loss fell below 1 nat/char (got ${loss}):\n${out}`);
    const sample = /the quick (.*)/.exec(out.split('\n').find((l) => l.startsWith('the quick')) ?? '')?.[1] ?? '';
    assert.equal(sample.length, 30, `30 generated characters: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
