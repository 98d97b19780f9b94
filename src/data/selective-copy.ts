/**
 * Selective copying (docs/models.md#selective-copying; the task minGRU and Mamba solve and LTI models do not):
 * N data tokens are scattered at random positions among blanks; after the context come N marker
 * tokens, and at those positions the model must emit the data tokens in their original order.
 *
 * Vocabulary (size V ≥ 4): 0 = blank (noise), V − 1 = marker, 1 … V − 2 = data tokens.
 * A sequence has `seqLength` positions: `seqLength − numTokens` of context, then `numTokens` markers.
 * Targets are the next token to emit at the marker positions and IGNORE elsewhere.
 */
import type { Rng } from '../tensor/random.js';

/** Target id that the loss skips (PyTorch's −100): the positions that are not answers. */
export const IGNORE_INDEX = -100;

/** The selective-copying task: sequence length, letters to copy, vocabulary. */
export interface SelectiveCopyConfig {
  /** Total length of a sequence (context + answer). */
  seqLength: number;
  /** Data tokens to copy. */
  numTokens: number;
  /** Vocabulary size, default 16. */
  vocabSize?: number;
}

/** A batch of the task: inputs, targets (IGNORE_INDEX outside the answers) and its sizes. */
export interface SelectiveCopyBatch {
  /** i32 [batch · seqLength] */
  inputs: Int32Array;
  /** i32 [batch · seqLength], IGNORE_INDEX outside the answer. */
  targets: Int32Array;
  batch: number;
  seqLength: number;
}

/** The config with defaults filled in; throws a one-line error for an impossible one. */
export function checkSelectiveCopyConfig(c: SelectiveCopyConfig): Required<SelectiveCopyConfig> {
  const vocabSize = c.vocabSize ?? 16;
  if (!Number.isInteger(vocabSize) || vocabSize < 4) throw new Error(`selective copying: vocabSize must be an integer ≥ 4, got ${vocabSize}`);
  if (!Number.isInteger(c.numTokens) || c.numTokens < 1) throw new Error(`selective copying: numTokens must be a positive integer, got ${c.numTokens}`);
  if (!Number.isInteger(c.seqLength) || c.seqLength < 2 * c.numTokens) {
    throw new Error(`selective copying: seqLength ${c.seqLength} must be at least twice numTokens (${c.numTokens})`);
  }
  return { seqLength: c.seqLength, numTokens: c.numTokens, vocabSize };
}

/** A batch of fresh random sequences drawn from rng. */
export function selectiveCopyBatch(config: SelectiveCopyConfig, batch: number, rng: Rng): SelectiveCopyBatch {
  const { seqLength, numTokens, vocabSize } = checkSelectiveCopyConfig(config);
  const context = seqLength - numTokens;
  const marker = vocabSize - 1;
  const inputs = new Int32Array(batch * seqLength);
  const targets = new Int32Array(batch * seqLength).fill(IGNORE_INDEX);
  const positions = Array.from({ length: context }, (_, i) => i);
  for (let b = 0; b < batch; b++) {
    const row = b * seqLength;
    // Partial Fisher–Yates: the first numTokens entries become a uniform random subset.
    for (let i = 0; i < numTokens; i++) {
      const j = i + rng.int(context - i);
      [positions[i], positions[j]] = [positions[j], positions[i]];
    }
    const chosen = positions.slice(0, numTokens).sort((p, q) => p - q);
    chosen.forEach((pos, k) => {
      const token = 1 + rng.int(vocabSize - 2);
      inputs[row + pos] = token;
      targets[row + context + k] = token;
    });
    inputs.fill(marker, row + context, row + seqLength);
  }
  return { inputs, targets, batch, seqLength };
}
