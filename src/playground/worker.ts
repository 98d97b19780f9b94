/**
 * The playground's training worker: every tensor operation of the page runs here, off the main
 * thread. It holds one session (a model, its tokenizer, and the trainer when training can go on)
 * and runs the page's requests one at a time through a queue; a training run is a job that gives
 * way to any request waiting behind it after each step and then continues, so Generate, Save and
 * Stop answer at once while training.
 *
 * The trainer is the CLI's own (LMTrainer): a page run computes what `recur train` computes with
 * the same arguments, and its checkpoints load in the CLI.
 */
import '../default-backend.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { splitTrainVal, validationWindows, type Windows } from '../data/text.js';
import { parseSafetensors, serializeSafetensorsAsync } from '../io/safetensors.js';
import type { OptimizerMeta } from '../optim/optimizer.js';
import { CONFIG_METADATA_KEY, checkConfig, disposeTensorTree, weightsMetadata, type CheckpointConfig, type LoadedCheckpoint, type TrainerState } from '../train/checkpoint.js';
import { evaluateWindows } from '../train/lm-eval.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, storedTraining, type TextInfo, type TrainArgs } from '../train/lm-trainer.js';
import { modelFromCheckpoint, tokenizerFromCheckpoint, type CharLM } from '../train/model-kinds.js';
import { NonFiniteError } from '../train/step.js';
import type { Tensor } from '../tensor/tensor.js';
import { ready } from '../backend/cpu/ready.js';
import { enableBrowserThreads } from '../backend/cpu/threads-browser.js';
import { cellNames } from '../cells/registry.js';
import { openDevice } from './device.js';
import type { FromWorker, ModelInfo, NamedBytes, SavePurpose, TextSource, ToWorker } from './protocol.js';
import type { DevicePreference, PageSettings } from './settings.js';
import { trainArgs } from './run-args.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}
const self_ = globalThis as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []): void => self_.postMessage(m, transfer);

/** The model the page works with; `trainer` is set when training can continue. */
interface Session {
  model: CharLM;
  tokenizer: Tokenizer;
  config: CheckpointConfig;
  args: TrainArgs;
  trainer: LMTrainer | null;
  step: number;
  /** The run's target step (the page may raise it to resume a finished run). */
  target: number;
}

let session: Session | null = null;
let stopRequested = false;
let queue: Promise<void> = Promise.resolve();
let waiting = 0;

/** Runs jobs one at a time, in order; a failing job reports its error and the queue goes on. */
function enqueue(job: () => Promise<void>): void {
  waiting++;
  queue = queue.then(async () => {
    waiting--;
    try {
      await job();
    } catch (e) {
      post({ type: 'error', message: errorMessage(e) });
    }
  });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Yields to the event loop (a message-channel round trip: no timer clamping), so messages are read. */
const channel = new MessageChannel();
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
}

async function textInfo(text: TextSource): Promise<TextInfo> {
  const digest = await crypto.subtle.digest('SHA-256', text.bytes);
  const sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { path: text.name, chars: [...decodeText(text)].length, sha256 };
}

function decodeText(text: TextSource): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(text.bytes);
  } catch {
    throw new Error(`'${text.name}' is not UTF-8 text`);
  }
}

function modelInfo(s: Session): ModelInfo {
  return {
    model: s.args.model, dim: s.args.dim, depth: s.args.depth,
    parameters: s.model.parameters().reduce((n, p) => n + p.size, 0),
    vocabSize: s.tokenizer.vocabSize, step: s.step, steps: s.target, resumable: s.trainer !== null,
  };
}

function closeSession(): void {
  if (!session) return;
  if (session.trainer) session.trainer.dispose();
  else session.model.dispose();
  session = null;
}

async function startRun(settings: PageSettings, text: TextSource): Promise<void> {
  closeSession();
  const args = trainArgs(settings);
  const info = await textInfo(text);
  const trainer = LMTrainer.create({ args, text: decodeText(text), textInfo: info });
  session = { model: trainer.model, tokenizer: trainer.tokenizer, config: trainer.checkpointConfig(), args, trainer, step: 0, target: args.steps };
  post({ type: 'model', info: modelInfo(session), notice: null });
  enqueue(trainChunk);
}

/** Recent step times, for a tokens/s figure that follows the current speed. */
const recent: { tokens: number; seconds: number }[] = [];

/** Trains until the target, a stop, or another request is waiting (then continues after it). */
async function trainChunk(): Promise<void> {
  const s = session;
  if (!s?.trainer || stopRequested) return;
  const trainer = s.trainer;
  post({ type: 'running', running: true, step: trainer.step, steps: s.target });
  try {
    while (trainer.step < s.target && !stopRequested && waiting === 0) {
      const r = await trainer.trainStep();
      s.step = r.step;
      recent.push({ tokens: r.tokens, seconds: r.seconds });
      if (recent.length > 20) recent.shift();
      const rate = recent.reduce((a, x) => a + x.tokens, 0) / recent.reduce((a, x) => a + x.seconds, 0);
      post({ type: 'step', step: r.step, loss: r.loss, tokensPerSec: rate });
      if (r.step % s.args.evalEvery === 0 || r.step === s.target) {
        const v = await trainer.validate();
        post({ type: 'eval', step: r.step, loss: v.loss, accuracy: v.accuracy });
      }
      await nextTask();
    }
  } catch (e) {
    stopRequested = true;
    const message = e instanceof NonFiniteError ? `training stopped: ${e.message} (try a lower learning rate)` : errorMessage(e);
    post({ type: 'error', message });
  }
  if (trainer.step < s.target && !stopRequested && session === s) {
    enqueue(trainChunk); // gave way to a waiting request: continue after it
    return;
  }
  post({ type: 'running', running: false, step: trainer.step, steps: s.target });
}

async function generate(prompt: string, temperature: number, maxTokens: number, seed: number): Promise<void> {
  const s = session;
  if (!s) throw new Error('train or load a model first, then generate');
  if (!s.model.generate) throw new Error(`the '${s.config.model.kind}' model cannot generate`);
  const ids = encodePrompt(s.tokenizer, prompt);
  const decode = s.tokenizer.streamDecoder();
  const t0 = performance.now();
  let n = 0;
  for await (const id of s.model.generate(ids, { maxTokens, temperature, seed })) {
    n++;
    const text = decode(id);
    if (text) post({ type: 'token', text });
    await nextTask(); // lets Stop through between tokens
    if (stopRequested) break;
  }
  post({ type: 'generated', tokens: n, tokensPerSec: n / ((performance.now() - t0) / 1000) });
}

/** The prompt's ids; an empty prompt starts from a newline (or the vocabulary's first character). */
function encodePrompt(tokenizer: Tokenizer, prompt: string): Int32Array {
  if (prompt === '') {
    try {
      return tokenizer.encode('\n');
    } catch {
      return Int32Array.of(0);
    }
  }
  try {
    return tokenizer.encode(prompt);
  } catch (e) {
    throw new Error(`the prompt cannot be encoded: ${errorMessage(e)} of this model`);
  }
}

async function save(purpose: SavePurpose): Promise<void> {
  const s = session;
  if (!s) throw new Error('there is no model to save yet: train or load one first');
  const weights = s.model.stateDict();
  try {
    // The whole config, training section included: a page reloading the file scores it on the run's windows.
    const metadata = { ...weightsMetadata(s.config), [CONFIG_METADATA_KEY]: JSON.stringify(s.config), step: String(s.step) };
    const bytes = await serializeSafetensorsAsync(weights, metadata);
    const buffer = bytes.buffer as ArrayBuffer;
    post({ type: 'saved', purpose, fileName: `recur-${s.args.model}-step${s.step}.safetensors`, bytes: buffer, step: s.step }, [buffer]);
  } finally {
    disposeTensorTree(weights);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading checkpoints: one self-contained model.safetensors (its metadata holds config.json), or
// the files of a `recur train` ckpt-* directory (config.json, model.safetensors, and for resuming
// optimizer.safetensors and trainer.json).

interface CheckpointParts {
  config: CheckpointConfig;
  weights: Record<string, Tensor>;
  optimizer?: { meta: OptimizerMeta; tensors: Record<string, Tensor> };
  trainer?: TrainerState;
  /** The step a weights file says it was saved at (the page writes it), when no trainer.json tells. */
  savedStep: number;
  name: string;
}

function readCheckpointFiles(files: NamedBytes[]): CheckpointParts {
  let configJson: unknown = null;
  let configFrom = 'config.json';
  let trainer: TrainerState | undefined;
  const tensorFiles: { name: string; tensors: Record<string, Tensor>; metadata: Record<string, string> }[] = [];
  const disposeAll = () => tensorFiles.forEach((f) => disposeTensorTree(f.tensors));
  try {
    for (const f of files) {
      if (f.name.endsWith('.json')) {
        const doc = parseJson(f);
        if (f.name.endsWith('trainer.json')) trainer = doc as TrainerState;
        else if (f.name.endsWith('config.json')) configJson = doc;
        else throw new Error(`'${f.name}' is neither a config.json nor a trainer.json of a recur checkpoint`);
      } else if (f.name.endsWith('.safetensors')) {
        tensorFiles.push({ name: f.name, ...parseSafetensors(new Uint8Array(f.bytes), { source: f.name }) });
      } else {
        throw new Error(`'${f.name}' is not part of a recur checkpoint (expected .safetensors or .json files)`);
      }
    }
    const optimizerFile = tensorFiles.find((f) => f.metadata.meta !== undefined);
    const weightsFiles = tensorFiles.filter((f) => f !== optimizerFile && f.metadata.layout === undefined);
    if (weightsFiles.length !== 1) throw new Error(`choose one model weights file (.safetensors), with config.json when it does not carry its config; got ${weightsFiles.length}`);
    const weights = weightsFiles[0]!;
    if (configJson === null) {
      const text = weights.metadata.config;
      if (text === undefined) throw new Error(`'${weights.name}' carries no config in its metadata: choose config.json from its checkpoint directory too`);
      configFrom = `${weights.name} (metadata "config")`;
      configJson = parseJson({ name: configFrom, bytes: new TextEncoder().encode(text).buffer as ArrayBuffer });
    }
    const config = checkConfig(configJson, weights.name, configFrom);
    if (config.task !== undefined) throw new Error(`the checkpoint holds a ${config.task} model; the playground trains and samples language models`);
    const optimizer = optimizerFile ? { meta: JSON.parse(optimizerFile.metadata.meta!) as OptimizerMeta, tensors: optimizerFile.tensors } : undefined;
    for (const f of tensorFiles) if (f !== weights && f !== optimizerFile) disposeTensorTree(f.tensors); // carried state: not used by page runs
    const savedStep = Number(weights.metadata.step ?? trainer?.step ?? 0);
    return { config, weights: weights.tensors, optimizer, trainer, savedStep: Number.isInteger(savedStep) ? savedStep : 0, name: weights.name };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

function parseJson(f: NamedBytes): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(f.bytes));
  } catch {
    throw new Error(`'${f.name}' is not valid JSON`);
  }
}

async function load(files: NamedBytes[], text: TextSource): Promise<void> {
  const parts = readCheckpointFiles(files);
  const ckpt: LoadedCheckpoint = { dir: parts.name, config: parts.config, weights: parts.weights, optimizer: parts.optimizer, trainer: parts.trainer, carried: null };
  let notice: string | null = null;
  try {
    const info = await textInfo(text);
    const stored = parts.config.training ? storedTraining(ckpt) : null;
    const args = stored?.args ?? { ...DEFAULT_TRAIN_ARGS, model: String(parts.config.model.config.cell ?? 'mingru') };
    closeSession();
    if (stored && parts.optimizer && parts.trainer && !args.stateful && stored.text.sha256 === info.sha256) {
      const trainer = LMTrainer.resume(ckpt, args, decodeText(text), info);
      session = { model: trainer.model, tokenizer: trainer.tokenizer, config: trainer.checkpointConfig(), args, trainer, step: trainer.step, target: Math.max(args.steps, trainer.step) };
    } else {
      const model = modelFromCheckpoint(ckpt);
      session = { model, tokenizer: tokenizerFromCheckpoint(ckpt), config: parts.config, args, trainer: null, step: parts.trainer?.step ?? parts.savedStep, target: args.steps };
      notice = !parts.optimizer || !parts.trainer
        ? 'Loaded the weights (no optimizer state or trainer.json): generate and evaluate; Train starts a new run.'
        : stored?.text.sha256 !== info.sha256 ? `Loaded the weights; training can resume only on the text the run was trained on ('${stored?.text.path ?? '?'}').` : null;
    }
  } finally {
    disposeTensorTree(parts.weights);
    disposeTensorTree(parts.optimizer?.tensors);
  }
  const s = session;
  const val = validationSet(s, decodeText(text));
  post({ type: 'model', info: modelInfo(s), notice: notice ?? val.notice });
  if (val.windows) {
    const r = await evaluateWindows(s.model, val.windows, s.args.batch);
    post({ type: 'eval', step: s.step, loss: r.loss, accuracy: r.accuracy });
  }
}

/** The trainer's validation windows of `text` for a loaded model (the same windows `recur train` scores). */
function validationSet(s: Session, text: string): { windows: Windows | null; notice: string | null } {
  let tokens: Int32Array;
  try {
    tokens = s.tokenizer.encode(text);
  } catch (e) {
    return { windows: null, notice: `The text cannot be scored with this model: ${errorMessage(e)}.` };
  }
  const { val } = splitTrainVal(tokens);
  if (val.length < 2) return { windows: null, notice: 'The text is too short to hold a validation split.' };
  return { windows: validationWindows(val, s.args.seq, s.args.valWindows), notice: null };
}

/**
 * Picks the device and starts the CPU backend's threads: every core (or `threads`, 0 = all) where
 * the page is cross-origin isolated, else one thread and a notice saying why.
 */
async function init(device: DevicePreference, threads: number): Promise<void> {
  const opened = await openDevice(device);
  enableBrowserThreads(threads > 0 ? threads : undefined);
  const cpu = await ready();
  const notices = [opened.notice, cpu.notice].filter((n): n is string => n !== null);
  post({ type: 'device', label: opened.label, threads: cpu.threads, notice: notices.length ? notices.join(' ') : null, models: cellNames() });
}

self_.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'init':
      enqueue(() => init(m.device, m.threads));
      break;
    case 'stop':
      stopRequested = true;
      break;
    case 'train':
      stopRequested = false;
      enqueue(() => startRun(m.settings, m.text));
      break;
    case 'resume':
      stopRequested = false;
      enqueue(async () => {
        if (!session?.trainer) throw new Error('nothing to resume: train a model first (or load a checkpoint with its optimizer state, on its own text)');
        session.target = Math.max(m.steps, session.trainer.step);
        await trainChunk();
      });
      break;
    case 'generate':
      stopRequested = false;
      enqueue(() => generate(m.prompt, m.temperature, m.maxTokens, m.seed));
      break;
    case 'save':
      enqueue(() => save(m.purpose));
      break;
    case 'load':
      stopRequested = true; // a running job ends; loading replaces the session
      enqueue(async () => {
        stopRequested = false;
        await load(m.files, m.text);
      });
      break;
  }
};
