/**
 * Puts the validation curves of several runs on one figure and prints a Markdown table of their
 * best and last validation results, for docs/reproductions.md.
 *
 *   node dist/tools/compare-runs.js OUT.svg "minGRU=runs/a" "minLSTM=runs/b" [--title TEXT] [--loss-label TEXT] [--accuracy-label TEXT]
 *
 * Each run is `label=run directory` (its log.jsonl is read). The table gives, per run: steps
 * trained, seconds spent in training steps (elapsed_s of the last logged step, over all
 * sessions), the lowest validation loss and the highest validation accuracy with their steps,
 * and the last validation.
 */
import { writeFileSync } from 'node:fs';
import { readLog, type LogRecord, type TrainRecord, type ValRecord } from '../src/train/loop.js';
import { PALETTE, figureSvg, type Series } from '../src/train/plot.js';

interface Options { out: string; runs: { label: string; dir: string }[]; title: string; lossLabel: string; accuracyLabel: string }

function parseArgs(argv: string[]): Options {
  const o: Options = { out: '', runs: [], title: '', lossLabel: 'validation loss', accuracyLabel: 'validation accuracy' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--title') o.title = argv[++i] ?? '';
    else if (a === '--loss-label') o.lossLabel = argv[++i] ?? '';
    else if (a === '--accuracy-label') o.accuracyLabel = argv[++i] ?? '';
    else if (!o.out) o.out = a;
    else {
      const eq = a.indexOf('=');
      if (eq < 1) throw new Error(`a run is label=directory, got '${a}'`);
      o.runs.push({ label: a.slice(0, eq), dir: a.slice(eq + 1) });
    }
  }
  if (!o.out.endsWith('.svg') || o.runs.length === 0) throw new Error('usage: node dist/tools/compare-runs.js OUT.svg label=RUN_DIR [label=RUN_DIR …] [--title TEXT]');
  return o;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function summaryRow(label: string, records: readonly LogRecord[]): string {
  const val = records.filter((r): r is ValRecord => r.type === 'val');
  const train = records.filter((r): r is TrainRecord => r.type === 'train');
  if (val.length === 0) return `| ${label} | ${train.at(-1)?.step ?? 0} | | | | |`;
  const bestLoss = val.reduce((a, b) => (b.loss < a.loss ? b : a));
  const bestAcc = val.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const last = val.at(-1)!;
  const seconds = train.at(-1)?.elapsed_s ?? 0;
  return `| ${label} | ${last.step} | ${(seconds / 60).toFixed(1)} min | ${bestLoss.loss.toFixed(4)} (step ${bestLoss.step}) | ${pct(bestAcc.accuracy)} (step ${bestAcc.step}) | ${last.loss.toFixed(4)}, ${pct(last.accuracy)} |`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const loss: Series[] = [], accuracy: Series[] = [];
  const rows: string[] = [];
  for (const [i, run] of o.runs.entries()) {
    // One colour per run in both panels (the figure's default palette runs on across charts).
    const color = PALETTE[i % PALETTE.length];
    const records = await readLog(run.dir);
    if (records.length === 0) throw new Error(`no log.jsonl records in '${run.dir}'`);
    const val = records.filter((r): r is ValRecord => r.type === 'val');
    loss.push({ name: run.label, color, points: val.map((r) => [r.step, r.loss] as const), markers: val.length < 60 });
    accuracy.push({ name: run.label, color, points: val.map((r) => [r.step, r.accuracy] as const), markers: val.length < 60 });
    rows.push(summaryRow(run.label, records));
  }
  const title = o.title ? `${o.title}: ` : '';
  writeFileSync(o.out, figureSvg([
    { title: `${title}validation loss`, xLabel: 'step', yLabel: o.lossLabel, series: loss },
    { title: `${title}validation accuracy`, xLabel: 'step', yLabel: o.accuracyLabel, series: accuracy, yInclude: [0, 1] },
  ]));
  process.stdout.write(['| run | steps | time in steps | best val loss | best val accuracy | last val (loss, accuracy) |', '|---|---:|---:|---:|---:|---:|', ...rows, ''].join('\n'));
}

main().catch((e: unknown) => {
  process.stderr.write(`compare-runs: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
