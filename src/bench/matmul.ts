/**
 * Square f32 matmul benchmark for the CPU backend: pure-JS kernel, wasm SIMD on one thread, and
 * wasm SIMD with the worker-thread pool. Run directly with `node dist/src/bench/matmul.js`.
 */
import { isMainModule } from './report.js';
import {
  getMatmulThreadPool,
  matmul,
  matmulInfo,
  setMatmulKernel,
  setMatmulThreading,
  type MatmulSpec,
} from '../backend/cpu/matmul.js';
import { cpuThreadsReady, disableCpuThreads, enableCpuThreads } from '../backend/cpu/threads-node.js';

export interface MatmulBenchRow {
  name: string;
  shape: string;
  medianMs: number;
  gflops: number;
}

function spec(n: number): MatmulSpec {
  return {
    batch: 1, m: n, n, k: n, transA: false, transB: false,
    aOffset: 0, bOffset: 0, cOffset: 0, aBatchStride: 0, bBatchStride: 0, accumulate: false,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Median wall time of `fn` over `runs` runs after `warmup` runs (and at least ~minMs of warm-up). */
function timeIt(fn: () => void, runs: number, warmup: number, minWarmMs = 50): number {
  const w0 = performance.now();
  for (let i = 0; i < warmup || performance.now() - w0 < minWarmMs; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export async function benchMatmul(sizes: number[] = [256, 512, 1024]): Promise<MatmulBenchRow[]> {
  const rows: MatmulBenchRow[] = [];
  const data = new Map<number, { a: Float32Array; b: Float32Array; c: Float32Array }>();
  for (const n of sizes) {
    const a = new Float32Array(n * n), b = new Float32Array(n * n);
    for (let i = 0; i < a.length; i++) {
      a[i] = Math.random() - 0.5;
      b[i] = Math.random() - 0.5;
    }
    data.set(n, { a, b, c: new Float32Array(n * n) });
  }
  const record = (name: string, n: number, ms: number): void => {
    rows.push({ name, shape: `${n}x${n}x${n}`, medianMs: ms, gflops: (2 * n * n * n) / (ms * 1e6) });
  };
  const runCase = (name: string, jsRuns: boolean): void => {
    for (const n of sizes) {
      const { a, b, c } = data.get(n)!;
      const s = spec(n);
      const runs = jsRuns ? (n >= 1024 ? 3 : 5) : n >= 1024 ? 11 : 21;
      const warm = jsRuns ? 1 : 3;
      record(name, n, timeIt(() => matmul(a, b, c, s), runs, warm, jsRuns ? 0 : 100));
    }
  };

  setMatmulKernel('js');
  try {
    runCase('js (blocked, 1 thread)', true);
  } finally {
    setMatmulKernel('auto');
  }
  const info = matmulInfo();
  if (info.wasm) {
    setMatmulThreading(false);
    try {
      runCase(`wasm-simd 1 thread (${info.tile}${info.fma ? ', relaxed fma' : ''})`, false);
    } finally {
      setMatmulThreading(true);
    }
    // Use the caller's pool if there is one, else a temporary one with all cores.
    const hadPool = getMatmulThreadPool() !== null;
    if (!hadPool) enableCpuThreads();
    try {
      const ready = await cpuThreadsReady();
      if (ready > 1) runCase(`wasm-simd ${ready} threads`, false);
    } finally {
      if (!hadPool) disableCpuThreads();
    }
  }
  return rows;
}

function printTable(rows: MatmulBenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.name.length), 6);
  console.log(`${'kernel'.padEnd(w)}  ${'shape'.padEnd(14)} ${'median ms'.padStart(10)} ${'GFLOP/s'.padStart(8)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)}  ${r.shape.padEnd(14)} ${r.medianMs.toFixed(3).padStart(10)} ${r.gflops.toFixed(1).padStart(8)}`);
  }
}

if (isMainModule(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const rows = await benchMatmul(sizes.length ? sizes : undefined);
  printTable(rows);
}
