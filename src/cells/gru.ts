/**
 * GRU as torch.nn.GRU (one layer, batch_first, unidirectional; the "reset after" form
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))), optionally with a block-diagonal recurrence
 * over heads as FlashRNN (docs/models.md#lstm-gru-elman-slstm). Parameters, gate order (r, z, n) and initialisation
 * are PyTorch's, so `loadStateDict` takes an nn.GRU state dict when heads = 1; see TorchRnn
 * (rnn.ts) for the weight layout with heads > 1 and for how b_ih / b_hh map onto rnn()'s b.
 */
import type { Tensor } from '../tensor/tensor.js';
import { SingleStateRnn, gruBias, type TorchRnnOptions } from './rnn.js';
import { gruDefinition } from './definitions/gru.js';

/** Sizes as torch.nn.GRU(inputSize, hiddenSize), plus heads and the fused-kernel switch. */
export type GRUOptions = TorchRnnOptions;

/** GRU with torch.nn.GRU's equations (reset gate after the recurrent matmul) and parameter names. */
export class GRU extends SingleStateRnn {
  constructor(opts: GRUOptions) {
    super(opts, gruDefinition);
  }

  protected override rnnBias(): Tensor {
    return gruBias(this.biasIh, this.biasHh, this.heads, this.headDim);
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/** Registry entry (cells/registry.ts): hidden = input = dim, in `heads` blocks. */
export const gruCell: CellEntry = {
  name: 'gru', summary: "GRU (PyTorch's nn.GRU)", options: [HEADS_OPTION],
  create: (dim, o, layer) => new GRU({ ...layer, heads: o.heads as number, inputSize: dim, hiddenSize: dim }),
};
