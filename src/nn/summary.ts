/** A parameter table for a module: every parameter with its shape and count, and the exact total. */
import { formatShape } from '../tensor/tensor.js';
import type { Module } from './module.js';

/** A table of a module's parameters (name, shape, count) and the total, for printing. */
export function parameterSummary(module: Module): string {
  const rows = module.namedParameters().map(([name, p]) => [name, formatShape(p.shape), p.size.toLocaleString('en-US')]);
  const total = module.numParameters();
  rows.push(['total', '', total.toLocaleString('en-US')]);
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r, i) => `${i === rows.length - 1 ? '' : '  '}${r[0].padEnd(widths[0] + (i === rows.length - 1 ? 2 : 0))}  ${r[1].padEnd(widths[1])}  ${r[2].padStart(widths[2])}`)
    .join('\n');
}
