/**
 * Benchmark of the Mesa operator (mesaAttention, src/cells/mesa.ts): forward + backward of
 * sum(o ⊙ w) w.r.t. q, k, v, the gates and Λ, 30 and 10 CG steps, chunk 64.
 * On CUDA (default) at the issue's configuration B = 8, 8 heads × 128, T = 1024 and 4096; the anchor is
 * flash-linear-attention's chunked Triton `chunk_mesa_net` in bf16, measured on this H100 (4.02 ms
 * at T = 1024, 10.13 ms at T = 4096). Ours runs in f32 storage with strict FP32 or TF32 GEMMs
 * (bf16 storage is not offered for CG: its residuals lose the digits CG needs), plus a 10-step
 * row for scale. With --device cpu a CPU-sized configuration (B = 8, 2 heads × 32, T = 256) in f32.
 * Median of RUNS after warm-up, synchronised around each run.
 *
 * Usage: node dist/bench/mesa.js [--device cuda|cpu] [--runs N] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import '../src/default-backend.js';
import type { CudaBackend } from '../src/backend/cuda/cuda.js';
import { registerCudaBackend } from '../src/register-cuda.js';
import { mesaAttention } from '../src/cells/mesa.js';
import { randn } from '../src/tensor/creation.js';
import { backend } from '../src/tensor/engine.js';
import { add, mul, sigmoid, sqrt, sum, logSigmoid, div } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';
import { measure } from '../src/bench/report.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const RUNS = Number(option('--runs') ?? 5), WARMUP = 1;
const onGpu = (option('--device') ?? 'cuda') === 'cuda';
const [B, h, d] = onGpu ? [8, 8, 128] : [8, 2, 32];
const TIMES = onGpu ? [1024, 4096] : [256];
const ANCHOR: Record<number, number> = onGpu ? { 1024: 4.02, 4096: 10.13 } : {};
if (onGpu) registerCudaBackend();
const g = backend(onGpu ? 'cuda' : 'cpu');
const cuda = onGpu ? (g as CudaBackend) : null;

interface Row { T: number; cgSteps: number; gemms: string; fwdMs: number; fwdBwdMs: number; anchorMs: number | null }
const rows: Row[] = [];

const unitRows = (x: Tensor) => div(x, sqrt(sum(mul(x, x), -1, true)));

for (const T of TIMES) {
  const rng = new Rng(T);
  const leaf = (shape: number[]) => { const t = randn(shape, { backend: g, dtype: 'f32', rng }).keep(); t.requiresGrad = true; return t; };
  const qRaw = leaf([B, h, T, d]), kRaw = leaf([B, h, T, d]), v = leaf([B, h, T, d]);
  const betaRaw = leaf([B, h, T]), gammaRaw = leaf([B, h, T]), lam = leaf([h, d]);
  const w = randn([B, h, T, d], { backend: g, dtype: 'f32', rng }).keep();
  const inputs = () => ({
    q: unitRows(qRaw), k: unitRows(kRaw), beta: sigmoid(betaRaw),
    // forget gates near 1, as trained Mesa heads have
    logGamma: logSigmoid(add(gammaRaw, 4)), lambda: add(mul(lam, 0), 1),
  });
  for (const cgSteps of [30, 10]) {
    for (const tf32 of onGpu ? [false, true] : [false]) {
      if (cuda) cuda.allowTF32 = tf32;
      const run = (backward: boolean) => scope(() => {
        const x = inputs();
        const o = mesaAttention(x.q, x.k, v, x.beta, x.logGamma, x.lambda, { cgSteps }).out;
        if (backward) {
          for (const p of [qRaw, kRaw, v, betaRaw, gammaRaw, lam]) { p.grad?.dispose(); p.grad = null; }
          sum(mul(o, w)).backward();
        }
      });
      const time = async (backward: boolean) => (await measure(() => { run(backward); cuda?.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;
      const row = { T, cgSteps, gemms: onGpu ? (tf32 ? 'TF32' : 'FP32') : 'CPU f32', fwdMs: await time(false), fwdBwdMs: await time(true), anchorMs: cgSteps === 30 ? ANCHOR[T] ?? null : null };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  for (const t of [qRaw, kRaw, v, betaRaw, gammaRaw, lam, w]) { t.grad?.dispose(); t.dispose(); }
}
if (cuda) cuda.allowTF32 = false;
const table = ['| T | CG steps | GEMMs | forward ms | forward+backward ms | fla chunk_mesa_net bf16 ms (anchor) | ratio |', '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.T} | ${r.cgSteps} | ${r.gemms} | ${r.fwdMs.toFixed(1)} | ${r.fwdBwdMs.toFixed(1)} | ${r.anchorMs ?? '—'} | ${r.anchorMs ? `${(r.fwdBwdMs / r.anchorMs).toFixed(1)}× slower` : '—'} |`)].join('\n');
const machine = cuda ? cuda.device.name : `CPU (${(await import('node:os')).cpus().length} cores)`;
console.log(`\n${machine}, Mesa operator, B = ${B}, ${h} heads × ${d}, chunk 64, f32 storage, median of ${RUNS}\n\n${table}`);
const file = option('--out');
if (file) writeFileSync(file, JSON.stringify({ device: machine, B, heads: h, headDim: d, runs: RUNS, rows }, null, 2));
