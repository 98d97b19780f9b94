/**
 * One name per concept on the command line: `--model` picks the cell everywhere (train, demo,
 * bench selective-copy), `--seq` is the sequence length, the demo's letter count is `--letters`.
 * The old names (`--cell`, `--seq-length`, the demo's `--tokens`) still work, print no error and
 * are listed in the help as aliases; cell options come from the registry (`--heads` for lstm).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertUserError, recur } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'recur-flag-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const textPath = join(dir, 'text.txt');
writeFileSync(textPath, 'the cat sat on the mat. '.repeat(60));
const TINY = ['--dim', '8', '--depth', '1', '--batch', '2', '--val-windows', '2', '--steps', '2', '--eval-every', '2'];

test('train: the old --cell and --seq-length still work and mean --model and --seq', async () => {
  const out = join(dir, 'old');
  const r = await recur(['train', '--text', textPath, ...TINY, '--cell', 'minlstm', '--seq-length', '12', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.replace(/\r/g, '').split('\n').filter((l) => /error|warn/i.test(l)).length, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(out, 'ckpt-000002', 'config.json'), 'utf8'));
  assert.equal(config.model.config.cell, 'minlstm');
  assert.equal(config.training.args.seq, 12);
  assertUserError(await recur(['train', '--text', textPath, '--model', 'mingru', '--cell', 'minlstm']), /--cell is another name of --model: give one of them/, 'both names');
});

test('train: a cell option declared by the registry is a flag (--heads), refused for a cell that does not declare it', async () => {
  const out = join(dir, 'heads');
  const r = await recur(['train', '--text', textPath, ...TINY, '--model', 'lstm', '--heads', '2', '--seq', '8', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^recur train: lstm, 1 layer, dim 8, heads 2,/m);
  const config = JSON.parse(readFileSync(join(out, 'ckpt-000002', 'config.json'), 'utf8'));
  assert.deepEqual(config.model.config.cellOptions, { heads: 2 });
  assertUserError(await recur(['train', '--text', textPath, '--model', 'mingru', '--heads', '2']), /--heads does not apply to --model mingru \(the lstm\/gru\/elman\/slstm\/mesa\/transformer only\)/, 'heads on mingru');
  assertUserError(await recur(['train', '--text', textPath, '--model', 'lstm', '--heads', '0']), /--heads must be a positive integer ≤ 4096, got '0'/, 'heads 0');
});

test('demo and bench selective-copy: --model, with --cell, --seq-length and --tokens as aliases', async () => {
  const r = await recur(['demo', '--cell', 'mingru', '--seq-length', '12', '--tokens', '2', '--steps', '2', '--dim', '8', '--depth', '1', '--batch', '4', '--examples', '1']);
  assert.equal(r.code, 0, r.stderr);
  assertUserError(await recur(['demo', '--seq', '6', '--letters', '4']), /--seq must be at least twice --letters/, 'demo sizes');
  assertUserError(await recur(['bench', 'selective-copy', '--cell', 'bogus']), /'bogus' is invalid/, 'bench cell');
  const help = await recur(['train', '--help']);
  assert.match(help.stdout, /alias --cell/);
  assert.match(help.stdout, /alias --seq-length/);
});
