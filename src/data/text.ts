/**
 * Text data for character-level language models, as token arrays (a tokenizer's `encode` output):
 *
 *  - splitTrainVal: the first 90% of the tokens train, the last 10% validate (nanoGPT's
 *    shakespeare_char split: `n = int(len·0.9)`);
 *  - randomWindows: B windows of T + 1 tokens at uniformly random starts (stateless training);
 *  - StreamBatcher: B contiguous streams over the text, advanced T tokens per batch, for stateful
 *    training (truncated BPTT: the model state carries from one batch to the next; the batcher
 *    says when the streams wrap around and the state must start fresh);
 *  - validationWindows: a fixed, evenly spaced set of windows (the same at every evaluation);
 *  - consecutiveWindows: a whole text cut into consecutive windows that share their boundary token,
 *    for evaluation with the state carried from window to window.
 *
 * A batch is an Int32Array of B rows of T + 1 tokens, row-major: positions 0..T−1 are the inputs
 * and 1..T the targets (what RecurrentLM.loss takes as [B, T + 1]). Portable: no Node APIs.
 */
import type { Rng } from '../tensor/random.js';

/** A token stream split into training and validation parts (views of one array). */
export interface TextSplit {
  train: Int32Array;
  val: Int32Array;
}

/** First `trainFraction` of the tokens (floor) for training, the rest for validation; views, no copy. */
export function splitTrainVal(tokens: Int32Array, trainFraction = 0.9): TextSplit {
  if (!(trainFraction > 0 && trainFraction < 1)) throw new RangeError(`splitTrainVal: trainFraction must be in (0, 1), got ${trainFraction}`);
  const n = Math.floor(tokens.length * trainFraction);
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

function checkSizes(what: string, batch: number, seq: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`${what}: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(seq) || seq < 1) throw new RangeError(`${what}: seq must be a positive integer, got ${seq}`);
}

/** `batch` windows of seq + 1 tokens, each starting at rng.int(len − seq): every window fits. */
export function randomWindows(data: Int32Array, batch: number, seq: number, rng: Rng): Int32Array {
  checkSizes('randomWindows', batch, seq);
  if (data.length < seq + 1) throw new RangeError(`randomWindows: ${data.length} tokens cannot hold a window of ${seq + 1}`);
  const out = new Int32Array(batch * (seq + 1));
  for (let b = 0; b < batch; b++) {
    const start = rng.int(data.length - seq);
    out.set(data.subarray(start, start + seq + 1), b * (seq + 1));
  }
  return out;
}

/** Where a StreamBatcher is: the offset inside every stream, and how many times it wrapped. */
export interface StreamPosition {
  position: number;
  epoch: number;
}

/**
 * B contiguous streams over `data`: stream b is data[b·L, (b+1)·L) with L = floor(len / B). Each
 * batch takes, from every stream, the T + 1 tokens at the current offset, then advances the offset
 * by T (the last target of one batch is the first input of the next, so every token of a stream
 * is predicted exactly once per pass). When the next window would run past the end of the streams,
 * the offset returns to 0 and `next()` reports `reset: true`: the carried state must be dropped
 * (it is also true for the very first batch). The tail after the last full window is skipped.
 */
export class StreamBatcher {
  readonly batch: number;
  readonly seq: number;
  /** Tokens per stream, L. */
  readonly streamLength: number;
  private position = 0;
  private epoch = 0;

  constructor(private readonly data: Int32Array, batch: number, seq: number) {
    checkSizes('StreamBatcher', batch, seq);
    this.batch = batch;
    this.seq = seq;
    this.streamLength = Math.floor(data.length / batch);
    if (this.streamLength < seq + 1) {
      throw new RangeError(`StreamBatcher: ${data.length} tokens in ${batch} streams leave ${this.streamLength} per stream, fewer than a window of ${seq + 1}`);
    }
  }

  /** The next batch [B, T + 1]; `reset` when the streams start over (drop the carried state). */
  next(): { tokens: Int32Array; reset: boolean } {
    if (this.position + this.seq + 1 > this.streamLength) {
      this.position = 0;
      this.epoch++;
    }
    const reset = this.position === 0;
    const { batch, seq, streamLength, position } = this;
    const out = new Int32Array(batch * (seq + 1));
    for (let b = 0; b < batch; b++) {
      const start = b * streamLength + position;
      out.set(this.data.subarray(start, start + seq + 1), b * (seq + 1));
    }
    this.position += seq;
    return { tokens: out, reset };
  }

  /** Where the streams are (for checkpoints). */
  getPosition(): StreamPosition {
    return { position: this.position, epoch: this.epoch };
  }

  /** Continues from a position of getPosition (a resumed run). */
  setPosition(p: StreamPosition): void {
    if (!Number.isInteger(p.position) || p.position < 0 || p.position > this.streamLength || !Number.isInteger(p.epoch) || p.epoch < 0) {
      throw new RangeError(`StreamBatcher.setPosition: invalid position ${JSON.stringify(p)} for streams of ${this.streamLength} tokens`);
    }
    this.position = p.position;
    this.epoch = p.epoch;
  }
}

/** A fixed set of windows of length + 1 tokens, row-major. */
export interface Windows {
  tokens: Int32Array;
  count: number;
  /** Inputs per window, T (each row holds T + 1 tokens). */
  length: number;
}

/**
 * Up to `maxWindows` windows of seq + 1 tokens from `data`, evenly spaced over the non-overlapping
 * windows at offsets 0, T, 2T, … (all of them when maxWindows is 0 or at least their number). A
 * text shorter than seq + 1 tokens gives one window of the whole text (T = len − 1). Deterministic:
 * the same data and arguments always give the same windows.
 */
export function validationWindows(data: Int32Array, seq: number, maxWindows = 0): Windows {
  checkSizes('validationWindows', 1, seq);
  if (!Number.isInteger(maxWindows) || maxWindows < 0) throw new RangeError(`validationWindows: maxWindows must be a non-negative integer, got ${maxWindows}`);
  if (data.length < 2) throw new RangeError(`validationWindows: ${data.length} tokens hold no prediction (need at least 2)`);
  const T = Math.min(seq, data.length - 1);
  const available = Math.floor((data.length - 1) / T);
  const count = maxWindows === 0 ? available : Math.min(maxWindows, available);
  const tokens = new Int32Array(count * (T + 1));
  for (let i = 0; i < count; i++) {
    const w = Math.floor((i * available) / count);
    tokens.set(data.subarray(w * T, w * T + T + 1), i * (T + 1));
  }
  return { tokens, count, length: T };
}

/**
 * The whole of a text of n tokens as consecutive windows [start, start + length] (inputs
 * start..start+length−1, targets one later) with start = 0, T, 2T, …; the last one is shorter when
 * T does not divide n − 1. Every token after the first is a target exactly once.
 */
export function consecutiveWindows(n: number, seq: number): { start: number; length: number }[] {
  checkSizes('consecutiveWindows', 1, seq);
  const out: { start: number; length: number }[] = [];
  for (let start = 0; start < n - 1; start += seq) out.push({ start, length: Math.min(seq, n - 1 - start) });
  return out;
}
