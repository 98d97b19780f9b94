/**
 * `recur bench lm` (src/train/compare.ts): flag parsing, the width solver, the budget, and a tiny
 * study end to end (JSON, Markdown and SVG written, the bookkeeping consistent); the CLI's one-line
 * errors through the built bin.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { cellNames } from '../../src/cells/registry.js';
import { Rng } from '../../src/tensor/random.js';
import {
  DEFAULT_COMPARE_TRAIN, bigramReference, compareBudget, countParams, modelRecipe, parseModelList, parseParamCount, runComparison,
  solveWidth, writeComparison, type CompareConfig, type CompareResult,
} from '../../src/train/compare.js';
import { TrainConfigError } from '../../src/train/args.js';

/** A made-up text: words drawn by a seeded RNG (tests never read a data file). */
function makeText(chars: number, seed = 3): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away', 'from', 'home'];
  const rng = new Rng(seed);
  let s = '';
  while (s.length < chars) s += words[rng.int(words.length)] + (rng.uniform() < 0.1 ? '.\n' : ' ');
  return s.slice(0, chars);
}

test('parseParamCount: counts with k/M suffixes; anything else is a one-line error naming the flag', () => {
  assert.equal(parseParamCount('500k'), 500_000);
  assert.equal(parseParamCount('500K'), 500_000);
  assert.equal(parseParamCount('500000'), 500_000);
  assert.equal(parseParamCount('1.5M'), 1_500_000);
  assert.equal(parseParamCount('2e5'), 200_000);
  assert.equal(parseParamCount('250_000'), 250_000);
  assert.equal(parseParamCount(' 1.1k '), 1100);
  for (const bad of ['5xx', '', 'k', '0', '-5', '1.5', '0.0001k', '5kk', 'Infinity', '1e400']) {
    assert.throws(() => parseParamCount(bad), (e: Error) => e instanceof TrainConfigError && /^--params must be a parameter count like 500000, 500k or 1\.5M, got '/.test(e.message) && !e.message.includes('\n'), bad);
  }
});

test('parseModelList: known names in order; unknown or repeated names are errors', () => {
  assert.deepEqual(parseModelList('bigram, lstm,smr'), ['bigram', 'lstm', 'smr']);
  assert.throws(() => parseModelList('lstm,mamba'), /unknown model 'mamba' in --models \(available: .*lstm.*\)/);
  assert.throws(() => parseModelList('lstm,lstm'), /--models names 'lstm' twice/);
  assert.throws(() => parseModelList(' , '), /--models needs at least one model/);
});

test('solveWidth: every cell within 2.5% of the target, at the count-optimal width', () => {
  const arch = DEFAULT_COMPARE_TRAIN;
  const V = 65;
  for (const target of [500_000, 250_000, 30_000]) {
    for (const model of cellNames()) {
      const s = solveWidth(model, target, arch, V);
      assert.ok(s.dim !== null && s.dim >= 1);
      assert.equal(s.params, countParams(model, s.dim, arch, V), `${model}: reported count is the exact one`);
      assert.ok(Math.abs(s.deviation) < 0.025, `${model} @ ${target}: dim ${s.dim} gives ${s.params} (${(100 * s.deviation).toFixed(2)}%)`);
      for (const d of [s.dim - 1, s.dim + 1]) {
        if (d >= 1) assert.ok(Math.abs(countParams(model, d, arch, V) - target) >= Math.abs(s.params - target), `${model} @ ${target}: dim ${d} is not closer`);
      }
    }
  }
  // Depth and block shape are part of the count: 3 layers give a narrower model at the same target.
  assert.ok(solveWidth('lstm', 250_000, { ...arch, depth: 3 }, V).dim! < solveWidth('lstm', 250_000, arch, V).dim!);
  assert.throws(() => solveWidth('bigram', 1000, arch, V), /'bigram' has no width/);
});

test('budget: the same steps for every model; --epoch-chars bounds the epoch', () => {
  const c: CompareConfig = { models: ['lstm'], params: 1000, epochs: 3, epochChars: 0, recipe: 'same', train: { ...DEFAULT_COMPARE_TRAIN, batch: 4, seq: 10 } };
  const b = compareBudget(1000, c);
  assert.deepEqual([b.trainChars, b.valChars, b.epochChars, b.stepsPerEpoch, b.tokensPerEpoch, b.totalSteps], [900, 100, 900, 22, 880, 66]);
  assert.equal(compareBudget(1000, { ...c, epochChars: 400 }).stepsPerEpoch, 10);
  assert.throws(() => compareBudget(1000, { ...c, epochChars: 901 }), /--epoch-chars 901 is more than the training split \(900 characters\)/);
  assert.throws(() => compareBudget(1000, { ...c, epochChars: 39 }), /less than one batch of 4 × 10/);
  // Recipes: 'seed' changes SMR/MSMR only.
  assert.deepEqual(modelRecipe('smr', 'seed', c.train), { residual: 'mul', stateful: true, clip: 1, recipe: 'seed' });
  assert.deepEqual(modelRecipe('lstm', 'seed', { ...c.train, clip: 0.5 }), { residual: 'add', stateful: false, clip: 0.5, recipe: 'same' });
  assert.deepEqual(modelRecipe('msmr', 'same', c.train), { residual: 'add', stateful: false, clip: 1, recipe: 'same' });
});

test('bigramReference: counts from the training split, scored on every validation pair', () => {
  // a→b always; b→a twice, b→b once.
  const r = bigramReference(Int32Array.from([0, 1, 0, 1, 1, 0]), Int32Array.from([0, 1, 0]), 2);
  assert.equal(r.tokens, 2);
  assert.equal(r.accuracy, 1);
  const pAB = (2 + 1) / (2 + 2), pBA = (2 + 1) / (3 + 2);
  assert.ok(Math.abs(r.valLoss - -(Math.log(pAB) + Math.log(pBA)) / 2) < 1e-12);
});

test('a tiny study writes JSON, Markdown and SVG with consistent bookkeeping', async () => {
  const text = makeText(6000);
  const dir = mkdtempSync(join(tmpdir(), 'recur-compare-'));
  try {
    const c: CompareConfig = {
      models: ['smr', 'mingru'], params: 4000, epochs: 2, epochChars: 960, recipe: 'seed',
      train: { ...DEFAULT_COMPARE_TRAIN, batch: 4, seq: 24, valWindows: 8 },
    };
    const seen: string[] = [];
    const partial: number[] = [];
    const r = await runComparison(c, text, { path: 'mem', chars: text.length, sha256: 'x' }, {
      onModelStart: (m, _s, _r, steps) => seen.push(`${m}:${steps}`),
      onEpoch: (m, e) => seen.push(`${m}@${e.epoch}`),
      onModelEnd: (_r, sofar) => { partial.push(sofar.models.length); },
    });
    assert.deepEqual(seen, ['smr:20', 'smr@1', 'smr@2', 'mingru:20', 'mingru@1', 'mingru@2']);
    assert.deepEqual(partial, [1, 2]);
    assert.equal(r.budget.stepsPerEpoch, 10);
    assert.equal(r.recipe, 'seed');
    const files = await writeComparison(r, dir);

    const json = JSON.parse(readFileSync(files.json, 'utf8')) as CompareResult;
    assert.equal(json.name, 'lm-compare');
    assert.deepEqual(json.plannedModels, ['smr', 'mingru']);
    assert.deepEqual(json.models.map((m) => m.model), ['smr', 'mingru']);
    assert.deepEqual(json.validation, { windows: 8, tokens: 8 * 24 });
    assert.equal(json.text.vocabSize, new Set(text).size);
    for (const m of json.models) {
      assert.equal(m.status, 'completed');
      assert.ok(m.dim! > 0 && Math.abs(m.deviation!) < 0.1, `${m.model}: ${m.params} params`);
      assert.deepEqual(m.epochs.map((e) => e.epoch), [1, 2]);
      assert.deepEqual(m.epochs.map((e) => e.step), [10, 20]);
      assert.deepEqual(m.epochs.map((e) => e.tokens), [10 * 96, 20 * 96]);
      let prev = { trainSeconds: 0, wallSeconds: 0 };
      for (const e of m.epochs) {
        assert.ok(e.trainSeconds > prev.trainSeconds && e.wallSeconds >= e.trainSeconds && e.wallSeconds > prev.wallSeconds);
        assert.ok(e.accuracy >= 0 && e.accuracy <= 1 && Number.isFinite(e.trainLoss));
        assert.ok(Math.abs(e.bitsPerChar - e.valLoss / Math.LN2) < 1e-9);
        prev = e;
      }
      assert.ok(m.tokensPerSec > 0 && m.wallSeconds >= m.epochs.at(-1)!.wallSeconds);
      assert.ok(Math.abs(m.tokensPerSec - m.epochs.at(-1)!.tokens / m.epochs.at(-1)!.trainSeconds) < 1e-6 * m.tokensPerSec);
    }
    // The recipe is recorded per model: SMR got the seed's, minGRU the shared one.
    assert.deepEqual(json.models[0]!.recipe, { residual: 'mul', stateful: true, clip: 1, recipe: 'seed' });
    assert.deepEqual(json.models[1]!.recipe, { residual: 'add', stateful: false, clip: 1, recipe: 'same' });

    const md = readFileSync(files.md, 'utf8');
    assert.match(md, /^# Benchmark: lm-compare\n/);
    assert.match(md, /- recipe: seed: /);
    assert.match(md, /\| model \| acc % e1 \| acc % e2 \| val loss \(nats\/char\) \| bits\/char \| params \| dim \| tokens\/s \| wall \| recipe \|/);
    const rows = md.split('\n').filter((l) => /^\| (smr|mingru) /.test(l));
    assert.equal(rows.length, 2);
    assert.match(rows[0]!, /mul residual, stateful \(seed recipe\)/);
    assert.doesNotMatch(md, /PARTIAL/);

    const svg = readFileSync(files.svg, 'utf8');
    assert.match(svg, /^<\?xml [^>]*\?>\n<svg /);
    assert.match(svg, /<\/svg>\n$/);
    for (const m of ['smr', 'mingru']) assert.equal(svg.match(new RegExp(`<polyline class="series" data-name="${m}"`, 'g'))?.length, 2, m);
    assert.match(svg, /Next-character accuracy/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The CLI: one-line errors, exit code 2

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function recur(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { RECUR_DEBUG: _, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--threads', '1', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

test('recur bench lm: bad flags are one-line errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'recur-compare-cli-'));
  try {
    const file = join(dir, 't.txt');
    writeFileSync(file, makeText(3000));
    const cases: [string[], RegExp][] = [
      [['--models', 'lstm,nope'], /^recur: unknown model 'nope' in --models \(available: /],
      [['--params', '5xx'], /^recur: --params must be a parameter count like 500000, 500k or 1\.5M, got '5xx'$/],
      [['--epochs', '0'], /^recur: --epochs must be a positive integer, got '0'$/],
      [['--recipe', 'mine'], /^recur: option '--recipe <name>' argument 'mine' is invalid/],
      [['--epoch-chars', '999999'], /^recur: --epoch-chars 999999 is more than the training split \(2700 characters\)/],
    ];
    const runs = await Promise.all(cases.map(([flags]) => recur(['bench', 'lm', '--text', file, '--out', join(dir, 'out'), ...flags])));
    runs.push(await recur(['bench', 'lm', '--models', 'lstm']));
    cases.push([[], /^recur: recur bench lm needs --text FILE$/]);
    runs.forEach((r, i) => {
      const what = cases[i]![0].join(' ') || 'no --text';
      assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, cases[i]![1], what);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
