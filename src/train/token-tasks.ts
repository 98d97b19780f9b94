/**
 * The loss and the scores of the token tasks (selective copying, associative recall), without
 * Node built-ins so that the browser bundle (recur demo's selective copying) can use them; the
 * resumable trainer is token-task-trainer.ts.
 */
import { IGNORE_INDEX } from '../data/selective-copy.js';
import { fromHost } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { argmax, crossEntropy, reshape } from '../tensor/ops.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import type { CharLM } from './model-kinds.js';

/** Scores of a model on a fixed set of sequences. */
export interface TokenTaskEvalResult {
  /** Mean cross-entropy per answer token, nats. */
  loss: number;
  /** Share of answer tokens predicted right. */
  accuracy: number;
  /** Share of sequences with every answer right. */
  sequenceAccuracy: number;
  sequences: number;
}

/** A fixed set of sequences: inputs and targets of `count` rows of `seqLength`. */
export interface TokenTaskSet { inputs: Int32Array; targets: Int32Array; count: number; seqLength: number }

/** Mean cross-entropy of a model's outputs at the answer positions of a batch (targets IGNORE_INDEX elsewhere). */
export function answerCrossEntropy(model: CharLM, inputs: Int32Array, targets: Int32Array, batch: number, seqLength: number): Tensor {
  const logits = model.forward(fromHost(inputs, [batch, seqLength])).logits;
  return crossEntropy(reshape(logits, [batch * seqLength, model.config.vocabSize]), fromHost(targets, [batch * seqLength]), { ignoreIndex: IGNORE_INDEX });
}

/** Loss and accuracies of a model on a fixed set, in eval mode, `batch` sequences at a time. */
export async function evaluateTokenTask(model: CharLM, set: TokenTaskSet, batch: number): Promise<TokenTaskEvalResult> {
  const was = model.training;
  model.eval();
  const T = set.seqLength, V = model.config.vocabSize;
  let nats = 0, answers = 0, right = 0, wholeRows = 0;
  try {
    for (let start = 0; start < set.count; start += batch) {
      const n = Math.min(batch, set.count - start);
      const inputs = set.inputs.subarray(start * T, (start + n) * T), targets = set.targets.subarray(start * T, (start + n) * T);
      const r = noGrad(() => scope(() => {
        const flat = reshape(model.forward(fromHost(inputs, [n, T])).logits, [n * T, V]);
        return { nats: crossEntropy(flat, fromHost(targets, [n * T]), { reduction: 'sum', ignoreIndex: IGNORE_INDEX }), predicted: argmax(flat, -1) };
      }));
      nats += await r.nats.item();
      const predicted = await r.predicted.data();
      r.nats.dispose();
      r.predicted.dispose();
      for (let row = 0; row < n; row++) {
        let allRight = true;
        for (let t = row * T; t < (row + 1) * T; t++) {
          if (targets[t] === IGNORE_INDEX) continue;
          answers++;
          if (predicted[t] === targets[t]) right++;
          else allRight = false;
        }
        if (allRight) wholeRows++;
      }
    }
  } finally {
    model.train(was);
  }
  return { loss: nats / Math.max(answers, 1), accuracy: right / Math.max(answers, 1), sequenceAccuracy: wholeRows / Math.max(set.count, 1), sequences: set.count };
}

