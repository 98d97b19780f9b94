/**
 * Elman RNN as torch.nn.RNN with tanh (one layer, batch_first, unidirectional):
 * h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), optionally with a block-diagonal recurrence
 * over heads as FlashRNN (docs/models.md#lstm-gru-elman-slstm). Parameters and initialisation are PyTorch's, so
 * `loadStateDict` takes an nn.RNN state dict when heads = 1; see TorchRnn (rnn.ts) for the weight
 * layout with heads > 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import { SingleStateRnn, type TorchRnnOptions } from './rnn.js';

export type ElmanOptions = TorchRnnOptions;

export class Elman extends SingleStateRnn {
  constructor(opts: ElmanOptions) {
    super(opts, 'elman');
  }
}
