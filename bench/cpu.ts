/**
 * `npm run bench`: the CPU benchmark suite of src/bench/cpu.ts (the one `recur bench cpu` runs),
 * printed as Markdown and written to bench/results/cpu.{json,md} (not with --quick).
 */
import '../src/default-backend.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCpuBench } from '../src/bench/cpu.js';
import { toMarkdown, writeReport } from '../src/bench/report.js';

/** bench/results in the source tree (this file runs from dist/bench/). */
const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

const quick = process.argv.includes('--quick');
const report = await runCpuBench({ quick, onSection: (n) => console.error(`bench: ${n}...`) });
process.stdout.write(toMarkdown(report));
if (!quick) {
  const { json, md } = writeReport(report, RESULTS_DIR);
  console.error(`bench: wrote ${json} and ${md}`);
}
process.exit(0);
