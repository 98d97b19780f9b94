/**
 * Scoring a character language model: loss, bits/char and next-character accuracy over fixed
 * windows (validation) or over a whole text as one stream (`recur eval`).
 */
import { consecutiveWindows, type Windows } from '../data/text.js';
import { noGrad } from '../tensor/engine.js';
import { argmax, crossEntropy, reshape, slice } from '../tensor/ops.js';
import { fromHost } from '../tensor/creation.js';
import { scope } from '../tensor/tensor.js';
import { TrainConfigError } from './args.js';
import { disposeTensorTree, mapTensorTree } from './checkpoint.js';
import type { CharLM } from './model-kinds.js';

/** A language model's score on held-out text. */
export interface EvalResult {
  /** Mean next-character cross-entropy, nats/char. */
  loss: number;
  /** loss / ln 2. */
  bitsPerChar: number;
  /** Fraction of positions whose most likely next character is the right one. */
  accuracy: number;
  /** Predictions scored. */
  tokens: number;
}

interface Tally { nats: number; right: number; tokens: number }

function finish(t: Tally): EvalResult {
  const loss = t.nats / t.tokens;
  return { loss, bitsPerChar: loss / Math.LN2, accuracy: t.right / t.tokens, tokens: t.tokens };
}

/** Scores rows [n, T + 1] (host tokens) from `state`; adds to the tally; returns the next state. */
async function scoreRows(model: CharLM, rows: Int32Array, n: number, T: number, state: unknown, keepState: boolean, tally: Tally): Promise<unknown> {
  const V = model.config.vocabSize;
  const r = noGrad(() => scope(() => {
    const tokens = fromHost(rows, [n, T + 1]);
    const out = model.forward(slice(tokens, 1, 0, T), state);
    const flat = reshape(out.logits, [n * T, V]);
    return {
      nats: crossEntropy(flat, reshape(slice(tokens, 1, 1, T + 1), [n * T]), { reduction: 'sum' }),
      predicted: argmax(flat, -1),
      state: keepState ? out.state : null,
    };
  }));
  const predicted = await r.predicted.data();
  tally.nats += await r.nats.item();
  r.nats.dispose();
  r.predicted.dispose();
  for (let b = 0; b < n; b++) for (let t = 0; t < T; t++) if (predicted[b * T + t] === rows[b * (T + 1) + t + 1]) tally.right++;
  tally.tokens += n * T;
  return r.state;
}

async function inEvalMode<R>(model: CharLM, fn: () => Promise<R>): Promise<R> {
  const was = model.training;
  model.eval();
  try {
    return await fn();
  } finally {
    model.train(was);
  }
}

/** Loss, bits/char and accuracy over fixed windows, each from a fresh state, `batch` windows at a time. */
export async function evaluateWindows(model: CharLM, w: Windows, batch: number): Promise<EvalResult> {
  return inEvalMode(model, async () => {
    const tally: Tally = { nats: 0, right: 0, tokens: 0 };
    const L = w.length + 1;
    for (let i = 0; i < w.count; i += batch) {
      const n = Math.min(batch, w.count - i);
      await scoreRows(model, w.tokens.subarray(i * L, (i + n) * L), n, w.length, null, false, tally);
    }
    return finish(tally);
  });
}

/**
 * Loss, bits/char and accuracy of a whole text as one stream: consecutive windows of `seq` tokens,
 * the state carried from each window to the next, so every character after the first is predicted
 * from everything before it.
 */
export async function evaluateStream(model: CharLM, tokens: Int32Array, seq: number, onProgress?: (done: number, total: number) => void): Promise<EvalResult> {
  if (tokens.length < 2) throw new TrainConfigError(`the text has ${tokens.length} character(s); evaluation needs at least 2`);
  return inEvalMode(model, async () => {
    const tally: Tally = { nats: 0, right: 0, tokens: 0 };
    let state: unknown = null;
    try {
      for (const { start, length } of consecutiveWindows(tokens.length, seq)) {
        const prev = state;
        state = mapTensorTree(await scoreRows(model, tokens.subarray(start, start + length + 1), 1, length, prev, true, tally), (t) => t.keep());
        disposeTensorTree(prev);
        onProgress?.(start + length, tokens.length - 1);
      }
    } finally {
      disposeTensorTree(state);
    }
    return finish(tally);
  });
}
