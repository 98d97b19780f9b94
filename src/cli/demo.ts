/**
 * `recur demo`: trains a small minGRU language model on selective copying on the CPU (no
 * download, a minute or two), prints its accuracy, then shows the trained model streaming its
 * answer token by token through `step` with constant memory.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { cellNames } from '../cells/registry.js';
import { selectiveCopyBatch, type SelectiveCopyConfig } from '../data/selective-copy.js';
import type { RecurrentLM } from '../models/recurrent-lm.js';
import { disposeState } from '../models/recurrent-lm.js';
import { fromHost } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { argmax } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope } from '../tensor/tensor.js';
import { SELECTIVE_COPY_PRESETS, trainSelectiveCopy } from '../train/selective-copy.js';
import { argSpec } from '../train/args.js';
import { UserError } from './errors.js';
import { applyAliases, positiveIntFlag, positiveNumberFlag, specParser } from './flags.js';
import { Progress } from './progress.js';

export interface DemoOptions {
  cell: string;
  steps: number;
  seqLength: number;
  tokens: number;
  dim: number;
  depth: number;
  batch: number;
  lr: number;
  seed: number;
  examples: number;
}

/** The demo's flags as commander gives them (aliases applied by the action). */
interface DemoFlags extends Omit<DemoOptions, 'cell' | 'seqLength' | 'tokens'> {
  model?: string;
  seq?: number;
  letters?: number;
}

/** How a selective-copying token is shown: data tokens as letters, blanks as dots, markers as '?'. */
function glyph(token: number, vocabSize: number): string {
  if (token === 0) return '·';
  if (token === vocabSize - 1) return '?';
  return String.fromCharCode(64 + token);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Feeds one fresh example's context through the parallel forward, then streams the answer with step(). */
async function showExample(model: RecurrentLM, task: Required<SelectiveCopyConfig>, rng: Rng, animate: boolean): Promise<boolean> {
  const { seqLength, numTokens, vocabSize } = task;
  const context = seqLength - numTokens;
  const { inputs, targets } = selectiveCopyBatch(task, 1, rng);
  const expected = Array.from(targets.subarray(context), (t) => glyph(t, vocabSize)).join('');
  process.stdout.write(`  input   ${Array.from(inputs.subarray(0, context), (t) => glyph(t, vocabSize)).join('')}\n`);
  process.stdout.write(`  answer  `);
  model.eval();
  let { state } = noGrad(() => scope(() => ({ state: model.forward(fromHost(inputs.subarray(0, context), [1, context])).state })));
  let produced = '';
  for (let k = 0; k < numTokens; k++) {
    const prev = state;
    const r = noGrad(() => scope(() => {
      const s = model.step(fromHost(Int32Array.of(vocabSize - 1), [1]), prev);
      return { token: argmax(s.logits, -1), state: s.state };
    }));
    disposeState(prev);
    state = r.state;
    const token = (await r.token.data())[0];
    r.token.dispose();
    const g = glyph(token, vocabSize);
    produced += g;
    process.stdout.write(g);
    if (animate) await sleep(60);
  }
  disposeState(state);
  const ok = produced === expected;
  process.stdout.write(`   expected ${expected}  ${ok ? '✓' : '✗'}\n`);
  return ok;
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const task = { seqLength: o.seqLength, numTokens: o.tokens, vocabSize: 16 };
  console.log(`Recur demo: a ${o.depth}-layer ${o.cell} learns selective copying on the CPU.`);
  console.log(`Each sequence hides ${o.tokens} letters among ${o.seqLength - o.tokens} positions of noise (·); after the`);
  console.log(`context come ${o.tokens} markers (?), where the model must repeat the letters in order.\n`);
  const progress = new Progress({ total: o.steps, label: 'train' });
  const preset = SELECTIVE_COPY_PRESETS.demo;
  const result = await trainSelectiveCopy({
    ...preset,
    task,
    model: { ...preset.model, dim: o.dim, depth: o.depth, cell: o.cell },
    batch: o.batch, steps: o.steps, lr: o.lr, seed: o.seed,
  }, {
    onStep: (s) => progress.update(s.step, { loss: s.loss, tokensPerSec: s.tokensPerSec }),
    onEval: (e) => progress.log(`step ${e.step}: answer accuracy ${(100 * e.accuracy).toFixed(1)}% (loss ${e.loss.toFixed(3)})`),
  });
  progress.stop();
  const model = result.model;
  console.log(`\n${model.numParameters().toLocaleString('en-US')} parameters, ${result.steps} steps in ${result.seconds.toFixed(1)} s: ` +
    `token accuracy ${(100 * result.accuracy).toFixed(1)}% on fresh sequences.\n`);
  console.log('The trained model, streaming its answers one step at a time:');
  const rng = new Rng(o.seed + 1000);
  let right = 0;
  for (let i = 0; i < o.examples; i++) if (await showExample(model, checkTask(task), rng, process.stdout.isTTY === true)) right++;
  console.log(`\n${right}/${o.examples} examples copied exactly.`);
  model.dispose();
}

function checkTask(t: SelectiveCopyConfig): Required<SelectiveCopyConfig> {
  return { seqLength: t.seqLength, numTokens: t.numTokens, vocabSize: t.vocabSize ?? 16 };
}

export function registerDemo(program: Command): void {
  const d = SELECTIVE_COPY_PRESETS.demo;
  program
    .command('demo')
    .description('train a small minGRU on selective copying (CPU, no download), then watch it stream its answers')
    .addOption(new Option('--model <name>', 'recurrent cell (alias --cell)').choices(cellNames()))
    .option('--steps <n>', 'maximum training steps (stops early at 99.5% accuracy)', positiveIntFlag('--steps'), d.steps)
    .option('--seq <n>', `sequence length: context + answer (alias --seq-length) (default ${d.task.seqLength})`, positiveIntFlag('--seq'))
    .option('--letters <n>', `letters to copy (alias --tokens) (default ${d.task.numTokens})`, positiveIntFlag('--letters'))
    .option('--dim <n>', 'model width', specParser(argSpec('dim')!), d.model.dim)
    .option('--depth <n>', 'layers', specParser(argSpec('depth')!), d.model.depth)
    .option('--batch <n>', 'sequences per step', specParser(argSpec('batch')!), d.batch)
    .option('--lr <x>', 'peak AdamW learning rate (warm-up, then cosine decay)', positiveNumberFlag('--lr'), d.lr)
    .option('--seed <n>', 'random seed', positiveIntFlag('--seed'), d.seed ?? 1)
    .option('--examples <n>', 'examples to stream after training', positiveIntFlag('--examples'), 3)
    .addOption(new Option('--cell <name>', 'alias of --model').choices(cellNames()).hideHelp())
    .addOption(new Option('--seq-length <n>', 'alias of --seq').argParser(positiveIntFlag('--seq-length')).hideHelp())
    .addOption(new Option('--tokens <n>', 'alias of --letters').argParser(positiveIntFlag('--tokens')).hideHelp())
    .action(async (given: DemoFlags) => {
      applyAliases(given as unknown as Record<string, unknown>, { cell: 'model', seqLength: 'seq', tokens: 'letters' });
      const opts: DemoOptions = {
        ...given, cell: given.model ?? 'mingru', seqLength: given.seq ?? d.task.seqLength, tokens: given.letters ?? d.task.numTokens,
      };
      if (opts.seqLength < 2 * opts.tokens) throw new UserError(`--seq must be at least twice --letters`);
      await runDemo(opts);
    });
}
