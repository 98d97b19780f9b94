/**
 * Training-step throughput of one recurrent layer + Linear(128→128) with Adam on the CPU
 * (BENCHMARKS.md#reference-figures): B = 32, T = 256, D = H = 128, forward + backward + update,
 * tokens/s, for every registered cell with its default options, on 1 thread and on all threads
 * (the worker pool switched off and on in the same process). Comparison figures measured in the
 * same run (jax-js, PyTorch: bench/cpu.ts) come in as `references` and are reported as ratios.
 */
import { cellNames, createCell } from '../cells/registry.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { randn } from '../tensor/creation.js';
import { mean, square, sub } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import type { RecurrentCell } from '../cells/cell.js';
import { matmulInfo, setMatmulThreading } from '../backend/cpu/matmul.js';
import { makeRow, measure, type BenchRow, type Reference } from './report.js';

class LayerAndHead extends Module {
  readonly rnn: RecurrentCell;
  readonly head: Linear;
  constructor(cell: string, dim: number, rng: Rng) {
    super();
    this.rnn = this.module('rnn', createCell(cell, { dim, rng }) as unknown as Module) as unknown as RecurrentCell;
    this.head = this.module('head', new Linear({ inFeatures: dim, outFeatures: dim, rng }));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward((this.rnn.forward(x) as { output: Tensor }).output);
  }
}

export interface TrainStepBenchOptions {
  runs: number;
  warmup: number;
  quick: boolean;
  /** Figures measured in the same run, by cell name: ratios against the all-threads row. */
  references?: Readonly<Record<string, Reference[]>>;
  /** Only these cells (default: every registered cell). */
  cells?: readonly string[];
}

/** One step of `cell`: returns the step function and a disposer. */
export function trainStep(cell: string, B: number, T: number, D: number): { step: () => void; dispose: () => void } {
  const rng = new Rng(1);
  const model = new LayerAndHead(cell, D, rng);
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
  const x = randn([B, T, D], { rng }).keep();
  const y = randn([B, T, D], { rng }).keep();
  return {
    step: () => scope(() => {
      model.zeroGrad();
      mean(square(sub(model.forward(x), y))).backward();
      optimizer.step();
    }),
    dispose: () => { optimizer.dispose(); model.dispose(); x.dispose(); y.dispose(); },
  };
}

export async function benchTrainStep({ runs, warmup, quick, references = {}, cells }: TrainStepBenchOptions): Promise<BenchRow[]> {
  const [B, T, D] = quick ? [4, 64, 32] : [32, 256, 128];
  const rows: BenchRow[] = [];
  const all = matmulInfo().threads;
  for (const cell of cells ?? cellNames()) {
    const { step, dispose } = trainStep(cell, B, T, D);
    // the cells with a fused CPU kernel (and minGRU, the headline) get the full run count
    const n = cell === 'mingru' || cell === 'minlstm' ? runs : Math.max(3, Math.ceil(runs / 2));
    for (const threads of all > 1 ? [1, all] : [1]) {
      setMatmulThreading(threads > 1);
      const timing = await measure(step, { runs: n, warmup });
      rows.push(makeRow({
        section: 'train step', name: `${cell} + Linear, Adam (${threads} thread${threads > 1 ? 's' : ''})`, shapes: `B=${B}, T=${T}, D=${D} f32`,
        unit: 'tokens/s', references: threads === all ? references[cell] ?? [] : [],
      }, timing, B * T));
    }
    setMatmulThreading(true);
    dispose();
  }
  return rows;
}
