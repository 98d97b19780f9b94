/**
 * Training language models on synthetic token tasks, as `recur train --task selective-copy` and
 * `--task recall` run them: selective copying (src/data/selective-copy.ts, the minGRU and Mamba
 * papers' task) and multi-query associative recall (src/data/associative-recall.ts). The loop,
 * log, checkpoints and curves are runTraining's (loop.ts); the model is any CharLM kind
 * (model-kinds.ts: every cell, transformer, hybrid), built as the text trainer builds it
 * (lm-model.ts, bf16 included).
 *
 * Data: every training batch is fresh, drawn from the data RNG (its state is in every
 * checkpoint, so a resumed run sees the same batches); the validation and test sets are fixed
 * sets drawn from --data-seed. The loss is the cross-entropy at the answer positions only; the
 * scores are the answer-token accuracy and the share of sequences answered entirely right.
 * Random sequences of these tasks almost never repeat (a selective-copy sequence of T 4096 is one
 * of ~10¹⁰⁰), so training batches are not filtered against the held-out sets.
 */
import * as nodePath from 'node:path';
import { cellNames } from '../cells/registry.js';
import { associativeRecallBatch, checkAssociativeRecallConfig } from '../data/associative-recall.js';
import { checkSelectiveCopyConfig, selectiveCopyBatch } from '../data/selective-copy.js';
import type { AdamW } from '../optim/adamw.js';
import type { Schedule } from '../optim/schedule.js';
import { Rng } from '../tensor/random.js';
import {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, restoreTrainingState, saveTrainingCheckpoint,
  type CheckpointConfig, type LoadedCheckpoint, type ModelSpec, type TrainerState,
} from './checkpoint.js';
import { RESUMABLE_ARGS, TrainConfigError, checkArgValues } from './args.js';
import { buildLMParts } from './lm-model.js';
import { answerCrossEntropy, evaluateTokenTask, type TokenTaskEvalResult, type TokenTaskSet } from './token-tasks.js';
import { countStep, trainingSchedule, type CurveLabels, type RunnableTrainer, type StepReport } from './loop.js';
import { kindForName, modelNames, type CharLM, type ModelArgs } from './model-kinds.js';
import { checkSpecMatches } from './lm-trainer.js';
import type { MixedPrecision, TrainDtype } from './precision.js';
import { NonFiniteError, trainStep } from './step.js';
import type { OptionValue } from '../cells/options.js';

/** The token tasks of `recur train --task`. */
export const TOKEN_TASKS = ['selective-copy', 'recall'] as const;
export type TokenTaskName = (typeof TOKEN_TASKS)[number];

/** Every setting of a token-task run (the flags of `recur train --task selective-copy|recall`). */
export interface TokenTaskArgs extends ModelArgs {
  attentionEvery: number;
  cellOptions?: Record<string, OptionValue>;
  lr: number;
  weightDecay: number;
  warmup: number;
  schedule: 'constant' | 'cosine';
  clip: number;
  batch: number;
  /** Sequence length. */
  seq: number;
  steps: number;
  /** Initialisation, dropout and the training stream. */
  seed: number;
  /** The validation and test sets. */
  dataSeed: number;
  evalEvery: number;
  saveEvery: number;
  logEvery: number;
  valExamples: number;
  testExamples: number;
  /** selective-copy: data tokens to copy. */
  letters: number;
  /** recall: key–value pairs per sequence. */
  pairs: number;
  /** Vocabulary size; 0 = the task's default (selective copy 16, recall 1 + 2 · max(pairs, 16)). */
  vocab: number;
  dtype?: TrainDtype;
}

/** The CPU-sized defaults of both tasks: a 2-layer minGRU that solves selective copying at T 64 in minutes. */
export const DEFAULT_TOKEN_TASK_ARGS: TokenTaskArgs = {
  model: 'mingru', dim: 64, depth: 2, expansion: 2, conv: 4, ffMult: 2, dropout: 0, norm: 'rms', residual: 'add', scan: 'real', attentionEvery: 0,
  lr: 3e-3, weightDecay: 0, warmup: 100, schedule: 'cosine', clip: 1, batch: 32, seq: 64, steps: 2000, seed: 1, dataSeed: 1,
  evalEvery: 100, saveEvery: 0, logEvery: 10, valExamples: 256, testExamples: 1024, letters: 4, pairs: 8, vocab: 0, dtype: 'f32',
};

/** A named token-task recipe: its task, a description and the settings it fills in. */
export interface TokenTaskPreset {
  task: TokenTaskName;
  description: string;
  args: Partial<TokenTaskArgs>;
}

/**
 * Token-task presets. `selective-copy-4096` is the minGRU paper's setting (Feng et al. 2024,
 * §4.1 and appendix: T 4096, 16 tokens to copy, vocabulary 16, 3 layers, dim 64, expansion 6,
 * dropout 0.1, Adam lr 1e-4, clip 1.0). The paper gives neither the batch nor the step count:
 * batch 64 and 400k steps are the Mamba paper's selective-copying budget, which the minGRU paper
 * compares against; the feed-forward (×4) and conv (4) follow the paper's language model.
 * `recall-cpu` is the associative-recall setting of docs/reproductions.md (MesaNet against
 * minGRU at equal parameters).
 */
export const TOKEN_TASK_PRESETS: Record<string, TokenTaskPreset> = {
  'selective-copy-4096': {
    task: 'selective-copy',
    description: "the minGRU paper's selective copying (T 4096, 16 tokens, vocab 16; 3 layers, dim 64, expansion 6, dropout 0.1, Adam 1e-4, clip 1; batch 64, 400k steps as Mamba's); a GPU run",
    args: {
      model: 'mingru', depth: 3, dim: 64, expansion: 6, conv: 4, ffMult: 4, dropout: 0.1, norm: 'rms', scan: 'log',
      lr: 1e-4, weightDecay: 0, warmup: 1000, schedule: 'cosine', clip: 1, batch: 64, seq: 4096, letters: 16, vocab: 16,
      steps: 400000, evalEvery: 1000, valExamples: 256,
    },
  },
  'selective-copy-cpu': {
    task: 'selective-copy',
    description: 'selective copying scaled to a 2-core CPU (T 64, 4 tokens; 2 layers, dim 64): solved in minutes',
    args: {},
  },
  'recall-cpu': {
    task: 'recall',
    description: 'associative recall scaled to a CPU (T 64, 8 pairs, vocab 33; 2 layers, dim 64, 3000 steps)',
    args: { seq: 64, pairs: 8, steps: 3000 },
  },
};

/** Flags that may change on --resume. */
export const TOKEN_TASK_RESUMABLE_ARGS: readonly (keyof TokenTaskArgs)[] = RESUMABLE_ARGS;

/** The vocabulary, length and batch maker of a task under `a`. */
function taskData(task: TokenTaskName, a: TokenTaskArgs): { vocabSize: number; batch: (n: number, rng: Rng) => { inputs: Int32Array; targets: Int32Array } } {
  if (task === 'selective-copy') {
    const c = checkSelectiveCopyConfig({ seqLength: a.seq, numTokens: a.letters, ...(a.vocab ? { vocabSize: a.vocab } : {}) });
    return { vocabSize: c.vocabSize, batch: (n, rng) => selectiveCopyBatch(c, n, rng) };
  }
  const c = checkAssociativeRecallConfig({ seqLength: a.seq, pairs: a.pairs, ...(a.vocab ? { vocabSize: a.vocab } : {}) });
  return { vocabSize: c.vocabSize, batch: (n, rng) => associativeRecallBatch(c, n, rng) };
}

/** Checks every value (args.ts declares the ranges) and the task's own limits; a TrainConfigError names the first bad one. */
export function checkTokenTaskArgs(task: TokenTaskName, a: TokenTaskArgs): TokenTaskArgs {
  kindForName(a.model);
  checkArgValues(a, modelNames(), cellNames().includes(a.model) ? a.model : null);
  try {
    taskData(task, a);
  } catch (e) {
    throw new TrainConfigError((e instanceof Error ? e.message : String(e)).replace(/seqLength/g, '--seq').replace(/numTokens/g, '--letters').replace(/vocabSize/g, '--vocab').replace(/\bpairs\b/, '--pairs'));
  }
  return a;
}

const TRAIN_SEED_OFFSET = 0x5eed;
const VAL_SEED_OFFSET = 0xa1;
const TEST_SEED_OFFSET = 0x7e57;

/** The fixed validation or test set of a run (deterministic in the task, its settings and --data-seed). */
export function tokenTaskHeldOut(task: TokenTaskName, a: TokenTaskArgs, split: 'val' | 'test'): TokenTaskSet {
  const count = split === 'val' ? a.valExamples : a.testExamples;
  const data = taskData(task, a).batch(count, new Rng(a.dataSeed + (split === 'val' ? VAL_SEED_OFFSET : TEST_SEED_OFFSET)));
  return { ...data, count, seqLength: a.seq };
}

export const TOKEN_TASK_CURVE_LABELS: CurveLabels = { loss: 'nats/answer token', accuracy: 'answer-token accuracy' };

export class TokenTaskTrainer implements RunnableTrainer<TokenTaskEvalResult> {
  readonly task: TokenTaskName;
  readonly args: TokenTaskArgs;
  readonly spec: ModelSpec;
  readonly model: CharLM;
  readonly precision: MixedPrecision | null;
  readonly optimizer: AdamW;
  readonly vocabSize: number;
  readonly val: TokenTaskSet;
  readonly curveLabels = TOKEN_TASK_CURVE_LABELS;
  step = 0;
  tokens = 0;
  elapsedSeconds = 0;
  readonly resumedLogBytes: number | null;
  private readonly modelRng: Rng;
  private readonly dataRng: Rng;
  private readonly makeBatch: (n: number, rng: Rng) => { inputs: Int32Array; targets: Int32Array };
  private readonly schedule: Schedule;

  private constructor(task: TokenTaskName, args: TokenTaskArgs, spec: ModelSpec | null, resumedLogBytes: number | null) {
    this.task = task;
    this.args = checkTokenTaskArgs(task, args);
    const data = taskData(task, args);
    this.vocabSize = data.vocabSize;
    this.makeBatch = data.batch;
    this.val = tokenTaskHeldOut(task, args, 'val');
    this.modelRng = new Rng(args.seed);
    this.dataRng = new Rng(args.seed + TRAIN_SEED_OFFSET);
    ({ spec: this.spec, model: this.model, precision: this.precision, optimizer: this.optimizer } =
      buildLMParts(args, data.vocabSize, spec, this.modelRng, args.seq, 'use a smaller --dim, --depth, --batch or --seq'));
    this.schedule = trainingSchedule(args);
    this.resumedLogBytes = resumedLogBytes;
  }

  /** A new run: model from the seed, data streams and held-out sets from the settings. */
  static create(task: TokenTaskName, args: TokenTaskArgs): TokenTaskTrainer {
    return new TokenTaskTrainer(task, { ...args }, null, null);
  }

  /** Continues a run from `loadCheckpoint(dir, { training: true })`; `args` are the stored ones merged with the resumable flags. */
  static resume(ckpt: LoadedCheckpoint, args: TokenTaskArgs): TokenTaskTrainer {
    const trainer = new TokenTaskTrainer(ckpt.config.task as TokenTaskName, args, ckpt.config.model, ckpt.trainer!.logBytes);
    try {
      const t = restoreTrainingState(ckpt, { model: trainer.model, optimizer: trainer.optimizer, modelRng: trainer.modelRng, dataRng: trainer.dataRng });
      trainer.step = t.step;
      trainer.tokens = t.tokens;
      trainer.elapsedSeconds = t.elapsedSeconds;
    } catch (e) {
      trainer.dispose();
      throw e;
    }
    return trainer;
  }

  get nextLr(): number {
    return this.args.lr * this.schedule(this.step);
  }

  /** One optimizer step on a fresh batch; NonFiniteError (parameters untouched) when the loss or gradients blow up. */
  async trainStep(): Promise<StepReport> {
    const t0 = performance.now();
    const { batch: B, seq: T } = this.args;
    const b = this.makeBatch(B, this.dataRng);
    const lr = this.nextLr;
    this.optimizer.lr = lr;
    const forward = (this.precision?.working ?? this.model) as CharLM;
    const computeLoss = () => answerCrossEntropy(forward, b.inputs, b.targets, B, T);
    const opts = { clip: this.args.clip, step: this.step + 1 };
    const r = this.precision ? await this.precision.step(this.optimizer, computeLoss, opts) : await trainStep(this.model, this.optimizer, computeLoss, opts);
    return countStep(this, t0, r, lr, B * T);
  }

  async validate(): Promise<TokenTaskEvalResult> {
    const r = await evaluateTokenTask(this.model, this.val, this.args.batch);
    if (!Number.isFinite(r.loss)) throw new NonFiniteError('the validation loss', r.loss, this.step);
    return r;
  }

  valRecord(r: TokenTaskEvalResult): Record<string, number> {
    return { loss: r.loss, accuracy: r.accuracy, sequence_accuracy: r.sequenceAccuracy, examples: r.sequences };
  }

  /** What config.json records: the task, the model spec and every setting. */
  checkpointConfig(): CheckpointConfig {
    return {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, task: this.task, model: this.spec,
      training: { args: this.args, data: { vocabSize: this.vocabSize, val: this.val.count } },
    };
  }

  async save(runDir: string, logBytes: number): Promise<string> {
    const trainer: TrainerState = {
      step: this.step, tokens: this.tokens, elapsedSeconds: this.elapsedSeconds,
      rng: { model: this.modelRng.getState(), data: this.dataRng.getState() }, data: null, logBytes,
    };
    return saveTrainingCheckpoint(runDir, { config: this.checkpointConfig(), trainer, model: this.model, optimizer: this.optimizer });
  }

  /** Frees the model, the optimizer and working copies. */
  dispose(): void {
    this.optimizer.dispose();
    this.precision?.dispose();
    this.model.dispose();
  }
}

/** Whether a checkpoint's task is a token task. */
export function isTokenTask(task: string | undefined): task is TokenTaskName {
  return (TOKEN_TASKS as readonly string[]).includes(task ?? '');
}

/**
 * The stored args of a token-task checkpoint, checked exactly as the flags would be, with a model
 * spec that must be the one these args make.
 */
export function storedTokenTaskArgs(ckpt: LoadedCheckpoint): TokenTaskArgs {
  const where = `'${nodePath.join(ckpt.dir, 'config.json')}'`;
  const t = ckpt.config.training as { args?: unknown } | undefined;
  if (!isTokenTask(ckpt.config.task) || typeof t?.args !== 'object' || t.args === null || Array.isArray(t.args)) throw new CheckpointError(`${where} is not a token-task training checkpoint`);
  const args = { ...DEFAULT_TOKEN_TASK_ARGS, ...(t.args as Partial<TokenTaskArgs>) };
  try {
    if (typeof args.model !== 'string') throw new TrainConfigError('training.args.model must be a model name');
    checkArgValues(args, modelNames(), cellNames().includes(args.model) ? args.model : null, (k) => `training.args.${k}`);
    checkTokenTaskArgs(ckpt.config.task, args);
    checkSpecMatches(kindForName(args.model).spec(args, taskData(ckpt.config.task, args).vocabSize), ckpt.config.model);
  } catch (e) {
    throw new CheckpointError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return args;
}
