/**
 * sLSTM (xLSTM, Beck et al. 2024; docs/models.md#slstm-stabiliser): exponential input gate, normaliser state n and
 * stabiliser state m, with a block-diagonal recurrence over `heads` (xLSTM's own sLSTM uses 4).
 * The equations and the choice of stabiliser (the xLSTM reference's, exact gradient through m)
 * are stated once, in definitions/slstm.ts.
 *
 * Parameters follow the layout of the other cells (TorchRnn in rnn.ts), gates i, f, z, o:
 *   weight_ih_l0 [4H, D_in], weight_hh_l0 [4H, d], bias_ih_l0 [4H], bias_hh_l0 [4H], all U(±1/√H);
 * the gate biases are b_ih + b_hh. (xLSTM's sLSTM layer adds a causal conv, head-wise input
 * projections and special bias inits around this cell; here those belong to the model.)
 */
import type { Tensor } from '../tensor/tensor.js';
import { MultiStateRnn, type TorchRnnOptions } from './rnn.js';
import { slstmDefinition } from './definitions/slstm.js';

/** Sizes of the sLSTM: inputSize, hiddenSize and heads (block-diagonal recurrence), plus the fused-kernel switch. */
export type SLSTMOptions = TorchRnnOptions;

/** sLSTM state: [h, c, n, m], each [B, hiddenSize]; zeros (the default) start a sequence. */
export type SLSTMState = readonly Tensor[];

/** forward/step (MultiStateRnn) return the states [h_T, c_T, n_T, m_T]. */
export class SLSTM extends MultiStateRnn {
  constructor(opts: SLSTMOptions) {
    super(opts, slstmDefinition);
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/** Registry entry (cells/registry.ts): hidden = input = dim, in `heads` blocks. */
export const slstmCell: CellEntry = {
  name: 'slstm', summary: "sLSTM (xLSTM's scalar-memory LSTM)", options: [HEADS_OPTION],
  create: (dim, o, layer) => new SLSTM({ ...layer, heads: o.heads as number, inputSize: dim, hiddenSize: dim }),
};
