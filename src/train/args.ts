/**
 * Training arguments, declared once. Each task (lm-trainer.ts, listops-trainer.ts) has an args
 * object whose every key is declared in ARG_OPTIONS below (type, range, help) or, for the cell's
 * own options, by the cell (cells/registry.ts). The same declaration checks a value whether it
 * comes from a flag (src/cli/train.ts builds the flags from it), from an API call or from a run's
 * config.json on --resume: there is no second list of ranges.
 */
import { allCellOptions, checkCellOptions } from '../cells/registry.js';
import { flagOf, optionProblem, type OptionSpec, type OptionValue } from '../cells/options.js';

/** A training setting the user can fix (sizes that do not fit the text, conflicting flags, …). */
export class TrainConfigError extends Error {
  override name = 'TrainConfigError';
}

/** The most steps, examples or positions a setting may ask for: counts stay exact in f64 and i32. */
export const MAX_COUNT = 2 ** 31 - 1;

const int = (min: number, help: string, max?: number): OptionSpec => ({ name: '', type: 'int', min, ...(max === undefined ? {} : { max }), help });
const positive = (help: string, max?: number): OptionSpec => ({ name: '', type: 'number', min: 0, exclusive: 'min', ...(max === undefined ? {} : { max }), help });
const nonNegative = (help: string): OptionSpec => ({ name: '', type: 'number', min: 0, help });
const choice = (choices: readonly string[], help: string): OptionSpec => ({ name: '', type: 'choice', choices, help });

/**
 * Every argument of either task, by key. Upper bounds keep a single value from asking for more than
 * a machine could hold (the memory check in the trainers sees the combination).
 */
const ARG_SPECS: Record<string, OptionSpec> = {
  model: { name: '', type: 'choice', help: 'model: a recurrent cell or another model kind' },
  dim: int(1, 'model width', 1 << 16),
  depth: int(1, 'layers', 4096),
  expansion: positive('cell expansion factor (inner width = expansion × dim); lru: state N = round(expansion × dim)', 64),
  conv: int(0, 'causal depthwise conv kernel before each cell, 0 = none', 4096),
  ffMult: positive('feed-forward width multiplier', 64),
  dropout: { name: '', type: 'number', min: 0, max: 1, exclusive: 'max', help: 'dropout' },
  norm: choice(['rms', 'layer'], 'pre-norm'),
  residual: choice(['add', 'mul'], 'how the cell joins the residual stream: add (x + cell(norm x)) or mul (x ⊙ cell(norm x))'),
  attentionEvery: int(0, 'every k-th block is causal self-attention (a hybrid; --model hybrid: default 2), 0 = none', 4096),
  scan: choice(['log', 'real'], 'linear-recurrence scan: log (reference) or real (faster)'),
  lr: positive('AdamW learning rate'),
  weightDecay: nonNegative('AdamW weight decay on matrices'),
  warmup: int(0, 'linear learning-rate warm-up steps'),
  schedule: choice(['constant', 'cosine'], 'learning rate after warm-up: constant, or cosine decay to lr/10 at the last step'),
  clip: nonNegative('gradient-norm clip, 0 = none'),
  batch: int(1, 'sequences per step', 1 << 16),
  seq: int(1, 'characters per sequence', 1 << 24),
  steps: int(1, 'total optimizer steps'),
  seed: int(0, 'random seed: initialisation, dropout, batches', Number.MAX_SAFE_INTEGER),
  stateful: { name: '', type: 'boolean', help: 'B contiguous streams whose state carries across batches (truncated BPTT), reset at wrap-around' },
  evalEvery: int(1, 'validate every n steps'),
  saveEvery: int(0, 'checkpoint every n steps, 0 = at every validation'),
  logEvery: int(1, 'log the training loss every n steps'),
  valWindows: int(0, 'validation windows of --seq characters, evenly spaced over the held-out text, 0 = all', 1 << 16),
  dtype: choice(['f32', 'bf16'], 'training precision: f32, or bf16 working copies of f32 master weights (needs --device cuda; checkpoints stay f32)'),
  // --task listops (dataSeed, valExamples, testExamples: every generated task)
  recurrentLrFactor: positive('recurrent parameters of cells that declare them (the lru\'s ν, θ, γ, B) train at lr × x without weight decay', 1e6),
  dataSeed: int(0, 'seed of the validation and test sets', Number.MAX_SAFE_INTEGER),
  minLength: int(0, 'expressions have more than n tokens', 1 << 20),
  maxLength: int(1, 'expressions have fewer than n tokens', 1 << 20),
  maxDepth: int(1, 'nesting depth limit', 1000),
  maxArgs: int(1, 'arguments per operator, ≥ 2', 1000),
  valExamples: int(1, 'held-out validation examples (expressions or sequences)', 1 << 20),
  testExamples: int(1, "held-out test examples, scored by 'recur eval'", 1 << 20),
  // --task selective-copy | recall
  letters: int(1, 'selective-copy: data tokens to copy', 1 << 16),
  pairs: int(1, 'recall: key-value pairs per sequence, each queried once', 1 << 16),
  vocab: int(0, "token tasks' vocabulary, 0 = the task's default (selective-copy 16, recall 1 + 2 × max(pairs, 16))", 1 << 20),
};

/** The declaration of an argument (its name filled in); undefined for keys that are not arguments. */
export function argSpec(key: string, choices?: readonly string[]): OptionSpec | undefined {
  const s = ARG_SPECS[key];
  if (!s) return undefined;
  return { ...s, name: key, ...(choices ? { choices } : {}) };
}

/**
 * Checks every declared key of an args object and its cell options; a TrainConfigError names the
 * first bad value in the words of `label` ('dim must be a positive integer ≤ 65536, got 0').
 * `modelChoices` are the valid models of the task; `cell` the cell whose options `cellOptions` holds.
 */
export function checkArgValues(a: object, modelChoices: readonly string[], cell: string | null, label: (key: string) => string = (k) => k): void {
  for (const [k, v] of Object.entries(a)) {
    if (k === 'cellOptions' || v === undefined) continue;
    const spec = argSpec(k, k === 'model' ? modelChoices : undefined);
    if (!spec) continue;
    const problem = optionProblem(spec, v, label(k));
    if (problem) throw new TrainConfigError(problem);
  }
  const options = (a as { cellOptions?: Record<string, unknown> }).cellOptions;
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TrainConfigError(`${label('cellOptions')} must be an object of cell options, got ${JSON.stringify(options)}`);
  if (cell === null) {
    if (Object.keys(options).length) throw new TrainConfigError(`${Object.keys(options).map(flagOf).join(', ')} apply to recurrent cells only`);
    return;
  }
  try {
    checkCellOptions(cell, options, label('cellOptions'));
  } catch (e) {
    throw new TrainConfigError(e instanceof Error ? e.message : String(e));
  }
}

/** Cell options by flag: the declared options of every cell that are not already task arguments. */
export function cellOptionSpecs(): OptionSpec[] {
  return allCellOptions().filter((o) => !(o.name in ARG_SPECS));
}

/** Flags that may change on --resume: they decide how long and how often, not what is computed. */
export const RESUMABLE_ARGS = ['steps', 'evalEvery', 'saveEvery', 'logEvery'] as const;

const show = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/**
 * The args of a resumed run: the stored ones, with the given values of `resumable`. Any other
 * given value that differs from the stored one is a conflict (a TrainConfigError listing all);
 * object values (cell options) are compared key by key.
 */
export function mergeResumeArgs<A extends object>(stored: A, given: Partial<A>, resumable: readonly string[] = RESUMABLE_ARGS): A {
  const conflicts: string[] = [];
  const merged = { ...stored };
  for (const k of Object.keys(given) as (keyof A & string)[]) {
    const v = given[k];
    if (v === undefined) continue;
    if (resumable.includes(k)) {
      merged[k] = v as A[keyof A & string];
    } else if (typeof v === 'object' && v !== null) {
      const had = (stored[k] ?? {}) as Record<string, OptionValue>;
      for (const [sub, sv] of Object.entries(v as Record<string, OptionValue>)) {
        if (had[sub] !== sv) conflicts.push(`${sub} ${show(sv)} (the run has ${had[sub] === undefined ? 'the default' : show(had[sub])})`);
      }
    } else if (v !== stored[k]) {
      conflicts.push(`${k} ${show(v)} (the run has ${show(stored[k])})`);
    }
  }
  if (conflicts.length) {
    throw new TrainConfigError(`--resume: the given flags conflict with the run's config: ${conflicts.join('; ')}. Only ${resumable.join(', ')} may change on resume`);
  }
  return merged;
}
