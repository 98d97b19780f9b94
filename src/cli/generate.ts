/**
 * `recur generate`: samples text from a trained checkpoint, streaming each character to stdout as
 * soon as it is sampled (the prompt runs through the parallel forward once, then one `step` per
 * character: constant memory however long it runs).
 */
import { randomInt } from 'node:crypto';
import type { Command } from 'commander';
import { CharTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { openCheckpoint } from '../train/model-kinds.js';
import { UserError } from './errors.js';
import { asUserErrors } from './train.js';
import { nonNegativeIntFlag, nonNegativeNumberFlag, positiveIntFlag } from './flags.js';

/**
 * Encodes text with a checkpoint's tokenizer; a UserError listing the characters the vocabulary
 * lacks (up to 8, with code points) instead of the first one only.
 */
export function encodeForCheckpoint(tokenizer: Tokenizer, text: string, what: string): Int32Array {
  if (tokenizer instanceof CharTokenizer) {
    const known = new Set(tokenizer.chars);
    const unknown = [...new Set(text)].filter((c) => !known.has(c));
    if (unknown.length) {
      const list = unknown.slice(0, 8).map((c) => `${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`).join(', ');
      throw new UserError(`${what} has ${unknown.length} character${unknown.length > 1 ? 's' : ''} outside the checkpoint's vocabulary of ${tokenizer.vocabSize}: ${list}${unknown.length > 8 ? ', …' : ''}`);
    }
  }
  return tokenizer.encode(text);
}

interface GenerateFlags {
  checkpoint: string;
  allowNonFinite?: boolean;
  prompt?: string;
  tokens: number;
  temperature: number;
  topK: number;
  seed?: number;
}

/** Writes s and waits until it is handed to the OS (so each character shows as it is sampled). */
function writeFlushed(s: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(s, (err) => (err ? reject(err) : resolve())));
}

export async function runGenerate(f: GenerateFlags): Promise<void> {
  const { ckpt, model, tokenizer } = await openCheckpoint(f.checkpoint, { allowNonFinite: f.allowNonFinite });
  try {
    if (!model.generate) throw new UserError(`the '${ckpt.config.model.kind}' model of this checkpoint cannot generate`);
    let prompt = f.prompt;
    if (prompt === undefined) {
      if (tokenizer instanceof CharTokenizer && !tokenizer.chars.includes('\n')) throw new UserError('--prompt is required: the vocabulary has no newline to start from');
      prompt = '\n';
    }
    if (prompt.length === 0) throw new UserError('--prompt must not be empty');
    const ids = encodeForCheckpoint(tokenizer, prompt, '--prompt');
    const decode = tokenizer.streamDecoder();
    let closed = false;
    process.stdout.on('error', () => { closed = true; }); // a closed pipe (| head) ends generation quietly
    if (f.prompt !== undefined) await writeFlushed(prompt);
    const seed = f.seed ?? randomInt(0, 2 ** 31);
    for await (const id of model.generate(ids, { maxTokens: f.tokens, temperature: f.temperature, topK: f.topK, seed })) {
      const s = decode(id);
      if (s) await writeFlushed(s).catch(() => { closed = true; });
      if (closed) break;
    }
    if (!closed) await writeFlushed('\n').catch(() => undefined);
  } finally {
    model.dispose();
  }
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('sample text from a trained checkpoint, streaming characters as they are sampled')
    .requiredOption('--checkpoint <dir>', "run directory of 'recur train' (its latest checkpoint) or a ckpt-* directory")
    .option('--allow-non-finite', 'load weights that hold NaN or infinite values (to inspect a diverged run; refused otherwise)')
    .option('--prompt <text>', 'text to continue, echoed first (default: a newline, not echoed)')
    .option('--tokens <n>', 'characters to sample', positiveIntFlag('--tokens'), 500)
    .option('--temperature <x>', 'softmax temperature, 0 = greedy', nonNegativeNumberFlag('--temperature'), 1)
    .option('--top-k <n>', 'sample among the k most likely characters, 0 = all', nonNegativeIntFlag('--top-k'), 0)
    .option('--seed <n>', 'sampling seed: the same seed gives the same text (default: random)', nonNegativeIntFlag('--seed'))
    .action(async (flags: GenerateFlags) => {
      await asUserErrors(() => runGenerate(flags));
    });
}
