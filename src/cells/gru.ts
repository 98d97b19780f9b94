/**
 * GRU as torch.nn.GRU (one layer, batch_first, unidirectional; the "reset after" form
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))), optionally with a block-diagonal recurrence
 * over heads as FlashRNN (REFERENCE.md §2). Parameters, gate order (r, z, n) and initialisation
 * are PyTorch's, so `loadStateDict` takes an nn.GRU state dict when heads = 1; see TorchRnn
 * (rnn.ts) for the weight layout with heads > 1 and for how b_ih / b_hh map onto rnn()'s b.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { CellOutput, RecurrentCell } from './cell.js';
import { TorchRnn, gruBias, type TorchRnnOptions } from './rnn.js';

export type GRUOptions = TorchRnnOptions;

export class GRU extends TorchRnn implements RecurrentCell<Tensor> {
  constructor(opts: GRUOptions) {
    super(opts, 'gru');
  }

  protected override rnnBias(): Tensor {
    return gruBias(this.biasIh, this.biasHh, this.heads, this.headDim);
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
