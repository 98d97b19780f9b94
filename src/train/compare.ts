/**
 * The comparison study behind `recur bench lm` (issue 4, docs/models.md#character-lm-comparison): character LMs of
 * different cells trained at about the same parameter count with the same budget, scored on the
 * held-out 10% after every epoch, like the SMR article's table.
 *
 *   const sizing = solveWidth('lstm', 500_000, arch, vocabSize);       // the dim closest to the target
 *   const result = await runComparison(config, text, textInfo, hooks); // every model, every epoch
 *   await writeComparison(result, 'bench/results');                   // lm-compare.{json,md,svg}
 *
 * Sizing: every cell of the registry is a RecurrentLM whose parameter count grows with its width;
 * `solveWidth` finds the dim whose exact count (counted on a built model, not estimated) is
 * closest to the target at the given depth and block shape. Other model kinds (the bigram table)
 * have no width: they train at their own size, which the results state.
 *
 * Budget, the same for every model: the same text split, batch × seq, optimizer steps per epoch
 * (an epoch = the training split's characters, or `epochChars` of them, in windows of batch × seq),
 * learning rate, schedule, weight decay, seed and validation windows. What the recipe lets differ
 * per model (residual kind, stateful training, clip) is recorded with each model's result.
 *
 * Recipes: 'same' gives every model the same pre-norm block, additive residual and the shared
 * `stateful`/`clip`; 'seed' gives SMR and MSMR the seed author's recipe (multiplicative residual
 * x = x ⊙ RNN(norm x), stateful training, clip-norm 1) and every other model the shared one.
 */
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { commandLine, fmt, machineInfo, type MachineInfo } from '../bench/report.js';
import { cellNames } from '../cells/registry.js';
import { splitTrainVal } from '../data/text.js';
import { CharTokenizer } from '../data/tokenizer.js';
import { writeFileAtomic } from '../io/files.js';
import { RecurrentLM, resolveLMConfig } from '../models/recurrent-lm.js';
import { Rng } from '../tensor/random.js';
import { TrainConfigError } from './args.js';
import type { EvalResult } from './lm-eval.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, checkTrainArgs, type TextInfo, type TrainArgs } from './lm-trainer.js';
import { modelNames } from './model-kinds.js';
import { checkMemory, trainingMemory } from './memory.js';
import { figureSvg } from './plot.js';
import { NonFiniteError } from './step.js';

// ---------------------------------------------------------------------------------------------
// Flags

/** The models of the seed's table and the minimal RNNs, in the order of the report. */
export const DEFAULT_COMPARE_MODELS = ['bigram', 'lstm', 'gru', 'smr', 'msmr', 'mingru', 'minlstm'] as const;

/**
 * A parameter count as people write it: 500000, 500k, 1.5M, 2e5 (suffixes k = 10³, M = 10⁶,
 * case-insensitive; underscores and commas as digit separators). A TrainConfigError otherwise, and
 * for counts that are not positive whole numbers.
 */
export function parseParamCount(text: string, flag = '--params'): number {
  const s = text.trim().replace(/[_,]/g, '');
  const m = /^(\d+(?:\.\d*)?(?:e\d+)?|\.\d+)([kKmM]?)$/.exec(s);
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6) : NaN;
  // Round away the float noise of 1.1k and the like; a fraction of a parameter is an error.
  const r = Math.round(n);
  if (!Number.isFinite(n) || r < 1 || Math.abs(n - r) > 1e-6 * Math.max(1, r)) {
    throw new TrainConfigError(`${flag} must be a parameter count like 500000, 500k or 1.5M, got '${text}'`);
  }
  return r;
}

/** A comma-separated model list: every name known to `recur train --model`, none twice. */
export function parseModelList(text: string, flag = '--models'): string[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new TrainConfigError(`${flag} needs at least one model (available: ${modelNames().join(', ')})`);
  const known = modelNames();
  for (const n of names) {
    if (!known.includes(n)) throw new TrainConfigError(`unknown model '${n}' in ${flag} (available: ${known.join(', ')})`);
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new TrainConfigError(`${flag} names '${dup}' twice`);
  return names;
}

// ---------------------------------------------------------------------------------------------
// Sizing

/** The block shape every sized model shares (its width is what the solver picks). */
export type Architecture = Pick<TrainArgs, 'depth' | 'expansion' | 'conv' | 'ffMult' | 'norm'>;

export interface Sizing {
  model: string;
  /** The solved width; null for a model kind without one (the bigram table). */
  dim: number | null;
  /** Exact parameter count at that width. */
  params: number;
  target: number;
  /** (params − target) / target. */
  deviation: number;
}

/** Whether the model is a RecurrentLM around a registry cell (so it has a width to solve). */
export function isSizable(model: string): boolean {
  return cellNames().includes(model);
}

/** The exact parameter count of a RecurrentLM with this cell and width (builds it, counts, frees it). */
export function countParams(model: string, dim: number, arch: Architecture, vocabSize: number): number {
  const lm = new RecurrentLM(resolveLMConfig({
    vocabSize, dim, depth: arch.depth, cell: model, expansion: arch.expansion, convKernel: arch.conv, ffMult: arch.ffMult, norm: arch.norm,
  }), { rng: new Rng(0) });
  try {
    return lm.numParameters();
  } finally {
    lm.dispose();
  }
}

/**
 * The width of `model` whose parameter count is closest to `target` (ties to the smaller): the
 * count grows with the width, so a doubling search brackets the target and a bisection finds the
 * last width at or below it; that width or the next one wins. The smallest width is 1.
 */
export function solveWidth(model: string, target: number, arch: Architecture, vocabSize: number): Sizing {
  if (!isSizable(model)) throw new TrainConfigError(`model '${model}' has no width to solve (it trains at its own size)`);
  if (!Number.isInteger(target) || target < 1) throw new TrainConfigError(`the target parameter count must be a positive integer, got ${target}`);
  // Before any model of that size is built: weights, gradients and AdamW moments must fit.
  checkMemory(trainingMemory(target, 0, 0, 0), `a model of ${target} parameters`, 'use a smaller --params');
  const count = new Map<number, number>();
  const at = (d: number) => {
    if (!count.has(d)) count.set(d, countParams(model, d, arch, vocabSize));
    return count.get(d)!;
  };
  let lo = 1, hi = 1;
  if (at(1) <= target) {
    while (at(hi) <= target) {
      lo = hi;
      hi *= 2;
    }
    // at(lo) ≤ target < at(hi)
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (at(mid) <= target) lo = mid;
      else hi = mid;
    }
  }
  const dim = Math.abs(at(hi) - target) < Math.abs(at(lo) - target) ? hi : lo;
  const params = at(dim);
  return { model, dim, params, target, deviation: (params - target) / target };
}

// ---------------------------------------------------------------------------------------------
// The study

export type Recipe = 'same' | 'seed';

/** The models the seed recipe applies to. */
export const SEED_RECIPE_MODELS: readonly string[] = ['smr', 'msmr'];

export const RECIPES: Record<Recipe, string> = {
  same: 'the same recipe for every model: pre-norm residual blocks (x = x + cell(norm x); x = x + ff(norm x)), additive residual, the shared stateful setting and clip',
  seed: "the seed author's recipe for SMR and MSMR (multiplicative residual x = x ⊙ cell(norm x), stateful training, clip-norm 1); every other model as in 'same'",
};

export interface CompareConfig {
  models: string[];
  /** Target parameter count of every sized model. */
  params: number;
  epochs: number;
  /** Training characters per epoch; 0 = the whole training split (first 90%). */
  epochChars: number;
  recipe: Recipe;
  /**
   * Shared training settings: depth and block shape (expansion, conv, ffMult, norm), optimizer
   * (lr, weightDecay, warmup, schedule over the whole run, clip), batch, seq, seed, stateful,
   * valWindows. `model`, `dim`, `steps` and `residual` are set per model.
   */
  train: TrainArgs;
}

/** Defaults of `recur bench lm`: a 2-layer block without conv and with a ×2 feed-forward, so the cell holds a large share of the parameters. */
export const DEFAULT_COMPARE_TRAIN: TrainArgs = {
  ...DEFAULT_TRAIN_ARGS,
  depth: 2, expansion: 1.5, conv: 0, ffMult: 2, dropout: 0, norm: 'rms', residual: 'add', scan: 'real',
  lr: 2e-3, weightDecay: 0.1, warmup: 0, schedule: 'constant', clip: 1, batch: 32, seq: 128, seed: 1, stateful: false,
  valWindows: 0,
};

/** What differs between models under the recipe, as used for one model. */
export interface ModelRecipe {
  residual: 'add' | 'mul';
  stateful: boolean;
  clip: number;
  /** 'seed' where the seed author's recipe applied to this model. */
  recipe: Recipe;
}

export function modelRecipe(model: string, recipe: Recipe, shared: TrainArgs): ModelRecipe {
  if (recipe === 'seed' && SEED_RECIPE_MODELS.includes(model)) return { residual: 'mul', stateful: true, clip: 1, recipe: 'seed' };
  return { residual: 'add', stateful: shared.stateful, clip: shared.clip, recipe: 'same' };
}

export interface Budget {
  trainChars: number;
  valChars: number;
  /** Characters per epoch (the training split, or --epoch-chars). */
  epochChars: number;
  stepsPerEpoch: number;
  /** Tokens per epoch actually trained on: stepsPerEpoch × batch × seq. */
  tokensPerEpoch: number;
  epochs: number;
  totalSteps: number;
  batch: number;
  seq: number;
}

/** The split sizes and step counts of a study over a text of `chars` characters (TrainConfigErrors for sizes that do not fit). */
export function compareBudget(chars: number, c: CompareConfig): Budget {
  const trainChars = Math.floor(chars * 0.9), valChars = chars - trainChars;
  const { batch, seq } = c.train;
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new TrainConfigError(`epochs must be a positive integer, got ${c.epochs}`);
  if (!Number.isInteger(c.epochChars) || c.epochChars < 0) throw new TrainConfigError(`epoch-chars must be a non-negative integer, got ${c.epochChars}`);
  if (c.epochChars > trainChars) throw new TrainConfigError(`--epoch-chars ${c.epochChars} is more than the training split (${trainChars} characters); leave it out to train on the whole split per epoch`);
  const epochChars = c.epochChars || trainChars;
  const stepsPerEpoch = Math.floor(epochChars / (batch * seq));
  if (stepsPerEpoch < 1) throw new TrainConfigError(`an epoch of ${epochChars} characters is less than one batch of ${batch} × ${seq}; use more characters or a smaller --batch/--seq`);
  return {
    trainChars, valChars, epochChars, stepsPerEpoch, tokensPerEpoch: stepsPerEpoch * batch * seq,
    epochs: c.epochs, totalSteps: stepsPerEpoch * c.epochs, batch, seq,
  };
}

export interface EpochResult {
  epoch: number;
  /** Optimizer steps and training tokens so far (cumulative). */
  step: number;
  tokens: number;
  /** Mean training loss over this epoch's steps, nats/char. */
  trainLoss: number;
  /** On the held-out split: nats/char, bits/char, next-character accuracy. */
  valLoss: number;
  bitsPerChar: number;
  accuracy: number;
  /** Seconds in training steps and wall-clock seconds (evaluation included), cumulative. */
  trainSeconds: number;
  wallSeconds: number;
}

export interface ModelResult {
  model: string;
  /** Width (null for the bigram table) and exact parameter count. */
  dim: number | null;
  params: number;
  /** (params − target) / target; null for a model trained at its own size. */
  deviation: number | null;
  recipe: ModelRecipe;
  status: 'completed' | 'diverged';
  /** Why the model stopped early (status 'diverged'). */
  message?: string;
  epochs: EpochResult[];
  /** Training tokens per second (steps only) and wall seconds (evaluation included). */
  tokensPerSec: number;
  wallSeconds: number;
}

export interface CompareResult {
  name: 'lm-compare';
  command: string;
  date: string;
  machine: MachineInfo;
  text: TextInfo & { vocabSize: number };
  recipe: Recipe;
  recipeDescription: string;
  targetParams: number;
  budget: Budget;
  /** The shared settings (TrainArgs without the per-model fields). */
  shared: Omit<TrainArgs, 'model' | 'dim' | 'steps' | 'residual'>;
  /** Validation: windows of seq characters, each from a fresh state, and the characters they score. */
  validation: { windows: number; tokens: number };
  /** The bigram table from counts, for scale (not trained; not part of the budget). */
  bigramCounts: BigramReference;
  /** The models the study was asked for, in order; `models` holds those done (all, once complete). */
  plannedModels: string[];
  models: ModelResult[];
  /** Wall seconds of the whole study (so far). */
  wallSeconds: number;
}

/** A closed-form baseline: the bigram table from counts (what a trained bigram model approaches). */
export interface BigramReference {
  /** Add-one smoothed next-character distribution from the training split's bigram counts. */
  valLoss: number;
  bitsPerChar: number;
  /** Most frequent successor of each character (ties to the lower id) on every validation pair. */
  accuracy: number;
  /** Predictions scored: every consecutive pair of the validation split. */
  tokens: number;
}

export function bigramReference(train: Int32Array, val: Int32Array, vocabSize: number): BigramReference {
  const V = vocabSize;
  const counts = new Float64Array(V * V);
  for (let i = 1; i < train.length; i++) counts[train[i - 1]! * V + train[i]!]!++;
  const rowSum = new Float64Array(V), best = new Int32Array(V);
  for (let a = 0; a < V; a++) {
    for (let b = 0; b < V; b++) {
      rowSum[a] += counts[a * V + b]!;
      if (counts[a * V + b]! > counts[a * V + best[a]!]!) best[a] = b;
    }
  }
  let nats = 0, right = 0;
  for (let i = 1; i < val.length; i++) {
    const a = val[i - 1]!, b = val[i]!;
    nats -= Math.log((counts[a * V + b]! + 1) / (rowSum[a]! + V));
    if (best[a] === b) right++;
  }
  const n = Math.max(1, val.length - 1), loss = nats / n;
  return { valLoss: loss, bitsPerChar: loss / Math.LN2, accuracy: right / n, tokens: val.length - 1 };
}

export interface CompareHooks {
  onModelStart?(model: string, sizing: { dim: number | null; params: number }, recipe: ModelRecipe, totalSteps: number): void;
  onStep?(model: string, step: number, loss: number, tokensPerSec: number): void;
  onEpoch?(model: string, e: EpochResult): void;
  /** After each model, with the results so far (a partial study while models remain). */
  onModelEnd?(r: ModelResult, sofar: CompareResult): void | Promise<void>;
}

/** Checks the config against the text (sizes, names, flags) before any model trains. */
export function checkCompareConfig(c: CompareConfig, chars: number): Budget {
  if (c.models.length === 0) throw new TrainConfigError('no models to compare');
  for (const m of c.models) checkTrainArgs({ ...c.train, model: m });
  if (c.recipe !== 'same' && c.recipe !== 'seed') throw new TrainConfigError(`recipe must be same or seed, got ${String(c.recipe)}`);
  if (!Number.isInteger(c.params) || c.params < 1) throw new TrainConfigError(`params must be a positive integer, got ${c.params}`);
  return compareBudget(chars, c);
}

/**
 * Trains every model of the study in turn (sized, same budget), validating after every epoch.
 * A model whose loss turns NaN/Inf is recorded as diverged (with its epochs so far) and the study
 * goes on with the next.
 */
export async function runComparison(c: CompareConfig, text: string, textInfo: TextInfo, hooks: CompareHooks = {}): Promise<CompareResult> {
  const started = performance.now();
  // The tokenizer LMTrainer.create builds too: the split sizes are in its tokens (characters).
  const tokenizer = CharTokenizer.fromText(text);
  const tokens = tokenizer.encode(text);
  const budget = checkCompareConfig(c, tokens.length);
  const split = splitTrainVal(tokens);
  const bigramCounts = bigramReference(split.train, split.val, tokenizer.vocabSize);
  const models: ModelResult[] = [];
  const vocabSize = tokenizer.vocabSize;
  let validation = { windows: 0, tokens: 0 };
  const { model: _m, dim: _d, steps: _s, residual: _r, ...shared } = c.train;
  const snapshot = (): CompareResult => ({
    name: 'lm-compare', command: commandLine(), date: new Date().toISOString(), machine: machineInfo(),
    text: { ...textInfo, vocabSize }, recipe: c.recipe, recipeDescription: RECIPES[c.recipe], targetParams: c.params,
    budget, shared, validation, bigramCounts, plannedModels: [...c.models], models: [...models], wallSeconds: (performance.now() - started) / 1000,
  });
  const arch: Architecture = { depth: c.train.depth, expansion: c.train.expansion, conv: c.train.conv, ffMult: c.train.ffMult, norm: c.train.norm };
  for (const model of c.models) {
    const t0 = performance.now();
    const recipe = modelRecipe(model, c.recipe, c.train);
    const sizing = isSizable(model) ? solveWidth(model, c.params, arch, vocabSize) : null;
    const args: TrainArgs = {
      ...c.train, model, dim: sizing?.dim ?? c.train.dim, steps: budget.totalSteps,
      residual: recipe.residual, stateful: recipe.stateful, clip: recipe.clip,
      evalEvery: budget.totalSteps, logEvery: budget.totalSteps, saveEvery: 0,
    };
    const trainer = LMTrainer.create({ args, text, textInfo });
    validation = { windows: trainer.valWindows.count, tokens: trainer.valWindows.count * trainer.valWindows.length };
    const params = trainer.model.numParameters();
    const result: ModelResult = {
      model, dim: sizing?.dim ?? null, params, deviation: sizing ? (params - c.params) / c.params : null, recipe,
      status: 'completed', epochs: [], tokensPerSec: 0, wallSeconds: 0,
    };
    hooks.onModelStart?.(model, { dim: result.dim, params }, recipe, budget.totalSteps);
    try {
      for (let epoch = 1; epoch <= c.epochs; epoch++) {
        let lossSum = 0;
        for (let i = 0; i < budget.stepsPerEpoch; i++) {
          const r = await trainer.trainStep();
          lossSum += r.loss;
          hooks.onStep?.(model, trainer.step, r.loss, trainer.tokens / trainer.elapsedSeconds);
        }
        const ev: EvalResult = await trainer.validate();
        const e: EpochResult = {
          epoch, step: trainer.step, tokens: trainer.tokens, trainLoss: lossSum / budget.stepsPerEpoch,
          valLoss: ev.loss, bitsPerChar: ev.bitsPerChar, accuracy: ev.accuracy,
          trainSeconds: trainer.elapsedSeconds, wallSeconds: (performance.now() - t0) / 1000,
        };
        result.epochs.push(e);
        hooks.onEpoch?.(model, e);
      }
    } catch (err) {
      if (!(err instanceof NonFiniteError)) {
        trainer.dispose();
        throw err;
      }
      result.status = 'diverged';
      result.message = err.message;
    }
    result.tokensPerSec = trainer.elapsedSeconds > 0 ? trainer.tokens / trainer.elapsedSeconds : 0;
    result.wallSeconds = (performance.now() - t0) / 1000;
    trainer.dispose();
    models.push(result);
    await hooks.onModelEnd?.(result, snapshot());
  }
  return snapshot();
}

// ---------------------------------------------------------------------------------------------
// Report: table, Markdown, plot, files

const pct = (x: number | undefined) => (x === undefined ? '–' : (100 * x).toFixed(2));

function duration(s: number): string {
  const r = Math.round(s);
  return r >= 60 ? `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s` : `${r}s`;
}

function recipeText(r: ModelRecipe, shared: { clip: number }): string {
  return `${r.residual} residual${r.stateful ? ', stateful' : ''}${r.clip !== shared.clip ? `, clip ${r.clip}` : ''}${r.recipe === 'seed' ? ' (seed recipe)' : ''}`;
}

/**
 * The results table in Markdown: one row per model, next-character accuracy (%) after each epoch,
 * the final validation loss (nats/char and bits/char), width, parameters, tokens/s and wall time.
 */
export function comparisonTable(r: CompareResult): string {
  const E = r.budget.epochs;
  const head = ['model', ...Array.from({ length: E }, (_, i) => `acc % e${i + 1}`), 'val loss (nats/char)', 'bits/char', 'params', 'dim', 'tokens/s', 'wall', 'recipe'];
  const align = head.map((h) => (h === 'model' || h === 'recipe' ? ' --- ' : ' ---: '));
  const lines = [`| ${head.join(' | ')} |`, `|${align.join('|')}|`];
  for (const m of r.models) {
    const last = m.epochs.at(-1);
    const cells = [
      m.status === 'diverged' ? `${m.model} (diverged)` : m.model,
      ...Array.from({ length: E }, (_, i) => pct(m.epochs[i]?.accuracy)),
      last ? last.valLoss.toFixed(4) : '–', last ? last.bitsPerChar.toFixed(3) : '–',
      m.params.toLocaleString('en-US'), m.dim === null ? '–' : String(m.dim),
      fmt(m.tokensPerSec), duration(m.wallSeconds), m.dim === null ? '–' : recipeText(m.recipe, r.shared),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** The report as Markdown, with the header of src/bench/report.ts's toMarkdown (command, date, machine, notes). */
export function comparisonMarkdown(r: CompareResult): string {
  const m = r.machine, b = r.budget, s = r.shared;
  const sizedNote = r.models.some((x) => x.dim === null) ? '; the bigram table has no width and trains at its own size (vocab²)' : '';
  const notes = [
    `text: ${r.text.path} (${r.text.chars.toLocaleString('en-US')} chars, vocab ${r.text.vocabSize}); first 90% trains (${b.trainChars.toLocaleString('en-US')}), last 10% validates (${b.valChars.toLocaleString('en-US')})`,
    `sizing: each model at the width whose exact parameter count is closest to ${r.targetParams.toLocaleString('en-US')}${sizedNote}; ${s.depth} layers, ff ×${s.ffMult}, conv ${s.conv}, expansion ${s.expansion} (minGRU/minLSTM only), ${s.norm} norm`,
    `budget (every model): ${b.epochs} epochs × ${b.stepsPerEpoch} steps of ${b.batch} × ${b.seq} = ${b.tokensPerEpoch.toLocaleString('en-US')} training characters per epoch (${b.epochChars === b.trainChars ? 'one pass over the training split' : `--epoch-chars ${b.epochChars.toLocaleString('en-US')}`}); AdamW lr ${s.lr} (${s.schedule}${s.warmup ? `, warm-up ${s.warmup}` : ''}), weight decay ${s.weightDecay}, clip ${s.clip}, seed ${s.seed}`,
    `recipe: ${r.recipe}: ${r.recipeDescription}`,
    `evaluation after each epoch: ${r.validation.windows} windows of ${b.seq} characters over the validation split, each from a fresh state (${r.validation.tokens.toLocaleString('en-US')} predictions); accuracy = argmax next character`,
    `for scale, the bigram table from the training split's counts (add-one smoothed, not trained): ${pct(r.bigramCounts.accuracy)}% accuracy, ${r.bigramCounts.bitsPerChar.toFixed(3)} bits/char on every pair of the validation split`,
    `tokens/s: training steps only; wall: training and evaluation; total ${duration(r.wallSeconds)}`,
  ];
  if (r.models.length < r.plannedModels.length) notes.push(`PARTIAL: ${r.models.length} of ${r.plannedModels.length} models done (${r.plannedModels.slice(r.models.length).join(', ')} to come)`);
  const diverged = r.models.filter((x) => x.status === 'diverged');
  for (const d of diverged) notes.push(`${d.model} diverged after ${d.epochs.length} epoch(s): ${d.message ?? ''}`);
  return [
    `# Benchmark: ${r.name}`,
    '',
    `- command: \`${r.command}\``,
    `- date: ${r.date}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}/${m.arch}, Node ${m.node}`,
    ...notes.map((n) => `- ${n}`),
    '',
    '## Next-character accuracy on the held-out 10% after each epoch',
    '',
    comparisonTable(r),
    'Plot: [lm-compare.svg](lm-compare.svg) (accuracy and validation bits/char against epochs).',
    '',
  ].join('\n');
}

/** Accuracy against epoch (and validation bits/char against epoch), one line per model. */
export function comparisonSvg(r: CompareResult): string {
  const series = (y: (e: EpochResult) => number) => r.models.map((m) => ({
    name: m.model, markers: true, dashed: m.dim === null, points: m.epochs.map((e) => [e.epoch, y(e)] as const),
  }));
  return figureSvg([
    { title: 'Next-character accuracy (held-out 10%)', xLabel: 'epoch', yLabel: 'accuracy', series: series((e) => e.accuracy) },
    { title: 'Validation loss', xLabel: 'epoch', yLabel: 'bits/char', series: series((e) => e.bitsPerChar) },
  ]);
}

export interface ComparisonFiles { json: string; md: string; svg: string }

/** Writes <dir>/lm-compare.json, .md and .svg (atomically); returns their paths. */
export async function writeComparison(r: CompareResult, dir: string): Promise<ComparisonFiles> {
  await fs.mkdir(dir, { recursive: true });
  const files = { json: nodePath.join(dir, `${r.name}.json`), md: nodePath.join(dir, `${r.name}.md`), svg: nodePath.join(dir, `${r.name}.svg`) };
  await writeFileAtomic(files.json, JSON.stringify(r, null, 2) + '\n');
  await writeFileAtomic(files.md, comparisonMarkdown(r));
  await writeFileAtomic(files.svg, comparisonSvg(r));
  return files;
}
