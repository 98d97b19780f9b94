/**
 * Wrappers that give any cell what classification and truncated-BPTT users ask for first:
 *  - Bidirectional: one cell reads the sequence forwards, a second one reads each sequence's real
 *    steps backwards (padding stays where it is), and their outputs are concatenated or summed.
 *    It needs the whole sequence, so it has no step mode.
 *  - LearnedInitialState: the cell's initial state as trainable parameters (one vector per state
 *    tensor, broadcast over the batch), used whenever no state is given.
 */
import { fromHost, zeros } from '../tensor/creation.js';
import { add, concat, expand, indexSelect, reshape, unsqueeze } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module, type LayerOptions } from '../nn/module.js';
import type { CellOutput, CellState, RecurrentCell } from './cell.js';
import { checkLengths, type SequenceOptions } from './sequence.js';

/** A cell whose forward takes padded batches (src/cells/sequence.ts). */
export interface SequenceCell<S extends CellState = CellState> extends RecurrentCell<S> {
  forward(x: Tensor, state?: S | null, opts?: SequenceOptions): CellOutput<S>;
}

/**
 * Row-wise reversal of the real steps: index[b·T + t] = b·T + (len_b − 1 − t) for t < len_b, and
 * b·T + t on padding. Its own inverse.
 */
function reversal(B: number, T: number, lengths: Int32Array | null, like: Tensor): Tensor {
  const index = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = lengths ? lengths[b] : T;
    for (let t = 0; t < T; t++) index[b * T + t] = b * T + (t < len ? len - 1 - t : t);
  }
  return fromHost(index, [B * T], { dtype: 'i32', backend: like.backend });
}

function reverse(x: Tensor, index: Tensor): Tensor {
  const [B, T, D] = x.shape;
  return reshape(indexSelect(reshape(x, [B * T, D]), 0, index), [B, T, D]);
}

/** Options of {@link Bidirectional}. */
export interface BidirectionalOptions {
  /** 'concat' (default): outputs [B, T, 2·D]; 'sum': [B, T, D]. */
  merge?: 'concat' | 'sum';
}

/** Two cells over a sequence, one forwards and one backwards; state = [forward's, backward's]. */
export class Bidirectional<S extends CellState = CellState> extends Module {
  readonly merge: 'concat' | 'sum';

  constructor(readonly forwardCell: SequenceCell<S>, readonly backwardCell: SequenceCell<S>, opts: BidirectionalOptions = {}) {
    super();
    this.merge = opts.merge ?? 'concat';
    if (this.merge !== 'concat' && this.merge !== 'sum') throw new Error(`Bidirectional: merge must be 'concat' or 'sum', got '${String(this.merge)}'`);
    this.module('forward', forwardCell);
    this.module('backward', backwardCell);
  }

  /**
   * x [B, T, D] → outputs of both directions at every step (merged) and the states [forward's,
   * backward's]: the forward cell's after each row's last real step, the backward cell's after
   * reading each row back to its first step. `state` gives both initial states.
   */
  forward(x: Tensor, state?: readonly [S, S] | null, opts: SequenceOptions = {}): { output: Tensor; state: readonly [S, S] } {
    if (x.rank !== 3) throw new Error(`Bidirectional.forward: input must be [B, T, D], got rank ${x.rank}`);
    const [B, T] = x.shape;
    const lengths = opts.lengths ? checkLengths('Bidirectional', opts.lengths, B, T) : null;
    const fwd = this.forwardCell.forward(x, state?.[0] ?? null, { lengths });
    const index = reversal(B, T, lengths, x);
    const bwd = this.backwardCell.forward(reverse(x, index), state?.[1] ?? null, { lengths });
    const back = reverse(bwd.output, index);
    const output = this.merge === 'concat' ? concat([fwd.output, back], 2) : add(fwd.output, back);
    return { output, state: [fwd.state, bwd.state] };
  }

  /** Refused: the backward direction reads the future. */
  step(): never {
    throw new Error('Bidirectional has no step mode: its backward direction needs the whole sequence; run forward over it');
  }
}

/** The shapes of a cell's state for one batch row: [hidden] per state tensor. */
export interface LearnedInitialStateOptions extends LayerOptions {
  /** The width of each state tensor (LSTM: [H, H]; minGRU: [innerDim]). */
  widths: readonly number[];
}

/**
 * A cell whose initial state is learned: parameters `initial_state_i` [width_i] (zeros at the
 * start), expanded over the batch when no state is given; their gradients arrive through the
 * cell's state gradient (truncated BPTT across batches passes a state instead).
 */
export class LearnedInitialState<S extends CellState = CellState> extends Module {
  readonly initial: Tensor[];

  constructor(readonly cell: SequenceCell<S>, opts: LearnedInitialStateOptions) {
    super();
    this.module('cell', cell);
    this.initial = opts.widths.map((w, i) => {
      if (!Number.isInteger(w) || w <= 0) throw new Error(`LearnedInitialState: width ${w} must be a positive integer`);
      return this.param(`initial_state_${i}`, zeros([w], { dtype: opts.dtype, backend: opts.backend }));
    });
  }

  /** The learned state for a batch of B rows, in the cell's form (one tensor, or a list). */
  initialState(B: number): S {
    const rows = this.initial.map((p) => expand(unsqueeze(p, 0), [B, p.shape[0]]));
    return (rows.length === 1 ? rows[0] : rows) as unknown as S;
  }

  /** The wrapped cell over the sequence, starting from the learned state when none is given. */
  forward(x: Tensor, state?: S | null, opts: SequenceOptions = {}): CellOutput<S> {
    return this.cell.forward(x, state ?? this.initialState(x.shape[0]), opts);
  }

  /** One step of the wrapped cell, starting from the learned state when none is given. */
  step(x: Tensor, state?: S | null): CellOutput<S> {
    return this.cell.step(x, state ?? this.initialState(x.shape[0]));
  }
}
