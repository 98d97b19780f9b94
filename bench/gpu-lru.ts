/**
 * GPU benchmark of the LRU layer (src/cells/lru.ts) on the CUDA backend: forward + backward of
 * sum(y) w.r.t. the input and every parameter, B = 64, H = 512, N = 256, f32, T = 512 … 4096;
 * f32 GEMMs strict FP32 and with TF32 allowed (JAX's default precision for f32 matmuls on the
 * H100 uses TF32). Also the complexScan kernels alone (forward + reverse-scan backward, B·N
 * channels). Median of RUNS after warm-up, synchronised around each run. Prints one JSON line per
 * row, then a markdown table.
 *
 * Usage: node dist/bench/gpu-lru.js [--runs N] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import '../src/default-backend.js';
import type { CudaBackend } from '../src/backend/cuda/cuda.js';
import { registerCudaBackend } from '../src/register-cuda.js';
import { randn } from '../src/tensor/creation.js';
import { backend, noGrad } from '../src/tensor/engine.js';
import { linear } from '../src/nn/functional.js';
import { Rng } from '../src/tensor/random.js';
import { scope } from '../src/tensor/tensor.js';
import { measure } from '../src/bench/report.js';
import { LRU_BENCH, lruBenchStep } from './lru-step.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const RUNS = Number(option('--runs') ?? 7), WARMUP = 2;
const { B, H, N } = LRU_BENCH;
const TIMES = [512, 1024, 2048, 4096];
const JAX = [1.81, 3.68, 5.99, 11.89];
registerCudaBackend();
const g = backend('cuda') as CudaBackend;

/** Median ms of fn with the device synchronised inside each timed run. */
const time = async (fn: () => void): Promise<number> => (await measure(() => { fn(); g.synchronize(); }, { warmup: WARMUP, runs: RUNS })).medianMs;

interface Row { T: number; strictMs: number; tf32Ms: number; fwdMs: number; scanMs: number; gemmMs: number; jaxMs: number }
const rows: Row[] = [];
const w = randn([2 * N, H], { backend: g, dtype: 'f32', rng: new Rng(4) }).keep();
for (const [j, T] of TIMES.entries()) {
  const { layer, u, step } = lruBenchStep(g, T);
  g.allowTF32 = false;
  const strictMs = await time(step);
  g.allowTF32 = true;
  const tf32Ms = await time(step);
  const fwdMs = await time(() => scope(() => { noGrad(() => layer.forward(u)); }));
  // one of the layer's six GEMMs: [B·T, 512] · [512, 512]ᵀ in TF32
  const gemmMs = await time(() => scope(() => { noGrad(() => linear(u, w)); }));
  g.allowTF32 = false;
  // the scan kernels alone on B·N channels
  const n = B * T * 2 * N, dims = { outer: B, time: T, channels: N };
  const lam = g.alloc(2 * N, 'f32'), ub = g.alloc(n, 'f32');
  const rng = new Rng(3);
  const fill = new Float32Array(n);
  rng.fillUniform(fill, -1, 1); g.write(ub, fill);
  rng.fillUniform(fill.subarray(0, 2 * N), -0.7, 0.7); g.write(lam, fill.subarray(0, 2 * N));
  const out = g.alloc(n, 'f32'), dx = g.alloc(n, 'f32'), du = g.alloc(n, 'f32'), dlam = g.alloc(2 * N, 'f32');
  g.fill(dx, 1);
  const scanMs = await time(() => {
    g.complexScan(lam, ub, null, out, dims);
    g.complexScanGrad(lam, out, null, dx, du, dlam, null, dims);
  });
  for (const b of [lam, ub, out, dx, du, dlam]) g.free(b);
  u.grad?.dispose();
  u.dispose();
  layer.dispose();
  const row = { T, strictMs, tf32Ms, fwdMs, scanMs, gemmMs, jaxMs: JAX[j] };
  rows.push(row);
  console.log(JSON.stringify(row));
}
w.dispose();
const table = ['| T | fwd+bwd ms, FP32 GEMMs | fwd+bwd ms, TF32 GEMMs | forward only, TF32 | complexScan fwd+bwd kernels | one of the 6 GEMMs, TF32 | JAX associative_scan ms |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.T} | ${r.strictMs.toFixed(2)} | ${r.tf32Ms.toFixed(2)} | ${r.fwdMs.toFixed(2)} | ${r.scanMs.toFixed(2)} | ${r.gemmMs.toFixed(2)} | ${r.jaxMs.toFixed(2)} |`)].join('\n');
console.log(`\n${g.device.name}, LRU layer B = ${B}, H = ${H}, N = ${N}, f32 storage, median of ${RUNS}\n\n${table}`);
const file = option('--out');
if (file) writeFileSync(file, JSON.stringify({ device: g.device.name, B, H, N, runs: RUNS, rows }, null, 2));
