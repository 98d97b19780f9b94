/**
 * The model and step of the training-step benchmark (docs: one recurrent layer + Linear, MSE, Adam):
 * portable (no Node APIs), so the CPU benchmark (train-step.ts) and the browser benchmark
 * (browser-page.ts) time the same code.
 */
import { MinGRU, MinLSTM } from '../cells/min-rnn.js';
import type { ScanMode } from '../cells/cell.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { mean, square, sub } from '../tensor/ops.js';
import type { Rng } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';

export class LayerAndHead extends Module {
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

/** One training step: forward, MSE against y, backward, optimizer update; every intermediate freed. */
export function trainStepOnce(model: LayerAndHead, optimizer: Optimizer, x: Tensor, y: Tensor): void {
  scope(() => {
    model.zeroGrad();
    mean(square(sub(model.forward(x), y))).backward();
    optimizer.step();
  });
}
