/**
 * LSTM as torch.nn.LSTM (one layer, batch_first, unidirectional), optionally with a
 * block-diagonal recurrence over heads as FlashRNN (docs/models.md#lstm-gru-elman-slstm). Parameters, gate order
 * (i, f, g, o) and initialisation are PyTorch's, so `loadStateDict` takes an nn.LSTM state dict
 * when heads = 1; see TorchRnn (rnn.ts) for the weight layout with heads > 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { CellOutput, RecurrentCell } from './cell.js';
import { TorchRnn, type TorchRnnOptions } from './rnn.js';
import { lstmDefinition } from './definitions/lstm.js';

export type LSTMOptions = TorchRnnOptions;

/** LSTM state: [h, c], each [B, hiddenSize]. */
export type LSTMState = readonly Tensor[];

export class LSTM extends TorchRnn implements RecurrentCell<LSTMState> {
  constructor(opts: LSTMOptions) {
    super(opts, lstmDefinition);
  }

  /** x [B, T, inputSize] → h over time [B, T, hiddenSize] and [h_T, c_T]; no state means zeros. */
  forward(x: Tensor, state?: LSTMState | null): CellOutput<LSTMState> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState(state, x.shape[0], 'forward');
    const r = this.run(x, state ?? null);
    return { output: r.outputs, state: r.state };
  }

  /** x_t [B, inputSize] → h_t [B, hiddenSize] and [h_t, c_t]. */
  step(x: Tensor, state?: LSTMState | null): CellOutput<LSTMState> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState(state, x.shape[0], 'step');
    const r = this.runStep(x, state ?? null);
    return { output: r.outputs, state: r.state };
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
