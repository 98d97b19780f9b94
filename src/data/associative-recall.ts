/**
 * Multi-query associative recall (docs/reproductions.md#associative-recall; the task of Zoology's
 * MQAR and MesaNet's synthetic suite): a sequence opens with `pairs` key–value pairs, then blanks,
 * then every key again in a random order, each followed by its value. At a query key the model
 * must emit that key's value, so it has to store bindings and look them up by content: what an
 * attention-like memory (MesaNet, a Transformer) does and a diagonal recurrence (minGRU) can only
 * approximate with its width.
 *
 * Vocabulary (size V = 1 + 2K, K ≥ pairs): 0 = blank, 1 … K = keys, K + 1 … 2K = values.
 * Layout of one sequence of length T (T ≥ 4 · pairs):
 *
 *   k₁ v₁ k₂ v₂ … k_P v_P  0 0 … 0  q₁ v(q₁) q₂ v(q₂) … q_P v(q_P)
 *
 * Targets are IGNORE_INDEX except at the query keys, where the target is the value that follows.
 * Keys of one sequence are distinct; values are drawn independently (they may repeat).
 */
import type { Rng } from '../tensor/random.js';
import { IGNORE_INDEX } from './selective-copy.js';

/** The recall task: sequence length, pairs, vocabulary. */
export interface AssociativeRecallConfig {
  /** Total length of a sequence. */
  seqLength: number;
  /** Key–value pairs to store, each queried once. */
  pairs: number;
  /** Vocabulary size: 1 blank + K keys + K values, odd, K ≥ pairs (default 1 + 2 · max(pairs, 16)). */
  vocabSize?: number;
}

/** A batch of the task: inputs, targets (IGNORE_INDEX outside the answers) and its sizes. */
export interface AssociativeRecallBatch {
  /** i32 [batch · seqLength] */
  inputs: Int32Array;
  /** i32 [batch · seqLength], IGNORE_INDEX except at query keys. */
  targets: Int32Array;
  batch: number;
  seqLength: number;
}

/** The config with defaults filled in; throws a one-line error for an impossible one. */
export function checkAssociativeRecallConfig(c: AssociativeRecallConfig): Required<AssociativeRecallConfig> {
  if (!Number.isInteger(c.pairs) || c.pairs < 1) throw new Error(`associative recall: pairs must be a positive integer, got ${c.pairs}`);
  const vocabSize = c.vocabSize ?? 1 + 2 * Math.max(c.pairs, 16);
  if (!Number.isInteger(vocabSize) || vocabSize % 2 !== 1 || (vocabSize - 1) / 2 < c.pairs) {
    throw new Error(`associative recall: vocabSize must be an odd integer 1 + 2K with K ≥ pairs (${c.pairs}) keys, got ${vocabSize}`);
  }
  if (!Number.isInteger(c.seqLength) || c.seqLength < 4 * c.pairs) {
    throw new Error(`associative recall: seqLength ${c.seqLength} must be at least 4 × pairs (${4 * c.pairs}): the pairs, then the queries`);
  }
  return { seqLength: c.seqLength, pairs: c.pairs, vocabSize };
}

/** A batch of fresh random sequences drawn from rng. */
export function associativeRecallBatch(config: AssociativeRecallConfig, batch: number, rng: Rng): AssociativeRecallBatch {
  const { seqLength, pairs, vocabSize } = checkAssociativeRecallConfig(config);
  const keys = (vocabSize - 1) / 2;
  const inputs = new Int32Array(batch * seqLength);
  const targets = new Int32Array(batch * seqLength).fill(IGNORE_INDEX);
  const keyIds = Array.from({ length: keys }, (_, i) => 1 + i);
  const order = Array.from({ length: pairs }, (_, i) => i);
  const values = new Int32Array(pairs);
  const queryStart = seqLength - 2 * pairs;
  for (let b = 0; b < batch; b++) {
    const row = b * seqLength;
    // Partial Fisher–Yates: the first `pairs` keys become a uniform random subset, in random order.
    for (let i = 0; i < pairs; i++) {
      const j = i + rng.int(keys - i);
      [keyIds[i], keyIds[j]] = [keyIds[j]!, keyIds[i]!];
      values[i] = 1 + keys + rng.int(keys);
      inputs[row + 2 * i] = keyIds[i]!;
      inputs[row + 2 * i + 1] = values[i]!;
    }
    for (let i = pairs - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    order.forEach((pair, q) => {
      const at = row + queryStart + 2 * q;
      inputs[at] = keyIds[pair]!;
      inputs[at + 1] = values[pair]!;
      targets[at] = values[pair]!;
    });
  }
  return { inputs, targets, batch, seqLength };
}
