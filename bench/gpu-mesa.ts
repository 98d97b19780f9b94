/**
 * GPU benchmark of the Mesa operator (mesaAttention, src/cells/mesa.ts) on the CUDA backend:
 * forward + backward of sum(o ⊙ w) w.r.t. q, k, v, the gates and Λ, at the issue's configuration
 * B = 8, 8 heads × 128, 30 CG steps, chunk 64, T = 1024 and 4096. The anchor is
 * flash-linear-attention's chunked Triton `chunk_mesa_net` in bf16, measured on this H100 (4.02 ms
 * at T = 1024, 10.13 ms at T = 4096). Ours runs in f32 storage with strict FP32 or TF32 GEMMs
 * (bf16 storage is not offered for CG: its residuals lose the digits CG needs), plus a 10-step
 * row for scale. Median of RUNS after warm-up, synchronised around each run.
 *
 * Usage: node dist/bench/gpu-mesa.js [--runs N] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { registerCudaBackend, type CudaBackend } from '../src/backend/cuda/cuda.js';
import { mesaAttention } from '../src/cells/mesa.js';
import { randn } from '../src/tensor/creation.js';
import { backend } from '../src/tensor/engine.js';
import { add, mul, sigmoid, sqrt, sum, logSigmoid, div } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';
import { measure } from './report.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const RUNS = Number(option('--runs') ?? 5), WARMUP = 1;
const B = 8, h = 8, d = 128;
const ANCHOR: Record<number, number> = { 1024: 4.02, 4096: 10.13 };
registerCudaBackend();
const g = backend('cuda') as CudaBackend;

interface Row { T: number; cgSteps: number; gemms: string; fwdMs: number; fwdBwdMs: number; anchorMs: number | null }
const rows: Row[] = [];

const unitRows = (x: Tensor) => div(x, sqrt(sum(mul(x, x), -1, true)));

for (const T of [1024, 4096]) {
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
    for (const tf32 of [false, true]) {
      g.allowTF32 = tf32;
      const run = (backward: boolean) => scope(() => {
        const x = inputs();
        const o = mesaAttention(x.q, x.k, v, x.beta, x.logGamma, x.lambda, { cgSteps }).out;
        if (backward) {
          for (const p of [qRaw, kRaw, v, betaRaw, gammaRaw, lam]) { p.grad?.dispose(); p.grad = null; }
          sum(mul(o, w)).backward();
        }
      });
      const time = async (backward: boolean) => (await measure(() => { run(backward); g.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;
      const row = { T, cgSteps, gemms: tf32 ? 'TF32' : 'FP32', fwdMs: await time(false), fwdBwdMs: await time(true), anchorMs: cgSteps === 30 ? ANCHOR[T] : null };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  for (const t of [qRaw, kRaw, v, betaRaw, gammaRaw, lam, w]) { t.grad?.dispose(); t.dispose(); }
}
g.allowTF32 = false;
const table = ['| T | CG steps | GEMMs | forward ms | forward+backward ms | fla chunk_mesa_net bf16 ms (anchor) | ratio |', '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.T} | ${r.cgSteps} | ${r.gemms} | ${r.fwdMs.toFixed(1)} | ${r.fwdBwdMs.toFixed(1)} | ${r.anchorMs ?? '—'} | ${r.anchorMs ? `${(r.fwdBwdMs / r.anchorMs).toFixed(1)}× slower` : '—'} |`)].join('\n');
console.log(`\n${g.device.name}, Mesa operator, B = ${B}, ${h} heads × ${d}, chunk 64, f32 storage, median of ${RUNS}\n\n${table}`);
const file = option('--out');
if (file) writeFileSync(file, JSON.stringify({ device: g.device.name, B, heads: h, headDim: d, runs: RUNS, rows }, null, 2));
