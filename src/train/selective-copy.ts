/**
 * Training a RecurrentLM on selective copying (src/data/selective-copy.ts) in one call, as `recur
 * demo` and `recur bench selective-copy` do: fresh random batches every step, the answer-position
 * loss and scores of the token tasks (token-tasks.ts), fresh evaluation batches, an early
 * stop at a target accuracy. Resumable runs with a run folder are `recur train --task selective-copy`.
 */
import { AdamW } from '../optim/adamw.js';
import { warmupCosineSchedule } from '../optim/schedule.js';
import { RecurrentLM, type RecurrentLMConfig } from '../models/recurrent-lm.js';
import { checkSelectiveCopyConfig, selectiveCopyBatch, type SelectiveCopyConfig } from '../data/selective-copy.js';
import { Rng } from '../tensor/random.js';
import { trainStep } from './step.js';
import { answerCrossEntropy, evaluateTokenTask } from './token-tasks.js';

/** Settings of {@link trainSelectiveCopy}: the task, the model, the schedule and when to stop. */
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
  /** Linear warm-up steps before the cosine decay to 10% of lr over `steps` (default min(100, steps/10)). */
  warmupSteps?: number;
}

/**
 * Named configurations. `paper` is the minGRU paper's setting (docs/models.md#selective-copying: T = 4096, 16
 * tokens, 3 layers, dim 64, expansion 6, dropout 0.1, Adam 1e-4, clip 1; batch size is not given
 * there: 64 here) — a GPU run. `cpu` is the scaled-down setting a 2-layer minGRU solves on the
 * 2-core machine in minutes (BENCHMARKS.md; T = 256 with 16 tokens did not fit that budget);
 * `demo` is what `recur demo` trains in a minute or two (3 layers: it learns faster).
 */
export const SELECTIVE_COPY_PRESETS: Record<'demo' | 'cpu' | 'paper', SelectiveCopyRunConfig> = {
  demo: {
    task: { seqLength: 32, numTokens: 4 },
    model: { dim: 64, depth: 3, cell: 'mingru', expansion: 2, ffMult: 2, scan: 'real' },
    batch: 32, steps: 1200, lr: 3e-3, clip: 1, seed: 1, evalEvery: 25, evalSize: 128, targetAccuracy: 0.995,
  },
  cpu: {
    task: { seqLength: 64, numTokens: 4 },
    model: { dim: 64, depth: 2, cell: 'mingru', expansion: 2, ffMult: 2, scan: 'real' },
    batch: 32, steps: 2000, lr: 3e-3, clip: 1, seed: 1, evalEvery: 25, evalSize: 256, targetAccuracy: 0.995,
  },
  paper: {
    task: { seqLength: 4096, numTokens: 16 },
    model: { dim: 64, depth: 3, cell: 'mingru', expansion: 6, ffMult: 4, dropout: 0.1, scan: 'log' },
    batch: 64, steps: 400000, lr: 1e-4, clip: 1, weightDecay: 0, seed: 1, evalEvery: 1000, evalSize: 256, targetAccuracy: 0.99,
  },
};

/** Progress of a training step. */
export interface StepInfo { step: number; loss: number; gradNorm: number; tokensPerSec: number }
/** An evaluation on fresh sequences. */
export interface EvalInfo { step: number; accuracy: number; loss: number }

/** How a selective-copying run ended: steps, accuracy, time. */
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
  const r = await evaluateTokenTask(model, { ...selectiveCopyBatch(task, size, rng), count: size, seqLength }, size);
  return { accuracy: r.accuracy, loss: r.loss };
}

/** Trains a RecurrentLM on selective copying until it reaches the target accuracy or the step limit (what `recur demo` and `recur bench selective-copy` run). */
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
  const schedule = warmupCosineSchedule({
    warmupSteps: run.warmupSteps ?? Math.min(100, Math.floor(run.steps / 10)), totalSteps: run.steps, minFactor: 0.1,
  });
  const evals: EvalInfo[] = [];
  const started = performance.now();
  let step = 0;
  let accuracy = 0;
  try {
    while (step < run.steps) {
      const t0 = performance.now();
      const data = selectiveCopyBatch(task, run.batch, rng);
      optimizer.lr = run.lr * schedule(step);
      const { loss, gradNorm } = await trainStep(model, optimizer, () => answerCrossEntropy(model, data.inputs, data.targets, run.batch, task.seqLength), { clip: run.clip, step });
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
