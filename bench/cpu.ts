/**
 * `npm run bench`: the CPU benchmark suite of src/bench/cpu.ts (the one `recur bench cpu` runs),
 * printed as Markdown and written to bench/results/cpu.{json,md} (not with --quick).
 *
 * Before the suite, the same minGRU training step is measured in the comparison libraries, in this
 * run and on this machine: jax-js (bench/jaxjs-step.ts, wasm backend) and PyTorch CPU
 * (bench/torch_step.py, minGRU-pytorch's forward; skipped with a note when `import torch` fails).
 * The minGRU train-step row reports Recur's all-threads figure as ratios to them.
 * `--cells a,b` runs only the train-step section for those cells (written to bench/results/cpu-train-step.*).
 */
import '../src/default-backend.js';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { runCpuBench } from '../src/bench/cpu.js';
import { measure, toMarkdown, writeReport, type Reference } from '../src/bench/report.js';
import { jaxMinGruStep } from './jaxjs-step.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** bench/results in the source tree (this file runs from dist/bench/). */
const RESULTS_DIR = join(HERE, '..', '..', 'bench', 'results');
const TOKENS = 32 * 256;

async function jaxReference(runs: number, warmup: number): Promise<Reference[]> {
  const s = await jaxMinGruStep(32, 256, 128);
  const t = await measure(() => s.step(), { runs, warmup });
  s.dispose();
  return [{ label: 'jax-js 0.1.25 (wasm)', value: TOKENS / (t.medianMs / 1000), source: 'bench/jaxjs-step.ts, measured in this run' }];
}

function torchReference(runs: number, warmup: number, notes: string[]): Reference[] {
  const threads = Math.min(2, availableParallelism());
  const python = process.env.RECUR_BENCH_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, [join(HERE, '..', '..', 'bench', 'torch_step.py'), String(runs), String(warmup), `1,${threads}`], { encoding: 'utf8', timeout: 30 * 60_000 });
  if (r.status !== 0) {
    notes.push(`PyTorch not measured (${python} bench/torch_step.py: ${(r.stderr || String(r.error)).trim().split('\n').pop()})`);
    return [];
  }
  const out = JSON.parse(r.stdout) as { torch: string; ms: Record<string, number> };
  return Object.entries(out.ms).map(([n, ms]) => ({
    label: `PyTorch ${out.torch} CPU minGRU (${n} thread${n === '1' ? '' : 's'})`, value: TOKENS / (ms / 1000),
    source: 'bench/torch_step.py (minGRU-pytorch forward), measured in this run',
  }));
}

const quick = process.argv.includes('--quick');
const cellsArg = process.argv.indexOf('--cells');
const notes: string[] = [];
let trainStepReferences: Record<string, Reference[]> | undefined;
if (!quick) {
  console.error('bench: jax-js and PyTorch minGRU steps...');
  trainStepReferences = { mingru: [...(await jaxReference(5, 2)), ...torchReference(5, 1, notes)] };
}
const report = await runCpuBench({
  quick, trainStepReferences, onSection: (n) => console.error(`bench: ${n}...`),
  ...(cellsArg > 0 ? { sections: ['train-step'], cells: process.argv[cellsArg + 1]!.split(',') } : {}),
});
report.notes.push(...notes);
// a train-step-only run (--cells) goes to its own file, beside the full suite's
if (cellsArg > 0) report.name = 'cpu-train-step';
process.stdout.write(toMarkdown(report));
if (!quick) {
  const { json, md } = writeReport(report, RESULTS_DIR);
  console.error(`bench: wrote ${json} and ${md}`);
}
process.exit(0);
