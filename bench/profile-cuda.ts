/**
 * Where the time of a GPU step goes, by backend method: every public method of a CudaBackend is
 * wrapped to synchronise before and after and add its wall time to a table (method, first
 * argument when it names an op). Synchronising every call removes overlap, so the sum exceeds the
 * step's real time; the split is what it is for. Calls are labelled by their largest buffer. Profiles the LRU layer of bench/gpu-lru.ts.
 *
 * Usage: node dist/bench/profile-cuda.js [--time T] [--tf32] [--gemms]  (--gemms: the layer's GEMM shapes alone first)
 */
import '../src/default-backend.js';
import type { CudaBackend } from '../src/backend/cuda/cuda.js';
import { registerCudaBackend } from '../src/register-cuda.js';
import { randn } from '../src/tensor/creation.js';
import { backend } from '../src/tensor/engine.js';
import { matmul, reshape, sum } from '../src/tensor/ops.js';
import { measure } from '../src/bench/report.js';
import { LRU_BENCH, lruBenchStep } from './lru-step.js';
import { Rng } from '../src/tensor/random.js';
import { scope } from '../src/tensor/tensor.js';

const args = process.argv.slice(2);
const option = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const { B, H, N } = LRU_BENCH, T = Number(option('--time') ?? 4096);
registerCudaBackend();
const g = backend('cuda') as CudaBackend;
g.allowTF32 = args.includes('--tf32');

/** Wraps g's public methods; returns the table of [label, ms, calls] it fills. */
function instrument(target: CudaBackend): Map<string, [number, number]> {
  const table = new Map<string, [number, number]>();
  const skip = new Set(['constructor', 'synchronize', 'alloc', 'free', 'liveBuffers', 'readSync', 'read']);
  const proto = Object.getPrototypeOf(target) as Record<string, unknown>;
  let depth = 0;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = proto[name];
    if (skip.has(name) || typeof fn !== 'function') continue;
    (target as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
      if (depth > 0) return (fn as (...x: unknown[]) => unknown).apply(target, a);
      depth++;
      target.synchronize();
      const t0 = performance.now();
      try { return (fn as (...x: unknown[]) => unknown).apply(target, a); } finally {
        target.synchronize();
        depth--;
        // the largest buffer argument tells the big calls from the small ones
        const elems = Math.max(0, ...a.map((x) => (typeof x === 'object' && x && 'length' in x && 'dtype' in x ? Number((x as { length: number }).length) : 0)));
        const label = `${typeof a[0] === 'string' ? `${name}:${a[0]}` : name} ${elems >= 1e6 ? `${(elems / 1e6).toFixed(0)}M` : 'small'}`;
        const row = table.get(label) ?? [0, 0];
        row[0] += performance.now() - t0; row[1]++;
        table.set(label, row);
      }
    };
  }
  return table;
}

if (args.includes('--gemms')) {
  // The LRU's GEMM shapes alone: forward x·Wᵀ, backward g·W and the weight gradient gᵀ·x (k = B·T).
  const rows = B * T, x = randn([rows, H], { backend: g, rng: new Rng(5) }), w = randn([H, H], { backend: g, rng: new Rng(6) });
  const cases: [string, () => unknown][] = [
    ['x·Wᵀ (forward)', () => matmul(x, w, { transB: true })],
    ['g·W (backward, input)', () => matmul(x, w)],
    ['gᵀ·x (backward, weight; k = B·T)', () => matmul(x, x, { transA: true })],
    ['gᵀ·x as 64 batched k = T GEMMs + sum', () => sum(matmul(reshape(x, [B, T, H]), reshape(x, [B, T, H]), { transA: true }), 0)],
  ];
  for (const [name, fn] of cases) {
    const ms = (await measure(() => { scope(() => { fn(); }); g.synchronize(); }, { warmup: 2, runs: 7 })).medianMs;
    console.log(`${ms.toFixed(3).padStart(8)} ms  ${name}`);
  }
}

const { step } = lruBenchStep(g, T);
step(); step();
const table = instrument(g);
const RUNS = 3;
for (let r = 0; r < RUNS; r++) step();
const rows = [...table.entries()].sort((a, b) => b[1][0] - a[1][0]);
const total = rows.reduce((s, [, [ms]]) => s + ms, 0) / RUNS;
console.log(`${g.device.name}, LRU layer B ${B}, H ${H}, N ${N}, T ${T}, ${g.allowTF32 ? 'TF32' : 'FP32'}; ms per step (synchronised per call), total ${total.toFixed(2)}`);
for (const [label, [ms, calls]] of rows) console.log(`${(ms / RUNS).toFixed(3).padStart(8)} ms  ${String(calls / RUNS).padStart(4)}×  ${label}`);
