/**
 * Training-step throughput of one recurrent layer + Linear(128→128) with Adam on the CPU
 * (BENCHMARKS.md#reference-figures): B = 32, T = 256, D = H = 128, forward + backward + update, tokens/s.
 * The references are PyTorch 1.13 CPU (minGRU-pytorch, nn.GRU) and TensorFlow.js, measured on the
 * same 2-core development machine.
 */
import { MinGRU, MinLSTM } from '../cells/min-rnn.js';
import type { ScanMode } from '../cells/cell.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { randn } from '../tensor/creation.js';
import { mean, square, sub } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import { makeRow, measure, type BenchRow, type Reference } from './report.js';

const SOURCE = 'BENCHMARKS.md#reference-figures, same 2-core machine';
const REFERENCES: Record<string, Reference[]> = {
  mingru: [
    { label: 'PyTorch minGRU', value: 13609, source: `PyTorch 1.13 CPU with minGRU-pytorch; ${SOURCE}` },
    { label: 'PyTorch nn.GRU', value: 6775, source: `PyTorch 1.13 CPU nn.GRU; ${SOURCE}` },
    { label: 'TF.js WASM GRU', value: 2215, source: `TensorFlow.js WebAssembly backend GRU layer; ${SOURCE}` },
  ],
  minlstm: [
    { label: 'PyTorch nn.LSTM', value: 5568, source: `PyTorch 1.13 CPU nn.LSTM; ${SOURCE}` },
    { label: 'TF.js WASM LSTM', value: 1836, source: `TensorFlow.js WebAssembly backend LSTM layer; ${SOURCE}` },
  ],
};

class LayerAndHead extends Module {
  readonly rnn: MinGRU | MinLSTM;
  readonly head: Linear;
  constructor(cell: 'mingru' | 'minlstm', dim: number, scan: ScanMode, rng: Rng) {
    super();
    const Cell = cell === 'mingru' ? MinGRU : MinLSTM;
    this.rnn = this.module('rnn', new Cell({ dim, scan, rng }));
    this.head = this.module('head', new Linear({ inFeatures: dim, outFeatures: dim, rng }));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.rnn.forward(x).output);
  }
}

export interface TrainStepBenchOptions { runs: number; warmup: number; quick: boolean }

export async function benchTrainStep({ runs, warmup, quick }: TrainStepBenchOptions): Promise<BenchRow[]> {
  const [B, T, D] = quick ? [4, 64, 32] : [32, 256, 128];
  const rows: BenchRow[] = [];
  for (const cell of ['mingru', 'minlstm'] as const) {
    for (const scan of ['real', 'log'] as const) {
      const rng = new Rng(1);
      const model = new LayerAndHead(cell, D, scan, rng);
      const optimizer = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
      const x = randn([B, T, D], { rng }).keep();
      const y = randn([B, T, D], { rng }).keep();
      const timing = await measure(() => scope(() => {
        model.zeroGrad();
        mean(square(sub(model.forward(x), y))).backward();
        optimizer.step();
      }), { runs, warmup });
      rows.push(makeRow({
        section: 'train step', name: `${cell} (${scan} scan) + Linear, Adam`, shapes: `B=${B}, T=${T}, D=${D} f32`,
        unit: 'tokens/s', references: scan === 'real' ? REFERENCES[cell] : [],
      }, timing, B * T));
      optimizer.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
    }
  }
  return rows;
}
