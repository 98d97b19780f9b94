/**
 * GPU benchmark of the non-linear recurrences on the CUDA alternating path (CudaBackend.rnnForward
 * + rnnBackward, kernels/rnn.ts): FlashRNN's configuration, B = 16, T = 1024, hidden 768,
 * forward+backward from a given Wx (gradients w.r.t. wx, r, b), LSTM and sLSTM at 12 heads × 64 and
 * 1 head × 768, f32 (strict FP32 GEMMs) and bf16 storage (f32 accumulate). Median of RUNS after
 * warm-up, synchronised around each run. A last row (LSTM 1 × 8) measures the launch floor: the
 * same 2 launches per step each way on a problem too small to cost GPU time. Prints one JSON line per row, then a markdown table.
 *
 * Usage: node dist/bench/gpu-rnn.js [--runs N] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { CudaBackend } from '../src/backend/cuda/cuda.js';
import type { DType, RnnCellKind, RnnDims } from '../src/backend/backend.js';
import { RNN_CELL_LAYOUT } from '../src/backend/cpu/rnn.js';
import { Rng } from '../src/tensor/random.js';
import { measure } from './report.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const RUNS = Number(option('--runs') ?? 7), WARMUP = 2;
const B = 16, T = Number(option('--time') ?? 1024);
const g = new CudaBackend();

interface Row { cell: RnnCellKind; heads: number; d: number; dtype: DType; fwdMs: number; fwdBwdMs: number }


async function bench(cell: RnnCellKind, N: number, d: number, dtype: DType): Promise<Row> {
  const L = RNN_CELL_LAYOUT[cell], H = N * d;
  const dims: RnnDims = { batch: B, time: T, heads: N, headDim: d };
  const rng = new Rng(1);
  const mk = (n: number, std: number) => { const a = new Float32Array(n); rng.fillNormal(a, 0, std); const x = g.alloc(n, dtype); g.write(x, a); return x; };
  const wx = mk(B * T * L.gates * H, 1), r = mk(L.gates * N * d * d, 1 / Math.sqrt(d)), b = mk(L.biases * H, 0.5);
  const outLen = (T + L.states) * B * H;
  const dout = mk(outLen, 1);
  const out = g.alloc(outLen, dtype), saved = g.alloc(g.rnnSavedLength(cell, dims), dtype);
  const dwx = g.alloc(B * T * L.gates * H, dtype), dr = g.alloc(L.gates * N * d * d, dtype), db = g.alloc(L.biases * H, dtype);
  const time = async (fn: () => void): Promise<number> => (await measure(() => { fn(); g.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;
  const fwdMs = await time(() => g.rnnForward(cell, wx, r, b, null, out, null, dims));
  const fwdBwdMs = await time(() => {
    g.rnnForward(cell, wx, r, b, null, out, saved, dims);
    g.rnnBackward(cell, r, saved, dout, dwx, dr, db, null, dims);
  });
  for (const x of [wx, r, b, dout, out, saved, dwx, dr, db]) g.free(x);
  return { cell, heads: N, d, dtype, fwdMs, fwdBwdMs };
}

const rows: Row[] = [];
for (const dtype of ['f32', 'bf16'] as DType[]) {
  for (const cell of ['lstm', 'slstm'] as RnnCellKind[]) {
    for (const [N, d] of [[12, 64], [1, 768]]) {
      const row = await bench(cell, N, d, dtype);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
}
// The launch floor: the same number of launches (2 per step each way) on a tiny problem (1 × 8).
for (const cell of ['lstm'] as RnnCellKind[]) {
  const row = await bench(cell, 1, 8, 'f32');
  rows.push(row);
  console.log(JSON.stringify({ ...row, note: 'launch floor' }));
}
const table = ['| cell | heads × d | storage | forward ms | forward+backward ms |', '| --- | --- | --- | ---: | ---: |',
  ...rows.map((r) => `| ${r.cell} | ${r.heads} × ${r.d} | ${r.dtype} | ${r.fwdMs.toFixed(1)} | ${r.fwdBwdMs.toFixed(1)} |`)].join('\n');
console.log(`\n${g.device.name}, B = ${B}, T = ${T}, median of ${RUNS}\n\n${table}`);
const file = option('--out');
if (file) writeFileSync(file, JSON.stringify({ device: g.device.name, B, T, runs: RUNS, rows }, null, 2));
