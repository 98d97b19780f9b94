/**
 * GPU benchmark (`npm run bench:gpu`): one minGRU / minLSTM layer, forward + backward (input and
 * weight gradients), B = 64, D = 512, T = 512 … 4096, in f32 with strict FP32 GEMMs, f32 with TF32
 * GEMMs, and bf16 (bf16 storage and GEMMs with f32 accumulation, f32 scan state). The layer is the
 * input projection as one GEMM over B·T rows followed by the fused gate math + scan
 * (src/cells/linear-scan.ts → CudaBackend.cellScan); the composite path of the current MinGRU cell is
 * timed too, in f32, for comparison. Scan-only rows isolate the chunked scan kernels.
 *
 * References measured in the same run on the same GPU by tools/torch_reference_bench.py
 * (PyTorch log-space minGRU/minLSTM as minGRU-pytorch writes them; cuDNN nn.GRU/nn.LSTM), and the
 * Triton figures (flash-linear-attention chunk_hgrn) quoted from BENCHMARKS.md#reference-figures. Each reference
 * column shows the reference's time as tokens/s and our speed-up over it.
 *
 * Options: --quick (T = 512 only, few runs), --out DIR (default bench/results), --no-torch,
 * --torch-json FILE (use references measured earlier instead of running PyTorch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/default-backend.js';
import { MinGRU, MinLSTM } from '../src/cells/min-rnn.js';
import { CudaBackend } from '../src/backend/cuda/cuda.js';
import { registerCudaBackend } from '../src/register-cuda.js';
import { backend } from '../src/tensor/engine.js';
import { rand, randn } from '../src/tensor/creation.js';
import { cellScan } from '../src/cells/linear-scan.js';
import { minGruDefinition, minLstmDefinition } from '../src/cells/definitions/index.js';

type MinRnnKind = 'gru' | 'lstm';
import { linearScan, matmul, reshape, sigmoid } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';
import { createReport, median, rowFromThroughput, writeReport, type BenchRow, type Reference } from '../src/bench/report.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const quick = flag('--quick');
const outDir = option('--out') ?? 'bench/results';
const B = 64, D = 512;
const Ts = quick ? [512] : [512, 1024, 2048, 4096];
const RUNS = quick ? 5 : 10, WARMUP = 3;

type Precision = 'f32' | 'tf32' | 'bf16';
const PRECISION_LABEL: Record<Precision, string> = { f32: 'f32 (strict FP32 GEMMs)', tf32: 'f32 + TF32 GEMMs', bf16: 'bf16 (f32 accumulate, f32 scan state)' };

// ------------------------------------------------------------------------------ PyTorch references

interface TorchRow { name: string; precision: Precision; T: number; medianMs: number; minMs: number }
interface TorchResults { device: string; torch: string; cudnn: number; results: TorchRow[] }

function torchReferences(): { results: TorchResults | null; note: string } {
  if (flag('--no-torch')) return { results: null, note: 'PyTorch references not run (--no-torch)' };
  const given = option('--torch-json');
  if (given) return { results: JSON.parse(readFileSync(given, 'utf8')) as TorchResults, note: `PyTorch references read from ${given}` };
  const file = join(outDir, 'gpu-torch-reference.json');
  mkdirSync(outDir, { recursive: true }); // the reference script writes its JSON there before our report does
  const python = process.env.RECUR_PYTHON ?? 'python3';
  const script = 'tools/torch_reference_bench.py';
  process.stderr.write(`running ${python} ${script} (PyTorch references on this GPU)...\n`);
  const r = spawnSync(python, [script, '--out', file, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !existsSync(file)) return { results: null, note: `PyTorch references unavailable (${python} ${script} exited with ${r.status ?? r.error?.message})` };
  return { results: JSON.parse(readFileSync(file, 'utf8')) as TorchResults, note: `PyTorch references: ${python} ${script}, same run` };
}

// Triton: the minGRU layer on flash-linear-attention's chunk_hgrn, H100, BENCHMARKS.md#reference-figures (minGRU only).
const TRITON: Record<'bf16' | 'f32', Record<number, number>> = {
  bf16: { 512: 2.50, 1024: 4.19, 2048: 8.09, 4096: 15.99 },
  f32: { 512: 4.10, 1024: 7.85, 2048: 15.47, 4096: 30.39 },
};

const tokensPerSecond = (T: number, ms: number) => (B * T) / (ms / 1000);

/** Random inputs, uniform in [−2, 2), made once per shape and dtype (host generation of 10⁸ values is slow). */
const inputs = new Map<string, Tensor>();
function input(g: CudaBackend, shape: number[], dtype: 'f32' | 'bf16', seed: number): Tensor {
  const key = `${shape.join('x')}:${dtype}:${seed}`;
  let t = inputs.get(key);
  if (!t) {
    t = rand(shape, { backend: g, dtype, rng: new Rng(seed), low: -2, high: 2 }).keep();
    inputs.set(key, t);
  }
  return t;
}
function dropInputs(): void {
  for (const t of inputs.values()) t.dispose();
  inputs.clear();
}

// ------------------------------------------------------------------------------ timing

function time(g: CudaBackend, fn: () => void, runs = RUNS): { medianMs: number; minMs: number; runs: number } {
  for (let i = 0; i < WARMUP; i++) fn();
  g.synchronize();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    g.synchronize();
    samples.push(performance.now() - t0);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), runs };
}

/** One fused layer step: proj = x·Wᵀ as one GEMM over B·T rows, h = minRnnScan(proj), backward. */
function fusedLayer(g: CudaBackend, kind: MinRnnKind, T: number, precision: Precision): () => void {
  const dtype = precision === 'bf16' ? 'bf16' : 'f32';
  const C = kind === 'gru' ? 2 : 3;
  const rng = new Rng(1);
  const w = randn([C * D, D], { backend: g, dtype, rng, std: 1 / Math.sqrt(D) }).keep();
  const x = input(g, [B, T, D], dtype, 11).detach().keep();
  const dy = input(g, [B, T, D], dtype, 12);
  w.requiresGrad = true;
  x.requiresGrad = true;
  const step = () => {
    scope(() => {
      const proj = reshape(matmul(reshape(x, [B * T, D]), w, { transB: true }), [B, T, C * D]);
      cellScan(kind === 'gru' ? minGruDefinition : minLstmDefinition, proj).backward(dy);
    });
    x.grad?.dispose(); x.grad = null;
    w.grad?.dispose(); w.grad = null;
  };
  (step as { dispose?: () => void }).dispose = () => { w.dispose(); x.dispose(); };
  return step;
}

/** The current MinGRU/MinLSTM cell (composite ops, log-space scan). */
function compositeLayer(g: CudaBackend, kind: MinRnnKind, T: number): () => void {
  const rng = new Rng(1);
  const cell = kind === 'gru' ? new MinGRU({ dim: D, backend: g, rng }) : new MinLSTM({ dim: D, backend: g, rng });
  const x = input(g, [B, T, D], 'f32', 11).detach().keep();
  const dy = input(g, [B, T, D], 'f32', 12);
  x.requiresGrad = true;
  const step = () => {
    scope(() => cell.forward(x).output.backward(dy));
    x.grad?.dispose(); x.grad = null;
    cell.zeroGrad();
  };
  (step as { dispose?: () => void }).dispose = () => { cell.dispose(); x.dispose(); };
  return step;
}

const disposeStep = (s: () => void) => (s as { dispose?: () => void }).dispose?.();

// ------------------------------------------------------------------------------ main

function main(): void {
  const torch = torchReferences();
  registerCudaBackend();
  const g = backend('cuda') as CudaBackend;
  const t0 = performance.now();
  g.warmup();
  const warmupMs = performance.now() - t0;
  const rows: BenchRow[] = [];
  const torchMs = (name: string, precision: Precision, T: number) =>
    torch.results?.results.find((r) => r.name.startsWith(name) && r.precision === precision && r.T === T)?.medianMs;

  for (const precision of ['f32', 'tf32', 'bf16'] as Precision[]) {
    g.allowTF32 = precision === 'tf32';
    if (precision === 'bf16') dropInputs();
    for (const kind of ['gru', 'lstm'] as MinRnnKind[]) {
      const cellName = kind === 'gru' ? 'minGRU' : 'minLSTM';
      for (const T of Ts) {
        const step = fusedLayer(g, kind, T, precision);
        const t = time(g, step);
        disposeStep(step);
        g.emptyCache();
        const refs: Reference[] = [];
        const pt = torchMs(`${cellName}-pytorch`, precision, T);
        if (pt) refs.push({ label: 'PyTorch log-space', value: tokensPerSecond(T, pt), source: `minGRU-pytorch's log-space minGRU / minLSTM (the row's cell) in PyTorch ${torch.results?.torch}, same precision (TF32 rows: allow_tf32 on), measured in this run (ms: gpu-torch-reference.json)` });
        const rnn = torchMs(`cuDNN nn.${kind === 'gru' ? 'GRU' : 'LSTM'}`, precision === 'tf32' ? 'f32' : precision, T);
        if (rnn) refs.push({ label: 'cuDNN', value: tokensPerSecond(T, rnn), source: `cuDNN nn.GRU / nn.LSTM (hidden ${D}, one layer) in PyTorch, same run; strict f32 for the f32 and TF32 rows` });
        const triton = kind === 'gru' ? TRITON[precision === 'bf16' ? 'bf16' : 'f32'][T] : undefined;
        if (triton) refs.push({ label: 'Triton chunk_hgrn', value: tokensPerSecond(T, triton), source: 'the minGRU layer on flash-linear-attention chunk_hgrn (Triton), H100, quoted from BENCHMARKS.md#reference-figures (fp32 figure for the f32 and TF32 rows)' });
        rows.push(rowFromThroughput({
          section: `layer fwd+bwd, ${PRECISION_LABEL[precision]}`, name: `${cellName} fused`, shapes: `B=${B}, T=${T}, D=${D}`,
          unit: 'tokens/s', references: refs,
        }, t.medianMs, tokensPerSecond(T, t.medianMs), t));
        process.stderr.write(`${precision} ${cellName} T=${T}: ${t.medianMs.toFixed(2)} ms${pt ? ` (PyTorch ${pt.toFixed(2)} ms)` : ''}\n`);
      }
    }
  }
  g.allowTF32 = false;

  // The composite path (current cells), f32.
  for (const kind of ['gru', 'lstm'] as MinRnnKind[]) {
    for (const T of quick ? [512] : [512, 4096]) {
      const step = compositeLayer(g, kind, T);
      const t = time(g, step, quick ? 3 : 5);
      disposeStep(step);
      g.emptyCache();
      const cellName = kind === 'gru' ? 'MinGRU' : 'MinLSTM';
      rows.push(rowFromThroughput({
        section: 'layer fwd+bwd, composite ops (the current cells, log-space scan), f32', name: `${cellName} cell`, shapes: `B=${B}, T=${T}, D=${D}`,
        unit: 'tokens/s',
      }, t.medianMs, tokensPerSecond(T, t.medianMs), t));
      process.stderr.write(`composite ${cellName} T=${T}: ${t.medianMs.toFixed(2)} ms\n`);
    }
  }

  // Scan kernels alone, [64, T, 512]: linearScan fwd+bwd, and the fused minGRU scan fwd+bwd, by time
  // chunks and channels per thread; bytes moved → GB/s.
  const scanVariants: { what: 'linearScan' | 'minGRU scan'; dtype: 'f32' | 'bf16'; chunks: string; vec: string }[] = [
    { what: 'linearScan', dtype: 'f32', chunks: 'auto', vec: '-' },
    { what: 'linearScan', dtype: 'f32', chunks: '1', vec: '-' },
  ];
  for (const dtype of ['f32', 'bf16'] as const) {
    for (const chunks of ['auto', '1', '2', '4', '8']) scanVariants.push({ what: 'minGRU scan', dtype, chunks, vec: '2' });
    scanVariants.push({ what: 'minGRU scan', dtype, chunks: 'auto', vec: '1' });
  }
  for (const T of quick ? [512] : [4096]) {
    for (const { what, dtype, chunks, vec } of scanVariants) {
      if (chunks === 'auto') delete process.env.RECUR_CUDA_SCAN_CHUNKS; else process.env.RECUR_CUDA_SCAN_CHUNKS = chunks;
      if (vec === '1') process.env.RECUR_CUDA_FUSED_VEC = '1'; else delete process.env.RECUR_CUDA_FUSED_VEC;
      const C = what === 'linearScan' ? 1 : 2;
      const a = input(g, [B, T, C * D], dtype, 21).detach().keep();
      const b = input(g, [B, T, D], dtype, 22).detach().keep();
      const dy = input(g, [B, T, D], dtype, 23);
      a.requiresGrad = true;
      b.requiresGrad = true;
      const gates = what === 'linearScan' ? scope(() => sigmoid(a.detach())).keep() : null;
      if (gates) gates.requiresGrad = true;
      const step = () => {
        scope(() => {
          const h: Tensor = gates ? linearScan(gates, b) : cellScan(minGruDefinition, a);
          h.backward(dy);
        });
        for (const t of [a, b, gates]) { t?.grad?.dispose(); if (t) t.grad = null; }
      };
      const t = time(g, step);
      for (const x of [a, b, gates]) x?.dispose();
      const es = dtype === 'bf16' ? 2 : 4, n = B * T * D;
      // linearScan: fwd reads a, b, writes h; bwd reads a, h, dh, writes da, db (single pass).
      // minGRU: fwd reads proj (2n), writes h; bwd reads proj, h, dh, writes dproj (2n).
      const bytes = (what === 'linearScan' ? 3 * n + 5 * n : 3 * n + 6 * n) * es;
      const v = what === 'linearScan' ? 1 : vec === '1' ? 1 : 2;
      const { nChunks } = g.scanChunks((B * D) / v, T);
      rows.push(rowFromThroughput({
        section: 'scan kernels alone, fwd+bwd', name: `${what} ${dtype}`,
        shapes: `[${B}, ${T}, ${D}], ${nChunks} time chunk${nChunks > 1 ? 's' : ''}${chunks === 'auto' ? ' (auto)' : ' (forced)'}${what === 'linearScan' ? '' : `, ${v} channel${v > 1 ? 's' : ''}/thread`}`,
        unit: 'GB/s (minimum traffic)',
        references: what === 'linearScan' && dtype === 'f32' && T === 4096 ? [{ label: 'accelerated-scan', value: bytes / 1e9 / (3.30 / 1000), source: 'accelerated-scan (scan only, fp32), H100, BENCHMARKS.md#reference-figures, 3.30 ms, converted with the same byte count' }] : [],
      }, t.medianMs, bytes / 1e9 / (t.medianMs / 1000), t));
      process.stderr.write(`${what} ${dtype} chunks ${chunks} vec ${vec}: ${t.medianMs.toFixed(2)} ms\n`);
    }
  }
  delete process.env.RECUR_CUDA_FUSED_VEC;
  dropInputs();
  delete process.env.RECUR_CUDA_SCAN_CHUNKS;

  const notes = [
    `GPU: ${g.device.name} (compute capability ${g.device.computeCapability}, ${g.device.multiprocessors} SMs), kernels built for ${g.device.arch}; module load/compile at start-up ${warmupMs.toFixed(0)} ms`,
    'time: median of timed runs after warm-up, host clock around one fwd+bwd with cuCtxSynchronize after it (launch overhead included)',
    'layer = Linear(D → C·D, no bias) as one GEMM over B·T rows + fused gate math and scan; forward + backward with input and weight gradients, as the PyTorch rows',
    'reference columns: the reference time converted to tokens/s, and our speed-up over it (×)',
    torch.note,
    ...(torch.results ? [`PyTorch ${torch.results.torch}, cuDNN ${torch.results.cudnn}, on ${torch.results.device}`] : []),
  ];
  const report = createReport('gpu', rows, notes);
  const files = writeReport(report, outDir);
  process.stderr.write(`wrote ${files.json} and ${files.md}\n`);
}

main();
