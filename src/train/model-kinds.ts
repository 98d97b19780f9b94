/**
 * Kinds of language model the LM trainer builds by name (`--model`): every cell of the registry
 * (cells/registry.ts) is a RecurrentLM with that cell; other kinds (the bigram baseline, or one
 * a user adds) register with registerModelKind. A checkpoint's model spec names its kind, so
 * createModel rebuilds any of them.
 */
import * as nodePath from 'node:path';
import { cellNames } from '../cells/registry.js';
import type { OptionValue } from '../cells/options.js';
import { tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { BigramLM } from '../models/bigram.js';
import { RecurrentLM, resolveLMConfig, type GenerateOptions, type RecurrentLMConfig } from '../models/recurrent-lm.js';
import type { DType } from '../backend/backend.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { CheckpointError, disposeTensorTree, loadCheckpoint, type LoadOptions, type LoadedCheckpoint, type ModelSpec } from './checkpoint.js';
import { TrainConfigError, argSpec } from './args.js';
import { optionProblem } from '../cells/options.js';
import { checkMemory, countParameters } from './memory.js';

export interface CharLM extends Module {
  readonly config: { vocabSize: number };
  /** tokens i32 [B, T] → logits [B, T, V] and the state after the last token. */
  forward(tokens: Tensor, state?: unknown): { logits: Tensor; state: unknown };
  /** Mean next-token cross-entropy of windows [B, T + 1]. */
  loss(tokens: Tensor, state?: unknown): { loss: Tensor; state: unknown };
  /** Streams sampled token ids after a prompt (models that can generate). */
  generate?(prompt: ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<number>;
}

/** The architecture arguments of `recur train` that a model kind reads (TrainArgs has them all). */
export interface ModelArgs {
  /** A cell of the registry (mingru, minlstm, …) or another registered kind (bigram, hybrid). */
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
  /** Every k-th block is attention (RecurrentLM's attentionEvery); 0 or absent = none. */
  attentionEvery?: number;
  /** The cell's other declared options (cells/registry.ts), by name. */
  cellOptions?: Record<string, OptionValue>;
}

/** A kind of model: how training args become its spec, and how a spec becomes the model. */
export interface ModelKind {
  /** The spec's kind, as stored in checkpoints ('recurrent-lm', 'bigram', …). */
  kind: string;
  /** The model spec that checkpoints store, from the run's settings. */
  spec(args: ModelArgs, vocabSize: number): ModelSpec;
  /**
   * Builds the model of a spec's config (from this kind's `spec` or a checkpoint: check what it
   * reads). dtype: of the parameters (default f32; bf16 for the working copies of --dtype bf16).
   */
  create(config: ModelSpec['config'], rng: Rng, dtype?: DType): CharLM;
  /** The parameter count of a spec's config, known before the model is built (memory.ts); without it no memory check runs. */
  parameterCount?(config: ModelSpec['config']): number;
}

export type Guard<T> = (v: unknown) => v is T;
export const isNumber: Guard<number> = (v): v is number => typeof v === 'number';
export const isString: Guard<string> = (v): v is string => typeof v === 'string';
export const isBoolean: Guard<boolean> = (v): v is boolean => typeof v === 'boolean';
export const oneOf = <T extends string>(...values: T[]): Guard<T> => (v): v is T => values.includes(v as T);
export const isOptions: Guard<Record<string, OptionValue>> = (v): v is Record<string, OptionValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => ['number', 'string', 'boolean'].includes(typeof x));

/** A config field of the right type, or undefined when absent; an Error naming it otherwise. */
export function field<T>(config: ModelSpec['config'], key: string, ok: Guard<T>): T | undefined {
  const v = config[key];
  if (v === undefined) return undefined;
  if (!ok(v)) throw new Error(`model config field '${key}' has the wrong type (${JSON.stringify(v)})`);
  return v;
}

/** Config fields that are training arguments too, checked by the arguments' declarations (args.ts). */
const LM_CONFIG_ARGS: Readonly<Record<string, string>> = { dim: 'dim', depth: 'depth', expansion: 'expansion', convKernel: 'conv', ffMult: 'ffMult', dropout: 'dropout' };
/** The largest vocabulary a stored model may declare (bytes and characters of real texts stay far below). */
const MAX_VOCAB = 1 << 22;

/** A RecurrentLM config read from a stored spec, field by field, each value checked as its flag would be. */
function recurrentLMConfig(c: ModelSpec['config']): RecurrentLMConfig {
  for (const [key, arg] of Object.entries(LM_CONFIG_ARGS)) {
    const problem = c[key] === undefined ? null : optionProblem(argSpec(arg)!, c[key], `model config field '${key}'`);
    if (problem) throw new Error(problem);
  }
  if (!Number.isSafeInteger(c.vocabSize) || c.vocabSize < 1 || c.vocabSize > MAX_VOCAB) throw new Error(`model config field 'vocabSize' must be a positive integer ≤ ${MAX_VOCAB}, got ${c.vocabSize}`);
  const required = (key: string) => {
    const v = field(c, key, isNumber);
    if (v === undefined) throw new Error(`model config has no '${key}'`);
    return v;
  };
  return {
    vocabSize: c.vocabSize, dim: required('dim'), depth: required('depth'), cell: field(c, 'cell', isString), expansion: field(c, 'expansion', isNumber),
    convKernel: field(c, 'convKernel', isNumber), ffMult: field(c, 'ffMult', isNumber), dropout: field(c, 'dropout', isNumber),
    norm: field(c, 'norm', oneOf('rms', 'layer')), normEps: field(c, 'normEps', isNumber), tieEmbeddings: field(c, 'tieEmbeddings', isBoolean),
    scan: field(c, 'scan', oneOf('log', 'real')), residual: field(c, 'residual', oneOf('add', 'mul')), cellOptions: field(c, 'cellOptions', isOptions),
    attentionEvery: field(c, 'attentionEvery', isNumber),
  };
}

const recurrentLM: ModelKind = {
  kind: 'recurrent-lm',
  spec: (a, vocabSize) => ({
    kind: 'recurrent-lm',
    config: resolveLMConfig({
      vocabSize, dim: a.dim, depth: a.depth, cell: a.model, expansion: a.expansion, convKernel: a.conv, ffMult: a.ffMult,
      dropout: a.dropout, norm: a.norm, scan: a.scan, residual: a.residual, cellOptions: a.cellOptions, attentionEvery: a.attentionEvery,
    }),
  }),
  create: (config, rng, dtype) => new RecurrentLM(recurrentLMConfig(config), { rng, dtype }),
  parameterCount: (config) => {
    const c = resolveLMConfig(recurrentLMConfig(config));
    const heads = Number(c.cellOptions.heads ?? 1);
    return countParameters((dim, depth) => new RecurrentLM({ ...c, dim, depth }, { rng: new Rng(0) }), c.dim, c.depth, Number.isSafeInteger(heads) && heads > 0 ? heads : 1);
  },
};

/** The bigram baseline: a V × V logit table; every architecture flag is ignored. */
const bigram: ModelKind = {
  kind: 'bigram',
  spec: (_a, vocabSize) => ({ kind: 'bigram', config: { vocabSize } }),
  create: (config, _rng, dtype) => new BigramLM({ vocabSize: config.vocabSize }, { dtype }),
  parameterCount: (config) => config.vocabSize ** 2,
};

/** The hybrid: minGRU blocks with attention every k-th block (--attention-every, default 2 here). */
const hybrid: ModelKind = {
  ...recurrentLM,
  spec: (a, vocabSize) => recurrentLM.spec({ ...a, model: 'mingru', attentionEvery: a.attentionEvery || 2 }, vocabSize),
};

/** Model kinds other than 'recurrent-lm', by the name `--model` uses. */
const extraKinds = new Map<string, ModelKind>([['bigram', bigram], ['hybrid', hybrid]]);

/** Makes `--model <name>` build this kind (and checkpoints whose model.kind is the spec's kind load it). */
export function registerModelKind(name: string, kind: ModelKind): void {
  extraKinds.set(name, kind);
}

/** Every `--model` choice: the registry's cells (as RecurrentLM) and the other registered kinds. */
export function modelNames(): string[] {
  return [...cellNames(), ...extraKinds.keys()];
}

export function kindForName(name: string): ModelKind {
  if (extraKinds.has(name)) return extraKinds.get(name)!;
  if (cellNames().includes(name)) return recurrentLM;
  throw new TrainConfigError(`unknown model '${name}' (available: ${modelNames().join(', ')})`);
}

/** The kind of a spec (by its `kind`), or undefined. */
export function kindOfSpec(spec: ModelSpec): ModelKind | undefined {
  return [recurrentLM, ...extraKinds.values()].find((k) => k.kind === spec.kind);
}

/** Builds the model a spec describes (from a checkpoint); a CheckpointError when this build cannot. */
export function createModel(spec: ModelSpec, rng: Rng, dtype?: DType): CharLM {
  const kinds = [recurrentLM, ...extraKinds.values()];
  const kind = kinds.find((k) => k.kind === spec.kind);
  if (!kind) throw new CheckpointError(`the checkpoint holds a '${spec.kind}' model, which this recur cannot build (it knows: ${kinds.map((k) => k.kind).join(', ')})`);
  try {
    const parameters = kind.parameterCount?.(spec.config);
    if (parameters !== undefined) checkMemory({ parameters, bytes: 4 * parameters }, `the checkpoint's '${spec.kind}' model`, 'is its config.json damaged?');
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
export async function openCheckpoint(dir: string, opts: LoadOptions = {}): Promise<{ ckpt: LoadedCheckpoint; model: CharLM; tokenizer: Tokenizer }> {
  const ckpt = await loadCheckpoint(dir, opts);
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

/** The tokenizer a checkpoint stores (a CheckpointError if it has none or a bad one). */
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
