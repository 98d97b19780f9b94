/** `recur bench <suite>`: runs a benchmark suite and prints its report as a Markdown table. */
import { Option, type Command } from 'commander';
import { positiveInt, UserError } from './errors.js';
import { DEFAULT_COMPARE_MODELS, DEFAULT_COMPARE_TRAIN, parseModelList, parseParamCount } from '../train/compare.js';
import { TrainConfigError } from '../train/args.js';
import { asUserErrors } from './train.js';
import { applyAliases, nonNegativeIntFlag, nonNegativeNumberFlag, positiveNumberFlag } from './flags.js';
import { cellNames } from '../cells/registry.js';

/** `recur bench lm` flags (commander sets no defaults except --recipe and --out: undefined = the study's default). */
interface LmBenchFlags {
  text?: string;
  models?: string[];
  params?: number;
  epochs?: number;
  epochChars?: number;
  depth?: number;
  expansion?: number;
  conv?: number;
  ffMult?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  weightDecay?: number;
  clip?: number;
  seed?: number;
  stateful?: boolean;
  recipe: 'same' | 'seed';
  valWindows?: number;
  out: string;
}

/** A commander argParser from a parser that throws TrainConfigError: the message becomes a UserError. */
function userParser<T>(parse: (v: string) => T): (v: string) => T {
  return (v: string) => {
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof TrainConfigError) throw new UserError(e.message);
      throw e;
    }
  };
}

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
      const { runCpuBench, SECTIONS } = await import('../bench/cpu.js');
      const { toMarkdown, writeReport } = await import('../bench/report.js');
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
    .description('train a RecurrentLM (minGRU by default, --model for any other cell) on selective copying until it solves it; reports steps, time and accuracy')
    .addOption(new Option('--preset <name>', 'cpu: T=64, 4 tokens, 2 layers (this machine); paper: T=4096, 16 tokens, 3 layers (GPU); demo: the demo\'s').choices(['cpu', 'paper', 'demo']).default('cpu'))
    .option('--steps <n>', 'maximum steps (default: the preset\'s)', positiveInt('--steps'))
    .addOption(new Option('--model <name>', 'recurrent cell (alias --cell) (default mingru)').choices(cellNames()))
    .addOption(new Option('--cell <name>', 'alias of --model').choices(cellNames()).hideHelp())
    .option('--seed <n>', 'random seed', positiveInt('--seed'))
    .option('--lr <x>', 'peak learning rate (default: the preset\'s)', positiveNumberFlag('--lr'))
    .option('--eval-every <n>', 'evaluate every n steps (default: the preset\'s)', positiveInt('--eval-every'))
    .option('--out <dir>', 'write <dir>/selective-copy-<preset>.{json,md}', 'bench/results')
    .action(async (opts: { preset: 'cpu' | 'paper' | 'demo'; steps?: number; model?: string; seed?: number; lr?: number; evalEvery?: number; out: string }) => {
      applyAliases(opts, { cell: 'model' });
      const { SELECTIVE_COPY_PRESETS, trainSelectiveCopy } = await import('../train/selective-copy.js');
      const { createReport, toMarkdown, writeReport } = await import('../bench/report.js');
      const { Progress } = await import('./progress.js');
      const base = SELECTIVE_COPY_PRESETS[opts.preset];
      const run = {
        ...base,
        steps: opts.steps ?? base.steps,
        seed: opts.seed ?? base.seed,
        lr: opts.lr ?? base.lr,
        evalEvery: opts.evalEvery ?? base.evalEvery,
        model: { ...base.model, cell: opts.model ?? base.model.cell },
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

  const lmDefaults = DEFAULT_COMPARE_TRAIN;
  bench
    .command('lm')
    .description('compare character LMs (bigram, LSTM, GRU, SMR, MSMR, minGRU, minLSTM) at the same parameter count and training budget: next-character accuracy on the held-out 10% after each epoch, as the SMR articles\' table (docs/models.md#character-lm-comparison)')
    .option('--text <file>', 'UTF-8 text (the first 90% trains, the last 10% validates)')
    .option('--models <list>', `comma-separated models, trained in this order (default ${DEFAULT_COMPARE_MODELS.join(',')})`, userParser((v) => parseModelList(v)))
    .option('--params <n>', 'target parameter count of every model with a width, e.g. 250k, 500000, 1.5M; each gets the dim closest to it (default 500k)', userParser((v) => parseParamCount(v)))
    .option('--epochs <n>', 'epochs; accuracy is measured after each (default 4)', positiveInt('--epochs'))
    .option('--epoch-chars <n>', 'training characters per epoch (default: the whole training split)', positiveInt('--epoch-chars'))
    .option('--depth <n>', `layers (default ${lmDefaults.depth})`, positiveInt('--depth'))
    .option('--expansion <x>', `minGRU/minLSTM expansion factor (default ${lmDefaults.expansion})`, positiveNumberFlag('--expansion'))
    .option('--conv <k>', `causal depthwise conv kernel before each cell, 0 = none (default ${lmDefaults.conv})`, nonNegativeIntFlag('--conv'))
    .option('--ff-mult <x>', `feed-forward width multiplier (default ${lmDefaults.ffMult})`, positiveNumberFlag('--ff-mult'))
    .option('--batch <n>', `sequences per step (default ${lmDefaults.batch})`, positiveInt('--batch'))
    .option('--seq <n>', `characters per sequence, also the validation window (default ${lmDefaults.seq})`, positiveInt('--seq'))
    .option('--lr <x>', `AdamW learning rate, constant (default ${lmDefaults.lr})`, positiveNumberFlag('--lr'))
    .option('--weight-decay <x>', `AdamW weight decay on matrices (default ${lmDefaults.weightDecay})`, nonNegativeNumberFlag('--weight-decay'))
    .option('--clip <x>', `gradient-norm clip, 0 = none (default ${lmDefaults.clip})`, nonNegativeNumberFlag('--clip'))
    .option('--seed <n>', `random seed: initialisation and batches, the same for every model (default ${lmDefaults.seed})`, nonNegativeIntFlag('--seed'))
    .option('--stateful', 'every model trains on contiguous streams with the state carried across batches')
    .option('--no-stateful', 'every model trains on random windows from a fresh state (the default)')
    .addOption(new Option('--recipe <name>', "same: one recipe for every model (pre-norm, additive residual, the shared --stateful and --clip); seed: SMR and MSMR get the seed author's (multiplicative residual, stateful, clip 1)").choices(['same', 'seed']).default('same'))
    .option('--val-windows <n>', 'validation windows of --seq characters over the held-out text, 0 = all (default 0)', nonNegativeIntFlag('--val-windows'))
    .option('--out <dir>', 'write <dir>/lm-compare.{json,md,svg} (after every model, so a stopped run keeps what it measured)', 'bench/results')
    .action(async (opts: LmBenchFlags) => {
      const { runComparison, writeComparison, comparisonTable } = await import('../train/compare.js');
      const { Progress, formatDuration, formatRate } = await import('./progress.js');
      const { readTextFile } = await import('./train.js');
      if (opts.text === undefined) throw new UserError('recur bench lm needs --text FILE');
      const { text, info } = await readTextFile(opts.text);
      const given = Object.fromEntries(
        (['depth', 'expansion', 'conv', 'ffMult', 'batch', 'seq', 'lr', 'weightDecay', 'clip', 'seed', 'stateful', 'valWindows'] as const)
          .filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]),
      );
      const config = {
        models: opts.models ?? [...DEFAULT_COMPARE_MODELS],
        params: opts.params ?? 500_000,
        epochs: opts.epochs ?? 4,
        epochChars: opts.epochChars ?? 0,
        recipe: opts.recipe,
        train: { ...lmDefaults, ...given },
      };
      const err = process.stderr;
      let progress: InstanceType<typeof Progress> | null = null;
      const result = await asUserErrors(() => runComparison(config, text, info, {
        onModelStart: (model, size, recipe, steps) => {
          err.write(`bench lm: ${model}: ${size.dim === null ? 'no width' : `dim ${size.dim}`}, ${size.params.toLocaleString('en-US')} parameters, ${recipe.residual} residual${recipe.stateful ? ', stateful' : ''}, clip ${recipe.clip}, ${steps} steps\n`);
          progress = new Progress({ total: steps, label: model, stream: err });
        },
        onStep: (_m, step, loss, rate) => progress?.update(step, { loss, tokensPerSec: rate }),
        onEpoch: (model, e) => progress?.log(`${model} epoch ${e.epoch}: val accuracy ${(100 * e.accuracy).toFixed(2)}% | ${e.valLoss.toFixed(4)} nats/char | ${e.bitsPerChar.toFixed(3)} bits/char | train loss ${e.trainLoss.toFixed(4)} | ${formatRate(e.tokens / e.trainSeconds)} tok/s | ${formatDuration(e.wallSeconds)}`),
        onModelEnd: async (r, sofar) => {
          progress?.stop();
          progress = null;
          if (r.status === 'diverged') err.write(`bench lm: ${r.model} diverged: ${r.message}\n`);
          await writeComparison(sofar, opts.out);
        },
      }));
      process.stdout.write(comparisonTable(result));
      const files = await writeComparison(result, opts.out);
      err.write(`bench lm: wrote ${files.json}, ${files.md} and ${files.svg} (${formatDuration(result.wallSeconds)})\n`);
    });
}
