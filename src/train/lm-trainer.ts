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
 * Models plug in by name (model-kinds.ts); the arguments are declared in args.ts; runTraining
 * (loop.ts) runs this trainer as it runs the ListOps trainer; scoring is in lm-eval.ts.
 */
import * as nodePath from 'node:path';
import { cellNames } from '../cells/registry.js';
import type { OptionValue } from '../cells/options.js';
import { CharTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { StreamBatcher, randomWindows, splitTrainVal, validationWindows, type Windows } from '../data/text.js';
import { convertLike } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import type { Schedule } from '../optim/schedule.js';
import { fromHost } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, disposeTensorTree, flattenTensorTree, mapTensorTree, restoreTrainingState, saveTrainingCheckpoint,
  type CheckpointConfig, type CheckpointFiles, type LoadedCheckpoint, type ModelSpec, type TrainerState,
} from './checkpoint.js';
import { TrainConfigError, checkArgValues } from './args.js';
import { evaluateWindows, type EvalResult } from './lm-eval.js';
import { countStep, trainingSchedule, type RunnableTrainer, type StepReport } from './loop.js';
import { buildLMParts } from './lm-model.js';
import { kindForName, modelNames, tokenizerFromCheckpoint, type CharLM, type ModelArgs } from './model-kinds.js';
import type { MixedPrecision, TrainDtype } from './precision.js';
import { NonFiniteError, trainStep } from './step.js';

/** Every setting of a language-model run (the flags of `recur train`). */
export interface TrainArgs extends ModelArgs {
  /** Every k-th block is attention (the hybrid); 0 = none. */
  attentionEvery: number;
  /** Values of the cell's other declared options (cells/registry.ts: heads, rMax, …); absent = its defaults. */
  cellOptions?: Record<string, OptionValue>;
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

/** The defaults of `recur train` for language models. */
export const DEFAULT_TRAIN_ARGS: TrainArgs = {
  model: 'mingru', dim: 128, depth: 2, expansion: 2, conv: 4, ffMult: 4, dropout: 0, norm: 'rms', residual: 'add', scan: 'log', attentionEvery: 0,
  lr: 1e-3, weightDecay: 0.1, warmup: 0, schedule: 'constant', clip: 1, batch: 32, seq: 128, steps: 1000, seed: 1,
  stateful: false, evalEvery: 100, saveEvery: 0, logEvery: 10, valWindows: 64, dtype: 'f32',
};

/** A named recipe: a description and the settings it fills in. */
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

/** Checks every value (args.ts declares the ranges); returns the args (a TrainConfigError names the first bad one). */
export function checkTrainArgs(a: TrainArgs): TrainArgs {
  kindForName(a.model);
  checkArgValues(a, modelNames(), cellNames().includes(a.model) ? a.model : null);
  for (const k of ['expansion', 'ffMult'] as const) {
    if (Math.floor(a.dim * a[k]) < 1) throw new TrainConfigError(`${k} ${a[k]} at dim ${a.dim} makes a layer of width 0 (need ${k} × dim ≥ 1)`);
  }
  return a;
}

/** The file the run trains on: path, size and content hash (a resume checks the text is unchanged). */
export interface TextInfo {
  path: string;
  chars: number;
  sha256: string;
}

export interface CreateTrainerOptions {
  args: TrainArgs;
  /** The whole text's tokens are made with a CharTokenizer built from it (as nanoGPT). */
  text: string;
  textInfo: TextInfo;
}

const DATA_SEED_OFFSET = 0x5eed;

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
    this.modelRng = new Rng(args.seed);
    this.dataRng = new Rng(args.seed + DATA_SEED_OFFSET);
    ({ spec: this.spec, model: this.model, precision: this.precision, optimizer: this.optimizer } =
      buildLMParts(args, tokenizer.vocabSize, spec, this.modelRng, args.seq + 1, 'use a smaller --dim, --depth, --batch or --seq'));
    this.streams = args.stateful ? new StreamBatcher(train, args.batch, args.seq) : null;
    this.schedule = trainingSchedule(args);
    this.resumedLogBytes = resumedLogBytes;
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
    return countStep(this, t0, r, lr, B * T);
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

  /** Frees the model, the optimizer, carried state and working copies. */
  dispose(): void {
    disposeTensorTree(this.carried);
    this.carried = null;
    this.optimizer.dispose();
    this.precision?.dispose();
    this.model.dispose();
  }
}

/**
 * The `training` section of a checkpoint's config.json, checked: every argument exactly as its
 * flag would be (args.ts), the text's record, and a model spec that is the one these arguments
 * make (so no value of config.json escapes the checks).
 */
export function storedTraining(ckpt: LoadedCheckpoint): { args: TrainArgs; text: TextInfo } {
  const where = `'${nodePath.join(ckpt.dir, 'config.json')}'`;
  const t = ckpt.config.training as { args?: unknown; text?: Partial<TextInfo> } | undefined;
  if (!t || typeof t !== 'object' || typeof t.args !== 'object' || t.args === null || Array.isArray(t.args) || !t.text || typeof t.text !== 'object' ||
      typeof t.text.sha256 !== 'string' || typeof t.text.path !== 'string' || !Number.isSafeInteger(t.text.chars) || t.text.chars! < 1) {
    throw new CheckpointError(`${where} has no valid training section`);
  }
  const args = { ...DEFAULT_TRAIN_ARGS, ...(t.args as Partial<TrainArgs>) };
  try {
    if (typeof args.model !== 'string') throw new TrainConfigError('training.args.model must be a model name');
    kindForName(args.model);
    checkArgValues(args, modelNames(), cellNames().includes(args.model) ? args.model : null, (k) => `training.args.${k}`);
    checkSpecMatches(kindForName(args.model).spec(args, ckpt.config.model.config.vocabSize), ckpt.config.model);
  } catch (e) {
    throw new CheckpointError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { args, text: t.text as TextInfo };
}

/** Refuses a stored model spec that differs from the one the stored arguments make (keys absent in older versions may be missing). */
export function checkSpecMatches(made: ModelSpec, stored: ModelSpec): void {
  if (made.kind !== stored.kind) throw new TrainConfigError(`model.kind ${JSON.stringify(stored.kind)} is not the ${JSON.stringify(made.kind)} that training.args make`);
  const want = made.config as Record<string, unknown>;
  for (const [k, v] of Object.entries(stored.config)) {
    if (!(k in want) || JSON.stringify(v) !== JSON.stringify(want[k])) {
      throw new TrainConfigError(`model.config.${k} ${JSON.stringify(v)} does not match training.args (which make ${JSON.stringify(want[k])})`);
    }
  }
}
