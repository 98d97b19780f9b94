/** tools/compare-runs.ts: the table's best and last validation results, the SVG's series, and bad arguments. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';

const TOOL = fileURLToPath(new URL('../../tools/compare-runs.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'recur-compare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, lines: object[]): string {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, 'log.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return d;
}

test('best loss, best accuracy and the last validation of each run, with the time spent in steps', () => {
  const a = run('a', [
    { type: 'train', step: 100, loss: 2, elapsed_s: 60 }, { type: 'val', step: 100, loss: 1.5, accuracy: 0.4 },
    { type: 'train', step: 200, loss: 1, elapsed_s: 120 }, { type: 'val', step: 200, loss: 1.2, accuracy: 0.7 },
    { type: 'train', step: 300, loss: 1, elapsed_s: 180 }, { type: 'val', step: 300, loss: 1.3, accuracy: 0.6 },
  ]);
  const b = run('b', [{ type: 'train', step: 10, loss: 3, elapsed_s: 6 }, { type: 'val', step: 10, loss: 2.5, accuracy: 0.1 }]);
  const svg = join(dir, 'out.svg');
  const table = execFileSync(process.execPath, [TOOL, svg, `first=${a}`, `second=${b}`, '--title', 'T'], { encoding: 'utf8' });
  assert.match(table, /^\| first \| 300 \| 3\.0 min \| 1\.2000 \(step 200\) \| 70\.00% \(step 200\) \| 1\.3000, 60\.00% \|$/m);
  assert.match(table, /^\| second \| 10 \| 0\.1 min \| 2\.5000 \(step 10\) \| 10\.00% \(step 10\) \| 2\.5000, 10\.00% \|$/m);
  const text = readFileSync(svg, 'utf8');
  for (const s of ['data-name="first"', 'data-name="second"', 'T: validation accuracy']) assert.ok(text.includes(s), s);
  // A run keeps its colour in both panels.
  for (const name of ['first', 'second']) {
    const colours = [...text.matchAll(new RegExp(`<g class="markers" data-name="${name}" fill="([^"]+)"`, 'g'))].map((m) => m[1]);
    assert.equal(colours.length, 2, name);
    assert.equal(colours[0], colours[1], `${name}: ${colours.join(' vs ')}`);
  }
});

test('bad arguments: one line and exit 2', () => {
  for (const args of [[], ['x.png', 'a=b'], [join(dir, 'x.svg'), 'nolabel'], [join(dir, 'x.svg'), `a=${join(dir, 'missing')}`]]) {
    const r = spawnSync(process.execPath, [TOOL, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^compare-runs: [^\n]+\n$/);
  }
});
