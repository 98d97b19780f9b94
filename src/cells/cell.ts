/**
 * What every recurrent cell offers: a parallel `forward` over a whole sequence for training and a
 * `step` for streaming inference with constant memory, both carrying state in and out. The two
 * modes compute the same function; tests hold every cell to that.
 */
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

/** A cell's recurrent state: one tensor (minGRU's h) or several (an LSTM's [h, c]). */
export type CellState = Tensor | readonly Tensor[];

/** What a cell's forward and step return: the output and the state to continue from. */
export interface CellOutput<S extends CellState = CellState> {
  output: Tensor;
  state: S;
}

/** The contract of every cell: `forward` over a sequence [B, T, D] and `step` over one position [B, D], computing the same function, each taking and returning the state (see docs/concepts.md). */
export interface RecurrentCell<S extends CellState = CellState> extends Module {
  /** x [B, T, D] → output [B, T, D] and the state after the last step. No state means zeros. */
  forward(x: Tensor, state?: S | null): CellOutput<S>;
  /** x_t [B, D] → output [B, D] and the next state. */
  step(x: Tensor, state?: S | null): CellOutput<S>;
}

/** How a linear recurrence is evaluated: the log-space (Heinsen) scan or the real-space one. */
export type ScanMode = 'log' | 'real';
