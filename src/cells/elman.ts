/**
 * Elman RNN as torch.nn.RNN with tanh (one layer, batch_first, unidirectional):
 * h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), optionally with a block-diagonal recurrence
 * over heads as FlashRNN (docs/models.md#lstm-gru-elman-slstm). Parameters and initialisation are PyTorch's, so
 * `loadStateDict` takes an nn.RNN state dict when heads = 1; see TorchRnn (rnn.ts) for the weight
 * layout with heads > 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import { SingleStateRnn, type TorchRnnOptions } from './rnn.js';
import { elmanDefinition } from './definitions/elman.js';

/** Sizes as torch.nn.RNN(inputSize, hiddenSize), plus heads and the fused-kernel switch. */
export type ElmanOptions = TorchRnnOptions;

/** Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), with torch.nn.RNN's parameter names. */
export class Elman extends SingleStateRnn {
  constructor(opts: ElmanOptions) {
    super(opts, elmanDefinition);
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/** Registry entry (cells/registry.ts): hidden = input = dim, in `heads` blocks. */
export const elmanCell: CellEntry = {
  name: 'elman', summary: "Elman RNN (PyTorch's nn.RNN, tanh)", options: [HEADS_OPTION],
  create: (dim, o, layer) => new Elman({ ...layer, heads: o.heads as number, inputSize: dim, hiddenSize: dim }),
};
