/**
 * Training checkpoints on disk (language models, and ListOps classifiers: config.json's "task"),
 * crash-safe. A run directory (`recur train --out DIR`) holds:
 *
 *   DIR/latest.json                        {"format": "recur-run", "version": 1, "checkpoint": "ckpt-000200", "step": 200}
 *   DIR/ckpt-000200/config.json            format + version, model spec, tokenizer, training args
 *   DIR/ckpt-000200/model.safetensors      the weights (state-dict keys, f32)
 *   DIR/ckpt-000200/optimizer.safetensors  optimizer buffers; its __metadata__ "meta" is the JSON meta
 *   DIR/ckpt-000200/trainer.json           step, data position, RNG states, log length, counters
 *   DIR/ckpt-000200/state.safetensors      stateful training only: the carried model state
 *   DIR/log.jsonl, DIR/curves.svg          (written by the trainer)
 *
 * Saving writes the new checkpoint into a temporary directory (every file atomically: temporary
 * file, fsync, rename), renames that directory to ckpt-<step>, then replaces latest.json atomically
 * and only then deletes older checkpoint directories. Whenever the process dies, latest.json names
 * a complete checkpoint: the previous one or the new one.
 *
 * model.safetensors also carries config.json in its metadata (key "config"; without the training
 * section, so the weights of runs that differ only in how long they train stay byte-identical), so
 * the weights file alone is a checkpoint for inference. The playground's download is such a file
 * (with the training section: the page reads its sequence length back).
 *
 * Readers accept the run directory (they follow latest.json), a ckpt-* directory itself, or (for
 * inference) one such model.safetensors file. Every problem a user can meet (missing files,
 * another format version, corrupt files) is a CheckpointError naming the file and the reason.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { readSafetensorsWithMetadata, syncDirectory, writeFileAtomic, writeSafetensors } from '../io/files.js';
import type { OptimizerMeta, OptimizerState } from '../optim/optimizer.js';
import type { Module } from '../nn/module.js';
import type { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { allFinite } from './step.js';
import type { TokenizerJSON } from '../data/tokenizer.js';

/** The "format" field of every checkpoint's config.json. */
export const CHECKPOINT_FORMAT = 'recur-checkpoint';
/** The checkpoint layout version; loading refuses other versions with a message. */
export const CHECKPOINT_VERSION = 1;
export const RUN_FORMAT = 'recur-run';
/** The file in a run directory that names its current checkpoint. */
export const POINTER_FILE = 'latest.json';
/** The metadata key of model.safetensors that holds config.json's JSON text. */
export const CONFIG_METADATA_KEY = 'config';

/** A problem with a checkpoint the user can fix (wrong path, missing or corrupt files, versions). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Which model a checkpoint holds: a kind ('recurrent-lm', 'bigram', …) and its resolved config. */
export interface ModelSpec {
  kind: string;
  config: { vocabSize: number } & Record<string, unknown>;
}

/**
 * config.json. `training` is what `recur train` ran with (args, text or data, split). `task` is
 * absent for language models (which have a tokenizer) and names any other task ('listops').
 */
export interface CheckpointConfig {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  task?: string;
  model: ModelSpec;
  tokenizer?: TokenizerJSON;
  training?: Record<string, unknown>;
}

/** trainer.json: everything beyond weights and optimizer that a bit-for-bit resume needs. */
export interface TrainerState {
  step: number;
  /** Tokens trained on so far, and wall-clock seconds spent training (over all sessions). */
  tokens: number;
  elapsedSeconds: number;
  /** xoshiro128** states (Rng.getState()). */
  rng: Record<string, number[]>;
  /** The data position (e.g. the stream offset of stateful training); null for random windows. */
  data: Record<string, number> | null;
  /** Length of log.jsonl when this checkpoint was written: a resume truncates the log to it. */
  logBytes: number;
}

/** What a checkpoint holds once read. Tensors are on the CPU backend; the caller disposes them. */
export interface LoadedCheckpoint {
  /** The ckpt-* directory read. */
  dir: string;
  config: CheckpointConfig;
  weights: Record<string, Tensor>;
  /** With `training: true` only. */
  optimizer?: OptimizerState;
  trainer?: TrainerState;
  /** Stateful training's carried state (a tree of tensors), or null. */
  carried?: unknown;
}

/** The files of one checkpoint, by file name. */
export interface CheckpointFiles {
  json: Record<string, unknown>;
  tensors: Record<string, { tensors: Record<string, Tensor>; metadata?: Record<string, string> }>;
}

/** How files are written; tests substitute writers that fail midway. */
export interface CheckpointIO {
  /** Writes a text file (atomically in the default IO). */
  writeFile(path: string, data: string): Promise<void>;
  /** Writes tensors as safetensors (atomically in the default IO). */
  writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void>;
}

const defaultIO: CheckpointIO = {
  writeFile: (path, data) => writeFileAtomic(path, data),
  writeSafetensors: (path, tensors, metadata) => writeSafetensors(path, tensors, metadata),
};

export const checkpointName = (step: number): string => `ckpt-${String(step).padStart(6, '0')}`;
const CKPT_RE = /^ckpt-\d+$/;
const TMP_PREFIX = '.tmp-ckpt-';
/** The temporary files of writeFileAtomic(latest.json) that a process killed mid-write leaves. */
const STALE_POINTER_TMP = /^\.latest\.json\.\d+\.[0-9a-f]+\.tmp$/;

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(() => true, () => false);
}

/** The largest JSON file of a run directory that is read (config.json holds a tokenizer: it stays far below). */
const MAX_JSON_BYTES = 64 << 20;

/**
 * A small regular file's text, or null when there is none; a CheckpointError for a directory, a
 * device or pipe, a file too large to be a run's JSON, or one that cannot be read.
 */
async function readSmallFile(path: string): Promise<string | null> {
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointError(`cannot read '${path}': ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new CheckpointError(`'${path}' is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not the file a run directory holds`);
  if (st.size > MAX_JSON_BYTES) throw new CheckpointError(`'${path}' is ${st.size} bytes, too large for a run's JSON file (at most ${MAX_JSON_BYTES})`);
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`cannot read '${path}': ${(e as Error).message}`);
  }
}

/** The checkpoint directory that the run directory's latest.json names, or null without one. */
async function readPointer(runDir: string): Promise<{ checkpoint: string; step: number } | null> {
  const path = nodePath.join(runDir, POINTER_FILE);
  const text = await readSmallFile(path);
  if (text === null) return null;
  let p: { format?: unknown; version?: unknown; checkpoint?: unknown; step?: unknown } | null;
  try {
    p = JSON.parse(text) as typeof p;
  } catch {
    throw new CheckpointError(`'${path}' is not valid JSON (a damaged run directory?)`);
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p) || p.format !== RUN_FORMAT || typeof p.checkpoint !== 'string' || !CKPT_RE.test(p.checkpoint) ||
      !Number.isSafeInteger(p.step) || (p.step as number) < 0) {
    throw new CheckpointError(`'${path}' is not a recur run pointer (expected {"format": "${RUN_FORMAT}", "checkpoint": "ckpt-…", …})`);
  }
  if (p.version !== undefined && p.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`'${path}' has format version ${JSON.stringify(p.version)}; this recur reads version ${CHECKPOINT_VERSION} (a run of ${typeof p.version === 'number' && p.version > CHECKPOINT_VERSION ? 'a newer' : 'another'} recur)`);
  }
  return { checkpoint: p.checkpoint, step: p.step as number };
}

/**
 * Writes a checkpoint for `step` into runDir and makes it the current one; returns its directory.
 * When the current checkpoint already is this step's, nothing is written (training is
 * deterministic, so it holds the same state).
 */
export async function saveCheckpoint(runDir: string, step: number, files: CheckpointFiles, io: CheckpointIO = defaultIO): Promise<string> {
  const name = checkpointName(step);
  const finalDir = nodePath.join(runDir, name);
  await fs.mkdir(runDir, { recursive: true });
  const current = await readPointer(runDir).catch(() => null);
  if (current?.checkpoint === name && (await exists(finalDir))) return finalDir;

  // mkdir (not mkdtemp, which makes 0700 folders) so the checkpoint gets the user's umask.
  const tmp = nodePath.join(runDir, `${TMP_PREFIX}${name}-${randomUUID()}`);
  await fs.mkdir(tmp);
  try {
    for (const [file, { tensors, metadata }] of Object.entries(files.tensors)) await io.writeSafetensors(nodePath.join(tmp, file), tensors, metadata);
    for (const [file, doc] of Object.entries(files.json)) await io.writeFile(nodePath.join(tmp, file), `${JSON.stringify(doc, null, 2)}\n`);
    await syncDirectory(tmp);
    // A directory of this name not named by latest.json is a leftover (a crash after the rename).
    await fs.rm(finalDir, { recursive: true, force: true });
    await fs.rename(tmp, finalDir);
    await syncDirectory(runDir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  await io.writeFile(nodePath.join(runDir, POINTER_FILE), `${JSON.stringify({ format: RUN_FORMAT, version: CHECKPOINT_VERSION, checkpoint: name, step })}\n`);
  // Only now are older checkpoints (and leftovers of interrupted saves) expendable.
  for (const entry of await fs.readdir(runDir)) {
    if ((CKPT_RE.test(entry) && entry !== name) || entry.startsWith(TMP_PREFIX) || STALE_POINTER_TMP.test(entry)) {
      await fs.rm(nodePath.join(runDir, entry), { recursive: true, force: true });
    }
  }
  return finalDir;
}

/** What a training checkpoint holds: a model and an optimizer (stateDict), config.json, trainer.json, and optional extra tensor files. */
export interface TrainingSnapshot {
  config: CheckpointConfig;
  trainer: TrainerState;
  /** The model; its stateDict goes to model.safetensors. */
  model: {
    /** Parameters and buffers by name. */
    stateDict(): Record<string, Tensor>;
  };
  /** The optimizer; its stateDict goes to optimizer.safetensors and trainer.json. */
  optimizer: {
    /** Moments, step counts and hyperparameters. */
    stateDict(): OptimizerState;
  };
  /** e.g. state.safetensors of stateful training (not disposed here). */
  extra?: CheckpointFiles['tensors'];
}

/** The metadata of model.safetensors: format, version and config.json less its training section (so the file alone can be loaded). */
export function weightsMetadata(config: CheckpointConfig): Record<string, string> {
  const { training: _, ...inference } = config;
  return { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), [CONFIG_METADATA_KEY]: sortedJson(inference) };
}

/** JSON with object keys sorted: the same config gives the same bytes whether built or read back from a file. */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

/** saveCheckpoint of a training snapshot at trainer.step; the copies of weights and moments are freed afterwards. */
export async function saveTrainingCheckpoint(runDir: string, s: TrainingSnapshot): Promise<string> {
  const weights = s.model.stateDict();
  const opt = s.optimizer.stateDict();
  const files: CheckpointFiles = {
    json: { 'config.json': s.config, 'trainer.json': s.trainer },
    tensors: {
      'model.safetensors': { tensors: weights, metadata: weightsMetadata(s.config) },
      'optimizer.safetensors': { tensors: opt.tensors, metadata: { meta: JSON.stringify(opt.meta) } },
      ...s.extra,
    },
  };
  try {
    const bad = await firstNonFinite({ ...weights, ...opt.tensors });
    if (bad !== null) throw new CheckpointError(`refusing to write a checkpoint of step ${s.trainer.step}: tensor '${bad}' holds NaN or infinite values (the last checkpoint stays the current one)`);
    return await saveCheckpoint(runDir, s.trainer.step, files);
  } finally {
    disposeTensorTree(weights);
    disposeTensorTree(opt.tensors);
  }
}

/**
 * The checkpoint directory for a path the user gave: a run directory (through latest.json) or a
 * checkpoint directory itself (holding config.json).
 */
export async function locateCheckpoint(path: string): Promise<string> {
  let st;
  try {
    st = await fs.stat(path);
  } catch {
    throw new CheckpointError(`checkpoint '${path}' does not exist`);
  }
  if (!st.isDirectory()) throw new CheckpointError(`checkpoint '${path}' is not a directory (give the run directory or one of its ckpt-* directories)`);
  const pointer = await readPointer(path);
  if (pointer) {
    const dir = nodePath.join(path, pointer.checkpoint);
    if (!(await exists(dir))) throw new CheckpointError(`'${nodePath.join(path, POINTER_FILE)}' names ${pointer.checkpoint}, which is missing`);
    return dir;
  }
  if (await exists(nodePath.join(path, 'config.json'))) return path;
  throw new CheckpointError(`'${path}' holds no checkpoint (no ${POINTER_FILE} or config.json; is it a recur run directory?)`);
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const path = nodePath.join(dir, file);
  const text = await readSmallFile(path);
  if (text === null) throw new CheckpointError(`checkpoint '${dir}' is missing ${file}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`'${path}' is not valid JSON (truncated or corrupt)`);
  }
}

async function readTensors(dir: string, file: string, required: boolean, floatOnly = true): Promise<Awaited<ReturnType<typeof readSafetensorsWithMetadata>> | null> {
  const path = nodePath.join(dir, file);
  if (!(await exists(path))) {
    if (!required) return null;
    throw new CheckpointError(`checkpoint '${dir}' is missing ${file}`);
  }
  try {
    // Weights, moments and carried states are floating point: an integer tensor is refused by
    // name before its data is read (loading would cast it silently).
    return await readSafetensorsWithMetadata(path, !floatOnly ? {} : {
      filter: (name, entry) => {
        if (!FLOAT_DTYPES.has(entry.dtype)) throw new Error(`tensor '${name}' is ${entry.dtype}; a checkpoint holds floating-point tensors (F32, F64, BF16, F16)`);
        return true;
      },
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new CheckpointError(msg.includes(path) ? msg : `'${path}': ${msg}`);
  }
}

/** Checks a parsed config.json of the checkpoint `dir`; `where` names it in messages. */
export function checkConfig(raw: unknown, dir: string, where = nodePath.join(dir, 'config.json')): CheckpointConfig {
  const c = raw as Partial<CheckpointConfig> | null;
  if (!c || typeof c !== 'object' || c.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`'${where}' is not a recur checkpoint config (its "format" is not "${CHECKPOINT_FORMAT}")`);
  if (c.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`checkpoint '${dir}' has format version ${JSON.stringify(c.version)}; this recur reads version ${CHECKPOINT_VERSION}`);
  }
  const m = c.model;
  if (!m || typeof m.kind !== 'string' || !m.config || typeof m.config !== 'object' || !Number.isInteger(m.config.vocabSize)) {
    throw new CheckpointError(`'${where}' has no valid "model" (expected {"kind": …, "config": {"vocabSize": …, …}})`);
  }
  if (c.task !== undefined && typeof c.task !== 'string') throw new CheckpointError(`'${where}' has an invalid "task"`);
  if (c.task === undefined && (!c.tokenizer || typeof c.tokenizer !== 'object')) throw new CheckpointError(`'${where}' has no "tokenizer"`);
  return c as CheckpointConfig;
}

function checkTrainerState(raw: unknown, dir: string): TrainerState {
  const t = raw as Partial<TrainerState> | null;
  const ok = t && Number.isInteger(t.step) && t.step! >= 0 && typeof t.tokens === 'number' && typeof t.elapsedSeconds === 'number' &&
    t.rng && typeof t.rng === 'object' && Number.isInteger(t.logBytes) && (t.data === null || typeof t.data === 'object');
  if (!ok) throw new CheckpointError(`'${nodePath.join(dir, 'trainer.json')}' is not a valid trainer state`);
  return t as TrainerState;
}

const FLOAT_DTYPES = new Set(['F32', 'F64', 'BF16', 'F16']);

export interface LoadOptions {
  /** Also read what resuming needs (optimizer, trainer state, carried state) and require those files. */
  training?: boolean;
  /** Load weights holding NaN or infinite values (to inspect a diverged run); refused otherwise. */
  allowNonFinite?: boolean;
}

/** The name of the first tensor holding a NaN or infinite value, or null when all are finite. */
export async function firstNonFinite(tensors: Readonly<Record<string, Tensor>>): Promise<string | null> {
  const entries = Object.entries(tensors).filter(([, t]) => t.dtype !== 'i32');
  if (await allFinite(entries.map(([, t]) => t))) return null;
  for (const [name, t] of entries) if (!(await allFinite([t]))) return name;
  return null;
}

async function refuseNonFinite(tensors: Readonly<Record<string, Tensor>>, file: string): Promise<void> {
  const bad = await firstNonFinite(tensors);
  if (bad !== null) {
    throw new CheckpointError(`'${file}': tensor '${bad}' holds NaN or infinite values (a diverged run?); refusing to load it (--allow-non-finite loads it for inspection)`);
  }
}

/**
 * Reads a checkpoint (run directory or ckpt-* directory). `training: true` also reads what resuming
 * needs (optimizer, trainer state, carried state) and requires those files.
 */
export async function loadCheckpoint(path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  if ((await fs.stat(path).catch(() => null))?.isFile()) return loadWeightsFile(path, opts);
  const dir = await locateCheckpoint(path);
  const config = checkConfig(await readJson(dir, 'config.json'), dir);
  const model = await readTensors(dir, 'model.safetensors', true);
  const out: LoadedCheckpoint = { dir, config, weights: model!.tensors };
  try {
    if (!opts.allowNonFinite) await refuseNonFinite(out.weights, nodePath.join(dir, 'model.safetensors'));
  } catch (e) {
    disposeTensorTree(out.weights);
    throw e;
  }
  if (!opts.training) return out;
  try {
    if (!config.training) throw new CheckpointError(`checkpoint '${dir}' was not written by 'recur train' (no training section in config.json); it cannot be resumed`);
    out.trainer = checkTrainerState(await readJson(dir, 'trainer.json'), dir);
    const opt = (await readTensors(dir, 'optimizer.safetensors', true))!;
    let meta: OptimizerMeta;
    try {
      meta = JSON.parse(opt.metadata.meta ?? '') as OptimizerMeta;
    } catch {
      throw new CheckpointError(`'${nodePath.join(dir, 'optimizer.safetensors')}' has no valid "meta" metadata`);
    }
    out.optimizer = { meta, tensors: opt.tensors };
    await refuseNonFinite(opt.tensors, nodePath.join(dir, 'optimizer.safetensors'));
    const state = await readTensors(dir, 'state.safetensors', false, false);
    if (state) {
      try {
        out.carried = unflattenTensorTree(JSON.parse(state.metadata.layout ?? ''), state.tensors);
      } catch (e) {
        throw new CheckpointError(`'${nodePath.join(dir, 'state.safetensors')}': ${e instanceof Error ? e.message : String(e)}`);
      }
    } else {
      out.carried = null;
    }
  } catch (e) {
    disposeTensorTree(out.weights);
    throw e;
  }
  return out;
}

/** A model.safetensors file given on its own: its config comes from the metadata. */
async function loadWeightsFile(path: string, opts: LoadOptions): Promise<LoadedCheckpoint> {
  if (opts.training) throw new CheckpointError(`'${path}' is a weights file; resuming needs the run directory (optimizer and trainer state)`);
  const { tensors, metadata } = (await readTensors(nodePath.dirname(path), nodePath.basename(path), true))!;
  try {
    const text = metadata[CONFIG_METADATA_KEY];
    if (text === undefined) throw new CheckpointError(`'${path}' has no "${CONFIG_METADATA_KEY}" in its metadata, so it is not a self-contained recur checkpoint (give its run directory)`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new CheckpointError(`'${path}': the "${CONFIG_METADATA_KEY}" metadata is not valid JSON`);
    }
    const config = checkConfig(raw, path, `${path} (metadata "${CONFIG_METADATA_KEY}")`);
    if (!opts.allowNonFinite) await refuseNonFinite(tensors, path);
    return { dir: path, config, weights: tensors };
  } catch (e) {
    disposeTensorTree(tensors);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Trees of tensors (model states: a tensor, arrays, plain objects, null), as flat safetensors keys.

/** A tree's tensors by dotted path (`0.cell`, `1.conv`), and its shape as JSON with `{"$tensor": key}` leaves. */
export function flattenTensorTree(tree: unknown): { tensors: Record<string, Tensor>; layout: unknown } {
  const tensors: Record<string, Tensor> = {};
  const walk = (v: unknown, path: string[]): unknown => {
    if (v instanceof Tensor) {
      const key = path.length ? path.join('.') : 'value';
      tensors[key] = v;
      return { $tensor: key };
    }
    if (v === null || v === undefined) return null;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, String(i)]));
    if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, [...path, k])]));
    throw new Error(`flattenTensorTree: unsupported value ${String(v)} at '${path.join('.')}'`);
  };
  return { tensors, layout: walk(tree, []) };
}

/** The inverse of flattenTensorTree. */
export function unflattenTensorTree(layout: unknown, tensors: Record<string, Tensor>): unknown {
  const walk = (v: unknown): unknown => {
    if (v === null) return null;
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$tensor === 'string') {
        const t = Object.prototype.hasOwnProperty.call(tensors, o.$tensor) ? tensors[o.$tensor] : undefined;
        if (!t) throw new Error(`the layout names tensor '${o.$tensor}', which is missing`);
        return t;
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    throw new Error(`invalid state layout value ${JSON.stringify(v)}`);
  };
  return walk(layout);
}

/** The same tree with f applied to every tensor. */
export function mapTensorTree(tree: unknown, f: (t: Tensor) => Tensor): unknown {
  if (tree instanceof Tensor) return f(tree);
  if (Array.isArray(tree)) return tree.map((x) => mapTensorTree(x, f));
  if (tree && typeof tree === 'object') return Object.fromEntries(Object.entries(tree).map(([k, x]) => [k, mapTensorTree(x, f)]));
  return tree;
}

/** Disposes every tensor of a tree. */
export function disposeTensorTree(tree: unknown): void {
  mapTensorTree(tree, (t) => {
    t.dispose();
    return t;
  });
}

/** What every trainer restores from a checkpoint: its model, optimizer and the two RNG streams. */
export interface RestorableParts {
  model: Module;
  optimizer: { loadStateDict(state: OptimizerState): void };
  modelRng: Rng;
  dataRng: Rng;
}

/**
 * Loads a training checkpoint (`loadCheckpoint(dir, { training: true })`) into a trainer's parts;
 * `more` restores what only that trainer keeps (it may throw: the error names the checkpoint).
 * Returns the trainer state for the step counters.
 */
export function restoreTrainingState(ckpt: LoadedCheckpoint, parts: RestorableParts, more?: (t: TrainerState) => void): TrainerState {
  const t = ckpt.trainer!;
  try {
    parts.model.loadStateDict(ckpt.weights);
  } catch (e) {
    throw new CheckpointError(`'${nodePath.join(ckpt.dir, 'model.safetensors')}' does not match the model in config.json: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    parts.optimizer.loadStateDict(ckpt.optimizer!);
    parts.modelRng.setState(t.rng.model ?? []);
    parts.dataRng.setState(t.rng.data ?? []);
    more?.(t);
  } catch (e) {
    throw new CheckpointError(`checkpoint '${ckpt.dir}' cannot be resumed: ${e instanceof Error ? e.message : String(e)}`);
  }
  return t;
}
