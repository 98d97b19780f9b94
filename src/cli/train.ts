/**
 * `recur train`: trains a character-level language model on a text file (`--task lm`, the
 * default) or a sequence classifier on ListOps generated on the fly (`--task listops`), with a
 * progress bar, periodic validation, a JSON-lines log, crash-safe checkpoints, bit-for-bit
 * `--resume`, Ctrl-C that saves, and curves.svg + a summary line at the end. The work is in
 * src/train/lm-trainer.ts and src/train/listops-trainer.ts; both run through runTraining.
 *
 * With `--time-budget 9m` a session saves and exits 0 once the next step would end past that
 * much wall-clock time since the command started: a long run becomes a chain of resumed chunks
 * (tools/chunked-run.sh), each of which leaves the same weights as one uninterrupted run would.
 *
 * Exit codes: 0 done (or the time budget reached); 2 bad input (one line); 1 training diverged (NaN/Inf, one line, no
 * checkpoint of bad weights); 130 interrupted by Ctrl-C (143 by SIGTERM) after writing a checkpoint.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, existsSync, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { cellEntry, cellNames, cellsDeclaring, describeCellOptions } from '../cells/registry.js';
import { flagOf, type OptionValue } from '../cells/options.js';
import { RESUMABLE_ARGS, TrainConfigError, argSpec, cellOptionSpecs, mergeResumeArgs } from '../train/args.js';
import { CheckpointError, loadCheckpoint, disposeTensorTree, POINTER_FILE } from '../train/checkpoint.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, PRESETS, storedTraining, type TextInfo, type TrainArgs } from '../train/lm-trainer.js';
import {
  DEFAULT_LISTOPS_ARGS, LISTOPS_PRESETS, LISTOPS_RESUMABLE_ARGS, LISTOPS_TASK, ListOpsTrainer, storedListOpsArgs,
  type ListOpsArgs, type ListOpsEvalResult,
} from '../train/listops-trainer.js';
import {
  DEFAULT_TOKEN_TASK_ARGS, TOKEN_TASKS, TOKEN_TASK_PRESETS, TOKEN_TASK_RESUMABLE_ARGS, TokenTaskTrainer, isTokenTask, storedTokenTaskArgs,
  type TokenTaskArgs, type TokenTaskName,
} from '../train/token-task-trainer.js';
import type { TokenTaskEvalResult } from '../train/token-tasks.js';
import { LOG_FILE, runTraining, type RunnableTrainer, type RunResult } from '../train/loop.js';
import { modelNames } from '../train/model-kinds.js';
import { NonFiniteError } from '../train/step.js';
import { makeDirectory } from '../io/files.js';
import { UserError } from './errors.js';
import { applyAliases, durationFlag, specOption } from './flags.js';
import { formatDuration, formatRate, Progress } from './progress.js';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT, the shell's convention). */
export const EXIT_INTERRUPTED = 130;
/** Exit code of a run stopped by a signal: 128 + its number, the shell's convention (130 for Ctrl-C, 143 for SIGTERM). */
function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : EXIT_INTERRUPTED;
}
/** Exit code of a run stopped because the loss or gradients became NaN or infinite. */
export const EXIT_DIVERGED = 1;

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

/** The largest text `recur train` and `recur eval` read (a string of it must fit in V8). */
const MAX_TEXT_BYTES = 2 ** 29;

/**
 * Reads a UTF-8 text file for training or evaluation; UserErrors for missing, unreadable, empty or
 * non-UTF-8 files, and for anything but a regular file of at most `maxBytes` (so that a path like
 * /dev/zero or a FIFO is refused before it is read).
 */
export async function readTextFile(path: string, flag = '--text', hint = '', maxBytes = MAX_TEXT_BYTES): Promise<{ text: string; info: TextInfo }> {
  let bytes: Buffer;
  try {
    const st = await fs.stat(path);
    if (!st.isFile()) throw new UserError(`cannot read ${flag} '${path}': ${st.isDirectory() ? 'is a directory' : 'not a regular file'}${hint}`);
    if (st.size > maxBytes) throw new UserError(`cannot read ${flag} '${path}': ${st.size} bytes, more than the ${maxBytes} it may have${hint}`);
    bytes = await fs.readFile(path);
  } catch (e) {
    if (e instanceof UserError) throw e;
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

/** What commander hands the action: the arguments of either task by key, cell options, and the run's files. */
interface TrainFlags {
  text?: string;
  preset?: string;
  out?: string;
  resume?: string;
  /** Seconds this session may run (`--time-budget`): it then saves and exits 0. */
  timeBudget?: number;
  task?: Task;
  model?: string;
  scan?: string;
  [arg: string]: unknown;
}

/**
 * The args of `defaults`' keys the user gave explicitly (commander sets no defaults here:
 * undefined = not given), and the cell options given, as `cellOptions`.
 */
function givenArgs<A extends object>(f: TrainFlags, defaults: A): Partial<A> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(defaults)) if (f[k] !== undefined) out[k] = f[k];
  const options: Record<string, OptionValue> = {};
  for (const o of cellOptionSpecs()) if (f[o.name] !== undefined) options[o.name] = f[o.name] as OptionValue;
  if (Object.keys(options).length) out.cellOptions = options;
  return out as Partial<A>;
}

/** A UserError naming the given flags among `keys` that the task does not use. */
function rejectFlags(f: TrainFlags, keys: readonly string[], why: string): void {
  const given = keys.filter((k) => f[k] !== undefined);
  if (given.length) throw new UserError(`${given.map(flagOf).join(', ')} ${given.length > 1 ? 'do' : 'does'} not apply to ${why}`);
}

/** The tasks of `recur train --task`. */
const TASKS = ['lm', 'listops', ...TOKEN_TASKS] as const;
type Task = (typeof TASKS)[number];

/** The argument keys of each task (the language model also reads --text). */
const TASK_KEYS: Record<Task, readonly string[]> = {
  lm: ['text', ...Object.keys(DEFAULT_TRAIN_ARGS)],
  listops: Object.keys(DEFAULT_LISTOPS_ARGS),
  'selective-copy': Object.keys(DEFAULT_TOKEN_TASK_ARGS),
  recall: Object.keys(DEFAULT_TOKEN_TASK_ARGS),
};
const EVERY_TASK_KEY = [...new Set(Object.values(TASK_KEYS).flat())];

/** Refuses the given flags that `task` does not read (--text with listops, --letters with lm, …). */
function rejectOtherTasksFlags(f: TrainFlags, task: Task): void {
  rejectFlags(f, EVERY_TASK_KEY.filter((k) => !TASK_KEYS[task].includes(k)), `--task ${task}${task === 'lm' ? ' (the default; add --task for another)' : ''}`);
}

/** Every preset by name, with the task it belongs to. */
const ALL_PRESETS: Record<string, { task: Task; description: string; args: object }> = {
  ...Object.fromEntries(Object.entries(PRESETS).map(([n, p]) => [n, { ...p, task: 'lm' as Task }])),
  ...Object.fromEntries(Object.entries(LISTOPS_PRESETS).map(([n, p]) => [n, { ...p, task: 'listops' as Task }])),
  ...TOKEN_TASK_PRESETS,
};

/** The task of a new run: --task, or the task of --preset (they must agree), or lm. */
function taskOf(flags: TrainFlags): Task {
  const presetTask = flags.preset === undefined ? undefined : ALL_PRESETS[flags.preset]?.task;
  if (flags.preset !== undefined && presetTask === undefined) throw new UserError(`unknown --preset ${flags.preset}`);
  if (flags.task !== undefined && presetTask !== undefined && flags.task !== presetTask) {
    throw new UserError(`--preset ${flags.preset} is a --task ${presetTask} preset, not --task ${flags.task}`);
  }
  return flags.task ?? presetTask ?? 'lm';
}

/** The settings of a new run of `defaults`' task: defaults, then the preset, then the given flags. */
function newRunArgs<A extends object>(flags: TrainFlags, defaults: A): A {
  const preset: { cellOptions?: Record<string, OptionValue> } = flags.preset === undefined ? {} : ALL_PRESETS[flags.preset]!.args;
  const given: { cellOptions?: Record<string, OptionValue> } = givenArgs(flags, defaults);
  const merged = { ...defaults, ...preset, ...given } as A & { cellOptions?: Record<string, OptionValue> };
  // A cell flag beside a preset changes that one option; the preset's other cell options stay.
  if (preset.cellOptions || given.cellOptions) merged.cellOptions = { ...preset.cellOptions, ...given.cellOptions };
  return merged;
}

/**
 * Refuses cell options given for a model that does not declare them (`--r-min` with mingru,
 * `--scan` with lru): the registry says which cell declares what.
 */
function rejectForeignCellFlags(f: TrainFlags, model: string): void {
  const isCell = cellNames().includes(model);
  const declared = isCell ? cellEntry(model).options.map((o) => o.name) : [];
  const everyCellOption = [...new Set(cellNames().flatMap((n) => cellEntry(n).options.map((o) => o.name)))];
  // A model that is no cell (bigram) ignores the architecture flags every RecurrentLM reads.
  const candidates = isCell ? everyCellOption : everyCellOption.filter((k) => !(k in DEFAULT_TRAIN_ARGS));
  const foreign = candidates.filter((k) => f[k] !== undefined && !declared.includes(k));
  if (f.recurrentLrFactor !== undefined && isCell && !cellEntry(model).recurrentParams) foreign.push('recurrentLrFactor');
  if (foreign.length) {
    const owners = [...new Set(foreign.flatMap((k) => (k === 'recurrentLrFactor' ? cellNames().filter((n) => cellEntry(n).recurrentParams) : cellsDeclaring(k))))];
    throw new UserError(`${foreign.map(flagOf).join(', ')} ${foreign.length > 1 ? 'do' : 'does'} not apply to --model ${model} (the ${owners.join('/')} only)`);
  }
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A fresh run directory: --out (which must not hold a run yet) or runs/<timestamp>. */
async function newRunDir(out: string | undefined): Promise<string> {
  if (out === undefined) {
    const base = nodePath.join('runs', timestamp());
    let dir = base;
    for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
    return dir;
  }
  if (existsSync(out) && !(await fs.stat(out)).isDirectory()) throw new UserError(`--out '${out}' is not a directory`);
  if (existsSync(nodePath.join(out, POINTER_FILE))) {
    throw new UserError(`--out '${out}' already holds a run; continue it with --resume ${out}, or choose another --out`);
  }
  if (existsSync(nodePath.join(out, LOG_FILE))) {
    // A run that died before its first checkpoint left only its log: nothing to resume, so it starts again.
    process.stderr.write(`recur: --out '${out}' holds a run that stopped before its first checkpoint; starting it again\n`);
    await fs.rm(nodePath.join(out, LOG_FILE), { force: true });
  }
  // Made (and probed) now, before any long set-up, so an unusable path fails at once.
  try {
    await makeDirectory(out);
    await fs.access(out, fsConstants.W_OK);
  } catch (e) {
    throw new UserError(`cannot create the run directory --out '${out}': ${FS_REASONS[(e as NodeJS.ErrnoException).code ?? ''] ?? (e as Error).message}`);
  }
  return out;
}

/** The run directory of a --resume path: itself when it holds latest.json, else the parent of a ckpt-* directory. */
function resumeRunDir(path: string, ckptDir: string): string {
  if (existsSync(nodePath.join(path, POINTER_FILE))) return path;
  const parent = nodePath.dirname(ckptDir);
  if (existsSync(nodePath.join(parent, POINTER_FILE))) return parent;
  throw new UserError(`--resume '${path}' is not a run directory (no ${POINTER_FILE}); give the directory that 'recur train --out' wrote`);
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The cell's option values of an args set, between `before` and `after` ('' when it has none). */
function optionsText(a: { model: string; dim: number; expansion: number; scan: string; cellOptions?: Record<string, OptionValue> }, before: string, after = ''): string {
  const text = describeCellOptions(a.model, a.dim, { expansion: a.expansion, scan: a.scan, ...a.cellOptions });
  return text ? `${before}${text}${after}` : '';
}

function describeArgs(a: TrainArgs): string {
  const model = !cellNames().includes(a.model) ? a.model : `${a.model}, ${a.depth} layer${a.depth > 1 ? 's' : ''}, dim ${a.dim}${optionsText(a, ', ')}, conv ${a.conv}, ff ×${a.ffMult}, dropout ${a.dropout}, ${a.norm} norm, ${a.residual} residual`;
  const precision = a.dtype === 'bf16' ? ' | bf16 mixed precision (f32 master weights)' : '';
  return `${model}${precision} | AdamW lr ${a.lr} (${a.schedule}${a.warmup ? `, warm-up ${a.warmup}` : ''}), weight decay ${a.weightDecay}, clip ${a.clip} | batch ${a.batch} × seq ${a.seq}${a.stateful ? ' (stateful)' : ''}, ${a.steps} steps, seed ${a.seed}`;
}

export async function runTrain(flags: TrainFlags): Promise<void> {
  if (flags.resume !== undefined) return (await resumeRun(flags, flags.resume))();
  const task = taskOf(flags);
  rejectOtherTasksFlags(flags, task);
  if (task === 'listops') return newListOpsRun(flags);
  if (isTokenTask(task)) return newTokenTaskRun(flags, task);
  if (flags.text === undefined) throw new UserError(`recur train needs --text FILE (or --task ${TASKS.filter((t) => t !== 'lm').join('|')}, or --resume DIR to continue a run)`);
  const args = newRunArgs(flags, DEFAULT_TRAIN_ARGS);
  rejectForeignCellFlags(flags, args.model);
  const { text, info } = await readTextFile(flags.text);
  const runDir = await newRunDir(flags.out);
  return trainLM(LMTrainer.create({ args, text, textInfo: info }), runDir, flags);
}

/** The trainer of a run to resume (either task), as a function that trains it; the checkpoint's tensors are freed before it runs. */
async function resumeRun(flags: TrainFlags, path: string): Promise<() => Promise<void>> {
  if (flags.preset !== undefined) throw new UserError('--preset cannot be combined with --resume (a run keeps the settings it started with)');
  if (existsSync(nodePath.join(path, LOG_FILE)) && !existsSync(nodePath.join(path, POINTER_FILE)) && !existsSync(nodePath.join(path, 'config.json'))) {
    throw new UserError(`--resume '${path}': the run stopped before its first checkpoint, so there is nothing to resume; start it again with its flags and --out ${path}`);
  }
  const ckpt = await loadCheckpoint(path, { training: true });
  try {
    const task: Task = ckpt.config.task === LISTOPS_TASK ? 'listops' : isTokenTask(ckpt.config.task) ? ckpt.config.task : 'lm';
    if (flags.task !== undefined && flags.task !== task) throw new UserError(`--task ${flags.task} conflicts with the run in '${path}', a ${task} run`);
    const runDir = resumeRunDir(path, ckpt.dir);
    if (flags.out !== undefined && nodePath.resolve(flags.out) !== nodePath.resolve(runDir)) {
      throw new UserError(`--out cannot differ from --resume: a resumed run continues in its own directory ('${runDir}')`);
    }
    rejectOtherTasksFlags(flags, task);
    if (isTokenTask(task)) {
      const args = mergeResumeArgs(storedTokenTaskArgs(ckpt), givenArgs(flags, DEFAULT_TOKEN_TASK_ARGS), TOKEN_TASK_RESUMABLE_ARGS);
      refuseStepsBelow(args.steps, ckpt.trainer!.step, path);
      const trainer = TokenTaskTrainer.resume(ckpt, args);
      return () => trainTokenTask(trainer, runDir, flags);
    }
    if (task === 'listops') {
      const args = mergeResumeArgs(storedListOpsArgs(ckpt), givenArgs(flags, DEFAULT_LISTOPS_ARGS), LISTOPS_RESUMABLE_ARGS);
      refuseStepsBelow(args.steps, ckpt.trainer!.step, path);
      const trainer = ListOpsTrainer.resume(ckpt, args);
      return () => trainListOps(trainer, runDir, flags);
    }
    const stored = storedTraining(ckpt);
    const args = mergeResumeArgs(stored.args, givenArgs(flags, DEFAULT_TRAIN_ARGS));
    const { text, info } = flags.text === undefined
      // The stored path is only read when it is a regular file no larger than the run's text
      // can be (4 UTF-8 bytes a character); its hash must then match (LMTrainer.resume).
      ? await readTextFile(stored.text.path, "the run's text", ' (give its new path with --text)', 4 * stored.text.chars + 4)
      : await readTextFile(flags.text);
    refuseStepsBelow(args.steps, ckpt.trainer!.step, path);
    const trainer = LMTrainer.resume(ckpt, args, text, info);
    return () => trainLM(trainer, runDir, flags);
  } finally {
    disposeTensorTree(ckpt.weights);
    disposeTensorTree(ckpt.optimizer?.tensors);
    disposeTensorTree(ckpt.carried);
  }
}

/** A resumed run cannot end before the step it is at. */
function refuseStepsBelow(steps: number, at: number, path: string): void {
  if (steps < at) throw new UserError(`--steps ${steps} is below step ${at}, where the run in '${path}' is; give --steps ${at + 1} or more to continue it`);
}

async function newListOpsRun(flags: TrainFlags): Promise<void> {
  const args: ListOpsArgs = newRunArgs(flags, DEFAULT_LISTOPS_ARGS);
  rejectForeignCellFlags(flags, args.model);
  const runDir = await newRunDir(flags.out);
  return trainListOps(ListOpsTrainer.create(args), runDir, flags);
}

async function newTokenTaskRun(flags: TrainFlags, task: TokenTaskName): Promise<void> {
  const args: TokenTaskArgs = newRunArgs(flags, DEFAULT_TOKEN_TASK_ARGS);
  rejectForeignCellFlags(flags, args.model);
  const runDir = await newRunDir(flags.out);
  return trainTokenTask(TokenTaskTrainer.create(task, args), runDir, flags);
}

function describeTokenTask(task: TokenTaskName, a: TokenTaskArgs, vocabSize: number): string {
  const data = task === 'selective-copy' ? `selective copying: ${a.letters} tokens in ${a.seq}` : `associative recall: ${a.pairs} pairs in ${a.seq}`;
  const lm = describeArgs({ ...a, stateful: false, valWindows: 0 }).replace(/ \| batch .*$/, '');
  return `${data}, vocab ${vocabSize} | ${lm} | batch ${a.batch}, ${a.steps} steps, seed ${a.seed}, data seed ${a.dataSeed}`;
}

async function trainTokenTask(trainer: TokenTaskTrainer, runDir: string, session: Session): Promise<void> {
  process.stdout.write(`recur train --task ${trainer.task}: ${describeTokenTask(trainer.task, trainer.args, trainer.vocabSize)}\n`);
  process.stdout.write(`  ${trainer.model.numParameters().toLocaleString('en-US')} parameters | sequences generated on the fly; ${trainer.val.count} held out for validation\n`);
  const line = (e: TokenTaskEvalResult) => `val loss ${e.loss.toFixed(4)} nats/answer | accuracy ${pct(e.accuracy)} | sequences all right ${pct(e.sequenceAccuracy)}`;
  await runWithProgress(trainer, runDir, { dispose: () => trainer.dispose(), evalLine: line, summary: line }, session);
}

async function trainLM(trainer: LMTrainer, runDir: string, session: Session): Promise<void> {
  const a = trainer.args;
  const out = process.stdout;
  out.write(`recur train: ${describeArgs(a)}\n`);
  out.write(`  ${trainer.model.numParameters().toLocaleString('en-US')} parameters | text ${trainer.textInfo.path}: ${trainer.textInfo.chars.toLocaleString('en-US')} chars, vocab ${trainer.vocabSize}, ` +
    `train ${trainer.trainTokens.length.toLocaleString('en-US')} / val ${trainer.valTokens.length.toLocaleString('en-US')} (${trainer.valWindows.count} windows of ${trainer.valWindows.length})\n`);
  await runWithProgress(trainer, runDir, {
    dispose: () => trainer.dispose(),
    evalLine: (e) => `val loss ${e.loss.toFixed(4)} nats/char | ${e.bitsPerChar.toFixed(3)} bits/char | accuracy ${pct(e.accuracy)}`,
    summary: (e) => `val loss ${e.loss.toFixed(4)} nats/char, ${e.bitsPerChar.toFixed(3)} bits/char, accuracy ${pct(e.accuracy)}`,
  }, session);
}

function describeListOps(a: ListOpsArgs): string {
  const groups = cellEntry(a.model).recurrentParams ? `, recurrent parameters at lr × ${a.recurrentLrFactor} without decay` : '';
  return `ListOps ${a.minLength} < length < ${a.maxLength}, depth ≤ ${a.maxDepth}, ≤ ${a.maxArgs} args | ${a.depth} × [${a.norm} norm → ${a.model}${optionsText(a, ' (', ')')} → GLU, dropout ${a.dropout}] dim ${a.dim} | ` +
    `AdamW lr ${a.lr} (${a.schedule}${a.warmup ? `, warm-up ${a.warmup}` : ''}${groups}), weight decay ${a.weightDecay}, clip ${a.clip} | batch ${a.batch}, ${a.steps} steps, seed ${a.seed}, data seed ${a.dataSeed}`;
}

async function trainListOps(trainer: ListOpsTrainer, runDir: string, session: Session): Promise<void> {
  const out = process.stdout;
  out.write(`recur train --task listops: ${describeListOps(trainer.args)}\n`);
  const { val, test } = trainer.checkpointConfig().training!.data as { val: number; test: number; testMajority: number };
  out.write(`  ${trainer.model.numParameters().toLocaleString('en-US')} parameters | examples generated on the fly; ${val} validation, ${test} test held out\n`);
  const line = (e: ListOpsEvalResult) => `val loss ${e.loss.toFixed(4)} | accuracy ${pct(e.accuracy)} (majority class ${pct(e.majority)})`;
  await runWithProgress(trainer, runDir, { dispose: () => trainer.dispose(), evalLine: line, summary: line }, session);
  if (process.exitCode === undefined || process.exitCode === 0) out.write(`test accuracy: recur eval --checkpoint ${runDir}\n`);
}

/** What a command line asks of one session of a run (not stored with the run). */
interface Session {
  /** Seconds since the command started after which no step begins (`--time-budget`). */
  timeBudget?: number;
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
  trainer: RunnableTrainer<E>, runDir: string, p: RunPrinting<E>, session: Session,
): Promise<void> {
  const a = trainer.args;
  const start = trainer.step;
  const out = process.stdout;
  out.write(`  run directory ${runDir}${start > 0 ? ` (resuming at step ${start})` : ''}\n`);
  const progress = new Progress({ total: Math.max(0, a.steps - start), label: start > 0 ? `train (from step ${start})` : 'train' });
  let stopRequested: NodeJS.Signals | null = null;
  // SIGTERM (timeout, container stops, schedulers) saves like Ctrl-C. A second signal exits at
  // once: checkpoint files are written to temporary names and renamed, so no file is left half
  // written (a temporary one is removed by the next save).
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested) {
      progress.stop();
      process.stderr.write(`recur: ${signal} again: exiting without saving (the last checkpoint is intact)\n`);
      process.exit(exitCodeOf(signal));
    }
    stopRequested = signal;
    progress.log(`${signal === 'SIGINT' ? 'interrupt' : signal}: finishing this step, then saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'a signal'} again to quit without saving)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result: RunResult<E> = await runTraining(trainer, runDir, {
      onStep: (r, rate) => progress.update(r.step - start, { loss: r.loss, tokensPerSec: rate }),
      onEval: (e, step) => progress.log(`step ${step}: ${p.evalLine(e)}`),
      onSave: (dir) => progress.log(`saved ${dir}`),
      shouldStop: () => stopRequested !== null,
      // performance.now() counts from the start of the process, so the budget covers set-up too.
      ...(session.timeBudget === undefined ? {} : { deadline: session.timeBudget * 1000 }),
    });
    progress.stop();
    const evalText = result.lastEval ? p.summary(result.lastEval) : 'no validation in this session';
    const line = `step ${result.step}/${a.steps} | ${evalText} | ${formatRate(result.tokensPerSec)} tok/s | wall ${formatDuration(result.wallSeconds)} | ${runDir}`;
    if (result.status === 'interrupted') {
      out.write(`interrupted: ${line}\nresume with: recur train --resume ${runDir}\n`);
      process.exitCode = exitCodeOf(stopRequested ?? 'SIGINT');
    } else if (result.status === 'time-budget') {
      // Whole seconds as 9m00s; a fraction as given, so the printed command is valid as it stands.
      const budget = Number.isInteger(session.timeBudget) ? formatDuration(session.timeBudget!) : `${session.timeBudget}s`;
      out.write(`time budget ${budget} reached: ${line}\ncontinue with: recur train --resume ${runDir} --time-budget ${budget}\n`);
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
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    p.dispose();
  }
}

/** The help of an argument flag: its declaration's text and the defaults of both tasks. */
function argHelp(key: string, help: string): string {
  const defaults: [string, unknown][] = [
    ['', (DEFAULT_TRAIN_ARGS as unknown as Record<string, unknown>)[key]],
    ['listops', (DEFAULT_LISTOPS_ARGS as unknown as Record<string, unknown>)[key]],
    ['token tasks', (DEFAULT_TOKEN_TASK_ARGS as unknown as Record<string, unknown>)[key]],
  ];
  const shown: string[] = [];
  let first: unknown;
  for (const [task, v] of defaults) {
    if (v === undefined) continue;
    if (shown.length === 0) first = v;
    else if (v === first) continue;
    shown.push(`${shown.length === 0 && task ? `${task}: ` : task ? `${task} ` : ''}${String(v)}`);
  }
  return `${help} (default ${shown.join('; ')})`;
}

/** Old flag names that still work (scripts may use them), each the alias of one argument. */
export const TRAIN_FLAG_ALIASES: Record<string, string> = { cell: 'model', seqLength: 'seq' };

export function registerTrain(program: Command): void {
  const presetNames = Object.keys(ALL_PRESETS);
  const cmd = program
    .command('train')
    .description('train a character-level language model on a text file (90/10 train/validation split), or a sequence classifier on ListOps (--task listops)')
    .addOption(new Option('--task <task>', 'lm: next-character language model on --text; listops: classify ListOps expressions generated on the fly; selective-copy, recall: token tasks generated on the fly (default lm, or the preset\'s)').choices([...TASKS]))
    .option('--text <file>', 'UTF-8 text to train on (the first 90% trains, the last 10% validates)')
    .addOption(new Option('--preset <name>', `named settings, overridden by explicit flags: ${presetNames.map((n) => `${n} = ${ALL_PRESETS[n]!.description}`).join('; ')}`).choices(presetNames));
  const keys = EVERY_TASK_KEY.filter((k) => k !== 'text');
  for (const key of keys) {
    const spec = argSpec(key, key === 'model' ? modelNames() : undefined)!;
    const help = key === 'model' ? `${spec.help} (alias --cell; listops: a cell)` : key === 'seq' ? `${spec.help} (alias --seq-length)` : spec.help;
    cmd.addOption(specOption(spec, argHelp(key, help)));
  }
  for (const spec of cellOptionSpecs()) {
    const owners = cellsDeclaring(spec.name);
    cmd.addOption(specOption(spec, `${spec.help}${spec.default === undefined ? '' : ` (default ${String(Number.isFinite(spec.default as number) ? Number((spec.default as number).toPrecision(6)) : spec.default)})`}; ${owners.join(', ')} only`));
  }
  for (const [alias, key] of Object.entries(TRAIN_FLAG_ALIASES)) {
    cmd.addOption(specOption(argSpec(key, key === 'model' ? modelNames() : undefined)!, `alias of ${flagOf(key)}`, flagOf(alias)).hideHelp());
  }
  cmd
    .option('--out <dir>', 'run directory: log.jsonl, checkpoints, curves.svg (default runs/<timestamp>)')
    .option('--resume <dir>', `continue the run in <dir> bit-for-bit; only ${RESUMABLE_ARGS.map(flagOf).join(', ')} may change`)
    .addOption(new Option('--time-budget <duration>', 'wall-clock time this command may take (540, 90s, 9m, 1h30m): no step starts that would end later; then it saves and exits 0, and --resume continues exactly').argParser(durationFlag('--time-budget')))
    .action(async (flags: TrainFlags) => {
      applyAliases(flags, TRAIN_FLAG_ALIASES);
      await asUserErrors(() => runTrain(flags));
    });
}
