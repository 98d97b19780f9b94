/**
 * LSTM as torch.nn.LSTM (one layer, batch_first, unidirectional), optionally with a
 * block-diagonal recurrence over heads as FlashRNN (docs/models.md#lstm-gru-elman-slstm). Parameters, gate order
 * (i, f, g, o) and initialisation are PyTorch's, so `loadStateDict` takes an nn.LSTM state dict
 * when heads = 1; see TorchRnn (rnn.ts) for the weight layout with heads > 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import { MultiStateRnn, type TorchRnnOptions } from './rnn.js';
import { lstmDefinition } from './definitions/lstm.js';

/** Sizes as torch.nn.LSTM(inputSize, hiddenSize), plus heads and the fused-kernel switch. */
export type LSTMOptions = TorchRnnOptions;

/** LSTM state: [h, c], each [B, hiddenSize]. */
export type LSTMState = readonly Tensor[];

/** forward/step (MultiStateRnn) return the states [h_T, c_T]. */
export class LSTM extends MultiStateRnn {
  constructor(opts: LSTMOptions) {
    super(opts, lstmDefinition);
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/** Registry entry (cells/registry.ts): hidden = input = dim, in `heads` blocks. */
export const lstmCell: CellEntry = {
  name: 'lstm', summary: "LSTM (PyTorch's nn.LSTM)", options: [HEADS_OPTION],
  create: (dim, o, layer) => new LSTM({ ...layer, heads: o.heads as number, inputSize: dim, hiddenSize: dim }),
};
