/**
 * minGRU and minLSTM ("Were RNNs All We Needed?", Feng et al. 2024; REFERENCE.md §1).
 *
 * Gates depend only on the input, so the sequence is a first-order linear recurrence
 * h_t = a_t ⊙ h_{t−1} + b_t, evaluated by one scan primitive: in log space (the numerically safe
 * reference, default) or in real space (faster, no positivity needed). Parameter names and chunk
 * orders follow minGRU-pytorch so its checkpoints load unchanged.
 */
import { Module, type LayerOptions } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import {
  add, exp, linearScan, log, logScan, logSigmoid, minGruG, minGruLogG, mul, neg, reshape, sigmoid, slice,
  softplus, split, sub,
} from '../tensor/ops.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import type { CellOutput, RecurrentCell, ScanMode } from './cell.js';

export interface MinRnnOptions extends LayerOptions {
  dim: number;
  /** Inner width = int(dim · expansionFactor). Default 1. */
  expansionFactor?: number;
  /** Output projection inner → dim; defaults to expansionFactor ≠ 1, as minGRU-pytorch. */
  projOut?: boolean;
  /** 'log' (default) or 'real'. */
  scan?: ScanMode;
}

const layerOptions = ({ rng, dtype, backend }: LayerOptions): LayerOptions => ({ rng, dtype, backend });

/** The pieces of a linear recurrence, in the space the scan runs in. */
interface Recurrence { a: Tensor; b: Tensor }

/**
 * Shared machinery of the two cells: input projection, scan, output projection. A subclass says
 * how projected inputs become (a, b) in log and real space, and how one step updates h.
 */
abstract class MinRnn extends Module implements RecurrentCell<Tensor> {
  readonly dim: number;
  readonly innerDim: number;
  scanMode: ScanMode;
  protected readonly projection: Linear;
  protected readonly toOut: Linear | null;

  constructor(opts: MinRnnOptions, projectionName: string, private readonly chunks: number) {
    super();
    const expansion = opts.expansionFactor ?? 1;
    this.dim = opts.dim;
    this.innerDim = Math.trunc(opts.dim * expansion);
    this.scanMode = opts.scan ?? 'log';
    if (!(this.innerDim > 0)) throw new Error(`${this.constructor.name}: dim ${opts.dim} × expansion ${expansion} gives no inner width`);
    this.projection = this.module(projectionName, new Linear({ ...layerOptions(opts), inFeatures: opts.dim, outFeatures: chunks * this.innerDim, bias: false }));
    const projOut = opts.projOut ?? expansion !== 1;
    this.toOut = projOut ? this.module('to_out', new Linear({ ...layerOptions(opts), inFeatures: this.innerDim, outFeatures: opts.dim, bias: false })) : null;
  }

  /** The (hidden, gate...) chunks of the input projection. */
  private project(x: Tensor): Tensor[] {
    const proj = this.projection.forward(x);
    return split(proj, new Array(this.chunks).fill(this.innerDim), -1);
  }

  protected abstract logRecurrence(parts: Tensor[]): Recurrence;
  protected abstract realRecurrence(parts: Tensor[]): Recurrence;

  private checkInput(x: Tensor, rank: number, what: string): void {
    if (x.rank !== rank || x.shape[rank - 1] !== this.dim) {
      const want = rank === 3 ? `[B, T, ${this.dim}]` : `[B, ${this.dim}]`;
      throw new Error(`${this.constructor.name}.${what}: input ${describe(x)} must be ${want}`);
    }
  }

  private checkState(state: Tensor, batch: number, what: string): void {
    if (state.rank !== 2 || state.shape[0] !== batch || state.shape[1] !== this.innerDim) {
      throw new Error(`${this.constructor.name}.${what}: state ${describe(state)} must be ${formatShape([batch, this.innerDim])}`);
    }
  }

  /**
   * x [B, T, dim] → output [B, T, dim] and state [B, innerDim] (the hidden before to_out).
   * In log space a given state must be positive (the states these cells produce always are).
   */
  forward(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState(state, x.shape[0], 'forward');
    const parts = this.project(x);
    let h: Tensor;
    if (this.scanMode === 'log') {
      const { a, b } = this.logRecurrence(parts);
      // h_0 enters as log h_0 — not log g(h_0), the bug minGRU-pytorch has in minLSTM.
      const logH0 = state ? log(state) : null;
      const logH = logScan(a, b, { h0: logH0, axis: 1 });
      h = exp(logH);
    } else {
      const { a, b } = this.realRecurrence(parts);
      h = linearScan(a, b, { h0: state ?? null, axis: 1 });
    }
    const T = x.shape[1];
    const last = reshape(slice(h, 1, T - 1, T), [x.shape[0], this.innerDim]);
    return { output: this.toOut ? this.toOut.forward(h) : h, state: last };
  }

  /** x_t [B, dim] → output [B, dim] and the next state [B, innerDim]. */
  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState(state, x.shape[0], 'step');
    const { a, b } = this.realRecurrence(this.project(x));
    const h = state ? add(mul(a, state), b) : b;
    return { output: this.toOut ? this.toOut.forward(h) : h, state: h };
  }
}

/** minGRU: z = σ(k), h_t = (1 − z) ⊙ h_{t−1} + z ⊙ g(h̃). Parameters `to_hidden_and_gate`, `to_out`. */
export class MinGRU extends MinRnn {
  constructor(opts: MinRnnOptions) {
    super(opts, 'to_hidden_and_gate', 2);
  }

  protected logRecurrence([hidden, gate]: Tensor[]): Recurrence {
    // log(1 − z) = −softplus(k), log z = −softplus(−k) = logσ(k)
    return { a: neg(softplus(gate)), b: add(logSigmoid(gate), minGruLogG(hidden)) };
  }

  protected realRecurrence([hidden, gate]: Tensor[]): Recurrence {
    const z = sigmoid(gate);
    return { a: sigmoid(neg(gate)), b: mul(z, minGruG(hidden)) };
  }
}

/**
 * minLSTM: f' = f/(f + i), i' = i/(f + i) with f = σ(k_f), i = σ(k_i);
 * h_t = f' ⊙ h_{t−1} + i' ⊙ g(h̃). Parameters `to_hidden_and_f_i_gate` (hidden, f, i), `to_out`.
 */
export class MinLSTM extends MinRnn {
  constructor(opts: MinRnnOptions) {
    super(opts, 'to_hidden_and_f_i_gate', 3);
  }

  /** d = log(i/f) = softplus(−k_f) − softplus(−k_i); then f' = σ(−d), i' = σ(d). */
  private logRatio(f: Tensor, i: Tensor): Tensor {
    return sub(softplus(neg(f)), softplus(neg(i)));
  }

  protected logRecurrence([hidden, f, i]: Tensor[]): Recurrence {
    const d = this.logRatio(f, i);
    return { a: logSigmoid(neg(d)), b: add(logSigmoid(d), minGruLogG(hidden)) };
  }

  protected realRecurrence([hidden, f, i]: Tensor[]): Recurrence {
    const d = this.logRatio(f, i);
    return { a: sigmoid(neg(d)), b: mul(sigmoid(d), minGruG(hidden)) };
  }
}
