/**
 * WebGPU benchmark (`npm run bench:webgpu`, Node + Dawn from the optional `webgpu` package):
 *  - f32 matmul, square, n = 1024 … 8192 (TFLOP/s);
 *  - one minGRU layer, forward + backward (input and weight gradients), B 64, D 512, T 512 … 4096:
 *    the input projection as one GEMM over B·T rows, then the gate math + scan (cellScan with the
 *    minGRU definition: one kernel where the backend renders it, composite ops otherwise), f32;
 *  - LSTM 12 heads × 64 (hidden 768), B 16, T 1024, forward + backward (FlashRNN's configuration);
 *  - the LRU layer (H 512, N 256), B 64, T 512 … 4096, forward + backward.
 * Where a CUDA device is present the same layers run on the CUDA backend in the same process
 * (strict FP32), and each row shows the ratio to it; published figures from BENCHMARKS.md#reference-figures are
 * shown beside them (PyTorch itself is not run here; bench:gpu does that).
 *
 * The report (bench/results/webgpu.{json,md}) carries the adapter's vendor, architecture, device
 * and description. A software adapter (SwiftShader, lavapipe, WARP) gives a correctness run only:
 * its rows are labelled so, its timings are never a GPU figure, and it runs the smallest sizes
 * unless --full is given.
 *
 * Running it on a GPU machine needs node, dist/ and node_modules/webgpu only, plus the Vulkan
 * loader (libvulkan.so.1, Debian/Ubuntu package libvulkan1) and the GPU driver's Vulkan ICD (for
 * NVIDIA the driver's nvidia_icd.json, which containers get with NVIDIA_DRIVER_CAPABILITIES
 * including `graphics`); `vulkaninfo --summary` shows whether Vulkan sees the GPU.
 *
 * Options: --quick (smallest sizes, few runs), --full (all sizes even on a software adapter),
 * --no-cuda, --out DIR (default bench/results).
 */
import { MinGRU } from '../src/cells/min-rnn.js';
import { LSTM } from '../src/cells/lstm.js';
import { LRU } from '../src/cells/lru.js';
import type { Backend } from '../src/backend/backend.js';
import type { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { initWebGPU } from '../src/register-webgpu.js';
import { rand, randn } from '../src/tensor/creation.js';
import { cellScan, hasFusedCellScan } from '../src/cells/linear-scan.js';
import { minGruDefinition } from '../src/cells/definitions/index.js';
import { matmul, reshape } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';
import { createReport, median, rowFromThroughput, toMarkdown, writeReport, type BenchRow, type Reference } from '../src/bench/report.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const outDir = option('--out') ?? 'bench/results';

/** A device under test: the WebGPU backend, or CUDA for the same-run comparison. */
interface Device { name: 'webgpu' | 'cuda'; backend: Backend; sync(): Promise<void>; emptyCache(): void }

interface Timing { medianMs: number; minMs: number; runs: number }

async function time(dev: Device, fn: () => void, runs: number, warmup = 2): Promise<Timing> {
  for (let i = 0; i < warmup; i++) fn();
  await dev.sync();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    await dev.sync();
    samples.push(performance.now() - t0);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), runs };
}

/** A step closure with its own disposal. */
interface Step { run(): void; dispose(): void }

function matmulStep(be: Backend, n: number): Step {
  const rng = new Rng(1);
  const a = randn([n, n], { backend: be, rng }).keep(), b = randn([n, n], { backend: be, rng }).keep();
  return { run: () => scope(() => { matmul(a, b); }), dispose: () => { a.dispose(); b.dispose(); } };
}

/** Runs fwd+bwd of `forward(x)` with a fixed upstream gradient; x and the parameters get gradients. */
function layerStep(be: Backend, shape: number[], params: () => Tensor[], forward: (x: Tensor) => Tensor, dispose: () => void): Step {
  const rng = new Rng(11);
  const x = rand(shape, { backend: be, rng, low: -2, high: 2 }).keep();
  const dy = rand(shape, { backend: be, rng, low: -1, high: 1 }).keep();
  x.requiresGrad = true;
  return {
    run: () => {
      scope(() => forward(x).backward(dy));
      for (const p of [x, ...params()]) { p.grad?.dispose(); p.grad = null; }
    },
    dispose: () => { x.dispose(); dy.dispose(); dispose(); },
  };
}

const D = 512, B = 64;

function minGruStep(be: Backend, T: number): Step {
  const w = randn([2 * D, D], { backend: be, rng: new Rng(1), std: 1 / Math.sqrt(D) }).keep();
  w.requiresGrad = true;
  return layerStep(be, [B, T, D], () => [w], (x) => {
    const proj = reshape(matmul(reshape(x, [B * T, D]), w, { transB: true }), [B, T, 2 * D]);
    return cellScan(minGruDefinition, proj);
  }, () => w.dispose());
}

function lstmStep(be: Backend, T: number): Step {
  const cell = new LSTM({ inputSize: 768, hiddenSize: 768, heads: 12, backend: be, rng: new Rng(1) });
  return layerStep(be, [16, T, 768], () => cell.parameters(), (x) => cell.forward(x).output, () => cell.dispose());
}

function lruStep(be: Backend, T: number): Step {
  const cell = new LRU({ dModel: D, dState: 256, backend: be, rng: new Rng(1) });
  return layerStep(be, [B, T, D], () => cell.parameters(), (x) => cell.forward(x).output, () => cell.dispose());
}

// BENCHMARKS.md#reference-figures, one H100, fwd + bwd, median ms
const MINGRU_PYTORCH_F32: Record<number, number> = { 512: 6.9, 1024: 13.5, 2048: 26.4, 4096: 51.9 };
const LRU_JAX_F32: Record<number, number> = { 512: 1.81, 1024: 3.68, 2048: 5.99, 4096: 11.89 };
const FLASHRNN_LSTM_12x64 = 40.0; // FlashRNN's alternating CUDA path, bf16, T 1024

async function cudaDevice(): Promise<Device | null> {
  if (flag('--no-cuda')) return null;
  try {
    const { cudaStatus, CudaBackend } = await import('../src/backend/cuda/cuda.js');
    if (!cudaStatus().available) return null;
    const c = new CudaBackend();
    return { name: 'cuda', backend: c, sync: async () => c.synchronize(), emptyCache: () => c.emptyCache() };
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const g: WebGPUBackend = await initWebGPU();
  const a = g.adapter;
  const software = a.software;
  const small = !flag('--full') && (software || flag('--quick'));
  const label = software ? ' [software adapter: correctness run, not a GPU figure]' : '';
  const web: Device = { name: 'webgpu', backend: g, sync: () => g.synchronize(), emptyCache: () => g.emptyCache() };
  const cuda = await cudaDevice();
  const runs = small ? 3 : 10;
  const rows: BenchRow[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);

  /** Times a step on WebGPU (and on CUDA for the ratio), adds the row. */
  const bench = async (section: string, name: string, shapes: string, make: (be: Backend) => Step, work: number, unit: string,
                       scale: number, published: Reference[] = []): Promise<void> => {
    const refs = [...published];
    if (cuda) {
      const s = make(cuda.backend);
      const t = await time(cuda, () => s.run(), runs);
      s.dispose();
      cuda.emptyCache();
      refs.push({ label: 'our CUDA backend', value: work / scale / (t.medianMs / 1000), source: 'the same step on the CUDA backend (strict FP32 GEMMs), this process' });
    }
    const s = make(g);
    const t = await time(web, () => s.run(), runs);
    s.dispose();
    g.emptyCache();
    rows.push(rowFromThroughput({ section: section + label, name, shapes, unit, references: refs, notes: software ? 'software adapter' : undefined },
      t.medianMs, work / scale / (t.medianMs / 1000), t));
    log(`${section} ${name} ${shapes}: ${t.medianMs.toFixed(2)} ms${label}`);
  };

  for (const n of small ? [256] : [1024, 2048, 4096, 8192]) {
    await bench('f32 matmul', 'C = A·B', `${n}×${n}×${n}`, (be) => matmulStep(be, n), 2 * n ** 3, 'TFLOP/s', 1e12);
  }
  const Ts = small ? [64] : [512, 1024, 2048, 4096];
  const fused = hasFusedCellScan(g);
  for (const T of Ts) {
    const pub: Reference[] = MINGRU_PYTORCH_F32[T] ? [{ label: 'minGRU-pytorch f32 (H100)', value: (B * T) / (MINGRU_PYTORCH_F32[T] / 1000), source: 'BENCHMARKS.md#reference-figures' }] : [];
    await bench('minGRU layer fwd+bwd, f32', fused ? 'GEMM + fused scan' : 'GEMM + composite scan', `B=${B}, T=${T}, D=${D}`,
      (be) => minGruStep(be, T), B * T, 'tokens/s', 1, pub);
  }
  const lstmT = small ? 16 : 1024;
  await bench('LSTM fwd+bwd, f32', 'LSTM 12 × 64', `B=16, T=${lstmT}, H=768`, (be) => lstmStep(be, lstmT), 16 * lstmT, 'tokens/s', 1,
    lstmT === 1024 ? [{ label: 'FlashRNN alternating (bf16, H100)', value: (16 * 1024) / (FLASHRNN_LSTM_12x64 / 1000), source: 'BENCHMARKS.md#reference-figures' }] : []);
  for (const T of Ts) {
    const pub: Reference[] = LRU_JAX_F32[T] ? [{ label: 'JAX LRU f32 (H100)', value: (B * T) / (LRU_JAX_F32[T] / 1000), source: 'BENCHMARKS.md#reference-figures' }] : [];
    await bench('LRU layer fwd+bwd, f32', 'LRU', `B=${B}, T=${T}, H=${D}, N=256`, (be) => lruStep(be, T), B * T, 'tokens/s', 1, pub);
  }

  const notes = [
    `adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')}; features: ${a.features.join(', ') || 'none'}`,
    software
      ? 'SOFTWARE ADAPTER: these timings are a correctness run of the WebGPU kernels on the CPU; they are not GPU figures and must not be quoted as such.'
      : 'GPU adapter.',
    `minGRU scan: ${fused ? 'one fused kernel (cellScan)' : 'composite ops (no fused cellScan on this backend yet)'}; medians of ${runs} runs after 2 warm-up runs, each run ends with queue.onSubmittedWorkDone()`,
    cuda ? 'ratios "vs our CUDA backend": the same step on the CUDA backend in this process' : 'no CUDA device (or --no-cuda): no same-run CUDA ratio',
  ];
  const report = createReport('webgpu', rows, notes);
  const { json, md } = writeReport(report, outDir);
  log(`wrote ${json} and ${md}`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n${toMarkdown(report)}`);
}

await main();
