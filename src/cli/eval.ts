/**
 * `recur eval`: loss (nats/char), bits/char and next-character accuracy of a language-model
 * checkpoint over a whole text, read as one stream in consecutive windows with the state carried
 * between them; or, for a `--task listops` checkpoint, accuracy on the run's held-out test set
 * (regenerated from its settings) next to that set's majority-class and root-operator-alone
 * rates; for a selective-copy or recall checkpoint, answer and whole-sequence accuracy on its
 * held-out test set.
 */
import { Option, type Command } from 'commander';
import { disposeTensorTree, loadCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { isTokenTask, storedTokenTaskArgs, tokenTaskHeldOut, type TokenTaskName } from '../train/token-task-trainer.js';
import { evaluateTokenTask } from '../train/token-tasks.js';
import { LISTOPS_TASK, evaluateListOps, listOpsHeldOut, listOpsModelFromCheckpoint, storedListOpsArgs, type HeldOutSplit } from '../train/listops-trainer.js';
import { evaluateStream } from '../train/lm-eval.js';
import { storedTraining } from '../train/lm-trainer.js';
import { modelFromCheckpoint, openCheckpoint } from '../train/model-kinds.js';
import { UserError } from './errors.js';
import { encodeForCheckpoint } from './generate.js';
import { Progress, formatDuration, formatRate } from './progress.js';
import { asUserErrors, readTextFile } from './train.js';
import { positiveIntFlag } from './flags.js';

interface EvalFlags {
  checkpoint: string;
  allowNonFinite?: boolean;
  text?: string;
  seq?: number;
  split?: HeldOutSplit;
  json?: boolean;
}

export async function runEval(f: EvalFlags): Promise<void> {
  const ckpt = await loadCheckpoint(f.checkpoint, { allowNonFinite: f.allowNonFinite });
  const task = ckpt.config.task;
  if (isTokenTask(task)) return evalTokenTask(ckpt, f);
  if (task !== LISTOPS_TASK) {
    disposeTensorTree(ckpt.weights);
    if (task !== undefined) throw new UserError(`checkpoint '${ckpt.dir}' holds a '${task}' model, which recur eval cannot score`);
    if (f.split !== undefined) throw new UserError('--split applies to --task listops checkpoints; a language model is scored on --text');
    if (f.text === undefined) throw new UserError(`recur eval of a language model needs --text FILE`);
    return evalLM({ ...f, text: f.text });
  }
  if (f.text !== undefined || f.seq !== undefined) {
    disposeTensorTree(ckpt.weights);
    throw new UserError(`${f.text !== undefined ? '--text' : '--seq'} does not apply to a ListOps checkpoint (it is scored on its own held-out ${f.split ?? 'test'} set)`);
  }
  let model;
  try {
    model = listOpsModelFromCheckpoint(ckpt);
  } finally {
    disposeTensorTree(ckpt.weights);
  }
  try {
    const args = storedListOpsArgs(ckpt);
    const split = f.split ?? 'test';
    const t0 = performance.now();
    const examples = listOpsHeldOut(args)[split];
    const r = await evaluateListOps(model, examples, args.batch);
    const seconds = (performance.now() - t0) / 1000;
    if (f.json) {
      process.stdout.write(`${JSON.stringify({
        checkpoint: ckpt.dir, task: LISTOPS_TASK, split, examples: r.examples, loss: r.loss, accuracy: r.accuracy,
        majority: r.majority, majority_label: r.majorityLabel, root_operator: r.rootOperator, seconds: Number(seconds.toFixed(3)),
      })}\n`);
    } else {
      process.stdout.write(`eval ${ckpt.dir} on ListOps ${split} (${r.examples.toLocaleString('en-US')} expressions, ${args.minLength} < length < ${args.maxLength}, data seed ${args.dataSeed}): ` +
        `accuracy ${(100 * r.accuracy).toFixed(2)}% | majority class (${r.majorityLabel}) ${(100 * r.majority).toFixed(2)}% | root operator alone ${(100 * r.rootOperator).toFixed(2)}% | loss ${r.loss.toFixed(4)} | ${formatDuration(seconds)}\n`);
    }
  } finally {
    model.dispose();
  }
}

/** A selective-copy or recall checkpoint on its run's held-out test (or validation) set. */
async function evalTokenTask(ckpt: LoadedCheckpoint, f: EvalFlags): Promise<void> {
  let model;
  try {
    if (f.text !== undefined || f.seq !== undefined) throw new UserError(`${f.text !== undefined ? '--text' : '--seq'} does not apply to a ${ckpt.config.task} checkpoint (it is scored on its own held-out ${f.split ?? 'test'} set)`);
    model = modelFromCheckpoint(ckpt);
  } finally {
    disposeTensorTree(ckpt.weights);
  }
  try {
    const task = ckpt.config.task as TokenTaskName;
    const args = storedTokenTaskArgs(ckpt);
    const split = f.split ?? 'test';
    const t0 = performance.now();
    const r = await evaluateTokenTask(model, tokenTaskHeldOut(task, args, split), args.batch);
    const seconds = (performance.now() - t0) / 1000;
    if (f.json) {
      process.stdout.write(`${JSON.stringify({
        checkpoint: ckpt.dir, task, split, examples: r.sequences, loss: r.loss, accuracy: r.accuracy, sequence_accuracy: r.sequenceAccuracy, seconds: Number(seconds.toFixed(3)),
      })}\n`);
    } else {
      process.stdout.write(`eval ${ckpt.dir} on ${task} ${split} (${r.sequences.toLocaleString('en-US')} sequences of ${args.seq}, data seed ${args.dataSeed}): ` +
        `accuracy ${(100 * r.accuracy).toFixed(2)}% | sequences all right ${(100 * r.sequenceAccuracy).toFixed(2)}% | loss ${r.loss.toFixed(4)} nats/answer | ${formatDuration(seconds)}\n`);
    }
  } finally {
    model.dispose();
  }
}

async function evalLM(f: EvalFlags & { text: string }): Promise<void> {
  const { text, info } = await readTextFile(f.text);
  const { ckpt, model, tokenizer } = await openCheckpoint(f.checkpoint, { allowNonFinite: f.allowNonFinite });
  try {
    const tokens = encodeForCheckpoint(tokenizer, text, `--text '${f.text}'`);
    let seq = f.seq;
    if (seq === undefined) {
      try {
        seq = storedTraining(ckpt).args.seq;
      } catch {
        seq = 256;
      }
    }
    const progress = process.stderr.isTTY ? new Progress({ total: Math.max(1, tokens.length - 1), label: 'eval', stream: process.stderr }) : null;
    const t0 = performance.now();
    const r = await evaluateStream(model, tokens, seq, (done) => progress?.update(done));
    progress?.stop();
    const seconds = (performance.now() - t0) / 1000;
    if (f.json) {
      process.stdout.write(`${JSON.stringify({
        checkpoint: ckpt.dir, text: info.path, chars: info.chars, predictions: r.tokens, seq,
        loss: r.loss, bits_per_char: r.bitsPerChar, accuracy: r.accuracy, seconds: Number(seconds.toFixed(3)),
      })}\n`);
    } else {
      process.stdout.write(`eval ${ckpt.dir} on ${info.path} (${r.tokens.toLocaleString('en-US')} predictions, windows of ${seq}, state carried): ` +
        `loss ${r.loss.toFixed(4)} nats/char | ${r.bitsPerChar.toFixed(3)} bits/char | accuracy ${(100 * r.accuracy).toFixed(2)}% | ` +
        `${formatRate(r.tokens / seconds)} chars/s | ${formatDuration(seconds)}\n`);
    }
  } finally {
    model.dispose();
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("a language model's loss (nats/char), bits/char and next-character accuracy over a whole text; a ListOps classifier's test accuracy beside the majority-class rate and the root-operator-alone rate")
    .requiredOption('--checkpoint <dir>', "run directory of 'recur train' (its latest checkpoint) or a ckpt-* directory")
    .option('--allow-non-finite', 'load weights that hold NaN or infinite values (to inspect a diverged run; refused otherwise)')
    .option('--text <file>', 'language models: UTF-8 text to evaluate (every character after the first is predicted once)')
    .addOption(new Option('--split <split>', "ListOps: the run's held-out set to score and token tasks: the run's held-out set to score (default test)").choices(['test', 'val']))
    .option('--seq <n>', 'window length; the state carries from window to window (default: the training --seq)', positiveIntFlag('--seq'))
    .option('--json', 'print the result as one JSON object')
    .action(async (flags: EvalFlags) => {
      await asUserErrors(() => runEval(flags));
    });
}
