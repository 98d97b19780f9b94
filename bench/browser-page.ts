/**
 * The browser benchmark's page code (bundled by bench/browser.ts; runs in headless Chromium): the
 * training step of one minGRU layer + Linear(128→128), MSE, Adam, in Recur (CPU backend) and the
 * same step with TensorFlow.js's GRU layer (its wasm and cpu backends), each run timed in the page.
 * bench/browser.ts calls the functions put on globalThis.recurBench and turns the samples into rows.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '../src/default-backend.js';
import { ready } from '../src/backend/cpu/ready.js';
import { enableBrowserThreads } from '../src/backend/cpu/threads-browser.js';
import { AdamW } from '../src/optim/adamw.js';
import { randn } from '../src/tensor/creation.js';
import { Rng } from '../src/tensor/random.js';
import { LayerAndHead, trainStepOnce } from '../src/bench/train-step-model.js';

export interface Shape { B: number; T: number; D: number }
export interface RunOptions { runs: number; warmup: number }
/** Milliseconds of each timed run, and what ran. */
export interface Samples { samplesMs: number[]; info: string }

async function time(fn: () => unknown, { runs, warmup }: RunOptions): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/** Recur's minGRU (real-space scan) + Linear, AdamW without weight decay (= Adam), on the CPU backend with `threads` threads. */
async function recur({ B, T, D }: Shape, opts: RunOptions, threads: number): Promise<Samples> {
  enableBrowserThreads(threads);
  const cpu = await ready();
  if (cpu.threads !== threads) throw new Error(`asked for ${threads} CPU threads, got ${cpu.threads} (${cpu.notice ?? 'no notice'})`);
  const rng = new Rng(1);
  const model = new LayerAndHead('mingru', D, 'real', rng);
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
  const x = randn([B, T, D], { rng }).keep();
  const y = randn([B, T, D], { rng }).keep();
  try {
    // Tensor values are read back at the end of every step (as a training loop reads its loss).
    const samplesMs = await time(() => {
      trainStepOnce(model, optimizer, x, y);
      return model.head.weight.data();
    }, opts);
    return { samplesMs, info: `kernel ${cpu.kernel}, ${cpu.threads} thread(s)` };
  } finally {
    optimizer.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  }
}

/**
 * TensorFlow.js: GRU(D, return sequences) + Dense(D) per step, Adam, mean squared error, trainOnBatch.
 * `wasmThreads` (0: TF.js's default, half the cores) can only be set before the wasm backend starts,
 * so once per page.
 */
async function tfjs(backend: 'wasm' | 'cpu', { B, T, D }: Shape, opts: RunOptions, wasmThreads = 0): Promise<Samples> {
  setWasmPaths(new URL('./', location.href).href);
  if (wasmThreads > 0) {
    // TF.js's wasm build sizes its thread pool from navigator.hardwareConcurrency / 2 (1 on a
    // 2-core machine), whatever setThreadsCount asks: report twice the wanted count to it.
    Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * wasmThreads, configurable: true });
    setThreadsCount(wasmThreads);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' did not initialise`);
  await tf.ready();
  const model = tf.sequential({
    layers: [tf.layers.gru({ units: D, returnSequences: true, inputShape: [T, D] }), tf.layers.dense({ units: D })],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const x = tf.randomNormal([B, T, D], 0, 1, 'float32', 1);
  const y = tf.randomNormal([B, T, D], 0, 1, 'float32', 2);
  try {
    const samplesMs = await time(() => model.trainOnBatch(x, y), opts);
    const threaded = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const info = backend === 'wasm'
      ? `TF.js ${tf.version.tfjs} wasm (${threaded ? 'threaded ' : ''}SIMD build), ${getThreadsCount()} thread(s)`
      : `TF.js ${tf.version.tfjs} cpu (plain JavaScript)`;
    return { samplesMs, info };
  } finally {
    model.dispose();
    x.dispose();
    y.dispose();
  }
}

(globalThis as unknown as { recurBench: unknown }).recurBench = { recur, tfjs };
