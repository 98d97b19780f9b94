/**
 * Every js/ts/sh code block in README.md and docs/*.md runs (see doc-runner.ts for how shell
 * lines are shortened), in document order, one scratch directory per document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { codeBlocks, ROOT, runModule, runShellCommand, scratchDir, shellCommands, type CodeBlock } from './doc-runner.js';

const documents = ['README.md', ...readdirSync(`${ROOT}/docs`).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

test('the extractor finds the README blocks and splits shell lines as a shell would', () => {
  const blocks = codeBlocks('README.md');
  assert.ok(blocks.some((b) => b.lang === 'js') && blocks.some((b) => b.lang === 'sh'), 'README has js and sh blocks');
  assert.deepEqual(shellCommands('npm install && npx recur demo   # trains\nnpx recur generate --prompt "ROMEO: hi" \\\n  --tokens 3\n'), [
    ['npm', 'install'], ['npx', 'recur', 'demo'], ['npx', 'recur', 'generate', '--prompt', 'ROMEO: hi', '--tokens', '3'],
  ]);
});

async function runBlock(block: CodeBlock, dir: string): Promise<void> {
  const where = `${block.file}:${block.line}`;
  if (block.lang === 'sh') {
    for (const words of shellCommands(block.code)) {
      const r = runShellCommand(words, dir);
      assert.ok(r.ok, `${where}: \`${words.join(' ')}\` failed (${r.what}):\n${r.output.slice(-3000)}`);
    }
  } else {
    const r = await runModule(block.code, block.lang, dir);
    assert.ok(r.ok, `${where}: the ${block.lang} block failed:\n${r.output.slice(-3000)}`);
  }
}

for (const doc of documents) {
  test(`every code block of ${doc} runs`, { timeout: 900_000 }, async () => {
    const blocks = codeBlocks(doc);
    const dir = scratchDir();
    try {
      for (const block of blocks) await runBlock(block, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
