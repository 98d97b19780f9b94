/**
 * A user's own sequences (sensor series, event logs, episodes) from JSONL or CSV text, checked
 * value by value: a malformed row is refused with its line number, never read as NaN. Portable
 * (no Node APIs): the CLI reads the file, this parses its text.
 *
 *  - JSONL: one record per line, `{"input": [...], "target": ...}`. `input` is a list of numbers
 *    (one feature) or of equal-length lists (F features per step). `target` is absent, a number
 *    (a class index if every record's is an integer, else a real value), or a list with one entry
 *    per step (classes per step, or real values per step).
 *  - CSV with a header: 'wide' (every column one series; a forecasting source) or 'long' (an id
 *    column groups consecutive rows into sequences, the other columns are features; a named
 *    target column is taken out of the features).
 * Then: normalisation statistics fitted on a training split, and padded batches with lengths
 * (src/cells/sequence.ts) for the cells.
 */

/** One sequence: `length` steps of `features` values, row-major. */
export interface SequenceRecord {
  input: Float64Array;
  length: number;
  features: number;
  /** A class index or real value per sequence, or one per step; null: none. */
  target: number | Float64Array | null;
  /** 1-based line of the record (JSONL) or of its first row (CSV). */
  line: number;
}

/** What the targets are, inferred from all records. */
export type TargetKind = 'none' | 'class' | 'value' | 'class-per-step' | 'value-per-step';

/** A parsed data file: its sequences, their feature count and the kind of target they carry. */
export interface SequenceSet {
  records: SequenceRecord[];
  features: number;
  targets: TargetKind;
  /** Classes (max class index + 1) for class targets, else 0. */
  classes: number;
}

/** A data-file problem; the message names the line (and column) and says what was expected. */
export class SequenceDataError extends Error {
  override name = 'SequenceDataError';
}

const fail = (msg: string): never => { throw new SequenceDataError(msg); };

function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}: ${JSON.stringify(v) ?? String(v)} is not a finite number`);
  return v as number;
}

/** Parses JSONL text (blank lines skipped). */
export function parseJsonl(text: string): SequenceSet {
  const records: SequenceRecord[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (!raw.trim()) return;
    let value: unknown;
    try { value = JSON.parse(raw); } catch { fail(`line ${line}: not valid JSON`); }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`line ${line}: expected an object {"input": [...], "target": ...}`);
    const obj = value as Record<string, unknown>;
    const input = obj.input;
    if (!Array.isArray(input) || input.length === 0) fail(`line ${line}: "input" must be a non-empty list`);
    const rows = input as unknown[];
    const features = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 1;
    if (features === 0) fail(`line ${line}: input step 1 has no features`);
    const data = new Float64Array(rows.length * features);
    rows.forEach((step, t) => {
      const vals = Array.isArray(step) ? step : [step];
      if (Array.isArray(step) !== Array.isArray(rows[0]) || vals.length !== features) {
        fail(`line ${line}: input step ${t + 1} has ${vals.length} features, step 1 has ${features}`);
      }
      vals.forEach((v, f) => { data[t * features + f] = finite(v, `line ${line}: input step ${t + 1}${features > 1 ? ` feature ${f + 1}` : ''}`); });
    });
    let target: SequenceRecord['target'] = null;
    if (obj.target !== undefined && obj.target !== null) {
      if (Array.isArray(obj.target)) {
        if (obj.target.length !== rows.length) fail(`line ${line}: "target" has ${obj.target.length} steps, "input" has ${rows.length}`);
        target = Float64Array.from(obj.target, (v, t) => finite(v, `line ${line}: target step ${t + 1}`));
      } else {
        target = finite(obj.target, `line ${line}: "target"`);
      }
    }
    records.push({ input: data, length: rows.length, features, target, line });
  });
  return collect(records, 'the JSONL text');
}

/** How {@link parseCsv} reads a table: one series per column (wide) or rows grouped by an id column (long). */
export interface CsvOptions {
  /** 'wide': every column is one series; 'long': rows grouped into sequences by `id`. */
  layout: 'wide' | 'long';
  /** Long layout: the column naming the sequence of each row. */
  id?: string;
  /** Long layout: a column of per-step targets (taken out of the features). */
  target?: string;
}

/** Parses CSV text with a header row (comma-separated numbers; no quoting). */
export function parseCsv(text: string, opts: CsvOptions): SequenceSet {
  const lines = text.split(/\r?\n/);
  while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  if (lines.length < 2) fail('the CSV text needs a header row and at least one data row');
  const header = lines[0].split(',').map((h) => h.trim());
  const column = (name: string | undefined, what: string): number => {
    const i = name === undefined ? -1 : header.indexOf(name);
    if (i < 0) fail(`the CSV header has no ${what} column '${name ?? ''}' (columns: ${header.join(', ')})`);
    return i;
  };
  const idCol = opts.layout === 'long' ? column(opts.id, 'id') : -1;
  const targetCol = opts.layout === 'long' && opts.target !== undefined ? column(opts.target, 'target') : -1;
  const featureCols = header.map((_, i) => i).filter((i) => i !== idCol && i !== targetCol);
  if (featureCols.length === 0) fail('the CSV text has no feature columns');
  const cells = lines.slice(1).map((row, r) => {
    const parts = row.split(',');
    if (parts.length !== header.length) fail(`line ${r + 2}: ${parts.length} values, the header has ${header.length}`);
    return parts.map((p) => p.trim());
  });
  const number = (s: string, r: number, c: number): number => {
    if (s === '') fail(`line ${r + 2}, column '${header[c]}': missing value`);
    const v = Number(s);
    if (!Number.isFinite(v)) fail(`line ${r + 2}, column '${header[c]}': '${s}' is not a number`);
    return v;
  };
  if (opts.layout === 'wide') {
    const records = featureCols.map((c) => ({
      input: Float64Array.from(cells, (row, r) => number(row[c], r, c)), length: cells.length, features: 1, target: null, line: 2,
    }));
    return collect(records, 'the CSV text');
  }
  const records: SequenceRecord[] = [];
  let start = 0;
  for (let r = 1; r <= cells.length; r++) {
    if (r < cells.length && cells[r][idCol] === cells[start][idCol]) continue;
    const rows = cells.slice(start, r);
    const input = new Float64Array(rows.length * featureCols.length);
    rows.forEach((row, t) => featureCols.forEach((c, f) => { input[t * featureCols.length + f] = number(row[c], start + t, c); }));
    const target = targetCol < 0 ? null : Float64Array.from(rows, (row, t) => number(row[targetCol], start + t, targetCol));
    records.push({ input, length: rows.length, features: featureCols.length, target, line: start + 2 });
    start = r;
  }
  return collect(records, 'the CSV text');
}

/** Checks that records agree (features, target form) and infers the target kind. */
function collect(records: SequenceRecord[], what: string): SequenceSet {
  if (records.length === 0) fail(`${what} holds no sequences`);
  const features = records[0].features;
  for (const r of records) if (r.features !== features) fail(`line ${r.line}: ${r.features} features per step, line ${records[0].line} has ${features}`);
  const form = (r: SequenceRecord) => (r.target === null ? 'none' : typeof r.target === 'number' ? 'scalar' : 'steps');
  for (const r of records) if (form(r) !== form(records[0])) fail(`line ${r.line}: target is ${form(r)}, line ${records[0].line}'s is ${form(records[0])}`);
  const values = records.flatMap((r) => (r.target === null ? [] : typeof r.target === 'number' ? [r.target] : Array.from(r.target)));
  const integral = values.length > 0 && values.every((v) => Number.isInteger(v) && v >= 0);
  const targets: TargetKind = form(records[0]) === 'none' ? 'none'
    : form(records[0]) === 'scalar' ? (integral ? 'class' : 'value') : (integral ? 'class-per-step' : 'value-per-step');
  const classes = targets === 'class' || targets === 'class-per-step' ? Math.max(...values) + 1 : 0;
  return { records, features, targets, classes };
}

/** Per-feature mean and standard deviation (1 where a feature is constant). */
export interface Normalisation { mean: Float64Array; std: Float64Array }

/** Fits the statistics on the given (training) records. */
export function fitNormalisation(records: readonly SequenceRecord[]): Normalisation {
  const F = records[0].features, mean = new Float64Array(F), sq = new Float64Array(F);
  let n = 0;
  for (const r of records) {
    for (let t = 0; t < r.length; t++) for (let f = 0; f < F; f++) { const v = r.input[t * F + f]; mean[f] += v; sq[f] += v * v; }
    n += r.length;
  }
  const std = new Float64Array(F);
  for (let f = 0; f < F; f++) {
    mean[f] /= n;
    const v = Math.max(0, sq[f] / n - mean[f] * mean[f]);
    std[f] = v > 0 ? Math.sqrt(v) : 1;
  }
  return { mean, std };
}

/** A padded batch: inputs [B, T, F] (zeros on padding), lengths [B], T the longest length. */
export interface PaddedBatch { inputs: Float32Array; lengths: Int32Array; time: number; features: number }

/** Pads the chosen records into one batch, normalised when statistics are given. */
export function padBatch(records: readonly SequenceRecord[], norm: Normalisation | null = null): PaddedBatch {
  const F = records[0].features, T = Math.max(...records.map((r) => r.length));
  const inputs = new Float32Array(records.length * T * F), lengths = new Int32Array(records.length);
  records.forEach((r, b) => {
    lengths[b] = r.length;
    for (let i = 0; i < r.length * F; i++) {
      const f = i % F;
      inputs[b * T * F + i] = norm ? (r.input[i] - norm.mean[f]) / norm.std[f] : r.input[i];
    }
  });
  return { inputs, lengths, time: T, features: F };
}
