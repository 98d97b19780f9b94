/**
 * `recur eval`: loss (nats/char), bits/char and next-character accuracy of a checkpoint over a
 * whole text, read as one stream in consecutive windows with the state carried between them.
 */
import type { Command } from 'commander';
import { evaluateStream, openCheckpoint, storedTraining } from '../train/lm-trainer.js';
import { encodeForCheckpoint } from './generate.js';
import { Progress, formatDuration, formatRate } from './progress.js';
import { asUserErrors, positiveIntFlag, readTextFile } from './train.js';

interface EvalFlags {
  checkpoint: string;
  text: string;
  seq?: number;
  json?: boolean;
}

export async function runEval(f: EvalFlags): Promise<void> {
  const { text, info } = await readTextFile(f.text);
  const { ckpt, model, tokenizer } = await openCheckpoint(f.checkpoint);
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
    .description("a checkpoint's loss (nats/char), bits/char and next-character accuracy over a whole text")
    .requiredOption('--checkpoint <dir>', "run directory of 'recur train' (its latest checkpoint) or a ckpt-* directory")
    .requiredOption('--text <file>', 'UTF-8 text to evaluate (every character after the first is predicted once)')
    .option('--seq <n>', 'window length; the state carries from window to window (default: the training --seq)', positiveIntFlag('--seq'))
    .option('--json', 'print the result as one JSON object')
    .action(async (flags: EvalFlags) => {
      await asUserErrors(() => runEval(flags));
    });
}
