/**
 * Training sequence classifiers on ListOps (src/data/listops.ts), as `recur train --task listops`
 * runs it. The loop, log, checkpoints and curves are runTraining's (loop.ts); this file has
 * what differs from the language model: the data, the model, the parameter groups and the scores.
 *
 * Data: training batches are drawn on the fly from the data RNG (seeded from --seed, its state in
 * every checkpoint, so a resumed run sees the same batches); the validation and test sets are
 * fixed sets generated from --data-seed, test first, then validation without any test expression,
 * and training never uses an expression of either. A batch is right-padded to its longest example
 * with a mask, which the classifier's pooling honours.
 */
import * as nodePath from 'node:path';
import { cellEntry, cellNames } from '../cells/registry.js';
import type { OptionValue } from '../cells/options.js';
import {
  LISTOPS_CLASSES, LISTOPS_VOCAB_SIZE, generateListOps, listOpsBatch, listOpsMajority, listOpsRootOperatorBaseline, type ListOpsConfig, type ListOpsExample,
} from '../data/listops.js';
import { SequenceClassifier, classifierParamGroups, type SequenceClassifierConfig } from '../models/deep-lru.js';
import { AdamW } from '../optim/adamw.js';
import type { Schedule } from '../optim/schedule.js';
import { fromHost } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { argmax, crossEntropy } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope } from '../tensor/tensor.js';
import {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, restoreTrainingState, saveTrainingCheckpoint,
  type CheckpointConfig, type LoadedCheckpoint, type ModelSpec, type TrainerState,
} from './checkpoint.js';
import { field, isNumber, isString, oneOf } from './model-kinds.js';
import { checkMemory, countParameters, trainingMemory } from './memory.js';
import { RESUMABLE_ARGS, TrainConfigError, checkArgValues } from './args.js';
import { countStep, trainingSchedule, type CurveLabels, type RunnableTrainer, type StepReport } from './loop.js';
import { NonFiniteError, trainStep } from './step.js';

export const LISTOPS_TASK = 'listops';
const MODEL_KIND = 'sequence-classifier';

/** Every setting of a ListOps run (the flags of `recur train --task listops`). */
export interface ListOpsArgs {
  /** A registry cell; 'lru' is the paper's deep LRU. */
  model: string;
  dim: number;
  depth: number;
  /** For cells that declare it: lru's complex state N = round(expansion · dim), mingru's inner width. */
  expansion: number;
  /** For cells that declare it (mingru, minlstm). */
  scan: 'log' | 'real';
  /** Values of the cell's other declared options (cells/registry.ts: lru's rMin, rMax, …); absent = its defaults. */
  cellOptions?: Record<string, OptionValue>;
  dropout: number;
  norm: 'rms' | 'layer';
  lr: number;
  /** Cells that declare recurrent parameters (lru: ν, θ, γ, B) train them at lr · recurrentLrFactor without weight decay. */
  recurrentLrFactor: number;
  weightDecay: number;
  warmup: number;
  schedule: 'constant' | 'cosine';
  clip: number;
  batch: number;
  steps: number;
  /** Initialisation, dropout and the training stream. */
  seed: number;
  /** The validation and test sets. */
  dataSeed: number;
  evalEvery: number;
  saveEvery: number;
  logEvery: number;
  /** LRA's generator: minLength < length < maxLength tokens, nesting ≤ maxDepth, ≤ maxArgs arguments. */
  minLength: number;
  maxLength: number;
  maxDepth: number;
  maxArgs: number;
  valExamples: number;
  testExamples: number;
}

/**
 * The CPU-sized default: LRA's tree distribution (depth ≤ 10, ≤ 10 arguments) with expressions of
 * 50–256 tokens instead of 500–2000, and a deep LRU of 4 blocks at width 64.
 */
export const DEFAULT_LISTOPS_ARGS: ListOpsArgs = {
  model: 'lru', dim: 64, depth: 4, expansion: 1, scan: 'log', dropout: 0.1, norm: 'layer',
  lr: 2e-3, recurrentLrFactor: 0.5, weightDecay: 0.05, warmup: 100, schedule: 'cosine', clip: 1,
  batch: 32, steps: 2000, seed: 1, dataSeed: 1, evalEvery: 200, saveEvery: 0, logEvery: 10,
  minLength: 50, maxLength: 256, maxDepth: 10, maxArgs: 10, valExamples: 500, testExamples: 2000,
};

/** A named ListOps recipe: a description and the settings it fills in. */
export interface ListOpsPreset {
  description: string;
  args: Partial<ListOpsArgs>;
}

/**
 * The LRU paper's ListOps recipe (Orvieto et al. 2023, arXiv 2303.06349, LRA ListOps 60.2%), value by
 * value with its source. The paper's appendix table gives the model (6 blocks, H 128, N 256), batch,
 * learning rates, weight decay, dropout and ring; its LRA setup follows S5 (Smith et al. 2023), whose
 * ListOps script is public (lindermanlab/S5 bin/run_experiments/run_lra_listops.sh); a public
 * PyTorch port of the LRU has a ListOps config with every optimiser value. Sources, shortened:
 * [paper] the LRU paper, [S5] S5's ListOps script, [port] the port's ListOps config, [ours] a choice
 * made here (the paper is silent).
 */
const LRU_PAPER_LISTOPS: Partial<ListOpsArgs> = {
  // LRA's ListOps data [paper, LRA]: 500 < length < 2000, depth ≤ 10, ≤ 10 arguments (the defaults of maxDepth, maxArgs).
  minLength: 500, maxLength: 2000,
  // 6 blocks at H 128 with a complex state of N 256 [paper, port].
  model: 'lru', depth: 6, dim: 128, expansion: 2,
  // Ring r ∈ [0, 0.99] and phases in [0, 2π) [paper: the reduced phase is for PathX only; the port
  // has r_max 0.9]; bidirectional layers [S5: --bidirectional=True for ListOps; the paper's LRA
  // models follow S5 and describe the bidirectional LRU]. With the mask zeroing the cell's input at
  // padding (models/deep-lru.ts) the backward direction starts at each row's last token.
  cellOptions: { rMin: 0, rMax: 0.99, maxPhase: 2 * Math.PI, bidirectional: true },
  // No dropout [port: 0.0; S5: --p_dropout=0].
  dropout: 0,
  // AdamW lr 3e-3 with ν, θ, γ, B at lr × 0.5 and no weight decay, weight decay 0.05 elsewhere [port:
  // lr 0.003, lr_factor 0.5, weight_decay 0.05; the paper sweeps the lr in [1e-3, 4e-3]].
  lr: 3e-3, recurrentLrFactor: 0.5, weightDecay: 0.05,
  // Batch 32 [paper, port]; 90,000 steps = 30 epochs of LRA's 96,000 training expressions [port:
  // num_training_steps 90000, max_epochs 30]; linear warm-up over 12,000 steps, then cosine [port]
  // (ours ends at lr/10, the port's at 0).
  batch: 32, steps: 90_000, warmup: 12_000, schedule: 'cosine',
  // Gradient clip 1 [ours: the paper names none; at LRA length the norm is below 1 on the majority
  // plateau, then 2–3.5 with spikes past 100, so it acts on most steps: docs/reproductions.md].
  // Pre-norm LayerNorm [ours: the paper and S5 use BatchNorm, which the classifier does not have;
  // LayerNorm works per token, so padding never enters its statistics].
  clip: 1, norm: 'layer',
  // LRA's split sizes: 2,000 validation and 2,000 test expressions [LRA]; validate every 3,000 steps
  // (an epoch of 96,000 at batch 32) [ours].
  valExamples: 2000, testExamples: 2000, evalEvery: 3000,
};

/** The ListOps presets (listops-cpu, listops-lra). */
export const LISTOPS_PRESETS: Record<string, ListOpsPreset> = {
  'listops-cpu': {
    description: 'the default (CPU-sized): LRA trees (depth ≤ 10, ≤ 10 args) of 50–256 tokens; 4 blocks, dim 64, batch 32, 2000 steps',
    args: {},
  },
  'listops-lra': {
    description: "the LRU paper's ListOps recipe: LRA's data (lengths 500–2000, depth ≤ 10, ≤ 10 args); 6 bidirectional LRU blocks at H 128, N 256, ring [0, 0.99], phase 2π, " +
      'dropout 0, LayerNorm (the paper: BatchNorm); AdamW lr 3e-3, ν θ γ B at lr × 0.5 without decay, weight decay 0.05; batch 32, 90000 steps (30 epochs of ' +
      "LRA's 96k), warm-up 12000, cosine; 2000 validation and 2000 test expressions (sources: src/train/listops-trainer.ts); meant for a GPU",
    args: LRU_PAPER_LISTOPS,
  },
};

/** Flags that may change on --resume (those of the LM). */
export const LISTOPS_RESUMABLE_ARGS: readonly (keyof ListOpsArgs)[] = RESUMABLE_ARGS;

/** Checks every value (args.ts declares the ranges) and the generator's limits; a TrainConfigError names the first bad one. */
export function checkListOpsArgs(a: ListOpsArgs): ListOpsArgs {
  if (!cellNames().includes(a.model)) throw new TrainConfigError(`unknown model '${a.model}' for --task listops (a recurrent cell: ${cellNames().join(', ')})`);
  checkArgValues(a, cellNames(), a.model);
  if (a.maxArgs < 2) throw new TrainConfigError(`maxArgs must be an integer ≥ 2, got ${a.maxArgs}`);
  if (a.maxLength < a.minLength + 2) throw new TrainConfigError(`maxLength must exceed minLength + 1 (lengths are strictly between them), got ${a.minLength} and ${a.maxLength}`);
  return a;
}

export function listOpsDataConfig(a: ListOpsArgs): Required<ListOpsConfig> {
  return { minLength: a.minLength, maxLength: a.maxLength, maxDepth: a.maxDepth, maxArgs: a.maxArgs };
}

/** The classifier an args set describes: expansion and scan for the cells that declare them, and the cell's other options. */
export function listOpsModelConfig(a: ListOpsArgs): SequenceClassifierConfig {
  const declared = cellEntry(a.model).options.map((o) => o.name);
  const shared = Object.fromEntries((['expansion', 'scan'] as const).filter((k) => declared.includes(k)).map((k) => [k, a[k]]));
  return {
    cell: a.model, vocabSize: LISTOPS_VOCAB_SIZE, numClasses: LISTOPS_CLASSES, dModel: a.dim, depth: a.depth, dropout: a.dropout, norm: a.norm,
    ...shared, ...a.cellOptions,
  };
}

const TRAIN_SEED_OFFSET = 0x5eed;
const VAL_SEED_OFFSET = 0xa1;
const TEST_SEED_OFFSET = 0x7e57;

/** The held-out sets of a ListOps run. */
export type HeldOutSplit = 'val' | 'test';

/**
 * The fixed held-out sets of a configuration: test from the data seed, then validation without
 * test's expressions. Deterministic, so `recur eval` regenerates the run's test set.
 */
export function listOpsHeldOut(a: ListOpsArgs): Record<HeldOutSplit, ListOpsExample[]> {
  const config = listOpsDataConfig(a);
  try {
    const test = generateListOps(a.testExamples, config, new Rng(a.dataSeed + TEST_SEED_OFFSET));
    const val = generateListOps(a.valExamples, config, new Rng(a.dataSeed + VAL_SEED_OFFSET), new Set(test.map((e) => e.source)));
    return { val, test };
  } catch (e) {
    throw new TrainConfigError(`the ListOps settings cannot make the held-out sets: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Accuracy and loss of a classifier on a held-out set, with the majority-class rate for scale. */
export interface ListOpsEvalResult {
  /** Mean cross-entropy, nats per example. */
  loss: number;
  accuracy: number;
  examples: number;
  /** The share of the most frequent answer in these examples: the baseline to beat. */
  majority: number;
  majorityLabel: number;
  /**
   * Accuracy of answering from the root operator alone (listOpsRootOperatorBaseline): the plateau
   * of a model that has learned only the outermost operator.
   */
  rootOperator: number;
}

/** Loss and accuracy of a classifier on examples (eval mode; sorted by length so batches pad little). */
export async function evaluateListOps(model: SequenceClassifier, examples: readonly ListOpsExample[], batch: number): Promise<ListOpsEvalResult> {
  const was = model.training;
  model.eval();
  let nats = 0, right = 0;
  try {
    const sorted = [...examples].sort((x, y) => x.tokens.length - y.tokens.length);
    for (let i = 0; i < sorted.length; i += batch) {
      const b = listOpsBatch(sorted.slice(i, i + batch));
      const r = noGrad(() => scope(() => {
        const logits = model.forward(fromHost(b.inputs, [b.batch, b.length]), fromHost(b.mask, [b.batch, b.length]));
        return { nats: crossEntropy(logits, fromHost(b.labels, [b.batch]), { reduction: 'sum' }), predicted: argmax(logits, -1) };
      }));
      nats += await r.nats.item();
      const predicted = await r.predicted.data();
      r.nats.dispose();
      r.predicted.dispose();
      for (let j = 0; j < b.batch; j++) if (predicted[j] === b.labels[j]) right++;
    }
  } finally {
    model.train(was);
  }
  const m = listOpsMajority(examples);
  const n = Math.max(examples.length, 1);
  return { loss: nats / n, accuracy: right / n, examples: examples.length, majority: m.accuracy, majorityLabel: m.label, rootOperator: listOpsRootOperatorBaseline(examples) };
}

/**
 * A classifier config read from a stored spec: its own settings type-checked here, every other
 * field a cell option (SequenceClassifier checks those against the cell's declarations).
 */
function classifierConfig(c: ModelSpec['config']): SequenceClassifierConfig {
  const { cell: _c, dModel: _d, numClasses: _n, depth: _de, dropout: _dr, norm: _no, vocabSize, ...cellOptions } = c;
  const dModel = field(c, 'dModel', isNumber), numClasses = field(c, 'numClasses', isNumber);
  if (dModel === undefined || numClasses === undefined) throw new Error('the model config has no dModel or numClasses');
  return {
    ...cellOptions, vocabSize, dModel, numClasses, cell: field(c, 'cell', isString), depth: field(c, 'depth', isNumber),
    dropout: field(c, 'dropout', isNumber), norm: field(c, 'norm', oneOf('layer', 'rms')),
  };
}

/**
 * The stored training args of a ListOps checkpoint, checked by the trainer; cell options stored at
 * the top level (runs of earlier versions: rMin, rMax) move into cellOptions.
 */
export function storedListOpsArgs(ckpt: LoadedCheckpoint): ListOpsArgs {
  const t = ckpt.config.training as { args?: Record<string, unknown> } | undefined;
  if (ckpt.config.task !== LISTOPS_TASK || typeof t?.args !== 'object' || t.args === null) throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'config.json')}' is not a ListOps training checkpoint`);
  const args: Record<string, unknown> = { ...DEFAULT_LISTOPS_ARGS, ...t.args };
  const model = typeof args.model === 'string' && cellNames().includes(args.model) ? args.model : null;
  if (model) {
    const moved: Record<string, unknown> = { ...(args.cellOptions as object | undefined) };
    for (const o of cellEntry(model).options) {
      if (o.name in args && !(o.name in DEFAULT_LISTOPS_ARGS)) {
        moved[o.name] = args[o.name];
        delete args[o.name];
      }
    }
    if (Object.keys(moved).length) args.cellOptions = moved;
  }
  try {
    checkArgValues(args, cellNames(), model, (k) => `training.args.${k}`);
  } catch (e) {
    throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'config.json')}': ${e instanceof Error ? e.message : String(e)}`);
  }
  return args as unknown as ListOpsArgs;
}

/** The classifier of a ListOps checkpoint with its weights (the caller disposes the loaded tensors and the model). */
export function listOpsModelFromCheckpoint(ckpt: LoadedCheckpoint): SequenceClassifier {
  const spec = ckpt.config.model;
  if (spec.kind !== MODEL_KIND) throw new CheckpointError(`checkpoint '${ckpt.dir}' holds a '${spec.kind}' model, not a ${MODEL_KIND}`);
  let model: SequenceClassifier;
  try {
    model = new SequenceClassifier(classifierConfig(spec.config), { rng: new Rng(0) });
  } catch (e) {
    throw new CheckpointError(`the checkpoint's model cannot be built: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    model.loadStateDict(ckpt.weights);
  } catch (e) {
    model.dispose();
    throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'model.safetensors')}' does not match the model in config.json: ${e instanceof Error ? e.message : String(e)}`);
  }
  return model;
}

/** The most tokens the held-out sets may hold (they are generated and kept in memory). */
const MAX_HELD_OUT_TOKENS = 2 ** 27;

/** Refuses (TrainConfigError with the figures) a configuration whose model, batch or held-out sets cannot fit. */
function checkListOpsMemory(args: ListOpsArgs, config: SequenceClassifierConfig): void {
  const heldOut = (args.valExamples + args.testExamples) * args.maxLength;
  if (heldOut > MAX_HELD_OUT_TOKENS) {
    throw new TrainConfigError(`--val-examples ${args.valExamples} and --test-examples ${args.testExamples} of up to ${args.maxLength} tokens could hold ${heldOut} tokens, more than the ${MAX_HELD_OUT_TOKENS} that are kept in memory; use fewer examples or a smaller --max-length`);
  }
  const depth = config.depth ?? 6;
  try {
    const heads = Number(config.heads ?? 1);
    const parameters = countParameters((dModel, blocks) => new SequenceClassifier({ ...config, dModel, depth: blocks }, { rng: new Rng(0) }), config.dModel, depth, heads > 0 && Number.isSafeInteger(heads) ? heads : 1);
    checkMemory(trainingMemory(parameters, args.batch * args.maxLength, config.dModel, depth), `--model ${args.model} at dim ${config.dModel}, depth ${depth}, batch ${args.batch} × length ${args.maxLength}`, 'use a smaller --dim, --depth, --batch or --max-length');
  } catch (e) {
    throw new TrainConfigError(e instanceof Error ? e.message : String(e));
  }
}

export const LISTOPS_CURVE_LABELS: CurveLabels = { loss: 'nats/example', accuracy: 'answer accuracy' };

export class ListOpsTrainer implements RunnableTrainer<ListOpsEvalResult> {
  readonly args: ListOpsArgs;
  readonly spec: ModelSpec;
  readonly model: SequenceClassifier;
  readonly optimizer: AdamW;
  readonly val: ListOpsExample[];
  readonly test: ListOpsExample[];
  readonly curveLabels = LISTOPS_CURVE_LABELS;
  step = 0;
  tokens = 0;
  elapsedSeconds = 0;
  readonly resumedLogBytes: number | null;
  private readonly modelRng: Rng;
  private readonly dataRng: Rng;
  private readonly heldOutSources: Set<string>;
  private readonly schedule: Schedule;

  private constructor(args: ListOpsArgs, spec: ModelSpec | null, resumedLogBytes: number | null) {
    this.args = checkListOpsArgs(args);
    const config = spec ? classifierConfig(spec.config) : listOpsModelConfig(args);
    this.spec = { kind: MODEL_KIND, config: { ...config, vocabSize: LISTOPS_VOCAB_SIZE } };
    checkListOpsMemory(args, config);
    ({ val: this.val, test: this.test } = listOpsHeldOut(args));
    this.heldOutSources = new Set([...this.val, ...this.test].map((e) => e.source));
    this.modelRng = new Rng(args.seed);
    this.dataRng = new Rng(args.seed + TRAIN_SEED_OFFSET);
    try {
      this.model = new SequenceClassifier(config, { rng: this.modelRng });
    } catch (e) {
      throw new TrainConfigError(e instanceof Error ? e.message : String(e));
    }
    const groups = classifierParamGroups(this.model, { lr: args.lr, recurrentLrFactor: args.recurrentLrFactor, weightDecay: args.weightDecay });
    this.optimizer = new AdamW(groups, { lr: args.lr, weightDecay: args.weightDecay });
    this.schedule = trainingSchedule(args);
    this.resumedLogBytes = resumedLogBytes;
  }

  /** A new run: model, optimizer, data streams and held-out sets from the settings. */
  static create(args: ListOpsArgs): ListOpsTrainer {
    return new ListOpsTrainer({ ...args }, null, null);
  }

  /** Continues a run from `loadCheckpoint(dir, { training: true })`; `args` are the stored ones merged with the resumable flags. */
  static resume(ckpt: LoadedCheckpoint, args: ListOpsArgs): ListOpsTrainer {
    const trainer = new ListOpsTrainer(args, ckpt.config.model, ckpt.trainer!.logBytes);
    try {
      trainer.restore(ckpt);
    } catch (e) {
      trainer.dispose();
      throw e;
    }
    return trainer;
  }

  private restore(ckpt: LoadedCheckpoint): void {
    const t = restoreTrainingState(ckpt, { model: this.model, optimizer: this.optimizer, modelRng: this.modelRng, dataRng: this.dataRng });
    this.step = t.step;
    this.tokens = t.tokens;
    this.elapsedSeconds = t.elapsedSeconds;
  }

  get nextLr(): number {
    return this.args.lr * this.schedule(this.step);
  }

  /** The next training batch: fresh expressions from the data RNG, none of them held out. */
  private nextExamples(): ListOpsExample[] {
    return generateListOps(this.args.batch, listOpsDataConfig(this.args), this.dataRng, this.heldOutSources);
  }

  /** One optimizer step on a fresh batch of expressions. */
  async trainStep(): Promise<StepReport> {
    const t0 = performance.now();
    const b = listOpsBatch(this.nextExamples());
    const lr = this.nextLr;
    this.optimizer.lr = lr;
    const computeLoss = () => crossEntropy(
      this.model.forward(fromHost(b.inputs, [b.batch, b.length]), fromHost(b.mask, [b.batch, b.length])),
      fromHost(b.labels, [b.batch]),
    );
    const r = await trainStep(this.model, this.optimizer, computeLoss, { clip: this.args.clip, step: this.step + 1 });
    const tokens = b.lengths.reduce((s, n) => s + n, 0);
    return countStep(this, t0, r, lr, tokens);
  }

  async validate(): Promise<ListOpsEvalResult> {
    const r = await evaluateListOps(this.model, this.val, this.args.batch);
    if (!Number.isFinite(r.loss)) throw new NonFiniteError('the validation loss', r.loss, this.step);
    return r;
  }

  valRecord(r: ListOpsEvalResult): Record<string, number> {
    return { loss: r.loss, accuracy: r.accuracy, examples: r.examples, majority: r.majority };
  }

  /** What config.json records: the model spec, the task and every setting. */
  checkpointConfig(): CheckpointConfig {
    return {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, task: LISTOPS_TASK, model: this.spec,
      training: { args: this.args, data: { val: this.val.length, test: this.test.length, testMajority: listOpsMajority(this.test).accuracy } },
    };
  }

  async save(runDir: string, logBytes: number): Promise<string> {
    const trainer: TrainerState = {
      step: this.step, tokens: this.tokens, elapsedSeconds: this.elapsedSeconds,
      rng: { model: this.modelRng.getState(), data: this.dataRng.getState() }, data: null, logBytes,
    };
    return saveTrainingCheckpoint(runDir, { config: this.checkpointConfig(), trainer, model: this.model, optimizer: this.optimizer });
  }

  /** Frees the model, the optimizer and their tensors. */
  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
