/**
 * Elman RNN as torch.nn.RNN with tanh (one layer, batch_first, unidirectional):
 * h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), optionally with a block-diagonal recurrence
 * over heads as FlashRNN (REFERENCE.md §2). Parameters and initialisation are PyTorch's, so
 * `loadStateDict` takes an nn.RNN state dict when heads = 1; see TorchRnn (rnn.ts) for the weight
 * layout with heads > 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { CellOutput, RecurrentCell } from './cell.js';
import { TorchRnn, type TorchRnnOptions } from './rnn.js';

export type ElmanOptions = TorchRnnOptions;

export class Elman extends TorchRnn implements RecurrentCell<Tensor> {
  constructor(opts: ElmanOptions) {
    super(opts, 'elman');
  }

  /** x [B, T, inputSize] → h over time [B, T, hiddenSize] and h_T [B, hiddenSize]; no state means zeros. */
  forward(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState([state], x.shape[0], 'forward');
    const r = this.run(x, state ? [state] : null);
    return { output: r.outputs, state: r.state[0] };
  }

  /** x_t [B, inputSize] → h_t [B, hiddenSize], which is also the next state. */
  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState([state], x.shape[0], 'step');
    const r = this.runStep(x, state ? [state] : null);
    return { output: r.outputs, state: r.state[0] };
  }
}
