/** Cells by name, so models and the CLI pick a cell with a string (`--model mingru`). */
import type { LayerOptions } from '../nn/module.js';
import type { RecurrentCell, ScanMode } from './cell.js';
import { MinGRU, MinLSTM } from './min-rnn.js';

export interface CellConfig extends LayerOptions {
  dim: number;
  expansion: number;
  scan: ScanMode;
}

type CellFactory = (config: CellConfig) => RecurrentCell;

const cells = new Map<string, CellFactory>([
  ['mingru', ({ expansion, ...c }) => new MinGRU({ ...c, expansionFactor: expansion })],
  ['minlstm', ({ expansion, ...c }) => new MinLSTM({ ...c, expansionFactor: expansion })],
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
