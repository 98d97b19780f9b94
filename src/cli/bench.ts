/** `recur bench <suite>`: runs a benchmark suite and prints its report as a Markdown table. */
import { Option, type Command } from 'commander';
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

  bench
    .command('selective-copy')
    .description('train a minGRU on selective copying until it solves it; reports steps, time and accuracy')
    .addOption(new Option('--preset <name>', 'cpu: T=256, 16 tokens, 2 layers (this machine); paper: T=4096, 16 tokens, 3 layers (GPU); demo: the demo\'s').choices(['cpu', 'paper', 'demo']).default('cpu'))
    .option('--steps <n>', 'maximum steps (default: the preset\'s)', positiveInt('--steps'))
    .option('--cell <name>', 'recurrent cell (default mingru)')
    .option('--seed <n>', 'random seed', positiveInt('--seed'))
    .option('--out <dir>', 'write <dir>/selective-copy-<preset>.{json,md}', 'bench/results')
    .action(async (opts: { preset: 'cpu' | 'paper' | 'demo'; steps?: number; cell?: string; seed?: number; out: string }) => {
      const { SELECTIVE_COPY_PRESETS, trainSelectiveCopy } = await import('../train/selective-copy.js');
      const { createReport, toMarkdown, writeReport } = await import('../../bench/report.js');
      const { Progress } = await import('./progress.js');
      const base = SELECTIVE_COPY_PRESETS[opts.preset];
      const run = {
        ...base,
        steps: opts.steps ?? base.steps,
        seed: opts.seed ?? base.seed,
        model: { ...base.model, cell: opts.cell ?? base.model.cell },
      };
      const progress = new Progress({ total: run.steps, label: `selective-copy (${opts.preset})` });
      const result = await trainSelectiveCopy(run, {
        onStep: (s) => progress.update(s.step, { loss: s.loss, tokensPerSec: s.tokensPerSec }),
        onEval: (e) => progress.log(`step ${e.step}: accuracy ${(100 * e.accuracy).toFixed(2)}%, loss ${e.loss.toFixed(4)}`),
      });
      progress.stop();
      const { task, model } = run;
      const shapes = `T=${task.seqLength}, ${task.numTokens} tokens, batch ${run.batch}; ${model.depth}×${model.cell ?? 'mingru'} dim ${model.dim}, expansion ${model.expansion}; ${result.model.numParameters().toLocaleString('en-US')} params`;
      const report = createReport(`selective-copy-${opts.preset}`, [{
        section: 'selective copying', name: `${opts.preset}: accuracy ${(100 * result.accuracy).toFixed(2)}% after ${result.steps} steps`,
        shapes, medianMs: (1000 * result.seconds) / result.steps, throughput: (result.steps * run.batch * task.seqLength) / result.seconds,
        unit: 'tokens/s', references: [],
        notes: `${result.seconds.toFixed(0)} s wall; target ${(100 * (run.targetAccuracy ?? 1)).toFixed(1)}%; lr ${run.lr} (warm-up + cosine), clip ${run.clip}`,
      }], [
        `evaluation: token accuracy on the answer positions of ${run.evalSize} fresh sequences every ${run.evalEvery} steps`,
        `accuracy curve: ${result.evals.map((e) => `${e.step}:${(100 * e.accuracy).toFixed(1)}`).join(' ')}`,
      ]);
      result.model.dispose();
      process.stdout.write(toMarkdown(report));
      const { json, md } = writeReport(report, opts.out);
      process.stderr.write(`bench: wrote ${json} and ${md}\n`);
    });
}
