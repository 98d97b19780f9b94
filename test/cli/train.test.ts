/**
 * `recur train`, `recur generate` and `recur eval` as a user meets them: the built bin is spawned
 * (dist/src/cli/main.js) on texts made here; tiny models, a few steps each.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { CharTokenizer } from '../../src/data/tokenizer.js';
import { fromHost } from '../../src/tensor/creation.js';
import { noGrad } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { modelFromCheckpoint, type CharLM } from '../../src/train/model-kinds.js';
import type { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { disposeState, type LMState } from '../../src/models/recurrent-lm.js';

import { assertUserError, recur } from '../helpers/cli.js';

function makeText(chars: number, seed: number): string {
  const words = ['to', 'be', 'or', 'not', 'that', 'is', 'the', 'question', 'whether', 'tis', 'nobler', 'in', 'mind', 'suffer'];
  const rng = new Rng(seed);
  let s = '';
  while (s.length < chars) s += words[rng.int(words.length)] + (rng.uniform() < 0.12 ? ',\n' : ' ');
  return s.slice(0, chars);
}

const TINY = ['--dim', '16', '--depth', '1', '--expansion', '1.5', '--conv', '3', '--ff-mult', '2', '--batch', '4', '--seq', '16', '--val-windows', '4'];

let dir = '';
let textPath = '';
/** A finished run used by generate, eval and the bad-input cases. */
let run = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'recur-cli-train-'));
  textPath = join(dir, 'text.txt');
  writeFileSync(textPath, makeText(4000, 1));
  run = join(dir, 'run');
  const r = await recur(['train', '--text', textPath, ...TINY, '--steps', '6', '--eval-every', '3', '--dropout', '0.1', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('train: progress, validation lines, a summary line, and the run directory', () => {
  // The run of before(): re-read its outputs.
  const log = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(log.filter((r) => r.type === 'val').map((r) => r.step), [3, 6]);
  for (const v of log.filter((r) => r.type === 'val')) {
    assert.ok((v.loss as number) > 0 && Math.abs((v.bits_per_char as number) - (v.loss as number) / Math.LN2) < 1e-12);
    assert.ok((v.accuracy as number) >= 0 && (v.accuracy as number) <= 1);
  }
  assert.deepEqual(log.filter((r) => r.type === 'train').map((r) => r.step), [1, 6], 'step 1, every --log-every (10), and the last');
  const latest = JSON.parse(readFileSync(join(run, 'latest.json'), 'utf8'));
  assert.equal(latest.checkpoint, 'ckpt-000006');
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json']) assert.ok(existsSync(join(run, 'ckpt-000006', f)), f);
  const config = JSON.parse(readFileSync(join(run, 'ckpt-000006', 'config.json'), 'utf8'));
  assert.equal(config.format, 'recur-checkpoint');
  assert.equal(config.model.kind, 'recurrent-lm');
  assert.equal(config.model.config.cell, 'mingru');
  assert.equal(config.training.args.dim, 16);
  const svg = readFileSync(join(run, 'curves.svg'), 'utf8');
  for (const s of ['train loss', 'val loss', 'val accuracy']) assert.ok(svg.includes(`data-name="${s}"`), s);
});

test('train prints the header, validation results and a summary line', async () => {
  const out = join(dir, 'summary');
  const r = await recur(['train', '--text', textPath, ...TINY, '--model', 'minlstm', '--steps', '4', '--eval-every', '2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^recur train: minlstm, 1 layer, dim 16/m);
  assert.match(r.stdout, /^step 2: val loss \d+\.\d{4} nats\/char \| \d+\.\d{3} bits\/char \| accuracy \d+\.\d\d%$/m);
  assert.match(r.stdout, /^done: step 4\/4 \| val loss \d+\.\d{4} nats\/char, \d+\.\d{3} bits\/char, accuracy \d+\.\d\d% \| [\d.]+k? tok\/s \| wall \d+s \| /m);
  assert.equal(r.stderr, '');
});

test('train N steps == train N/2 steps, then --resume to N (bit-for-bit, through the bin)', async () => {
  const whole = join(dir, 'whole'), half = join(dir, 'half');
  const common = ['--text', textPath, ...TINY, '--dropout', '0.1', '--stateful', '--log-every', '1', '--eval-every', '4'];
  const [a, b] = await Promise.all([recur(['train', ...common, '--steps', '8', '--out', whole]), recur(['train', ...common, '--steps', '4', '--out', half])]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const c = await recur(['train', '--resume', half, '--steps', '8']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /resuming at step 4/);
  const losses = (d: string) => readFileSync(join(d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.type === 'train' || x.type === 'val').map((x) => [x.type, x.step, x.loss]);
  assert.deepEqual(losses(half), losses(whole));
  assert.ok(readFileSync(join(half, 'ckpt-000008', 'model.safetensors')).equals(readFileSync(join(whole, 'ckpt-000008', 'model.safetensors'))));
});

test('Ctrl-C (SIGINT) writes a checkpoint and exits 130; resuming it continues bit-for-bit', async () => {
  const out = join(dir, 'sigint');
  const common = ['--text', textPath, ...TINY, '--log-every', '1', '--eval-every', '1000', '--save-every', '1000'];
  let sent = false;
  let stepWhenSent = 0;
  let poll: NodeJS.Timeout | undefined;
  const r = await recur(['train', ...common, '--steps', '100000', '--out', out], {
    onSpawn: (child) => {
      // Wait until a few steps are logged, then interrupt.
      poll = setInterval(() => {
        if (sent || !existsSync(join(out, 'log.jsonl'))) return;
        const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean);
        if (lines.length > 4) {
          sent = true;
          stepWhenSent = JSON.parse(lines[lines.length - 1]).step;
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
    },
  });
  clearInterval(poll);
  assert.ok(sent, 'SIGINT was sent');
  assert.equal(r.code, 130, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^interrupted: step \d+\/100000/m);
  assert.match(r.stdout, /resume with: recur train --resume /);
  const step = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')).step as number;
  assert.ok(step >= 3, `checkpoint at step ${step}`);
  // The interrupt is honoured within a step or two, not at the next validation (step 1000).
  assert.ok(step <= stepWhenSent + 50, `stopped at step ${step}, interrupted at step ${stepWhenSent}`);
  // Continue to step + 2 and compare with an uninterrupted run of that length (constant lr: same trajectory).
  const fresh = join(dir, 'sigint-fresh');
  const [res, ref] = await Promise.all([
    recur(['train', '--resume', out, '--steps', String(step + 2)]),
    recur(['train', ...common, '--steps', String(step + 2), '--out', fresh]),
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(ref.code, 0, ref.stderr);
  const last = String(step + 2).padStart(6, '0');
  assert.ok(readFileSync(join(out, `ckpt-${last}`, 'model.safetensors')).equals(readFileSync(join(fresh, `ckpt-${last}`, 'model.safetensors'))));
});

test('a diverging run (lr 1e30) stops with one line and exit code 1, without a checkpoint', async () => {
  const out = join(dir, 'nan');
  const r = await recur(['train', '--text', textPath, ...TINY, '--lr', '1e30', '--clip', '0', '--steps', '50', '--eval-every', '50', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^recur: training diverged: the (loss|gradient norm) became (NaN|-?Infinity) at step \d+; training stopped before the update/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  assert.ok(!existsSync(join(out, 'latest.json')));
});

test('generate streams the prompt and N sampled characters; the same seed gives the same text', async () => {
  const args = ['generate', '--checkpoint', run, '--prompt', 'to be', '--tokens', '40', '--temperature', '0.8', '--top-k', '5'];
  const [a, b, c] = await Promise.all([recur([...args, '--seed', '3']), recur([...args, '--seed', '3']), recur([...args, '--seed', '4'])]);
  for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
  assert.ok(a.stdout.startsWith('to be'));
  assert.equal([...a.stdout].length, 5 + 40 + 1, 'prompt, 40 characters, newline');
  assert.equal(a.stdout, b.stdout);
  const vocab = new Set(makeText(4000, 1));
  for (const ch of a.stdout.slice(5, -1)) assert.ok(vocab.has(ch), `sampled ${JSON.stringify(ch)} is in the vocabulary`);
  assert.notEqual(a.stdout, c.stdout, 'another seed, another text (40 characters at temperature 0.8)');
  const greedy = await recur(['generate', '--checkpoint', join(run, 'ckpt-000006'), '--prompt', 'the', '--tokens', '10', '--temperature', '0']);
  assert.equal(greedy.code, 0, greedy.stderr);
});

/** Loss and accuracy of a text computed independently: one token at a time through step(), log-softmax in f64. */
function independentEval(model: RecurrentLM, ids: Int32Array): { loss: number; accuracy: number } {
  model.eval();
  let nats = 0, right = 0;
  let state: LMState | null = null;
  for (let i = 0; i < ids.length - 1; i++) {
    const prev: LMState | null = state;
    const r: { logits: Tensor; state: LMState } = noGrad(() => scope(() => model.step(fromHost(Int32Array.of(ids[i]!), [1]), prev)));
    disposeState(prev);
    state = r.state;
    const logits = Array.from(r.logits.dataSync());
    r.logits.dispose();
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
    nats += lse - logits[ids[i + 1]!]!;
    if (logits.indexOf(m) === ids[i + 1]) right++;
  }
  disposeState(state);
  return { loss: nats / (ids.length - 1), accuracy: right / (ids.length - 1) };
}

test('eval: loss, bits/char and accuracy over a whole text equal an independent step-by-step computation', async () => {
  const evalText = join(dir, 'eval.txt');
  const content = makeText(300, 9);
  writeFileSync(evalText, content);
  const r = await recur(['eval', '--checkpoint', run, '--text', evalText, '--seq', '37', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { loss: number; bits_per_char: number; accuracy: number; predictions: number };
  assert.equal(got.predictions, 299);
  const ck = await loadCheckpoint(run);
  const model = modelFromCheckpoint(ck) as CharLM as unknown as RecurrentLM;
  disposeTensorTree(ck.weights);
  const ref = independentEval(model, new CharTokenizer((ck.config.tokenizer as { chars: string[] }).chars).encode(content));
  model.dispose();
  assert.ok(Math.abs(got.loss - ref.loss) < 1e-5 * ref.loss, `loss ${got.loss} vs ${ref.loss}`);
  assert.ok(Math.abs(got.bits_per_char - ref.loss / Math.LN2) < 1e-5 * ref.loss);
  assert.equal(got.accuracy, ref.accuracy);
  const plain = await recur(['eval', '--checkpoint', run, '--text', evalText]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /loss \d+\.\d{4} nats\/char \| \d+\.\d{3} bits\/char \| accuracy \d+\.\d\d%/);
});

test('bad input: each a one-line error with exit code 2 and no stack trace', async () => {
  const file = (name: string, content: string | Buffer) => { const p = join(dir, name); writeFileSync(p, content); return p; };
  const empty = file('empty.txt', '');
  const short = file('short.txt', 'abcdefghijklmnopqrstuvwxyz');
  const binary = file('binary.bin', Buffer.from([0xff, 0xfe, 0x00, 0xc3]));
  const outside = file('outside.txt', 'to be Zorro é');
  const other = file('other.txt', makeText(4000, 2));
  const ckpt = join(run, 'ckpt-000006');
  const variant = (name: string, edit: (d: string) => void) => {
    const d = join(dir, `bad-${name}`);
    cpSync(ckpt, d, { recursive: true });
    edit(d);
    return d;
  };
  const editConfig = (d: string, f: (c: { version: number; model: { kind: string; config: Record<string, unknown> } }) => void) => {
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    f(c);
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  };
  const modelBytes = readFileSync(join(ckpt, 'model.safetensors'));
  const noModel = variant('nomodel', (d) => rmSync(join(d, 'model.safetensors')));
  const v2 = variant('version', (d) => editConfig(d, (c) => { c.version = 2; }));
  const kind = variant('kind', (d) => editConfig(d, (c) => { c.model.kind = 'mamba'; }));
  const wider = variant('wider', (d) => editConfig(d, (c) => { c.model.config.dim = 32; }));
  const truncated = variant('truncated', (d) => writeFileSync(join(d, 'model.safetensors'), modelBytes.subarray(0, modelBytes.length - 64)));
  const garbage = variant('garbage', (d) => writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(4096, 0x41)));
  const moved = join(dir, 'bad-moved-text');
  cpSync(run, moved, { recursive: true });
  editConfig(join(moved, 'ckpt-000006'), (c) => { (c as unknown as { training: { text: { path: string } } }).training.text.path = join(dir, 'moved-away.txt'); });
  const notRun = join(dir, 'not-a-run');
  mkdirSync(notRun, { recursive: true });

  const cases: [string, string[], RegExp][] = [
    ['missing text', ['train', '--text', join(dir, 'nope.txt')], /cannot read --text '.*nope\.txt': no such file/],
    ['empty text', ['train', '--text', empty], /--text '.*empty\.txt' is empty/],
    ['directory as text', ['train', '--text', dir], /cannot read --text '.*': is a directory/],
    ['binary text', ['train', '--text', binary], /is not UTF-8 text/],
    ['no text', ['train', ...TINY], /recur train needs --text FILE/],
    ['unknown flag', ['train', '--text', textPath, '--learning-rate', '1'], /unknown option '--learning-rate'/],
    ['invalid number', ['train', '--text', textPath, '--lr', 'fast'], /--lr must be a positive number, got 'fast'/],
    ['non-integer', ['train', '--text', textPath, '--steps', '2.5'], /--steps must be a positive integer, got '2\.5'/],
    ['dropout range', ['train', '--text', textPath, '--dropout', '1'], /--dropout must be a number in \[0, 1\), got '1'/],
    ['unknown model', ['train', '--text', textPath, '--model', 'mamba'], /'mamba' is invalid.*mingru/],
    ['unknown preset', ['train', '--text', textPath, '--preset', 'gpt'], /'gpt' is invalid.*shakespeare-mingru/],
    ['text too short', ['train', '--text', short, '--seq', '64'], /too few for --seq 64/],
    ['out holds a run', ['train', '--text', textPath, ...TINY, '--out', run], /already holds a run; continue it with --resume/],
    ['resume conflict', ['train', '--resume', run, '--dim', '32', '--seq', '8', '--steps', '9'], /conflict with the run's config: dim 32 \(the run has 16\); seq 8 \(the run has 16\)/],
    ['resume other text', ['train', '--resume', run, '--text', other, '--steps', '9'], /differs from the one the run was trained on/],
    ['resume, text moved', ['train', '--resume', moved, '--steps', '9'], /cannot read the run's text '.*moved-away\.txt': no such file \(give its new path with --text\)/],
    ['resume preset', ['train', '--resume', run, '--preset', 'shakespeare-mingru-cpu'], /--preset cannot be combined with --resume/],
    ['resume not a run', ['train', '--resume', notRun], /holds no checkpoint/],
    ['eval vocabulary', ['eval', '--checkpoint', run, '--text', outside], /outside\.txt' has 2 characters outside the checkpoint's vocabulary of \d+: "Z" \(U\+005A\), "é" \(U\+00E9\)/],
    ['generate vocabulary', ['generate', '--checkpoint', run, '--prompt', 'Zorro'], /--prompt has 1 character outside the checkpoint's vocabulary of \d+: "Z" \(U\+005A\)/],
    ['missing checkpoint', ['eval', '--checkpoint', join(dir, 'nowhere'), '--text', textPath], /checkpoint '.*nowhere' does not exist/],
    ['checkpoint missing files', ['generate', '--checkpoint', noModel], /is missing model\.safetensors/],
    ['other format version', ['eval', '--checkpoint', v2, '--text', textPath], /has format version 2; this recur reads version 1/],
    ['other model kind', ['generate', '--checkpoint', kind], /holds a 'mamba' model, which this recur cannot build/],
    ['other model weights', ['generate', '--checkpoint', wider], /model\.safetensors' does not match the model in config\.json.*shape mismatches/],
    ['truncated safetensors', ['eval', '--checkpoint', truncated, '--text', textPath], /invalid safetensors file '.*model\.safetensors': .*extend past the end/],
    ['corrupt safetensors', ['generate', '--checkpoint', garbage], /invalid safetensors file '.*model\.safetensors'/],
    ['generate --tokens 0', ['generate', '--checkpoint', run, '--tokens', '0'], /--tokens must be a positive integer, got '0'/],
    ['generate without checkpoint', ['generate', '--prompt', 'a'], /required option '--checkpoint <dir>' not specified/],
    ['eval without text', ['eval', '--checkpoint', run], /recur eval of a language model needs --text FILE/],
  ];
  // Two at a time: process start-up dominates, and this machine has two cores.
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const results = await Promise.all(batch.map(([, args]) => recur(args)));
    batch.forEach(([what, , pattern], j) => assertUserError(results[j]!, pattern, what));
  }
});
