/** `recur bench <suite>`: runs a benchmark suite and prints its report as a Markdown table. */
import type { Command } from 'commander';
import { positiveInt, UserError } from './errors.js';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure the speed of the kernels on this machine');

  bench
    .command('cpu')
    .description('CPU benchmark: f32 matmul GFLOP/s, linear/log scans elements/s, training step tokens/s (vs PyTorch and TF.js figures)')
    .option('--runs <n>', 'timed runs per case; the median is reported (default 7)', positiveInt('--runs'))
    .option('--warmup <n>', 'untimed runs before timing (default 2)', positiveInt('--warmup'))
    .option('--section <name...>', 'only these sections: matmul, scan, train-step (default: all)')
    .option('--quick', 'small shapes and few runs: checks the benchmark runs, measures nothing')
    .option('--out <dir>', 'also write <dir>/cpu.json and <dir>/cpu.md')
    .action(async (opts: { runs?: number; warmup?: number; section?: string[]; quick?: boolean; out?: string }) => {
      // Loaded on demand: the benchmark code is not needed by any other command.
      const { runCpuBench, SECTIONS } = await import('../../bench/cpu.js');
      const { toMarkdown, writeReport } = await import('../../bench/report.js');
      for (const s of opts.section ?? []) {
        if (!(s in SECTIONS)) throw new UserError(`unknown benchmark section '${s}' (have: ${Object.keys(SECTIONS).join(', ')})`);
      }
      const report = await runCpuBench({
        runs: opts.runs,
        warmup: opts.warmup,
        quick: opts.quick,
        sections: opts.section,
        onSection: (name) => process.stderr.write(`bench: ${name}...\n`),
      });
      process.stdout.write(toMarkdown(report));
      if (opts.out) {
        const { json, md } = writeReport(report, opts.out);
        process.stderr.write(`bench: wrote ${json} and ${md}\n`);
      }
    });
}
