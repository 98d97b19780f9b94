/**
 * Training a RecurrentLM on selective copying (src/data/selective-copy.ts): fresh random batches
 * every step, cross-entropy on the answer positions only, token accuracy on held-out batches.
 */
import { AdamW } from '../optim/adamw.js';
import { RecurrentLM, type RecurrentLMConfig } from '../models/recurrent-lm.js';
import { IGNORE_INDEX, checkSelectiveCopyConfig, selectiveCopyBatch, type SelectiveCopyConfig } from '../data/selective-copy.js';
import { fromHost } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { argmax, crossEntropy, reshape } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { scope } from '../tensor/tensor.js';
import { trainStep } from './step.js';

export interface SelectiveCopyRunConfig {
  task: SelectiveCopyConfig;
  /** Model hyper-parameters other than the vocabulary (taken from the task). */
  model: Omit<RecurrentLMConfig, 'vocabSize'>;
  batch: number;
  steps: number;
  lr: number;
  clip?: number;
  weightDecay?: number;
  seed?: number;
  /** Evaluate every this many steps (and at the end). */
  evalEvery?: number;
  /** Sequences per evaluation. */
  evalSize?: number;
  /** Stop early once evaluation accuracy reaches this. */
  targetAccuracy?: number;
}

export interface StepInfo { step: number; loss: number; gradNorm: number; tokensPerSec: number }
export interface EvalInfo { step: number; accuracy: number; loss: number }

export interface SelectiveCopyResult {
  model: RecurrentLM;
  accuracy: number;
  steps: number;
  seconds: number;
  evals: EvalInfo[];
}

/** Token accuracy and loss on the answer positions of `size` fresh sequences. */
export async function evaluateSelectiveCopy(model: RecurrentLM, task: SelectiveCopyConfig, size: number, rng: Rng): Promise<{ accuracy: number; loss: number }> {
  const { seqLength } = checkSelectiveCopyConfig(task);
  const data = selectiveCopyBatch(task, size, rng);
  const wasTraining = model.training;
  model.eval();
  const { predicted, loss } = noGrad(() => scope(() => {
    const { logits } = model.forward(fromHost(data.inputs, [size, seqLength]));
    const flat = reshape(logits, [size * seqLength, model.config.vocabSize]);
    return {
      predicted: argmax(flat, -1),
      loss: crossEntropy(flat, fromHost(data.targets, [size * seqLength]), { ignoreIndex: IGNORE_INDEX }),
    };
  }));
  model.train(wasTraining);
  const p = await predicted.data();
  const lossValue = await loss.item();
  predicted.dispose();
  loss.dispose();
  let right = 0, total = 0;
  data.targets.forEach((t, i) => {
    if (t === IGNORE_INDEX) return;
    total++;
    if (p[i] === t) right++;
  });
  return { accuracy: right / total, loss: lossValue };
}

export async function trainSelectiveCopy(
  run: SelectiveCopyRunConfig,
  hooks: { onStep?: (s: StepInfo) => void; onEval?: (e: EvalInfo) => void } = {},
): Promise<SelectiveCopyResult> {
  const task = checkSelectiveCopyConfig(run.task);
  const rng = new Rng(run.seed ?? 0);
  const evalRng = new Rng((run.seed ?? 0) + 1);
  const model = new RecurrentLM({ ...run.model, vocabSize: task.vocabSize }, { rng });
  const optimizer = new AdamW(model.parameters(), { lr: run.lr, weightDecay: run.weightDecay ?? 0 });
  const evalEvery = run.evalEvery ?? 50;
  const evals: EvalInfo[] = [];
  const started = performance.now();
  let step = 0;
  let accuracy = 0;
  try {
    while (step < run.steps) {
      const t0 = performance.now();
      const data = selectiveCopyBatch(task, run.batch, rng);
      const { loss, gradNorm } = await trainStep(model, optimizer, () => {
        const { logits } = model.forward(fromHost(data.inputs, [run.batch, task.seqLength]));
        return crossEntropy(reshape(logits, [run.batch * task.seqLength, task.vocabSize]), fromHost(data.targets, [run.batch * task.seqLength]), { ignoreIndex: IGNORE_INDEX });
      }, { clip: run.clip, step });
      step++;
      hooks.onStep?.({ step, loss, gradNorm, tokensPerSec: (run.batch * task.seqLength) / ((performance.now() - t0) / 1000) });
      if (step % evalEvery === 0 || step === run.steps) {
        const e = await evaluateSelectiveCopy(model, task, run.evalSize ?? 64, evalRng);
        accuracy = e.accuracy;
        const info = { step, ...e };
        evals.push(info);
        hooks.onEval?.(info);
        if (run.targetAccuracy !== undefined && accuracy >= run.targetAccuracy) break;
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { model, accuracy, steps: step, seconds: (performance.now() - started) / 1000, evals };
}
