/**
 * Training character-level language models on a text, as `recur train` runs it (Node: it writes
 * the run directory).
 *
 *   const trainer = LMTrainer.create({ args, text, textInfo });        // or LMTrainer.resume(...)
 *   const result = await runTraining(trainer, 'runs/x', { onStep, onEval, shouldStop });
 *
 * One step: a batch (random windows, or with `stateful` the next T tokens of B contiguous streams
 * whose state carries over from the previous batch, detached: truncated BPTT), the learning rate
 * from the schedule, then trainStep (forward, backward, clip, finite checks, AdamW). Everything a
 * step depends on is in the checkpoint (weights, optimizer moments and step counts, the model RNG
 * that drives dropout, the data RNG or stream offset, the carried state), so a resumed run
 * continues bit-for-bit. Validation runs over a fixed set of windows of the held-out 10%.
 *
 * Models plug in by name: every cell of the registry (cells/registry.ts) is a RecurrentLM with
 * that cell; other model kinds register themselves with registerModelKind.
 *
 * runTraining (the loop, log.jsonl, checkpoints, curves.svg) takes any RunnableTrainer: the
 * ListOps trainer (listops-trainer.ts) runs through it too.
 */
import { appendFileSync, existsSync, promises as fs, statSync, truncateSync } from 'node:fs';
import * as nodePath from 'node:path';
import { cellNames } from '../cells/registry.js';
import { CharTokenizer, tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { StreamBatcher, consecutiveWindows, randomWindows, splitTrainVal, validationWindows, type Windows } from '../data/text.js';
import { writeFileAtomic } from '../io/files.js';
import { BigramLM } from '../models/bigram.js';
import { RecurrentLM, resolveLMConfig, type GenerateOptions, type RecurrentLMConfig } from '../models/recurrent-lm.js';
import type { DType } from '../backend/backend.js';
import { convertLike, type Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { warmupCosineSchedule, type Schedule } from '../optim/schedule.js';
import { fromHost } from '../tensor/creation.js';
import { getBackend, noGrad } from '../tensor/engine.js';
import { argmax, crossEntropy, reshape, slice } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, disposeTensorTree, loadCheckpoint, flattenTensorTree, mapTensorTree, restoreTrainingState, saveTrainingCheckpoint,
  type CheckpointConfig, type CheckpointFiles, type LoadedCheckpoint, type ModelSpec, type TrainerState,
} from './checkpoint.js';
import { figureSvg, type ChartSpec } from './plot.js';
import { MixedPrecision, TRAIN_DTYPES, precisionUnsupported, type TrainDtype } from './precision.js';
import { NonFiniteError, trainStep } from './step.js';

// ---------------------------------------------------------------------------------------------
// Models

/** What the trainer needs of a language model (RecurrentLM has it all). */
export interface CharLM extends Module {
  readonly config: { vocabSize: number };
  /** tokens i32 [B, T] → logits [B, T, V] and the state after the last token. */
  forward(tokens: Tensor, state?: unknown): { logits: Tensor; state: unknown };
  /** Mean next-token cross-entropy of windows [B, T + 1]. */
  loss(tokens: Tensor, state?: unknown): { loss: Tensor; state: unknown };
  generate?(prompt: ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<number>;
}

/** A kind of model: how training args become its spec, and how a spec becomes the model. */
export interface ModelKind {
  /** The spec's kind, as stored in checkpoints ('recurrent-lm', 'bigram', …). */
  kind: string;
  spec(args: TrainArgs, vocabSize: number): ModelSpec;
  /** dtype: of the parameters (default f32; bf16 for the working copies of --dtype bf16). */
  create(config: ModelSpec['config'], rng: Rng, dtype?: DType): CharLM;
}

const recurrentLM: ModelKind = {
  kind: 'recurrent-lm',
  spec: (a, vocabSize) => ({
    kind: 'recurrent-lm',
    config: resolveLMConfig({
      vocabSize, dim: a.dim, depth: a.depth, cell: a.model, expansion: a.expansion, convKernel: a.conv, ffMult: a.ffMult,
      dropout: a.dropout, norm: a.norm, scan: a.scan, residual: a.residual,
    }) as unknown as ModelSpec['config'],
  }),
  create: (config, rng, dtype) => new RecurrentLM(config as unknown as RecurrentLMConfig, { rng, dtype }) as unknown as CharLM,
};

/** The bigram baseline: a V × V logit table; every architecture flag is ignored. */
const bigram: ModelKind = {
  kind: 'bigram',
  spec: (_a, vocabSize) => ({ kind: 'bigram', config: { vocabSize } }),
  create: (config, _rng, dtype) => new BigramLM({ vocabSize: config.vocabSize }, { dtype }) as unknown as CharLM,
};

/** Model kinds other than 'recurrent-lm', by the name `--model` uses. */
const extraKinds = new Map<string, ModelKind>([['bigram', bigram]]);

/** Makes `--model <name>` build this kind (and checkpoints whose model.kind is the spec's kind load it). */
export function registerModelKind(name: string, kind: ModelKind): void {
  extraKinds.set(name, kind);
}

/** Every `--model` choice: the registry's cells (as RecurrentLM) and the other registered kinds. */
export function modelNames(): string[] {
  return [...cellNames(), ...extraKinds.keys()];
}

function kindForName(name: string): ModelKind {
  if (extraKinds.has(name)) return extraKinds.get(name)!;
  if (cellNames().includes(name)) return recurrentLM;
  throw new TrainConfigError(`unknown model '${name}' (available: ${modelNames().join(', ')})`);
}

/** Builds the model a spec describes (from a checkpoint); a CheckpointError when this build cannot. */
export function createModel(spec: ModelSpec, rng: Rng, dtype?: DType): CharLM {
  const kinds = [recurrentLM, ...extraKinds.values()];
  const kind = kinds.find((k) => k.kind === spec.kind);
  if (!kind) throw new CheckpointError(`the checkpoint holds a '${spec.kind}' model, which this recur cannot build (it knows: ${kinds.map((k) => k.kind).join(', ')})`);
  try {
    return kind.create(spec.config, rng, dtype);
  } catch (e) {
    throw new CheckpointError(`the checkpoint's model cannot be built: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Builds the model of a checkpoint and loads its weights (which the caller may dispose afterwards). */
export function modelFromCheckpoint(ckpt: LoadedCheckpoint, rng = new Rng(0)): CharLM {
  const model = createModel(ckpt.config.model, rng);
  try {
    model.loadStateDict(ckpt.weights);
  } catch (e) {
    model.dispose();
    throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'model.safetensors')}' does not match the model in config.json (another model's weights?): ${e instanceof Error ? e.message : String(e)}`);
  }
  return model;
}

/**
 * A checkpoint directory ready for inference: the model with its weights (the loaded tensors are
 * freed once copied in) and the tokenizer. The caller disposes the model.
 */
export async function openCheckpoint(dir: string): Promise<{ ckpt: LoadedCheckpoint; model: CharLM; tokenizer: Tokenizer }> {
  const ckpt = await loadCheckpoint(dir);
  if (ckpt.config.task !== undefined) {
    disposeTensorTree(ckpt.weights);
    throw new CheckpointError(`checkpoint '${ckpt.dir}' holds a ${ckpt.config.task} model, not a language model`);
  }
  let model: CharLM;
  try {
    model = modelFromCheckpoint(ckpt);
  } finally {
    disposeTensorTree(ckpt.weights);
  }
  try {
    return { ckpt, model, tokenizer: tokenizerFromCheckpoint(ckpt) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export function tokenizerFromCheckpoint(ckpt: LoadedCheckpoint): Tokenizer {
  try {
    if (!ckpt.config.tokenizer) throw new Error('none is stored');
    const tok = tokenizerFromJSON(ckpt.config.tokenizer);
    if (tok.vocabSize !== ckpt.config.model.config.vocabSize) throw new Error(`${tok.vocabSize} tokens, but the model has a vocabulary of ${ckpt.config.model.config.vocabSize}`);
    return tok;
  } catch (e) {
    throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'config.json')}' has an invalid tokenizer: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Training arguments

/** A training setting the user can fix (sizes that do not fit the text, conflicting flags, …). */
export class TrainConfigError extends Error {
  override name = 'TrainConfigError';
}

export interface TrainArgs {
  /** A cell of the registry (mingru, minlstm, …) or another registered kind (bigram). */
  model: string;
  dim: number;
  depth: number;
  expansion: number;
  /** Causal depthwise conv kernel before each cell; 0 = none. */
  conv: number;
  ffMult: number;
  dropout: number;
  norm: 'rms' | 'layer';
  /** How the cell's output joins the residual stream: x + cell(norm(x)) or x ⊙ cell(norm(x)). */
  residual: 'add' | 'mul';
  scan: 'log' | 'real';
  lr: number;
  /** AdamW decoupled weight decay, applied to matrices only (rank ≥ 2), as nanoGPT. */
  weightDecay: number;
  /** Linear warm-up steps. */
  warmup: number;
  /** 'constant' after warm-up, or 'cosine' decay to lr/10 at the last step. */
  schedule: 'constant' | 'cosine';
  /** Gradient-norm clip; 0 = none. */
  clip: number;
  batch: number;
  seq: number;
  /** Total optimizer steps of the run. */
  steps: number;
  seed: number;
  stateful: boolean;
  evalEvery: number;
  /** Checkpoint every this many steps; 0 = at every evaluation. */
  saveEvery: number;
  logEvery: number;
  /** Validation windows (evenly spaced over the held-out text; 0 = all of it). */
  valWindows: number;
  /**
   * Training precision: 'f32', or 'bf16' working copies of f32 master weights (CUDA only; see
   * src/train/precision.ts). Checkpoints hold f32 weights either way. Absent means f32.
   */
  dtype?: TrainDtype;
}

export const DEFAULT_TRAIN_ARGS: TrainArgs = {
  model: 'mingru', dim: 128, depth: 2, expansion: 2, conv: 4, ffMult: 4, dropout: 0, norm: 'rms', residual: 'add', scan: 'log',
  lr: 1e-3, weightDecay: 0.1, warmup: 0, schedule: 'constant', clip: 1, batch: 32, seq: 128, steps: 1000, seed: 1,
  stateful: false, evalEvery: 100, saveEvery: 0, logEvery: 10, valWindows: 64, dtype: 'f32',
};

export interface Preset {
  description: string;
  args: Partial<TrainArgs>;
}

/**
 * Named settings (`--preset`); flags given explicitly override them. What the minGRU paper leaves
 * open is taken from nanoGPT's shakespeare_char config, whose split and setting the paper follows:
 * seq 256, warm-up 100, cosine decay to lr/10, weight decay 0.1.
 */
export const PRESETS: Record<string, Preset> = {
  'shakespeare-mingru': {
    description: "the minGRU paper's Shakespeare setting (3 layers, dim 384, conv 4, expansion 2, dropout 0.2, AdamW 1e-3, batch 64, seq 256, 5000 steps, clip 0.25); hours on a CPU, meant for a GPU",
    args: {
      model: 'mingru', depth: 3, dim: 384, conv: 4, expansion: 2, ffMult: 4, dropout: 0.2, norm: 'rms', scan: 'log',
      lr: 1e-3, weightDecay: 0.1, warmup: 100, schedule: 'cosine', clip: 0.25, batch: 64, seq: 256, steps: 5000,
      evalEvery: 250, valWindows: 0,
    },
  },
  'shakespeare-mingru-cpu': {
    description: 'the same recipe scaled down to finish in a few minutes on a 2-core CPU (2 layers, dim 128, expansion 1.5, ff ×2, batch 16, seq 128, 600 steps, lr 3e-3, real scan)',
    args: {
      model: 'mingru', depth: 2, dim: 128, conv: 4, expansion: 1.5, ffMult: 2, dropout: 0, norm: 'rms', scan: 'real',
      lr: 3e-3, weightDecay: 0.1, warmup: 30, schedule: 'cosine', clip: 0.25, batch: 16, seq: 128, steps: 600,
      evalEvery: 100, valWindows: 64,
    },
  },
};

/** Flags that may change on --resume: they decide how long and how often, not what is computed. */
export const RESUMABLE_ARGS: readonly (keyof TrainArgs)[] = ['steps', 'evalEvery', 'saveEvery', 'logEvery'];

/** Checks ranges; returns the args (a TrainConfigError names the first bad one). */
export function checkTrainArgs(a: TrainArgs): TrainArgs {
  const bad = (msg: string) => { throw new TrainConfigError(msg); };
  const posInt = ['dim', 'depth', 'batch', 'seq', 'steps', 'evalEvery', 'logEvery'] as const;
  for (const k of posInt) if (!Number.isInteger(a[k]) || a[k] < 1) bad(`${k} must be a positive integer, got ${a[k]}`);
  for (const k of ['conv', 'warmup', 'saveEvery', 'valWindows', 'seed'] as const) if (!Number.isInteger(a[k]) || a[k] < 0) bad(`${k} must be a non-negative integer, got ${a[k]}`);
  if (!(a.lr > 0) || !Number.isFinite(a.lr)) bad(`lr must be a positive number, got ${a.lr}`);
  for (const k of ['expansion', 'ffMult'] as const) if (!(a[k] > 0) || !Number.isFinite(a[k])) bad(`${k} must be a positive number, got ${a[k]}`);
  for (const k of ['weightDecay', 'clip'] as const) if (!(a[k] >= 0) || !Number.isFinite(a[k])) bad(`${k} must be a non-negative number, got ${a[k]}`);
  if (!(a.dropout >= 0 && a.dropout < 1)) bad(`dropout must be in [0, 1), got ${a.dropout}`);
  if (a.norm !== 'rms' && a.norm !== 'layer') bad(`norm must be rms or layer, got ${a.norm}`);
  if (a.residual !== 'add' && a.residual !== 'mul') bad(`residual must be add or mul, got ${a.residual}`);
  if (a.scan !== 'log' && a.scan !== 'real') bad(`scan must be log or real, got ${a.scan}`);
  if (a.schedule !== 'constant' && a.schedule !== 'cosine') bad(`schedule must be constant or cosine, got ${a.schedule}`);
  if (a.dtype !== undefined && !TRAIN_DTYPES.includes(a.dtype)) bad(`dtype must be ${TRAIN_DTYPES.join(' or ')}, got ${a.dtype}`);
  kindForName(a.model);
  return a;
}

/** The file the run trains on: path, size and content hash (a resume checks the text is unchanged). */
export interface TextInfo {
  path: string;
  chars: number;
  sha256: string;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface EvalResult {
  /** Mean next-character cross-entropy, nats/char. */
  loss: number;
  /** loss / ln 2. */
  bitsPerChar: number;
  /** Fraction of positions whose most likely next character is the right one. */
  accuracy: number;
  /** Predictions scored. */
  tokens: number;
}

interface Tally { nats: number; right: number; tokens: number }

function finish(t: Tally): EvalResult {
  const loss = t.nats / t.tokens;
  return { loss, bitsPerChar: loss / Math.LN2, accuracy: t.right / t.tokens, tokens: t.tokens };
}

/** Scores rows [n, T + 1] (host tokens) from `state`; adds to the tally; returns the next state. */
async function scoreRows(model: CharLM, rows: Int32Array, n: number, T: number, state: unknown, keepState: boolean, tally: Tally): Promise<unknown> {
  const V = model.config.vocabSize;
  const r = noGrad(() => scope(() => {
    const tokens = fromHost(rows, [n, T + 1]);
    const out = model.forward(slice(tokens, 1, 0, T), state);
    const flat = reshape(out.logits, [n * T, V]);
    return {
      nats: crossEntropy(flat, reshape(slice(tokens, 1, 1, T + 1), [n * T]), { reduction: 'sum' }),
      predicted: argmax(flat, -1),
      state: keepState ? out.state : null,
    };
  }));
  const predicted = await r.predicted.data();
  tally.nats += await r.nats.item();
  r.nats.dispose();
  r.predicted.dispose();
  for (let b = 0; b < n; b++) for (let t = 0; t < T; t++) if (predicted[b * T + t] === rows[b * (T + 1) + t + 1]) tally.right++;
  tally.tokens += n * T;
  return r.state;
}

async function inEvalMode<R>(model: CharLM, fn: () => Promise<R>): Promise<R> {
  const was = model.training;
  model.eval();
  try {
    return await fn();
  } finally {
    model.train(was);
  }
}

/** Loss, bits/char and accuracy over fixed windows, each from a fresh state, `batch` windows at a time. */
export async function evaluateWindows(model: CharLM, w: Windows, batch: number): Promise<EvalResult> {
  return inEvalMode(model, async () => {
    const tally: Tally = { nats: 0, right: 0, tokens: 0 };
    const L = w.length + 1;
    for (let i = 0; i < w.count; i += batch) {
      const n = Math.min(batch, w.count - i);
      await scoreRows(model, w.tokens.subarray(i * L, (i + n) * L), n, w.length, null, false, tally);
    }
    return finish(tally);
  });
}

/**
 * Loss, bits/char and accuracy of a whole text as one stream: consecutive windows of `seq` tokens,
 * the state carried from each window to the next, so every character after the first is predicted
 * from everything before it.
 */
export async function evaluateStream(model: CharLM, tokens: Int32Array, seq: number, onProgress?: (done: number, total: number) => void): Promise<EvalResult> {
  if (tokens.length < 2) throw new TrainConfigError(`the text has ${tokens.length} character(s); evaluation needs at least 2`);
  return inEvalMode(model, async () => {
    const tally: Tally = { nats: 0, right: 0, tokens: 0 };
    let state: unknown = null;
    try {
      for (const { start, length } of consecutiveWindows(tokens.length, seq)) {
        const prev = state;
        state = mapTensorTree(await scoreRows(model, tokens.subarray(start, start + length + 1), 1, length, prev, true, tally), (t) => t.keep());
        disposeTensorTree(prev);
        onProgress?.(start + length, tokens.length - 1);
      }
    } finally {
      disposeTensorTree(state);
    }
    return finish(tally);
  });
}

// ---------------------------------------------------------------------------------------------
// The trainer

export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Seconds of this step. */
  seconds: number;
  tokens: number;
}

export interface CreateTrainerOptions {
  args: TrainArgs;
  /** The whole text's tokens are made with a CharTokenizer built from it (as nanoGPT). */
  text: string;
  textInfo: TextInfo;
}

const DATA_SEED_OFFSET = 0x5eed;

/** The learning-rate factor of `recur train`: linear warm-up, then constant or cosine decay to 1/10 at the last step. */
export function trainingSchedule(a: { warmup: number; steps: number; schedule: 'constant' | 'cosine' }): Schedule {
  return a.schedule === 'cosine'
    ? warmupCosineSchedule({ warmupSteps: Math.min(a.warmup, a.steps), totalSteps: a.steps, minFactor: 0.1 })
    : (s) => (s < a.warmup ? (s + 1) / a.warmup : 1);
}

export class LMTrainer implements RunnableTrainer<EvalResult> {
  readonly args: TrainArgs;
  readonly tokenizer: Tokenizer;
  readonly spec: ModelSpec;
  /** The model with the master weights: what the optimizer updates, validation and checkpoints use. */
  readonly model: CharLM;
  /** bf16 working copies of the master weights (with --dtype bf16), null in f32 runs. */
  readonly precision: MixedPrecision | null;
  readonly optimizer: AdamW;
  readonly textInfo: TextInfo;
  readonly trainTokens: Int32Array;
  readonly valTokens: Int32Array;
  readonly valWindows: Windows;
  step = 0;
  /** Tokens trained on and seconds spent in training steps, over all sessions of the run. */
  tokens = 0;
  elapsedSeconds = 0;
  /** The log length to truncate to when this trainer was resumed (null for a new run). */
  readonly resumedLogBytes: number | null;
  private readonly modelRng: Rng;
  private readonly dataRng: Rng;
  private readonly streams: StreamBatcher | null;
  private carried: unknown = null;
  private readonly schedule: Schedule;

  private constructor(args: TrainArgs, tokenizer: Tokenizer, tokens: Int32Array, textInfo: TextInfo, spec: ModelSpec | null, resumedLogBytes: number | null) {
    this.args = checkTrainArgs(args);
    this.tokenizer = tokenizer;
    this.textInfo = textInfo;
    const { train, val } = splitTrainVal(tokens);
    this.trainTokens = train;
    this.valTokens = val;
    const need = args.seq + 1;
    if (train.length < need) throw new TrainConfigError(`the training split (first 90%) has ${train.length} characters, too few for --seq ${args.seq} (a window needs ${need}); use a longer text or a smaller --seq`);
    if (args.stateful && Math.floor(train.length / args.batch) < need) {
      throw new TrainConfigError(`--stateful splits the ${train.length} training characters into ${args.batch} streams of ${Math.floor(train.length / args.batch)}, too short for --seq ${args.seq}; use a smaller --batch or --seq`);
    }
    if (val.length < 2) throw new TrainConfigError(`the validation split (last 10%) has ${val.length} character(s); the text is too short (need at least 20 characters)`);
    this.valWindows = validationWindows(val, args.seq, args.valWindows);
    const unsupported = precisionUnsupported(args.dtype ?? 'f32', getBackend().name);
    if (unsupported) throw new TrainConfigError(unsupported);
    this.spec = spec ?? kindForName(args.model).spec(args, tokenizer.vocabSize);
    this.modelRng = new Rng(args.seed);
    this.dataRng = new Rng(args.seed + DATA_SEED_OFFSET);
    this.model = spec ? createModel(spec, this.modelRng) : kindForName(args.model).create(this.spec.config, this.modelRng, 'f32');
    try {
      this.precision = args.dtype === 'bf16' ? this.workingCopies('bf16') : null;
    } catch (e) {
      this.model.dispose();
      throw e;
    }
    // nanoGPT's grouping: weight decay on matrices (and embeddings), none on gains and biases.
    const params = this.model.parameters();
    this.optimizer = new AdamW([
      { params: params.filter((p) => p.rank >= 2), weightDecay: args.weightDecay },
      { params: params.filter((p) => p.rank < 2), weightDecay: 0 },
    ], { lr: args.lr, weightDecay: args.weightDecay });
    this.streams = args.stateful ? new StreamBatcher(train, args.batch, args.seq) : null;
    this.schedule = trainingSchedule(args);
    this.resumedLogBytes = resumedLogBytes;
  }

  /**
   * The working model of a mixed-precision run: the same architecture in `dtype`, built with the
   * model generator (its dropouts draw from it, as the master's would in an f32 run) whose state
   * is put back afterwards, so initialisation and masks match the f32 run's.
   */
  private workingCopies(dtype: DType): MixedPrecision {
    const rngState = this.modelRng.getState();
    const working = createModel(this.spec, this.modelRng, dtype);
    this.modelRng.setState(rngState);
    if (working.parameters().some((p) => p.dtype !== dtype)) {
      working.dispose();
      throw new TrainConfigError(`the '${this.spec.kind}' model does not build with ${dtype} parameters, so it cannot train with --dtype ${dtype}`);
    }
    return new MixedPrecision(this.model, working);
  }

  /** A new run: tokenizer from the text, model initialised from the seed. */
  static create(o: CreateTrainerOptions): LMTrainer {
    if (o.text.length === 0) throw new TrainConfigError('the text is empty');
    const tokenizer = CharTokenizer.fromText(o.text);
    return new LMTrainer({ ...o.args }, tokenizer, tokenizer.encode(o.text), o.textInfo, null, null);
  }

  /**
   * Continues a run from a checkpoint read with `loadCheckpoint(dir, { training: true })`. `args`
   * are the stored ones with the RESUMABLE_ARGS the user changed (see mergeResumeArgs); `text` must
   * be the run's text (its hash is checked).
   */
  static resume(ckpt: LoadedCheckpoint, args: TrainArgs, text: string, textInfo: TextInfo): LMTrainer {
    const stored = storedTraining(ckpt);
    if (textInfo.sha256 !== stored.text.sha256) {
      throw new TrainConfigError(`the text '${textInfo.path}' differs from the one the run was trained on ('${stored.text.path}', ${stored.text.chars} characters); a resumed run must see the same text`);
    }
    const tokenizer = tokenizerFromCheckpoint(ckpt);
    const trainer = new LMTrainer(args, tokenizer, tokenizer.encode(text), textInfo, ckpt.config.model, ckpt.trainer!.logBytes);
    try {
      trainer.restore(ckpt);
    } catch (e) {
      trainer.dispose();
      throw e;
    }
    return trainer;
  }

  private restore(ckpt: LoadedCheckpoint): void {
    const t = restoreTrainingState(ckpt, { model: this.model, optimizer: this.optimizer, modelRng: this.modelRng, dataRng: this.dataRng }, (state) => {
      if (!this.streams) return;
      if (!state.data) throw new Error('trainer.json has no stream position for stateful training');
      this.streams.setPosition({ position: state.data.position, epoch: state.data.epoch });
    });
    // Own copies on the parameters' backend, in the dtype the training forward runs in (the
    // caller disposes the checkpoint's tensors).
    const like = (this.precision?.working ?? this.model).parameters()[0]!;
    this.carried = this.streams && ckpt.carried ? mapTensorTree(ckpt.carried, (x) => {
      const c = x.dtype === 'i32' ? x : convertLike(x, like);
      return (c === x ? x.detach() : c).keep();
    }) : null;
    this.step = t.step;
    this.tokens = t.tokens;
    this.elapsedSeconds = t.elapsedSeconds;
  }

  get vocabSize(): number {
    return this.tokenizer.vocabSize;
  }

  /** The learning rate of the next step. */
  get nextLr(): number {
    return this.args.lr * this.schedule(this.step);
  }

  /** One optimizer step; throws NonFiniteError (parameters untouched) when the loss or gradients blow up. */
  async trainStep(): Promise<StepReport> {
    const t0 = performance.now();
    const { batch: B, seq: T } = this.args;
    let tokens: Int32Array;
    if (this.streams) {
      const next = this.streams.next();
      tokens = next.tokens;
      if (next.reset) {
        disposeTensorTree(this.carried);
        this.carried = null;
      }
    } else {
      tokens = randomWindows(this.trainTokens, B, T, this.dataRng);
    }
    const lr = this.nextLr;
    this.optimizer.lr = lr;
    const prev = this.carried;
    let nextState: unknown = null;
    const stateful = this.streams !== null;
    let r;
    try {
      const forward = (this.precision?.working ?? this.model) as CharLM;
      const computeLoss = () => {
        const out = forward.loss(fromHost(tokens, [B, T + 1]), prev);
        if (stateful) nextState = mapTensorTree(out.state, (x) => x.detach().keep());
        return out.loss;
      };
      const opts = { clip: this.args.clip, step: this.step + 1 };
      r = this.precision
        ? await this.precision.step(this.optimizer, computeLoss, opts)
        : await trainStep(this.model, this.optimizer, computeLoss, opts);
    } catch (e) {
      disposeTensorTree(nextState);
      throw e;
    }
    if (stateful) {
      disposeTensorTree(prev);
      this.carried = nextState;
    }
    this.step++;
    this.tokens += B * T;
    const seconds = (performance.now() - t0) / 1000;
    this.elapsedSeconds += seconds;
    return { step: this.step, loss: r.loss, gradNorm: r.gradNorm, lr, seconds, tokens: B * T };
  }

  /** Validation over the fixed windows; NonFiniteError when the loss is not finite. */
  async validate(): Promise<EvalResult> {
    const r = await evaluateWindows(this.model, this.valWindows, this.args.batch);
    if (!Number.isFinite(r.loss)) throw new NonFiniteError('the validation loss', r.loss, this.step);
    return r;
  }

  /** The validation line of log.jsonl. */
  valRecord(r: EvalResult): Record<string, number> {
    return { loss: r.loss, bits_per_char: r.bitsPerChar, accuracy: r.accuracy, tokens: r.tokens };
  }

  /** config.json of this run's checkpoints. */
  checkpointConfig(): CheckpointConfig {
    return {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      model: this.spec,
      tokenizer: this.tokenizer.toJSON(),
      training: { args: this.args, text: this.textInfo, split: { train: 0.9, trainChars: this.trainTokens.length, valChars: this.valTokens.length } },
    };
  }

  /** Writes a checkpoint of the current step into runDir (see checkpoint.ts); returns its directory. */
  async save(runDir: string, logBytes: number): Promise<string> {
    const trainer: TrainerState = {
      step: this.step, tokens: this.tokens, elapsedSeconds: this.elapsedSeconds,
      rng: { model: this.modelRng.getState(), data: this.dataRng.getState() },
      data: this.streams ? { ...this.streams.getPosition() } : null,
      logBytes,
    };
    const extra: CheckpointFiles['tensors'] = {};
    if (this.carried) {
      const { tensors, layout } = flattenTensorTree(this.carried);
      extra['state.safetensors'] = { tensors, metadata: { layout: JSON.stringify(layout) } };
    }
    return saveTrainingCheckpoint(runDir, { config: this.checkpointConfig(), trainer, model: this.model, optimizer: this.optimizer, extra });
  }

  dispose(): void {
    disposeTensorTree(this.carried);
    this.carried = null;
    this.optimizer.dispose();
    this.precision?.dispose();
    this.model.dispose();
  }
}

/** The `training` section of a checkpoint's config.json, checked. */
export function storedTraining(ckpt: LoadedCheckpoint): { args: TrainArgs; text: TextInfo } {
  const t = ckpt.config.training as { args?: TrainArgs; text?: TextInfo } | undefined;
  if (!t?.args || !t.text || typeof t.text.sha256 !== 'string') throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'config.json')}' has no valid training section`);
  return { args: { ...DEFAULT_TRAIN_ARGS, ...t.args }, text: t.text };
}

/**
 * The args of a resumed run: the stored ones, with the given values of RESUMABLE_ARGS. Any other
 * given value that differs from the stored one is a conflict (a TrainConfigError listing all).
 */
export function mergeResumeArgs<A extends object = TrainArgs>(stored: A, given: Partial<A>, resumable: readonly (keyof A)[] = RESUMABLE_ARGS as never): A {
  const conflicts: string[] = [];
  const merged = { ...stored };
  for (const [k, v] of Object.entries(given) as [keyof A, A[keyof A]][]) {
    if (v === undefined) continue;
    if (resumable.includes(k)) merged[k] = v;
    else if (v !== stored[k]) conflicts.push(`${String(k)} ${String(v)} (the run has ${String(stored[k])})`);
  }
  if (conflicts.length) {
    throw new TrainConfigError(`--resume: the given flags conflict with the run's config: ${conflicts.join('; ')}. Only ${resumable.join(', ')} may change on resume`);
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------
// A run: the loop, the log, checkpoints and the plot

export interface TrainRecord { type: 'train'; step: number; loss: number; lr: number; grad_norm: number; tokens: number; tokens_per_sec: number; elapsed_s: number }
export interface ValRecord { type: 'val'; step: number; loss: number; bits_per_char: number; accuracy: number; tokens: number }
export type LogRecord = TrainRecord | ValRecord | { type: string; step: number; [k: string]: unknown };

/** What runTraining needs of a trainer: LMTrainer, ListOpsTrainer (listops-trainer.ts). */
export interface RunnableTrainer<E extends { loss: number; accuracy: number }> {
  readonly args: { steps: number; evalEvery: number; saveEvery: number; logEvery: number };
  /** Optimizer steps done, training tokens seen and seconds spent in steps, over all sessions. */
  readonly step: number;
  readonly tokens: number;
  readonly elapsedSeconds: number;
  /** The log length to truncate to when this trainer was resumed (null for a new run). */
  readonly resumedLogBytes: number | null;
  /** Axis labels of curves.svg (default: the LM's). */
  readonly curveLabels?: CurveLabels;
  trainStep(): Promise<StepReport>;
  /** Throws NonFiniteError when the validation loss is not finite. */
  validate(): Promise<E>;
  /** The fields of a validation line of log.jsonl (besides type and step). */
  valRecord(r: E): Record<string, number>;
  /** Writes a checkpoint of the current step into runDir; returns its directory. */
  save(runDir: string, logBytes: number): Promise<string>;
}

export interface RunHooks<E = EvalResult> {
  onStep?(r: StepReport, averageTokensPerSec: number): void;
  onEval?(r: E, step: number): void;
  onSave?(dir: string, step: number): void;
  /** Polled before every step and after every evaluation: true ends the run with a checkpoint. */
  shouldStop?(): boolean;
}

export interface RunResult<E = EvalResult> {
  status: 'completed' | 'interrupted';
  step: number;
  /** The last validation result (null if none ran in this session). */
  lastEval: E | null;
  /** The checkpoint directory written last (null if none). */
  checkpoint: string | null;
  /** Training tokens per second in this session (steps only). */
  tokensPerSec: number;
  /** Wall-clock seconds of this session, evaluation and saving included. */
  wallSeconds: number;
}

export const LOG_FILE = 'log.jsonl';
export const CURVES_FILE = 'curves.svg';

/** Reads log.jsonl (skipping a torn last line). */
export async function readLog(runDir: string): Promise<LogRecord[]> {
  const text = await fs.readFile(nodePath.join(runDir, LOG_FILE), 'utf8').catch(() => '');
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}

/** Units of the loss axis and the name of the accuracy axis of curves.svg. */
export interface CurveLabels { loss: string; accuracy: string }
export const LM_CURVE_LABELS: CurveLabels = { loss: 'nats/char', accuracy: 'next-character accuracy' };

/** The training curves of a log: loss (train and validation) and validation accuracy against steps. */
export function curvesSvg(records: readonly LogRecord[], labels: CurveLabels = LM_CURVE_LABELS): string {
  const train = records.filter((r): r is TrainRecord => r.type === 'train');
  const val = records.filter((r): r is ValRecord => r.type === 'val');
  const charts: ChartSpec[] = [
    {
      title: 'Loss', xLabel: 'step', yLabel: labels.loss,
      series: [
        { name: 'train loss', points: train.map((r) => [r.step, r.loss] as const) },
        { name: 'val loss', points: val.map((r) => [r.step, r.loss] as const), markers: true },
      ],
    },
    {
      title: 'Validation accuracy', xLabel: 'step', yLabel: labels.accuracy,
      series: [{ name: 'val accuracy', points: val.map((r) => [r.step, r.accuracy] as const), markers: true }],
    },
  ];
  return figureSvg(charts);
}

/** Writes runDir/curves.svg from runDir/log.jsonl; returns its path. */
export async function writeCurves(runDir: string, labels?: CurveLabels): Promise<string> {
  const path = nodePath.join(runDir, CURVES_FILE);
  await writeFileAtomic(path, curvesSvg(await readLog(runDir), labels));
  return path;
}

/**
 * Trains until `args.steps` (or until shouldStop), logging, validating and checkpointing; writes
 * curves.svg at the end. A NonFiniteError propagates without a checkpoint (the last good one stays).
 */
export async function runTraining<E extends { loss: number; accuracy: number }>(
  trainer: RunnableTrainer<E>, runDir: string, hooks: RunHooks<E> = {},
): Promise<RunResult<E>> {
  const started = performance.now();
  const a = trainer.args;
  const saveEvery = a.saveEvery || a.evalEvery;
  await fs.mkdir(runDir, { recursive: true });
  const logPath = nodePath.join(runDir, LOG_FILE);
  // A resumed run drops log lines written after its checkpoint (they belong to steps redone now).
  if (trainer.resumedLogBytes !== null && existsSync(logPath) && statSync(logPath).size > trainer.resumedLogBytes) {
    truncateSync(logPath, trainer.resumedLogBytes);
  }
  const log = (r: LogRecord) => appendFileSync(logPath, `${JSON.stringify(r)}\n`);
  const logBytes = () => (existsSync(logPath) ? statSync(logPath).size : 0);
  log({ type: trainer.resumedLogBytes === null ? 'start' : 'resume', step: trainer.step, time: new Date().toISOString(), steps: a.steps });

  let lastEval: E | null = null;
  let checkpoint: string | null = null;
  let savedStep = -1;
  let sessionTokens = 0, sessionSeconds = 0;
  const save = async () => {
    if (savedStep === trainer.step) return;
    checkpoint = await trainer.save(runDir, logBytes());
    savedStep = trainer.step;
    hooks.onSave?.(checkpoint, trainer.step);
  };
  let status: RunResult<E>['status'] = 'completed';
  try {
    while (trainer.step < a.steps) {
      // A CPU step never leaves the microtask queue: give signal handlers (Ctrl-C) their turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (hooks.shouldStop?.()) {
        status = 'interrupted';
        break;
      }
      const r = await trainer.trainStep();
      sessionTokens += r.tokens;
      sessionSeconds += r.seconds;
      const rate = sessionTokens / sessionSeconds;
      if (r.step % a.logEvery === 0 || r.step === 1 || r.step === a.steps) {
        log({
          type: 'train', step: r.step, loss: r.loss, lr: r.lr, grad_norm: r.gradNorm, tokens: trainer.tokens,
          tokens_per_sec: Math.round(rate), elapsed_s: Number(trainer.elapsedSeconds.toFixed(3)),
        });
      }
      hooks.onStep?.(r, rate);
      if (r.step % a.evalEvery === 0 || r.step === a.steps) {
        lastEval = await trainer.validate();
        log({ type: 'val', step: r.step, ...trainer.valRecord(lastEval) });
        hooks.onEval?.(lastEval, r.step);
      }
      if (r.step % saveEvery === 0 || r.step === a.steps) await save();
    }
    if (status === 'interrupted' || trainer.step > 0) await save();
  } catch (e) {
    if (e instanceof NonFiniteError) log({ type: 'diverged', step: trainer.step + 1, message: e.message });
    throw e;
  } finally {
    await writeCurves(runDir, trainer.curveLabels).catch(() => undefined);
  }
  return {
    status, step: trainer.step, lastEval, checkpoint,
    tokensPerSec: sessionSeconds > 0 ? sessionTokens / sessionSeconds : 0,
    wallSeconds: (performance.now() - started) / 1000,
  };
}
