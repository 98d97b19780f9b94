/**
 * Every script in examples/ runs to completion (importing the package by its name, as a user's
 * script would), and the browser example bundles for the browser platform and runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT, scratchDir } from './doc-runner.js';
import { spawnSync } from 'node:child_process';

const EXAMPLES = join(ROOT, 'examples');

/** What each script must print (a check that it did its job, not only that it exited 0). */
const EXPECTED: Record<string, RegExp> = {
  'train-char-lm.mjs': /step 150: train loss [\d.]+, validation loss [\d.]+ nats\/char[\s\S]*saved and reloaded: 23 tensors/,
  'stream-generation.mjs': /sampled: {2}Merrily, .{60}\ngreedy: {3}Merrily, .{60}\n/,
  'load-pytorch-weights.mjs': /nn\.LSTM → LSTM: max \|difference\| \d\.\de-([6-9]|1\d)[\s\S]*nn\.GRU {2}→ GRU: {2}max \|difference\| \d\.\de-([6-9]|1\d)[\s\S]*max \|difference\| \d\.\de-([6-9]|1\d)/,
  'classify-sequences.mjs': /held-out accuracy (3\d|[4-9]\d)\.\d% \(majority class 1\d\.\d%\)/,
};

test('every example script is listed here with what it must print', () => {
  const scripts = readdirSync(EXAMPLES).filter((f) => f.endsWith('.mjs')).sort();
  assert.deepEqual(scripts, Object.keys(EXPECTED).sort());
});

for (const [script, expected] of Object.entries(EXPECTED)) {
  test(`examples/${script} runs`, { timeout: 300_000 }, () => {
    const cwd = scratchDir();
    const r = spawnSync(process.execPath, [join(EXAMPLES, script)], { cwd, encoding: 'utf8', timeout: 280_000 });
    rmSync(cwd, { recursive: true, force: true });
    assert.equal(r.status, 0, `${script} exited with ${r.status}:\n${r.stderr}`);
    assert.match(r.stdout, expected);
  });
}

test('examples/browser: the page maps recur-rnn/browser to a built file; demo.js bundles for the browser and runs', async () => {
  const html = readFileSync(join(EXAMPLES, 'browser', 'index.html'), 'utf8');
  const mapped = /"recur-rnn\/browser":\s*"([^"]+)"/.exec(html)?.[1];
  assert.ok(mapped && existsSync(join(EXAMPLES, 'browser', mapped)), `the import map names a built file: ${mapped}`);
  assert.match(html, /import \{ run \} from '\.\/demo\.js'/);

  const demo = join(EXAMPLES, 'browser', 'demo.js');
  const bundle = await esbuild.build({
    entryPoints: [demo], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent',
    alias: { 'recur-rnn/browser': join(dirname(demo), mapped!) },
  });
  assert.equal(bundle.errors.length, 0);

  const lines: string[] = [];
  const { run } = (await import(demo)) as { run(print: (line: string) => void): Promise<string> };
  const sample = await run((line) => lines.push(line));
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.ok(sample.startsWith('twinkle ') && sample.length === 'twinkle '.length + 40, sample);
});
