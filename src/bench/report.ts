/**
 * Benchmark plumbing shared by every bench/*.ts: timing (medians after warm-up), the machine's
 * description, and the report written as bench/results/<name>.json (for tools) and .md (for
 * people), each row with its throughput and, where a published figure exists, the reference and
 * the ratio to it.
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  arch: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() || 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: os.platform(),
    arch: os.arch(),
    node: process.version,
  };
}

/** A published figure to compare with, in the same unit as the row's throughput. */
export interface Reference {
  /** Short column label, e.g. 'TF.js WASM'. */
  label: string;
  value: number;
  /** Where it comes from, e.g. 'TensorFlow.js 4.22 WebAssembly (XNNPACK, SIMD), BENCHMARKS.md#reference-figures'. */
  source: string;
}

/** A reference with the row's throughput divided by it (> 1: faster than the reference). */
export interface Comparison extends Reference {
  ratio: number;
}

export interface BenchRow {
  /** Section of the report, e.g. 'matmul', 'scan'. */
  section: string;
  name: string;
  /** Shapes in words, e.g. '[32, 1024, 256] f32'. */
  shapes: string;
  medianMs: number;
  /** Fastest run, for a sense of the spread (absent where the source reports only a median). */
  minMs?: number;
  runs?: number;
  /** Derived throughput in `unit` (e.g. GFLOP/s, Melem/s, tokens/s). */
  throughput: number;
  unit: string;
  references: Comparison[];
  /** Anything else worth keeping next to the numbers (kernel used, thread count). */
  notes?: string;
}

export interface BenchReport {
  name: string;
  command: string;
  date: string;
  machine: MachineInfo;
  rows: BenchRow[];
  /** Free-form lines shown under the table (settings, caveats). */
  notes: string[];
}

export interface TimingOptions {
  /** Untimed runs first (JIT, caches, allocator pools). Default 2. */
  warmup?: number;
  /** Timed runs; the median is reported. Default 5. */
  runs?: number;
}

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
  samplesMs: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Times fn (sync or async): warm-up runs, then the median of the timed runs. */
export async function measure(fn: () => unknown, opts: TimingOptions = {}): Promise<Timing> {
  const warmup = opts.warmup ?? 2, runs = opts.runs ?? 5;
  if (!(runs >= 1)) throw new RangeError(`measure: runs must be >= 1, got ${runs}`);
  for (let i = 0; i < warmup; i++) await fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samplesMs.push(performance.now() - t0);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), runs, samplesMs };
}

/** Whether the module at `url` is the script node was started with (not an import). */
export function isMainModule(url: string): boolean {
  try {
    return process.argv[1] !== undefined && url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

export interface RowFields {
  section: string;
  name: string;
  shapes: string;
  unit: string;
  references?: readonly Reference[];
  notes?: string;
}

/** A row from a median time and a throughput already derived (for benchmarks that time themselves). */
export function rowFromThroughput(fields: RowFields, medianMs: number, throughput: number, timing?: Partial<Timing>): BenchRow {
  const row: BenchRow = {
    section: fields.section,
    name: fields.name,
    shapes: fields.shapes,
    medianMs,
    throughput,
    unit: fields.unit,
    references: (fields.references ?? []).map((r) => ({ ...r, ratio: throughput / r.value })),
  };
  if (timing?.minMs !== undefined) row.minMs = timing.minMs;
  if (timing?.runs !== undefined) row.runs = timing.runs;
  if (fields.notes) row.notes = fields.notes;
  return row;
}

/**
 * A row from a timing: `work` is the amount done by one run in the unit's numerator (FLOPs,
 * elements, tokens), `scale` divides it for display (1e9 for GFLOP/s, 1e6 for M.../s).
 */
export function makeRow(fields: RowFields, timing: Timing, work: number, scale = 1): BenchRow {
  return rowFromThroughput(fields, timing.medianMs, work / scale / (timing.medianMs / 1000), timing);
}

export function createReport(name: string, rows: BenchRow[], notes: string[] = [], command = commandLine()): BenchReport {
  return { name, command, date: new Date().toISOString(), machine: machineInfo(), rows, notes };
}

/**
 * How this process was started, as the user typed it: 'node dist/bench/cpu.js --quick',
 * 'npm run bench (node dist/bench/cpu.js)', or 'npx recur bench cpu' (npm names an npx run's
 * lifecycle event 'npx', which is no script: there the bin and its arguments are the command).
 */
export function commandLine(): string {
  const argv = process.argv.slice(1).map((a) => (a.startsWith(process.cwd() + '/') ? a.slice(process.cwd().length + 1) : a));
  const event = process.env.npm_lifecycle_event;
  if (event === 'npx') return ['npx recur', ...argv.slice(1)].join(' ');
  const direct = ['node', ...argv].join(' ');
  return event ? `npm run ${event} (${direct})` : direct;
}

/** Numbers for tables: 3 significant digits, no exponent for the usual ranges. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(3)).toString();
}

export function toMarkdown(r: BenchReport): string {
  const m = r.machine;
  const lines = [
    `# Benchmark: ${r.name}`,
    '',
    `- command: \`${r.command}\``,
    `- date: ${r.date}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}/${m.arch}, Node ${m.node}`,
    ...r.notes.map((n) => `- ${n}`),
  ];
  const sections = [...new Set(r.rows.map((row) => row.section))];
  for (const section of sections) {
    const rows = r.rows.filter((row) => row.section === section);
    const refs = new Map<string, string>();
    for (const row of rows) for (const c of row.references) refs.set(c.label, c.source);
    const withMin = rows.some((row) => row.minMs !== undefined);
    const withNotes = rows.some((row) => row.notes);
    const head = ['name', 'shapes', 'median ms', ...(withMin ? ['min ms'] : []), 'throughput', ...[...refs.keys()].map((l) => `vs ${l}`), ...(withNotes ? ['notes'] : [])];
    const align = head.map((h) => (h === 'name' || h === 'shapes' || h === 'notes' ? ' --- ' : ' ---: '));
    lines.push('', `## ${section}`, '', `| ${head.join(' | ')} |`, `|${align.join('|')}|`);
    for (const row of rows) {
      const cells = [row.name, row.shapes, fmt(row.medianMs)];
      if (withMin) cells.push(row.minMs === undefined ? '' : fmt(row.minMs));
      cells.push(`${fmt(row.throughput)} ${row.unit}`);
      for (const label of refs.keys()) {
        const c = row.references.find((x) => x.label === label);
        cells.push(c ? `${fmt(c.value)} (${c.ratio.toFixed(2)}×)` : '');
      }
      if (withNotes) cells.push(row.notes ?? '');
      lines.push(`| ${cells.join(' | ')} |`);
    }
    if (refs.size > 0) {
      lines.push('', 'Reference columns: the reference figure in the same unit, and this row\'s throughput divided by it.');
      for (const [label, source] of refs) lines.push(`- ${label}: ${source}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Writes <dir>/<name>.json and <dir>/<name>.md; returns their paths. */
export function writeReport(r: BenchReport, dir: string): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${r.name}.json`), md = join(dir, `${r.name}.md`);
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, toMarkdown(r));
  return { json, md };
}
