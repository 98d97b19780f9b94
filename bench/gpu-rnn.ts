/**
 * GPU benchmark of the non-linear recurrences on CUDA (CudaBackend.rnnForward + rnnBackward):
 * the fused persistent kernels (kernels/rnn-fused.ts), the grid kernels (kernels/rnn-grid.ts, one
 * head split over ~one block per SM) and the alternating path (kernels/rnn.ts), each forced through
 * `rnnKernel`. FlashRNN's configuration, B = 16, T = 1024,
 * hidden 768, forward+backward from a given Wx (gradients w.r.t. wx, r, b): every cell at 12 heads
 * × 64 on both kernels, LSTM and sLSTM at 6 heads × 128 (fused in bf16 only) and 1 head × 768
 * (grid, every cell, and alternating: R does not fit one block's shared memory), f32 (strict FP32 GEMMs) and bf16 storage (f32 accumulate); then sweeps of the
 * fused LSTM 12 × 64 over the batch (T = 1024) and the sequence length (B = 16). Median of RUNS after
 * warm-up, synchronised around each run. A last row (alternating LSTM 1 × 8) measures the
 * alternating path's launch floor, and the grid barrier alone (1024 barriers of the 1 × 768 launch
 * shape) its floor. Prints one JSON line per row, then markdown tables.
 *
 * Usage: node dist/bench/gpu-rnn.js [--runs N] [--out FILE] [--quick | --grid]
 * (--quick: 12 × 64 rows only; --grid: the 1 × 768 grid rows and the barrier only)
 */
import { writeFileSync } from 'node:fs';
import '../src/default-backend.js';
import { CudaBackend } from '../src/backend/cuda/cuda.js';
import type { DType, RnnDims } from '../src/backend/backend.js';
import { RNN_CELLS, type RnnCellName } from '../src/cells/rnn.js';
import { Rng } from '../src/tensor/random.js';
import { measure } from '../src/bench/report.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const RUNS = Number(option('--runs') ?? 7), WARMUP = 2;
const QUICK = args.includes('--quick'), GRID = args.includes('--grid');
const g = new CudaBackend();

const CHUNK = new Float32Array(1 << 20);
new Rng(1).fillNormal(CHUNK, 0, 1);

type Kernel = 'fused' | 'grid' | 'alternating';
interface Row { cell: RnnCellName; heads: number; d: number; dtype: DType; kernel: Kernel; B: number; T: number; fwdMs: number; fwdBwdMs: number; note?: string }

async function bench(cell: RnnCellName, N: number, d: number, dtype: DType, kernel: Kernel, B = 16, T = 1024): Promise<Row> {
  g.rnnKernel = kernel;
  const L = RNN_CELLS[cell], H = N * d;
  const dims: RnnDims = { batch: B, time: T, heads: N, headDim: d };
  // Normal values tiled from one 1 Mi chunk: drawing 800 M of them (B = 256) would dominate the run.
  const mk = (n: number, std: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i += CHUNK.length) a.set(n - i >= CHUNK.length ? CHUNK : CHUNK.subarray(0, n - i), i);
    for (let i = 0; i < n; i++) a[i] *= std;
    const x = g.alloc(n, dtype); g.write(x, a); return x;
  };
  const wx = mk(B * T * L.gates * H, 1), r = mk(L.gates * N * d * d, 1 / Math.sqrt(d)), b = mk(L.biases * H, 0.5);
  const outLen = (T + L.states) * B * H;
  const dout = mk(outLen, 1);
  const out = g.alloc(outLen, dtype), saved = g.alloc(g.rnnSavedLength(L, dims), dtype);
  const dwx = g.alloc(B * T * L.gates * H, dtype), dr = g.alloc(L.gates * N * d * d, dtype), db = g.alloc(L.biases * H, dtype);
  const time = async (fn: () => void): Promise<number> => (await measure(() => { fn(); g.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;
  const fwdMs = await time(() => g.rnnForward(L, wx, r, b, null, out, null, dims));
  const fwdBwdMs = await time(() => {
    g.rnnForward(L, wx, r, b, null, out, saved, dims);
    g.rnnBackward(L, r, saved, dout, dwx, dr, db, null, dims);
  });
  for (const x of [wx, r, b, dout, out, saved, dwx, dr, db]) g.free(x);
  g.rnnKernel = 'auto';
  return { cell, heads: N, d, dtype, kernel, B, T, fwdMs, fwdBwdMs };
}

const rows: Row[] = [];
const add = (row: Row) => { rows.push(row); console.log(JSON.stringify(row)); };
const gridRows = async () => {
  for (const dtype of ['f32', 'bf16'] as DType[]) for (const cell of ['lstm', 'slstm', 'gru', 'elman'] as RnnCellName[]) add(await bench(cell, 1, 768, dtype, 'grid'));
  for (const B of [1, 4, 32]) add({ ...(await bench('lstm', 1, 768, 'bf16', 'grid', B, 1024)), note: 'batch sweep' });
  // The barrier alone, at the 1 × 768 LSTM launch shape: the floor of 1024 steps one way.
  const plan = g.rnnGridPlanFor(RNN_CELLS.lstm, { batch: 16, time: 1024, heads: 1, headDim: 768 }, 'bf16');
  if (!('reason' in plan)) {
    const ms = (await measure(() => { g.rnnGridBarrierTest(RNN_CELLS.lstm, plan.blocks, plan.threads, 1024); g.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;
    console.log(JSON.stringify({ barrier: { blocks: plan.blocks, threads: plan.threads, steps: 1024, ms, usPerBarrier: (ms * 1000) / 1024 } }));
  }
};
if (GRID) await gridRows();
for (const dtype of GRID ? [] : ['f32', 'bf16'] as DType[]) {
  for (const cell of ['lstm', 'slstm', 'gru', 'elman'] as RnnCellName[]) {
    add(await bench(cell, 12, 64, dtype, 'fused'));
    if (cell === 'lstm' || cell === 'slstm') add(await bench(cell, 12, 64, dtype, 'alternating'));
  }
  for (const cell of ['lstm', 'slstm'] as RnnCellName[]) {
    // 6 × 128: fused only in bf16 (R_n as bf16 bits fits a block's shared memory; in f32 it does not)
    if (dtype === 'bf16') add(await bench(cell, 6, 128, dtype, 'fused'));
    add(await bench(cell, 6, 128, dtype, 'alternating'));
  }
  if (!QUICK) for (const cell of ['lstm', 'slstm'] as RnnCellName[]) add(await bench(cell, 1, 768, dtype, 'alternating'));
}
if (!QUICK && !GRID) await gridRows();
const sweeps: Row[] = [];
if (!QUICK && !GRID) {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const B of [1, 4, 16, 64, 256]) { const row = await bench('lstm', 12, 64, dtype, 'fused', B, 1024); sweeps.push(row); console.log(JSON.stringify(row)); }
    for (const T of [256, 4096]) { const row = await bench('lstm', 12, 64, dtype, 'fused', 16, T); sweeps.push(row); console.log(JSON.stringify(row)); }
  }
  // The alternating path's launch floor: the same launches (2 per step each way) on a tiny problem (1 × 8).
  add({ ...(await bench('lstm', 1, 8, 'f32', 'alternating')), note: 'launch floor' });
}
const table = (rs: Row[]) => ['| cell | heads × d | storage | kernel | B | T | forward ms | forward+backward ms |', '| --- | --- | --- | --- | ---: | ---: | ---: | ---: |',
  ...rs.map((r) => `| ${r.cell}${r.note ? ` (${r.note})` : ''} | ${r.heads} × ${r.d} | ${r.dtype} | ${r.kernel} | ${r.B} | ${r.T} | ${r.fwdMs.toFixed(2)} | ${r.fwdBwdMs.toFixed(2)} |`)].join('\n');
console.log(`\n${g.device.name}, median of ${RUNS}\n\n${table(rows)}\n\nSweeps (fused LSTM 12 × 64):\n\n${table(sweeps)}`);
const file = option('--out');
if (file) writeFileSync(file, JSON.stringify({ device: g.device.name, runs: RUNS, rows, sweeps }, null, 2));
