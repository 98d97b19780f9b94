// The layer rules of src/, checked on every import (static, type-only, re-exports and dynamic
// import()). The table below is the one in docs/architecture.md#layers; a test keeps them equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Layer {
  /** Lower ranks sit below; layers of equal rank are independent of each other. */
  rank: number;
  name: string;
  /** Folders ('src/nn/') or the files directly in a folder ('src/backend/*.ts'). */
  paths: string[];
}

/** The layers of src/, lowest first. Keep in step with the table in docs/architecture.md. */
export const LAYERS: readonly Layer[] = [
  { rank: 0, name: 'backend', paths: ['src/backend/*.ts', 'src/backend/pointwise/'] },
  { rank: 1, name: 'backend/cpu', paths: ['src/backend/cpu/'] },
  { rank: 1, name: 'backend/cuda', paths: ['src/backend/cuda/'] },
  { rank: 1, name: 'backend/webgpu', paths: ['src/backend/webgpu/'] },
  { rank: 1, name: 'tensor', paths: ['src/tensor/'] },
  { rank: 2, name: 'io', paths: ['src/io/'] },
  { rank: 2, name: 'data', paths: ['src/data/'] },
  { rank: 3, name: 'nn', paths: ['src/nn/'] },
  { rank: 4, name: 'optim', paths: ['src/optim/'] },
  { rank: 4, name: 'cells', paths: ['src/cells/'] },
  { rank: 5, name: 'models', paths: ['src/models/'] },
  { rank: 6, name: 'bench', paths: ['src/bench/'] },
  { rank: 7, name: 'train', paths: ['src/train/'] },
  { rank: 8, name: 'entry', paths: ['src/*.ts'] },
  { rank: 9, name: 'cli', paths: ['src/cli/'] },
  { rank: 9, name: 'playground', paths: ['src/playground/'] },
];

/** The layer a repository path (posix, e.g. 'src/nn/layers.ts') belongs to; the most specific path wins. */
export function layerOf(path: string, layers: readonly Layer[] = LAYERS): Layer | null {
  let best: Layer | null = null, bestLength = -1;
  for (const layer of layers) {
    for (const p of layer.paths) {
      const match = p.endsWith('/*.ts')
        ? posix.dirname(path) === p.slice(0, -'/*.ts'.length) && path.endsWith('.ts')
        : path.startsWith(p);
      if (match && p.length > bestLength) [best, bestLength] = [layer, p.length];
    }
  }
  return best;
}

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

/** What a file imports: every module specifier, type-only and dynamic imports included. */
export function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * The layer rules applied to one file's imports:
 * - a file in src/ imports only src/ and packages (never bench/, test/ or tools/);
 * - every file in src/ belongs to a layer of the table;
 * - a layer imports its own files and layers of lower rank only;
 * - layers of equal rank are independent: tensor imports no concrete backend, and a backend
 *   imports neither another backend nor tensor (they meet at the backend seam, rank 0).
 */
export function checkFile(file: string, specifiers: readonly string[], layers: readonly Layer[] = LAYERS): Violation[] {
  const from = layerOf(file, layers);
  if (!from) return [{ file, specifier: '', rule: 'every file in src/ belongs to a layer of the table (test/architecture.test.ts, docs/architecture.md)' }];
  const found: Violation[] = [];
  for (const specifier of specifiers) {
    if (!specifier.startsWith('.')) continue; // a package or a node: built-in
    const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    if (!target.startsWith('src/')) {
      found.push({ file, specifier, rule: 'a file in src/ imports only src/ and packages, never bench/, test/ or tools/' });
      continue;
    }
    const to = layerOf(target, layers);
    if (!to) found.push({ file, specifier, rule: `${target} belongs to no layer of the table` });
    else if (to.name === from.name) continue;
    else if (to.rank > from.rank) found.push({ file, specifier, rule: `${from.name} (rank ${from.rank}) imports only layers below it, not ${to.name} (rank ${to.rank})` });
    else if (to.rank === from.rank) {
      found.push({ file, specifier, rule: `${from.name} and ${to.name} share rank ${from.rank} and are independent: neither imports the other (tensor and the backends meet only at the backend seam)` });
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const format = (v: Violation) => `${v.file}: import '${v.specifier}' breaks the rule: ${v.rule}`;

test('every import in src/ follows the layer rules', () => {
  const files = sourceFiles(join(root, 'src'));
  assert.ok(files.length > 50, `read ${files.length} source files`);
  const all = files.flatMap((path) => checkFile(relative(root, path).split(sep).join('/'), importsOf(readFileSync(path, 'utf8'))));
  const violations = all.map(format);
  assert.deepEqual(violations, [], `layer rules broken (docs/architecture.md#layers):\n${violations.join('\n')}`);
});

test('the checker names the file, the import and the rule of each kind of violation', () => {
  const check = (file: string, ...specifiers: string[]) => checkFile(file, specifiers).map((v) => v.rule);
  const independent = (a: string, b: string) => [`${a} and ${b} share rank 1 and are independent: neither imports the other (tensor and the backends meet only at the backend seam)`];
  const outside = ['a file in src/ imports only src/ and packages, never bench/, test/ or tools/'];
  assert.deepEqual(check('src/tensor/engine.ts', '../backend/cpu/cpu.js'), independent('tensor', 'backend/cpu'));
  assert.deepEqual(check('src/backend/cpu/cpu.ts', '../../tensor/random.js'), independent('backend/cpu', 'tensor'));
  assert.deepEqual(check('src/backend/cuda/cuda.ts', '../cpu/rnn.js'), independent('backend/cuda', 'backend/cpu'));
  assert.deepEqual(check('src/backend/backend.ts', '../tensor/tensor.js'), ['backend (rank 0) imports only layers below it, not tensor (rank 1)']);
  assert.deepEqual(check('src/train/compare.ts', '../../bench/report.js'), outside);
  assert.deepEqual(check('src/cli/x.ts', '../../test/helpers/assert.js'), outside);
  assert.deepEqual(check('src/nn/layers.ts', '../cells/rnn.js'), ['nn (rank 3) imports only layers below it, not cells (rank 4)']);
  assert.deepEqual(check('src/widgets/x.ts', '../tensor/ops.js'), ['every file in src/ belongs to a layer of the table (test/architecture.test.ts, docs/architecture.md)']);
  // Allowed: lower ranks, the own layer, the backend seam from a backend, packages and built-ins.
  assert.deepEqual(check('src/cells/gru.ts', './rnn.js', '../nn/module.js', '../tensor/ops.js', '../backend/backend.js', 'node:fs', 'koffi'), []);
  assert.deepEqual(check('src/backend/cpu/cpu.ts', '../backend.js', '../random.js', '../pointwise/expr.js', './wasm/emitter.js'), []);
  assert.deepEqual(check('src/index.ts', './backend/cuda/cuda.js', './train/checkpoint.js'), []);
  assert.deepEqual(importsOf("import type { A } from './a.js';\nexport { b } from '../b.js';\nconst c = await import('./c.js');\nimport './d.js';"),
    ['./a.js', '../b.js', './c.js', './d.js']);
  const v = checkFile('src/tensor/engine.ts', ['../backend/cpu/cpu.js'])[0];
  assert.match(format(v), /^src\/tensor\/engine\.ts: import '\.\.\/backend\/cpu\/cpu\.js' breaks the rule: tensor and backend\/cpu/);
});

test('docs/architecture.md shows the same layer table', () => {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const table = /<!-- layers: [^>]*-->\n([\s\S]*?)\n\n/.exec(doc);
  assert.ok(table, 'docs/architecture.md has the marked layer table');
  const rows = table[1].split('\n').slice(2).map((line) => line.split('|').map((c) => c.trim()));
  // | rank | layer | paths | ... : the first three columns, paths as `a`, `b`
  const documented = rows.map(([, rank, name, paths]) => ({ rank: Number(rank), name: name.replace(/`/g, ''), paths: paths.split(',').map((p) => p.trim().replace(/`/g, '')) }));
  assert.deepEqual(documented, LAYERS.map((l) => ({ ...l })));
});

test('layerOf: the most specific path wins, and folders of the backend seam are not backends', () => {
  assert.equal(layerOf('src/backend/backend.ts')?.name, 'backend');
  assert.equal(layerOf('src/backend/pointwise/expr.ts')?.name, 'backend');
  assert.equal(layerOf('src/backend/cpu/wasm/emitter.ts')?.name, 'backend/cpu');
  assert.equal(layerOf('src/index.ts')?.name, 'entry');
  assert.equal(layerOf('src/cli/main.ts')?.name, 'cli');
  assert.equal(layerOf('src/unknown/x.ts'), null);
});
