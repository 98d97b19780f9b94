/**
 * minGRU and minLSTM ("Were RNNs All We Needed?", Feng et al. 2024; docs/models.md#mingru-minlstm).
 *
 * Gates depend only on the input, so the sequence is a first-order linear recurrence
 * h_t = a_t ⊙ h_{t−1} + b_t, evaluated by one scan primitive: in log space (the numerically safe
 * reference, default) or in real space (faster, no positivity needed). Parameter names and chunk
 * orders follow minGRU-pytorch so its checkpoints load unchanged.
 */
import { Module, type LayerOptions } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import { add, mul, reshape, slice, split } from '../tensor/ops.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import type { LinearScanCellDef } from '../backend/pointwise/linear-scan-cell.js';
import type { CellOutput, RecurrentCell, ScanMode } from './cell.js';
import { minGruDefinition, minLstmDefinition } from './definitions/min-rnn.js';
import { cellScan, scanCoefficients } from './linear-scan.js';
import type { SequenceOptions } from './sequence.js';

export interface MinRnnOptions extends LayerOptions {
  dim: number;
  /** Inner width = int(dim · expansionFactor). Default 1. */
  expansionFactor?: number;
  /** Output projection inner → dim; defaults to expansionFactor ≠ 1, as minGRU-pytorch. */
  projOut?: boolean;
  /** 'log' (default) or 'real'. */
  scan?: ScanMode;
  /** false runs the composite ops (the reference) instead of the fused kernel. Default true. */
  fused?: boolean;
}

const layerOptions = ({ rng, dtype, backend }: LayerOptions): LayerOptions => ({ rng, dtype, backend });

/**
 * Shared machinery of the two cells: input projection, scan, output projection. A subclass says
 * how projected inputs become (a, b) in log and real space, and how one step updates h.
 */
abstract class MinRnn extends Module implements RecurrentCell<Tensor> {
  readonly dim: number;
  readonly innerDim: number;
  scanMode: ScanMode;
  readonly fused: boolean;
  protected readonly projection: Linear;
  protected readonly toOut: Linear | null;

  private readonly chunks: number;

  constructor(opts: MinRnnOptions, projectionName: string, private readonly cell: LinearScanCellDef) {
    super();
    const expansion = opts.expansionFactor ?? 1;
    this.chunks = cell.chunks;
    this.dim = opts.dim;
    this.innerDim = Math.trunc(opts.dim * expansion);
    this.scanMode = opts.scan ?? 'log';
    this.fused = opts.fused ?? true;
    if (!(this.innerDim > 0)) throw new Error(`${this.constructor.name}: dim ${opts.dim} × expansion ${expansion} gives no inner width`);
    this.projection = this.module(projectionName, new Linear({ ...layerOptions(opts), inFeatures: opts.dim, outFeatures: this.chunks * this.innerDim, bias: false }));
    const projOut = opts.projOut ?? expansion !== 1;
    this.toOut = projOut ? this.module('to_out', new Linear({ ...layerOptions(opts), inFeatures: this.innerDim, outFeatures: opts.dim, bias: false })) : null;
  }


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
  forward(x: Tensor, state?: Tensor | null, opts: SequenceOptions = {}): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState(state, x.shape[0], 'forward');
    // One fused kernel where the backend renders the cell (CPU, CUDA); else the log- or real-space scan of ops.
    // In log space h_0 enters as log h_0 — not log g(h_0), the bug minGRU-pytorch has in minLSTM.
    const h = cellScan(this.cell, this.projection.forward(x), { h0: state ?? null, scan: this.scanMode, fused: this.fused, lengths: opts.lengths ?? null });
    const T = x.shape[1];
    const last = reshape(slice(h, 1, T - 1, T), [x.shape[0], this.innerDim]);
    return { output: this.toOut ? this.toOut.forward(h) : h, state: last };
  }

  /** x_t [B, dim] → output [B, dim] and the next state [B, innerDim]. */
  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState(state, x.shape[0], 'step');
    const parts = split(this.projection.forward(x), new Array(this.chunks).fill(this.innerDim), -1);
    const { a, b } = scanCoefficients(this.cell, parts, 'real');
    const h = state ? add(mul(a, state), b) : b;
    return { output: this.toOut ? this.toOut.forward(h) : h, state: h };
  }
}

/** minGRU: z = σ(k), h_t = (1 − z) ⊙ h_{t−1} + z ⊙ g(h̃). Parameters `to_hidden_and_gate`, `to_out`. */
export class MinGRU extends MinRnn {
  constructor(opts: MinRnnOptions) {
    super(opts, 'to_hidden_and_gate', minGruDefinition);
  }
}

/**
 * minLSTM: f' = f/(f + i), i' = i/(f + i) with f = σ(k_f), i = σ(k_i);
 * h_t = f' ⊙ h_{t−1} + i' ⊙ g(h̃). Parameters `to_hidden_and_f_i_gate` (hidden, f, i), `to_out`.
 */
export class MinLSTM extends MinRnn {
  constructor(opts: MinRnnOptions) {
    super(opts, 'to_hidden_and_f_i_gate', minLstmDefinition);
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { EXPANSION_OPTION, SCAN_OPTION } from './options.js';

/** Registry entries (cells/registry.ts): inner width = expansion × dim, log or real scan. */
export const minGruCell: CellEntry = {
  name: 'mingru', summary: 'minGRU (Feng et al. 2024)', options: [EXPANSION_OPTION, SCAN_OPTION],
  create: (dim, o, layer) => new MinGRU({ ...layer, dim, expansionFactor: o.expansion as number, scan: o.scan as ScanMode }),
};
export const minLstmCell: CellEntry = {
  name: 'minlstm', summary: 'minLSTM (Feng et al. 2024)', options: [EXPANSION_OPTION, SCAN_OPTION],
  create: (dim, o, layer) => new MinLSTM({ ...layer, dim, expansionFactor: o.expansion as number, scan: o.scan as ScanMode }),
};
