/**
 * The CPU benchmark (`npm run bench`, which runs bench/cpu.ts, or `recur bench cpu`): one function
 * per section, each returning report rows; the report goes to bench/results/cpu.{json,md}.
 *
 *  - matmul: square f32 GEMM at 256/512/1024 (src/bench/matmul.ts), GFLOP/s, with the reference
 *    figures of BENCHMARKS.md#reference-figures (TensorFlow.js WASM, PyTorch 1.13 CPU) as ratios;
 *  - scan: linearScan and logScan, forward and forward+backward, elements/s; complexScan (the
 *    LRU's packed complex diagonal scan), complex elements/s;
 *  - train-step: one recurrent layer + Linear with Adam, tokens/s (src/bench/train-step.ts), with the
 *    PyTorch and TensorFlow.js figures of BENCHMARKS.md#reference-figures.
 *
 * To add a section: write `async function benchX(opts): Promise<BenchRow[]>` (here or in its own
 * src/bench/*.ts) and add it to SECTIONS.
 */
import { randn, rand } from '../tensor/creation.js';
import { linearScan, logScan } from '../tensor/ops.js';
import { complexScan } from '../tensor/complex-scan.js';
import type { Tensor } from '../tensor/tensor.js';
import { cpuThreadsReady, enableCpuThreads } from '../backend/cpu/threads-node.js';
import { benchMatmul } from './matmul.js';
import { benchTrainStep } from './train-step.js';
import { createReport, makeRow, measure, rowFromThroughput, type BenchReport, type BenchRow, type Reference } from './report.js';

export interface CpuBenchOptions {
  /** Timed runs per case (median reported). Default 7; quick: 3. */
  runs?: number;
  /** Untimed runs before timing. Default 2; quick: 1. */
  warmup?: number;
  /** Smaller shapes and fewer runs: a smoke test of the benchmark itself, not a measurement. */
  quick?: boolean;
  /** Only these sections (default: all). */
  sections?: readonly string[];
  /** Only these cells in the train-step section (default: all). */
  cells?: readonly string[];
  /** Comparison figures measured in the same run, by cell (the train-step section reports ratios). */
  trainStepReferences?: Readonly<Record<string, Reference[]>>;
  /** Called with each section's name as it starts (progress output). */
  onSection?: (name: string) => void;
}

type Section = (opts: Required<Pick<CpuBenchOptions, 'runs' | 'warmup' | 'quick'>> & Pick<CpuBenchOptions, 'trainStepReferences' | 'cells'>) => Promise<BenchRow[]>;

const REF_SOURCE = 'BENCHMARKS.md#reference-figures, 2-core development machine';
/** Square f32 matmul GFLOP/s by size, BENCHMARKS.md#reference-figures. */
const MATMUL_REFERENCES: Record<number, Reference[]> = Object.fromEntries(
  ([[256, 15.6, 4.1], [512, 20.4, 5.7], [1024, 24.9, 5.1]] as const).map(([n, tfjs, torch]) => [
    n,
    [
      { label: 'TF.js WASM', value: tfjs, source: `TensorFlow.js 4.22 WebAssembly backend (XNNPACK, SIMD); ${REF_SOURCE}` },
      { label: 'PyTorch CPU', value: torch, source: `Debian PyTorch 1.13, 2 threads; ${REF_SOURCE}` },
    ],
  ]),
);

const benchMatmulSection: Section = async ({ quick }) => {
  const sizes = quick ? [256] : [256, 512, 1024];
  const rows = await benchMatmul(sizes);
  return rows.map((r) => {
    const n = Number(/^(\d+)/.exec(r.shape)?.[1]);
    return rowFromThroughput(
      { section: 'matmul', name: r.name, shapes: `${r.shape} f32`, unit: 'GFLOP/s', references: MATMUL_REFERENCES[n] },
      r.medianMs,
      r.gflops,
    );
  });
};

/** Drops the gradients that backward() accumulated into leaves, so every run does the same work. */
function clearGrads(...ts: Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

const benchScanSection: Section = async ({ runs, warmup, quick }) => {
  const shape = quick ? [4, 256, 64] : [32, 1024, 256];
  const elements = shape.reduce((x, y) => x * y, 1);
  const shapes = `[${shape.join(', ')}] f32, scan over axis 1`;
  const rows: BenchRow[] = [];
  const cases: { name: string; op: (a: Tensor, b: Tensor) => Tensor; a: () => Tensor }[] = [
    // a in (0, 1): a stable decay; log a < 0 for the log-space scan.
    { name: 'linearScan', op: (a, b) => linearScan(a, b), a: () => rand(shape, { low: 0.5, high: 0.99, requiresGrad: true }) },
    { name: 'logScan', op: (a, b) => logScan(a, b), a: () => rand(shape, { low: -0.7, high: -0.01, requiresGrad: true }) },
  ];
  for (const c of cases) {
    const a = c.a(), b = randn(shape, { requiresGrad: true }), dy = randn(shape);
    const fwd = await measure(() => c.op(a, b).dispose(), { runs, warmup });
    rows.push(makeRow({ section: 'scan', name: `${c.name} forward`, shapes, unit: 'Melem/s' }, fwd, elements, 1e6));
    const fwdBwd = await measure(() => {
      const y = c.op(a, b);
      y.backward(dy);
      y.dispose();
      clearGrads(a, b);
    }, { runs, warmup });
    rows.push(makeRow({ section: 'scan', name: `${c.name} forward+backward`, shapes, unit: 'Melem/s' }, fwdBwd, elements, 1e6));
    for (const t of [a, b, dy]) t.dispose();
  }
  rows.push(...await benchComplexScan({ runs, warmup, quick }));
  return rows;
};

/** complexScan over [B, T, 2, C] with one λ [2, C] (|λ| < 1), forward and forward+backward. */
async function benchComplexScan({ runs, warmup, quick }: { runs: number; warmup: number; quick: boolean }): Promise<BenchRow[]> {
  const [B, T, C] = quick ? [2, 256, 32] : [16, 1024, 256];
  const shapes = `u [${B}, ${T}, 2, ${C}] f32, λ [2, ${C}]`;
  const lambda = rand([2, C], { low: -0.7, high: 0.7, requiresGrad: true });
  const u = randn([B, T, 2, C], { requiresGrad: true }), dy = randn([B, T, 2, C]);
  const elements = B * T * C;
  const rows: BenchRow[] = [];
  const fwd = await measure(() => complexScan(lambda, u).dispose(), { runs, warmup });
  rows.push(makeRow({ section: 'scan', name: 'complexScan forward', shapes, unit: 'M complex elem/s' }, fwd, elements, 1e6));
  const fwdBwd = await measure(() => {
    const y = complexScan(lambda, u);
    y.backward(dy);
    y.dispose();
    clearGrads(lambda, u);
  }, { runs, warmup });
  rows.push(makeRow({ section: 'scan', name: 'complexScan forward+backward', shapes, unit: 'M complex elem/s' }, fwdBwd, elements, 1e6));
  for (const t of [lambda, u, dy]) t.dispose();
  return rows;
}

export const SECTIONS: Record<string, Section> = {
  matmul: benchMatmulSection,
  scan: benchScanSection,
  'train-step': (o) => benchTrainStep({ ...o, references: o.trainStepReferences, cells: o.cells }),
};

export async function runCpuBench(opts: CpuBenchOptions = {}): Promise<BenchReport> {
  const quick = opts.quick ?? false;
  const settings = { quick, runs: opts.runs ?? (quick ? 3 : 7), warmup: opts.warmup ?? (quick ? 1 : 2), trainStepReferences: opts.trainStepReferences, cells: opts.cells };
  const names = opts.sections ?? Object.keys(SECTIONS);
  for (const n of names) if (!SECTIONS[n]) throw new Error(`unknown benchmark section '${n}' (have: ${Object.keys(SECTIONS).join(', ')})`);
  const threads = enableCpuThreads();
  const ready = await cpuThreadsReady();
  const rows: BenchRow[] = [];
  for (const n of names) {
    opts.onSection?.(n);
    rows.push(...(await SECTIONS[n]!(settings)));
  }
  // Reference figures hold for the full shapes only.
  if (quick) for (const row of rows) row.references = [];
  const notes = [
    `median of ${settings.runs} timed runs after ${settings.warmup} warm-up runs (matmul: src/bench/matmul.ts's own run counts)`,
    `CPU threads: ${ready} ready of ${threads} (matmul, the SIMD element-wise kernels and the fused cell scans use them above their size thresholds)`,
  ];
  if (quick) notes.push('--quick: reduced shapes, a smoke test rather than a measurement');
  return createReport('cpu', rows, notes);
}
