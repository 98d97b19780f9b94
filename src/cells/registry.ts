/**
 * Cells by name, so models and the CLI pick a cell with a string (`--model mingru`), and each
 * cell's options (name, type, default, help, valid range) declared once, by the cell's own file.
 * Every cell file ends with a small exported `CellEntry`; the list below names them, one line
 * each. Models pass the options they were given; the CLI makes a flag of every declared option,
 * refuses one the chosen cell does not declare, and checks values with the declaration
 * (cells/options.ts).
 *
 * Adding a cell: write its file (the module and its entry), add one line to BUILT_IN_CELLS. A cell
 * defined outside this package (or in a test) joins with registerCell(entry) before the model
 * that uses it is built; from then on `createCell`, RecurrentLM, SequenceClassifier, the trainers
 * and checkpoints know it by name.
 */
import type { LayerOptions } from '../nn/module.js';
import type { RecurrentCell } from './cell.js';
import { resolveOptions, type OptionSpec, type OptionValue } from './options.js';
import { minGruCell, minLstmCell } from './min-rnn.js';
import { lstmCell } from './lstm.js';
import { gruCell } from './gru.js';
import { elmanCell } from './elman.js';
import { slstmCell } from './slstm.js';
import { msmrCell, smrCell } from './smr.js';
import { lruCell } from './lru.js';
import { mesaCell } from './mesa.js';
import { attentionCell } from './attention.js';

/**
 * What a cell is built from: the residual width `dim`, the layer options (rng, dtype, backend) and
 * option values by name. A model may pass options its cell does not declare (RecurrentLM passes
 * `expansion` and `scan` to every cell): the cell never sees them.
 */
export interface CellConfig extends LayerOptions {
  dim: number;
  [option: string]: unknown;
}

/** A cell's registry entry: its name, its options and how to build it from their values. */
export interface CellEntry {
  name: string;
  /** One line for help texts. */
  summary: string;
  /** Options beyond `dim`; `create` receives each with its default filled in. */
  options: readonly OptionSpec[];
  /** A new cell of width dim with the given option values (defaults filled in). */
  create(dim: number, options: Readonly<Record<string, OptionValue>>, layer: LayerOptions): RecurrentCell;
  /** Its settings in a few words for the CLI's header ('N 64, ring [0, 0.99]'); default: the option values. */
  describe?(dim: number, options: Readonly<Record<string, OptionValue>>): string;
  /**
   * Parameters (by name, within the cell) that train at a reduced learning rate without weight
   * decay when a trainer asks for it (the LRU's ν, θ, γ, B).
   */
  recurrentParams?: RegExp;
}

const BUILT_IN_CELLS: readonly CellEntry[] = [
  minGruCell,
  minLstmCell,
  lstmCell,
  gruCell,
  elmanCell,
  slstmCell,
  smrCell,
  msmrCell,
  lruCell,
  mesaCell,
  attentionCell,
];

const cells = new Map<string, CellEntry>(BUILT_IN_CELLS.map((e) => [e.name, e]));

/** Adds (or replaces) a cell: models, trainers, the CLI and checkpoints then know it by name. */
export function registerCell(entry: CellEntry): void {
  if (!/^[a-z][a-z0-9-]*$/.test(entry.name)) throw new Error(`registerCell: the name '${entry.name}' must be lower-case letters, digits and '-'`);
  cells.set(entry.name, entry);
}

/** The registered cell names. */
export function cellNames(): string[] {
  return [...cells.keys()];
}

/** The entry of a cell; an Error listing the known cells when there is none. */
export function cellEntry(name: string): CellEntry {
  const entry = cells.get(name);
  if (!entry) throw new Error(`unknown cell '${name}' (available: ${cellNames().join(', ')})`);
  return entry;
}

/** Every declared option of every cell, once by name (the first declaration), for flags and help. */
export function allCellOptions(): OptionSpec[] {
  const seen = new Map<string, OptionSpec>();
  for (const e of cells.values()) for (const o of e.options) if (!seen.has(o.name)) seen.set(o.name, o);
  return [...seen.values()];
}

/** The names of the cells that declare an option. */
export function cellsDeclaring(option: string): string[] {
  return [...cells.values()].filter((e) => e.options.some((o) => o.name === option)).map((e) => e.name);
}

/** The option values a cell is built with: the declared ones of `given`, checked, defaults filled in. */
export function cellOptions(name: string, given: Readonly<Record<string, unknown>>): Record<string, OptionValue> {
  return resolveOptions(cellEntry(name).options, given, `cell '${name}'`);
}

/**
 * Checks options given for a cell by a user (a model config, flags): the cell must exist and
 * declare every one of them, and each value must be valid. Throws an Error prefixed with `where`.
 */
export function checkCellOptions(name: string, given: Readonly<Record<string, unknown>>, where: string): void {
  const declared = cellEntry(name).options;
  const foreign = Object.keys(given).filter((k) => given[k] !== undefined && !declared.some((o) => o.name === k));
  if (foreign.length) {
    const owners = [...new Set(foreign.flatMap(cellsDeclaring))];
    const whose = owners.length ? `the ${owners.join('/')} cell${owners.length > 1 ? 's' : ''} only` : 'no cell';
    throw new Error(`${where}: ${foreign.join(', ')} apply to ${whose}, not '${name}'${declared.length ? ` (its options: ${declared.map((o) => o.name).join(', ')})` : ''}`);
  }
  resolveOptions(declared, given, `${where}: cell '${name}'`);
}

/** A cell's option values in a few words ('expansion 1.5, scan log'; the lru: 'N 64, ring [0, 0.99]'); '' for none. */
export function describeCellOptions(name: string, dim: number, given: Readonly<Record<string, unknown>>): string {
  const entry = cellEntry(name);
  const values = cellOptions(name, given);
  return entry.describe
    ? entry.describe(dim, values)
    : Object.entries(values).map(([k, v]) => `${k} ${typeof v === 'number' ? Number(v.toPrecision(6)) : String(v)}`).join(', ');
}

/** A new cell of a registered name (an error lists the known names for an unknown one). */
export function createCell(name: string, config: CellConfig): RecurrentCell {
  const entry = cellEntry(name);
  const { dim, rng, dtype, backend } = config;
  return entry.create(dim, cellOptions(name, config), { rng, dtype, backend });
}
