/**
 * CPU benchmark of the non-linear recurrences (LSTM, GRU, Elman, sLSTM): rnn() of src/cells/rnn.ts
 * on its two paths, the autograd time loop (the reference) and the fused CPU kernel
 * (src/backend/cpu/rnn.ts), at a CPU-sized config: B = 16, T = 256, hidden 256 as 1 head of 256
 * and 4 heads of 64, f32.
 *
 *   node dist/bench/rnn.js [--quick] [--threads] [--runs N] [--cells lstm,slstm] [--heads 1,4]
 *                          [--batch 16] [--time 256] [--hidden 256]
 *
 * Timed: forward + backward of rnn() alone from a given Wx (the input projection is outside the
 * recurrence, as in FlashRNN's benchmarks), gradients w.r.t. wx, r and b; and the forward alone
 * under noGrad (inference). Median of the timed runs after one warm-up run; tokens/s = B·T / time.
 * Prints a Markdown table (the BENCHMARKS.md section is this output).
 * By default the GEMM runs on the calling thread only (steadier figures on a shared machine);
 * --threads turns the matmul worker threads on.
 */
import '../src/default-backend.js';
import { rnn, RNN_CELLS, type RnnCellName } from '../src/cells/rnn.js';
import { randn } from '../src/tensor/creation.js';
import { noGrad } from '../src/tensor/engine.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';
import { cpuThreadsReady, enableCpuThreads } from '../src/backend/cpu/threads-node.js';
import { fmt, isMainModule, machineInfo, measure, median, type Timing } from '../src/bench/report.js';

export interface RnnBenchOptions {
  batch: number;
  time: number;
  hidden: number;
  heads: readonly number[];
  cells: readonly RnnCellName[];
  runs: number;
  warmup: number;
}

export interface RnnBenchRow {
  cell: RnnCellName;
  heads: number;
  headDim: number;
  mode: 'forward+backward' | 'forward (no grad)';
  loopMs: number;
  fusedMs: number;
  /** loopMs / fusedMs */
  speedup: number;
  loopTokensPerS: number;
  fusedTokensPerS: number;
}

/** Inputs of one case: wx, r, b requiring grad (r scaled so the recurrence stays contractive) and an output gradient. */
function inputs(cell: RnnCellName, o: RnnBenchOptions, heads: number, rng: Rng): { wx: Tensor; r: Tensor; b: Tensor; dy: Tensor } {
  const spec = RNN_CELLS[cell];
  const d = o.hidden / heads;
  return {
    wx: randn([o.batch, o.time, spec.gates, heads, d], { rng, requiresGrad: true }),
    r: randn([spec.gates, heads, d, d], { rng, std: 1 / Math.sqrt(d), requiresGrad: true }),
    b: randn([spec.biases, heads, d], { rng, std: 0.1, requiresGrad: true }),
    dy: randn([o.batch, o.time, o.hidden], { rng }),
  };
}

async function timeCase(cell: RnnCellName, fused: boolean, grad: boolean, t: ReturnType<typeof inputs>, o: RnnBenchOptions): Promise<Timing> {
  const run = () => {
    if (grad) {
      scope(() => rnn(t.wx, t.r, t.b, { cell, fused }).outputs.backward(t.dy));
      for (const p of [t.wx, t.r, t.b]) {
        p.grad?.dispose();
        p.grad = null;
      }
    } else {
      noGrad(() => scope(() => { rnn(t.wx, t.r, t.b, { cell, fused }); }));
    }
  };
  return measure(run, { runs: o.runs, warmup: o.warmup });
}

export async function benchRnn(o: RnnBenchOptions, onCase?: (what: string) => void): Promise<RnnBenchRow[]> {
  const rows: RnnBenchRow[] = [];
  const tokens = o.batch * o.time;
  for (const cell of o.cells) {
    for (const heads of o.heads) {
      if (o.hidden % heads !== 0) throw new Error(`bench rnn: hidden ${o.hidden} is not divisible by heads ${heads}`);
      const t = inputs(cell, o, heads, new Rng(1));
      for (const grad of [true, false]) {
        onCase?.(`${cell} ${heads}×${o.hidden / heads} ${grad ? 'fwd+bwd' : 'fwd'}`);
        const loop = await timeCase(cell, false, grad, t, o);
        const fused = await timeCase(cell, true, grad, t, o);
        rows.push({
          cell, heads, headDim: o.hidden / heads, mode: grad ? 'forward+backward' : 'forward (no grad)',
          loopMs: loop.medianMs, fusedMs: fused.medianMs, speedup: loop.medianMs / fused.medianMs,
          loopTokensPerS: tokens / (loop.medianMs / 1000), fusedTokensPerS: tokens / (fused.medianMs / 1000),
        });
      }
      for (const x of Object.values(t)) x.dispose();
    }
  }
  return rows;
}

export function rnnBenchMarkdown(rows: readonly RnnBenchRow[], o: RnnBenchOptions, notes: readonly string[]): string {
  const m = machineInfo();
  const lines = [
    `B = ${o.batch}, T = ${o.time}, hidden ${o.hidden}, f32; median of ${o.runs} runs after ${o.warmup} warm-up; ${m.cpu}, ${m.cores} cores, Node ${m.node}.`,
    ...notes.map((n) => `${n}`),
    '',
    '| cell | heads × d | pass | autograd loop ms | fused ms | speed-up | loop tokens/s | fused tokens/s |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.cell} | ${r.heads} × ${r.headDim} | ${r.mode} | ${fmt(r.loopMs)} | ${fmt(r.fusedMs)} | ${r.speedup.toFixed(1)}× | ${fmt(r.loopTokensPerS)} | ${fmt(r.fusedTokensPerS)} |`),
  ];
  const fb = rows.filter((r) => r.mode === 'forward+backward').map((r) => r.speedup);
  if (fb.length) lines.push('', `Median speed-up of forward+backward: ${median(fb).toFixed(1)}× (range ${Math.min(...fb).toFixed(1)}–${Math.max(...fb).toFixed(1)}×).`);
  return lines.join('\n') + '\n';
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (isMainModule(import.meta.url)) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const list = (name: string, dflt: string) => (argValue(args, name) ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
  const int = (name: string, dflt: number) => {
    const v = Number(argValue(args, name) ?? dflt);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`bench rnn: ${name} must be a positive integer`);
    return v;
  };
  const cells = list('--cells', 'lstm,gru,elman,slstm') as RnnCellName[];
  for (const c of cells) if (!RNN_CELLS[c]) throw new Error(`bench rnn: unknown cell '${c}' (${Object.keys(RNN_CELLS).join(', ')})`);
  const o: RnnBenchOptions = {
    batch: int('--batch', quick ? 3 : 16), time: int('--time', quick ? 16 : 256), hidden: int('--hidden', quick ? 16 : 256),
    heads: list('--heads', '1,4').map(Number), cells, runs: int('--runs', quick ? 1 : 3), warmup: 1,
  };
  const notes: string[] = [];
  if (args.includes('--threads')) {
    const threads = enableCpuThreads();
    notes.push(`matmul worker threads: ${await cpuThreadsReady()} ready of ${threads} (the pointwise passes are single-threaded).`);
  } else {
    notes.push('matmul on the calling thread only (no worker threads).');
  }
  if (quick) notes.push('--quick: tiny shapes, a smoke test rather than a measurement.');
  const rows = await benchRnn(o, (what) => console.error(`bench rnn: ${what}...`));
  process.stdout.write(rnnBenchMarkdown(rows, o, notes));
  process.exit(0);
}
