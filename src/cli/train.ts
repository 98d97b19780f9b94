/**
 * `recur train`: trains a character-level language model on a text file (`--task lm`, the
 * default) or a sequence classifier on ListOps generated on the fly (`--task listops`), with a
 * progress bar, periodic validation, a JSON-lines log, crash-safe checkpoints, bit-for-bit
 * `--resume`, Ctrl-C that saves, and curves.svg + a summary line at the end. The work is in
 * src/train/lm-trainer.ts and src/train/listops-trainer.ts; both run through runTraining.
 *
 * Exit codes: 0 done; 2 bad input (one line); 1 training diverged (NaN/Inf, one line, no
 * checkpoint of bad weights); 130 interrupted by Ctrl-C after writing a checkpoint.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { CheckpointError, loadCheckpoint, disposeTensorTree, POINTER_FILE } from '../train/checkpoint.js';
import {
  DEFAULT_TRAIN_ARGS, LMTrainer, LOG_FILE, PRESETS, RESUMABLE_ARGS, TrainConfigError, mergeResumeArgs, modelNames, runTraining,
  storedTraining, type TextInfo, type TrainArgs,
} from '../train/lm-trainer.js';
import {
  DEFAULT_LISTOPS_ARGS, LISTOPS_PRESETS, LISTOPS_RESUMABLE_ARGS, LISTOPS_TASK, ListOpsTrainer, storedListOpsArgs,
  type ListOpsArgs, type ListOpsEvalResult,
} from '../train/listops-trainer.js';
import type { RunnableTrainer, RunResult } from '../train/lm-trainer.js';
import { NonFiniteError } from '../train/step.js';
import { positiveInt, UserError } from './errors.js';
import { formatDuration, formatRate, Progress } from './progress.js';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT, the shell's convention). */
export const EXIT_INTERRUPTED = 130;
/** Exit code of a run stopped because the loss or gradients became NaN or infinite. */
export const EXIT_DIVERGED = 1;

// ---------------------------------------------------------------------------------------------
// Flag parsers shared by train, generate and eval: each rejects a bad value with a UserError.

function numberParser(flag: string, ok: (n: number) => boolean, what: string, integer: boolean): (v: string) => number {
  return (v: string) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || !ok(n)) throw new UserError(`${flag} must be ${what}, got '${v}'`);
    return n;
  };
}
export const positiveIntFlag = positiveInt;
export const nonNegativeIntFlag = (flag: string) => numberParser(flag, (n) => n >= 0, 'a non-negative integer', true);
export const positiveNumberFlag = (flag: string) => numberParser(flag, (n) => n > 0, 'a positive number', false);
export const nonNegativeNumberFlag = (flag: string) => numberParser(flag, (n) => n >= 0, 'a non-negative number', false);
export const fractionFlag = (flag: string) => numberParser(flag, (n) => n >= 0 && n < 1, 'a number in [0, 1)', false);

/** Runs a command body, turning the trainer's and checkpoints' user-fixable errors into UserErrors. */
export async function asUserErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof TrainConfigError) throw new UserError(e.message, { cause: e });
    throw e;
  }
}

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'is a directory', ENOTDIR: 'not a file',
};

/** Reads a UTF-8 text file for training or evaluation; UserErrors for missing, unreadable, empty or non-UTF-8 files. */
export async function readTextFile(path: string, flag = '--text', hint = ''): Promise<{ text: string; info: TextInfo }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw new UserError(`cannot read ${flag} '${path}': ${FS_REASONS[code] ?? (e instanceof Error ? e.message : String(e))}${hint}`);
  }
  if (bytes.length === 0) throw new UserError(`${flag} '${path}' is empty`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${flag} '${path}' is not UTF-8 text`);
  }
  if (text.length === 0) throw new UserError(`${flag} '${path}' is empty`);
  let chars = 0;
  for (const _ of text) chars++;
  return { text, info: { path: nodePath.resolve(path), chars, sha256: createHash('sha256').update(bytes).digest('hex') } };
}

// ---------------------------------------------------------------------------------------------

interface TrainFlags {
  text?: string;
  preset?: string;
  model?: string;
  dim?: number;
  depth?: number;
  expansion?: number;
  conv?: number;
  ffMult?: number;
  dropout?: number;
  norm?: 'rms' | 'layer';
  residual?: 'add' | 'mul';
  scan?: 'log' | 'real';
  lr?: number;
  weightDecay?: number;
  warmup?: number;
  schedule?: 'constant' | 'cosine';
  clip?: number;
  batch?: number;
  seq?: number;
  steps?: number;
  seed?: number;
  stateful?: boolean;
  evalEvery?: number;
  saveEvery?: number;
  logEvery?: number;
  valWindows?: number;
  dtype?: 'f32' | 'bf16';
  out?: string;
  resume?: string;
  task?: 'lm' | 'listops';
  // --task listops
  minLength?: number;
  maxLength?: number;
  maxDepth?: number;
  maxArgs?: number;
  recurrentLrFactor?: number;
  rMin?: number;
  rMax?: number;
  valExamples?: number;
  testExamples?: number;
  dataSeed?: number;
}

/** The args of `defaults`' keys the user gave explicitly (commander sets no defaults here: undefined = not given). */
function givenArgs<A extends object>(f: TrainFlags, defaults: A): Partial<A> {
  const out: Partial<A> = {};
  for (const k of Object.keys(defaults) as (keyof A & keyof TrainFlags)[]) if (f[k] !== undefined) (out as Record<string, unknown>)[k] = f[k];
  return out;
}

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A UserError naming the given flags among `keys` that the task does not use. */
function rejectFlags(f: TrainFlags, keys: readonly string[], why: string): void {
  const given = keys.filter((k) => (f as Record<string, unknown>)[k] !== undefined);
  if (given.length) throw new UserError(`${given.map(flagName).join(', ')} ${given.length > 1 ? 'do' : 'does'} not apply to ${why}`);
}

/** Flags of the language model that --task listops does not use, and the reverse. */
const LM_ONLY = ['text', 'conv', 'ffMult', 'residual', 'seq', 'stateful', 'valWindows', 'dtype'] as const;
const LISTOPS_ONLY = (Object.keys(DEFAULT_LISTOPS_ARGS) as (keyof ListOpsArgs)[]).filter((k) => !(k in DEFAULT_TRAIN_ARGS));
/** Flags of the LRU that other cells do not use. */
const LRU_ONLY = ['recurrentLrFactor', 'rMin', 'rMax'] as const;

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A fresh run directory: --out (which must not hold a run yet) or runs/<timestamp>. */
async function newRunDir(out: string | undefined): Promise<string> {
  if (out !== undefined) {
    if (existsSync(nodePath.join(out, POINTER_FILE)) || existsSync(nodePath.join(out, LOG_FILE))) {
      throw new UserError(`--out '${out}' already holds a run; continue it with --resume ${out}, or choose another --out`);
    }
    if (existsSync(out) && !(await fs.stat(out)).isDirectory()) throw new UserError(`--out '${out}' is not a directory`);
    return out;
  }
  const base = nodePath.join('runs', timestamp());
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  return dir;
}

/** The run directory of a --resume path: itself when it holds latest.json, else the parent of a ckpt-* directory. */
function resumeRunDir(path: string, ckptDir: string): string {
  if (existsSync(nodePath.join(path, POINTER_FILE))) return path;
  const parent = nodePath.dirname(ckptDir);
  if (existsSync(nodePath.join(parent, POINTER_FILE))) return parent;
  throw new UserError(`--resume '${path}' is not a run directory (no ${POINTER_FILE}); give the directory that 'recur train --out' wrote`);
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function describeArgs(a: TrainArgs): string {
  const model = a.model === 'bigram' ? 'bigram' : `${a.model}, ${a.depth} layer${a.depth > 1 ? 's' : ''}, dim ${a.dim}, expansion ${a.expansion}, conv ${a.conv}, ff ×${a.ffMult}, dropout ${a.dropout}, ${a.norm} norm, ${a.residual} residual, ${a.scan} scan`;
  const precision = a.dtype === 'bf16' ? ' | bf16 mixed precision (f32 master weights)' : '';
  return `${model}${precision} | AdamW lr ${a.lr} (${a.schedule}${a.warmup ? `, warm-up ${a.warmup}` : ''}), weight decay ${a.weightDecay}, clip ${a.clip} | batch ${a.batch} × seq ${a.seq}${a.stateful ? ' (stateful)' : ''}, ${a.steps} steps, seed ${a.seed}`;
}

export async function runTrain(flags: TrainFlags): Promise<void> {
  if (flags.resume !== undefined) return (await resumeRun(flags, flags.resume))();
  if (flags.task === 'listops') return newListOpsRun(flags);
  rejectFlags(flags, LISTOPS_ONLY, '--task lm (the default; add --task listops)');
  if (flags.text === undefined) throw new UserError('recur train needs --text FILE (or --task listops, or --resume DIR to continue a run)');
  if (flags.preset !== undefined && !(flags.preset in PRESETS)) throw new UserError(`--preset ${flags.preset} is a --task listops preset`);
  const preset = flags.preset === undefined ? {} : PRESETS[flags.preset]!.args;
  const args = { ...DEFAULT_TRAIN_ARGS, ...preset, ...givenArgs(flags, DEFAULT_TRAIN_ARGS) };
  const { text, info } = await readTextFile(flags.text);
  const runDir = await newRunDir(flags.out);
  return trainLM(LMTrainer.create({ args, text, textInfo: info }), runDir);
}

/** The trainer of a run to resume (either task), as a function that trains it; the checkpoint's tensors are freed before it runs. */
async function resumeRun(flags: TrainFlags, path: string): Promise<() => Promise<void>> {
  if (flags.preset !== undefined) throw new UserError('--preset cannot be combined with --resume (a run keeps the settings it started with)');
  const ckpt = await loadCheckpoint(path, { training: true });
  try {
    const task = ckpt.config.task === LISTOPS_TASK ? 'listops' : 'lm';
    if (flags.task !== undefined && flags.task !== task) throw new UserError(`--task ${flags.task} conflicts with the run in '${path}', a ${task} run`);
    const runDir = resumeRunDir(path, ckpt.dir);
    if (flags.out !== undefined && nodePath.resolve(flags.out) !== nodePath.resolve(runDir)) {
      throw new UserError(`--out cannot differ from --resume: a resumed run continues in its own directory ('${runDir}')`);
    }
    if (task === 'listops') {
      rejectFlags(flags, LM_ONLY, '--task listops');
      const args = mergeResumeArgs(storedListOpsArgs(ckpt), givenArgs(flags, DEFAULT_LISTOPS_ARGS), LISTOPS_RESUMABLE_ARGS);
      const trainer = ListOpsTrainer.resume(ckpt, args);
      return () => trainListOps(trainer, runDir);
    }
    rejectFlags(flags, LISTOPS_ONLY, '--task lm');
    const stored = storedTraining(ckpt);
    const args = mergeResumeArgs(stored.args, givenArgs(flags, DEFAULT_TRAIN_ARGS));
    const { text, info } = flags.text === undefined
      ? await readTextFile(stored.text.path, "the run's text", ' (give its new path with --text)')
      : await readTextFile(flags.text);
    const trainer = LMTrainer.resume(ckpt, args, text, info);
    return () => trainLM(trainer, runDir);
  } finally {
    disposeTensorTree(ckpt.weights);
    disposeTensorTree(ckpt.optimizer?.tensors);
    disposeTensorTree(ckpt.carried);
  }
}

async function newListOpsRun(flags: TrainFlags): Promise<void> {
  rejectFlags(flags, LM_ONLY, '--task listops');
  if (flags.preset !== undefined && !(flags.preset in LISTOPS_PRESETS)) throw new UserError(`--preset ${flags.preset} is a language-model preset; --task listops has ${Object.keys(LISTOPS_PRESETS).join(', ')}`);
  const preset = flags.preset === undefined ? {} : LISTOPS_PRESETS[flags.preset]!.args;
  const args: ListOpsArgs = { ...DEFAULT_LISTOPS_ARGS, ...preset, ...givenArgs(flags, DEFAULT_LISTOPS_ARGS) };
  if (args.model !== 'lru') rejectFlags(flags, LRU_ONLY, `--model ${args.model} (the lru only)`);
  if (args.model === 'lru' && flags.scan !== undefined) throw new UserError('--scan does not apply to --model lru (its complex scan has one mode)');
  const runDir = await newRunDir(flags.out);
  return trainListOps(ListOpsTrainer.create(args), runDir);
}

async function trainLM(trainer: LMTrainer, runDir: string): Promise<void> {
  const a = trainer.args;
  const out = process.stdout;
  out.write(`recur train: ${describeArgs(a)}\n`);
  out.write(`  ${trainer.model.numParameters().toLocaleString('en-US')} parameters | text ${trainer.textInfo.path}: ${trainer.textInfo.chars.toLocaleString('en-US')} chars, vocab ${trainer.vocabSize}, ` +
    `train ${trainer.trainTokens.length.toLocaleString('en-US')} / val ${trainer.valTokens.length.toLocaleString('en-US')} (${trainer.valWindows.count} windows of ${trainer.valWindows.length})\n`);
  await runWithProgress(trainer, runDir, {
    dispose: () => trainer.dispose(),
    evalLine: (e) => `val loss ${e.loss.toFixed(4)} nats/char | ${e.bitsPerChar.toFixed(3)} bits/char | accuracy ${pct(e.accuracy)}`,
    summary: (e) => `val loss ${e.loss.toFixed(4)} nats/char, ${e.bitsPerChar.toFixed(3)} bits/char, accuracy ${pct(e.accuracy)}`,
  });
}

function describeListOps(a: ListOpsArgs): string {
  const cell = a.model === 'lru'
    ? `lru (N ${Math.max(1, Math.round(a.expansion * a.dim))}, ring [${a.rMin}, ${a.rMax}])`
    : `${a.model} (expansion ${a.expansion}, ${a.scan} scan)`;
  const groups = a.model === 'lru' ? `, ν θ γ B at lr × ${a.recurrentLrFactor} without decay` : '';
  return `ListOps ${a.minLength} < length < ${a.maxLength}, depth ≤ ${a.maxDepth}, ≤ ${a.maxArgs} args | ${a.depth} × [${a.norm} norm → ${cell} → GLU, dropout ${a.dropout}] dim ${a.dim} | ` +
    `AdamW lr ${a.lr} (${a.schedule}${a.warmup ? `, warm-up ${a.warmup}` : ''}${groups}), weight decay ${a.weightDecay}, clip ${a.clip} | batch ${a.batch}, ${a.steps} steps, seed ${a.seed}, data seed ${a.dataSeed}`;
}

async function trainListOps(trainer: ListOpsTrainer, runDir: string): Promise<void> {
  const out = process.stdout;
  out.write(`recur train --task listops: ${describeListOps(trainer.args)}\n`);
  const { val, test } = trainer.checkpointConfig().training!.data as { val: number; test: number; testMajority: number };
  out.write(`  ${trainer.model.numParameters().toLocaleString('en-US')} parameters | examples generated on the fly; ${val} validation, ${test} test held out\n`);
  const line = (e: ListOpsEvalResult) => `val loss ${e.loss.toFixed(4)} | accuracy ${pct(e.accuracy)} (majority class ${pct(e.majority)})`;
  await runWithProgress(trainer, runDir, { dispose: () => trainer.dispose(), evalLine: line, summary: line });
  if (process.exitCode === undefined || process.exitCode === 0) out.write(`test accuracy: recur eval --checkpoint ${runDir}\n`);
}

interface RunPrinting<E> {
  dispose(): void;
  /** The progress line of an evaluation, and the result's part of the summary line. */
  evalLine(e: E): string;
  summary(e: E): string;
}

/**
 * Runs a trainer with a progress bar, Ctrl-C that saves (twice: quit without saving), a summary
 * line, and a one-line message with exit code 1 when training diverges. Disposes the trainer.
 */
async function runWithProgress<E extends { loss: number; accuracy: number }>(
  trainer: RunnableTrainer<E>, runDir: string, p: RunPrinting<E>,
): Promise<void> {
  const a = trainer.args;
  const start = trainer.step;
  const out = process.stdout;
  out.write(`  run directory ${runDir}${start > 0 ? ` (resuming at step ${start})` : ''}\n`);
  const progress = new Progress({ total: Math.max(0, a.steps - start), label: start > 0 ? `train (from step ${start})` : 'train' });
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) {
      progress.stop();
      process.stderr.write('recur: interrupted again: exiting without saving (the last checkpoint is intact)\n');
      process.exit(EXIT_INTERRUPTED);
    }
    stopRequested = true;
    progress.log('interrupt: finishing this step, then saving a checkpoint (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSigint);
  try {
    const result: RunResult<E> = await runTraining(trainer, runDir, {
      onStep: (r, rate) => progress.update(r.step - start, { loss: r.loss, tokensPerSec: rate }),
      onEval: (e, step) => progress.log(`step ${step}: ${p.evalLine(e)}`),
      onSave: (dir) => progress.log(`saved ${dir}`),
      shouldStop: () => stopRequested,
    });
    progress.stop();
    const evalText = result.lastEval ? p.summary(result.lastEval) : 'no validation in this session';
    const line = `step ${result.step}/${a.steps} | ${evalText} | ${formatRate(result.tokensPerSec)} tok/s | wall ${formatDuration(result.wallSeconds)} | ${runDir}`;
    if (result.status === 'interrupted') {
      out.write(`interrupted: ${line}\nresume with: recur train --resume ${runDir}\n`);
      process.exitCode = EXIT_INTERRUPTED;
    } else {
      out.write(`done: ${line}\n`);
    }
  } catch (e) {
    progress.stop();
    if (e instanceof NonFiniteError) {
      process.stderr.write(`recur: training diverged: ${e.message}; no checkpoint written for it (try a lower --lr or a --clip)\n`);
      process.exitCode = EXIT_DIVERGED;
      return;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    p.dispose();
  }
}

export function registerTrain(program: Command): void {
  const allPresets = { ...PRESETS, ...LISTOPS_PRESETS };
  const presetNames = Object.keys(allPresets);
  const d = DEFAULT_TRAIN_ARGS;
  const l = DEFAULT_LISTOPS_ARGS;
  program
    .command('train')
    .description('train a character-level language model on a text file (90/10 train/validation split), or a sequence classifier on ListOps (--task listops)')
    .addOption(new Option('--task <task>', 'lm: next-character language model on --text; listops: classify ListOps expressions generated on the fly (default lm)').choices(['lm', 'listops']))
    .option('--text <file>', 'UTF-8 text to train on (the first 90% trains, the last 10% validates)')
    .addOption(new Option('--preset <name>', `named settings, overridden by explicit flags: ${presetNames.map((n) => `${n} = ${allPresets[n]!.description}`).join('; ')}`).choices(presetNames))
    .addOption(new Option('--model <name>', `model: a recurrent cell or another model kind (default ${d.model}; listops: a cell, default ${l.model})`).choices(modelNames()))
    .option('--dim <n>', `model width (default ${d.dim}; listops ${l.dim})`, positiveIntFlag('--dim'))
    .option('--depth <n>', `layers (default ${d.depth}; listops ${l.depth})`, positiveIntFlag('--depth'))
    .option('--expansion <x>', `cell expansion factor; listops lru: state N = expansion × dim (default ${d.expansion}; listops ${l.expansion})`, positiveNumberFlag('--expansion'))
    .option('--conv <k>', `causal depthwise conv kernel before each cell, 0 = none (default ${d.conv})`, nonNegativeIntFlag('--conv'))
    .option('--ff-mult <x>', `feed-forward width multiplier (default ${d.ffMult})`, positiveNumberFlag('--ff-mult'))
    .option('--dropout <p>', `dropout (default ${d.dropout}; listops ${l.dropout})`, fractionFlag('--dropout'))
    .addOption(new Option('--norm <kind>', `pre-norm (default ${d.norm}; listops ${l.norm})`).choices(['rms', 'layer']))
    .addOption(new Option('--residual <kind>', `how the cell joins the residual stream: add (x + cell(norm x)) or mul (x ⊙ cell(norm x)) (default ${d.residual})`).choices(['add', 'mul']))
    .addOption(new Option('--scan <mode>', `linear-recurrence scan: log (reference) or real (faster) (default ${d.scan})`).choices(['log', 'real']))
    .option('--lr <x>', `AdamW learning rate (default ${d.lr}; listops ${l.lr})`, positiveNumberFlag('--lr'))
    .option('--weight-decay <x>', `AdamW weight decay on matrices (default ${d.weightDecay}; listops ${l.weightDecay})`, nonNegativeNumberFlag('--weight-decay'))
    .option('--warmup <n>', `linear learning-rate warm-up steps (default ${d.warmup}; listops ${l.warmup})`, nonNegativeIntFlag('--warmup'))
    .addOption(new Option('--schedule <kind>', `learning rate after warm-up: constant, or cosine decay to lr/10 at the last step (default ${d.schedule}; listops ${l.schedule})`).choices(['constant', 'cosine']))
    .option('--clip <x>', `gradient-norm clip, 0 = none (default ${d.clip})`, nonNegativeNumberFlag('--clip'))
    .option('--batch <n>', `sequences per step (default ${d.batch}; listops ${l.batch})`, positiveIntFlag('--batch'))
    .option('--seq <n>', `characters per sequence (default ${d.seq})`, positiveIntFlag('--seq'))
    .option('--steps <n>', `total optimizer steps (default ${d.steps}; listops ${l.steps})`, positiveIntFlag('--steps'))
    .option('--seed <n>', `random seed: initialisation, dropout, batches (default ${d.seed})`, nonNegativeIntFlag('--seed'))
    .option('--stateful', 'B contiguous streams whose state carries across batches (truncated BPTT), reset at wrap-around')
    .option('--eval-every <n>', `validate every n steps (default ${d.evalEvery}; listops ${l.evalEvery})`, positiveIntFlag('--eval-every'))
    .option('--save-every <n>', 'checkpoint every n steps (default: at every validation)', positiveIntFlag('--save-every'))
    .option('--log-every <n>', `log the training loss every n steps (default ${d.logEvery})`, positiveIntFlag('--log-every'))
    .option('--val-windows <n>', `validation windows of --seq characters, evenly spaced over the held-out text, 0 = all (default ${d.valWindows})`, nonNegativeIntFlag('--val-windows'))
    .addOption(new Option('--dtype <type>', 'training precision: f32, or bf16 working copies of f32 master weights (needs --device cuda; checkpoints stay f32) (default f32)').choices(['f32', 'bf16']))
    .option('--min-length <n>', `listops: expressions have more than n tokens (default ${l.minLength}; LRA 500)`, nonNegativeIntFlag('--min-length'))
    .option('--max-length <n>', `listops: expressions have fewer than n tokens (default ${l.maxLength}; LRA 2000)`, positiveIntFlag('--max-length'))
    .option('--max-depth <n>', `listops: nesting depth limit (default ${l.maxDepth}, as LRA)`, positiveIntFlag('--max-depth'))
    .option('--max-args <n>', `listops: arguments per operator, ≥ 2 (default ${l.maxArgs}, as LRA)`, positiveIntFlag('--max-args'))
    .option('--recurrent-lr-factor <x>', `listops, lru: ν, θ, γ, B train at lr × x without weight decay (default ${l.recurrentLrFactor})`, positiveNumberFlag('--recurrent-lr-factor'))
    .option('--r-min <x>', `listops, lru: smallest initial |λ| (default ${l.rMin})`, fractionFlag('--r-min'))
    .option('--r-max <x>', `listops, lru: largest initial |λ|, < 1 (default ${l.rMax})`, fractionFlag('--r-max'))
    .option('--val-examples <n>', `listops: held-out validation expressions (default ${l.valExamples})`, positiveIntFlag('--val-examples'))
    .option('--test-examples <n>', `listops: held-out test expressions, scored by 'recur eval' (default ${l.testExamples})`, positiveIntFlag('--test-examples'))
    .option('--data-seed <n>', `listops: seed of the validation and test sets (default ${l.dataSeed})`, nonNegativeIntFlag('--data-seed'))
    .option('--out <dir>', 'run directory: log.jsonl, checkpoints, curves.svg (default runs/<timestamp>)')
    .option('--resume <dir>', `continue the run in <dir> bit-for-bit; only ${RESUMABLE_ARGS.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} may change`)
    .action(async (flags: TrainFlags) => {
      await asUserErrors(() => runTrain(flags));
    });
}
