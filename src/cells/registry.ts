/** Cells by name, so models and the CLI pick a cell with a string (`--model mingru`). */
import type { LayerOptions } from '../nn/module.js';
import type { RecurrentCell, ScanMode } from './cell.js';
import { MinGRU, MinLSTM } from './min-rnn.js';
import { LSTM } from './lstm.js';
import { GRU } from './gru.js';
import { Elman } from './elman.js';
import { SLSTM } from './slstm.js';
import { MSMR, SMR } from './smr.js';
import { LRU } from './lru.js';
import { MesaLayer } from './mesa.js';

export interface CellConfig extends LayerOptions {
  dim: number;
  expansion: number;
  scan: ScanMode;
  /** Heads of the block-diagonal recurrence of lstm, gru, elman and slstm (dim must divide). Default 1. */
  heads?: number;
}

type CellFactory = (config: CellConfig) => RecurrentCell;

const cells = new Map<string, CellFactory>([
  ['mingru', ({ expansion, ...c }) => new MinGRU({ ...c, expansionFactor: expansion })],
  ['minlstm', ({ expansion, ...c }) => new MinLSTM({ ...c, expansionFactor: expansion })],
  // The classic and multiplicative cells run at the residual width: hidden = units = dim, and
  // `expansion` (and `scan`) do not apply to them.
  ['lstm', ({ dim, heads, rng, dtype, backend }) => new LSTM({ rng, dtype, backend, heads, inputSize: dim, hiddenSize: dim })],
  ['gru', ({ dim, heads, rng, dtype, backend }) => new GRU({ rng, dtype, backend, heads, inputSize: dim, hiddenSize: dim })],
  ['elman', ({ dim, heads, rng, dtype, backend }) => new Elman({ rng, dtype, backend, heads, inputSize: dim, hiddenSize: dim })],
  ['slstm', ({ dim, heads, rng, dtype, backend }) => new SLSTM({ rng, dtype, backend, heads, inputSize: dim, hiddenSize: dim })],
  ['smr', ({ dim, rng, dtype, backend }) => new SMR({ rng, dtype, backend, inputSize: dim, units: dim })],
  ['msmr', ({ dim, rng, dtype, backend }) => new MSMR({ rng, dtype, backend, inputSize: dim, units: dim })],
  // LRU: dModel = dim, a complex state of round(expansion·dim) (`scan`, `heads` do not apply).
  ['lru', ({ dim, expansion, rng, dtype, backend }) => new LRU({ rng, dtype, backend, dModel: dim, dState: Math.max(1, Math.round(expansion * dim)) })],
  // MesaNet: heads·headDim = dim. One head unless `heads` is given: the only count that divides
  // every width (the comparison study solves widths by parameter count). cgSteps 30 as the paper.
  ['mesa', ({ dim, heads, rng, dtype, backend }) => new MesaLayer({ rng, dtype, backend, dim, heads: heads ?? 1 })],
]);

export function registerCell(name: string, factory: CellFactory): void {
  cells.set(name, factory);
}

export function cellNames(): string[] {
  return [...cells.keys()];
}

export function createCell(name: string, config: CellConfig): RecurrentCell {
  const factory = cells.get(name);
  if (!factory) throw new Error(`unknown cell '${name}' (available: ${cellNames().join(', ')})`);
  return factory(config);
}
