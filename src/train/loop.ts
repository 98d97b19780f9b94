/**
 * The generic training loop of `recur train`, for any RunnableTrainer (the LM trainer,
 * lm-trainer.ts; the ListOps trainer, listops-trainer.ts): steps until `args.steps` or a stop
 * request, the JSON-lines log, periodic validation and checkpoints, curves.svg at the end.
 *
 *   const result = await runTraining(trainer, 'runs/x', { onStep, onEval, shouldStop });
 */
import { appendFileSync, existsSync, promises as fs, statSync, truncateSync } from 'node:fs';
import * as nodePath from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import { warmupCosineSchedule, type Schedule } from '../optim/schedule.js';
import { figureSvg, type ChartSpec } from './plot.js';
import { NonFiniteError } from './step.js';

/** What one training step did: loss, gradient norm, learning rate, time and tokens. */
export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Seconds of this step. */
  seconds: number;
  tokens: number;
}

/** The learning-rate factor of `recur train`: linear warm-up, then constant or cosine decay to 1/10 at the last step. */
export function trainingSchedule(a: { warmup: number; steps: number; schedule: 'constant' | 'cosine' }): Schedule {
  return a.schedule === 'cosine'
    ? warmupCosineSchedule({ warmupSteps: Math.min(a.warmup, a.steps), totalSteps: a.steps, minFactor: 0.1 })
    : (s) => (s < a.warmup ? (s + 1) / a.warmup : 1);
}

/** The running totals a trainer keeps over all sessions of a run. */
export interface TrainerTotals { step: number; tokens: number; elapsedSeconds: number }

/**
 * Adds a finished optimizer step to a trainer's totals (one more step, its tokens, the seconds
 * since `started`, a performance.now() time) and returns the step's report.
 */
export function countStep(totals: TrainerTotals, started: number, r: { loss: number; gradNorm: number }, lr: number, tokens: number): StepReport {
  const seconds = (performance.now() - started) / 1000;
  totals.step++;
  totals.tokens += tokens;
  totals.elapsedSeconds += seconds;
  return { step: totals.step, loss: r.loss, gradNorm: r.gradNorm, lr, seconds, tokens };
}

/** A log.jsonl line of a training step. */
export interface TrainRecord { type: 'train'; step: number; loss: number; lr: number; grad_norm: number; tokens: number; tokens_per_sec: number; elapsed_s: number }
/** A log.jsonl line of a validation. */
export interface ValRecord { type: 'val'; step: number; loss: number; bits_per_char: number; accuracy: number; tokens: number }
/** Any log.jsonl line. */
export type LogRecord = TrainRecord | ValRecord | { type: string; step: number; [k: string]: unknown };

/** What runTraining needs of a trainer: LMTrainer, ListOpsTrainer (listops-trainer.ts). */
export interface RunnableTrainer<E extends { loss: number; accuracy: number }> {
  readonly args: { steps: number; evalEvery: number; saveEvery: number; logEvery: number };
  /** Optimizer steps done, training tokens seen and seconds spent in steps, over all sessions. */
  readonly step: number;
  readonly tokens: number;
  readonly elapsedSeconds: number;
  /** The log length to truncate to when this trainer was resumed (null for a new run). */
  readonly resumedLogBytes: number | null;
  /** Axis labels of curves.svg (default: the LM's). */
  readonly curveLabels?: CurveLabels;
  /** One optimizer step; the loop calls it until the run's steps are done. */
  trainStep(): Promise<StepReport>;
  /** Throws NonFiniteError when the validation loss is not finite. */
  validate(): Promise<E>;
  /** The fields of a validation line of log.jsonl (besides type and step). */
  valRecord(r: E): Record<string, number>;
  /** Writes a checkpoint of the current step into runDir; returns its directory. */
  save(runDir: string, logBytes: number): Promise<string>;
}

/** Callbacks of {@link runTraining}: progress, validations, saves, and a stop request. */
export interface RunHooks<E = { loss: number; accuracy: number }> {
  /** After every step, with the run's average tokens per second. */
  onStep?(r: StepReport, averageTokensPerSec: number): void;
  /** After every validation. */
  onEval?(r: E, step: number): void;
  /** After every checkpoint, with its directory. */
  onSave?(dir: string, step: number): void;
  /** Polled before every step and after every evaluation: true ends the run with a checkpoint. */
  shouldStop?(): boolean;
  /**
   * A wall-clock deadline for this session, in performance.now() milliseconds (`--time-budget`):
   * no step starts that would end after it, counting the evaluation and checkpoint it brings, as
   * the slowest of each so far took. At least one step runs, so a chunked run always advances.
   */
  deadline?: number;
}

/** How a run ended: completed, interrupted, or stopped at its time budget; at which step, with the last validation. */
export interface RunResult<E = { loss: number; accuracy: number }> {
  status: 'completed' | 'interrupted' | 'time-budget';
  step: number;
  /** The last validation result (null if none ran in this session). */
  lastEval: E | null;
  /** The checkpoint directory written last (null if none). */
  checkpoint: string | null;
  /** Training tokens per second in this session (steps only). */
  tokensPerSec: number;
  /** Wall-clock seconds of this session, evaluation and saving included. */
  wallSeconds: number;
}

/** The run directory's log, one JSON object per line. */
export const LOG_FILE = 'log.jsonl';
/** The run directory's plot of loss and accuracy against steps. */
export const CURVES_FILE = 'curves.svg';

/** Reads log.jsonl (skipping a torn last line). */
export async function readLog(runDir: string): Promise<LogRecord[]> {
  const text = await fs.readFile(nodePath.join(runDir, LOG_FILE), 'utf8').catch(() => '');
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}

/** Units of the loss axis and the name of the accuracy axis of curves.svg. */
export interface CurveLabels { loss: string; accuracy: string }
/** Axis labels of a language model's curves. */
export const LM_CURVE_LABELS: CurveLabels = { loss: 'nats/char', accuracy: 'next-character accuracy' };

/** The training curves of a log: loss (train and validation) and validation accuracy against steps. */
export function curvesSvg(records: readonly LogRecord[], labels: CurveLabels = LM_CURVE_LABELS): string {
  const train = records.filter((r): r is TrainRecord => r.type === 'train');
  const val = records.filter((r): r is ValRecord => r.type === 'val');
  const charts: ChartSpec[] = [
    {
      title: 'Loss', xLabel: 'step', yLabel: labels.loss,
      series: [
        { name: 'train loss', points: train.map((r) => [r.step, r.loss] as const) },
        { name: 'val loss', points: val.map((r) => [r.step, r.loss] as const), markers: true },
      ],
    },
    {
      title: 'Validation accuracy', xLabel: 'step', yLabel: labels.accuracy,
      series: [{ name: 'val accuracy', points: val.map((r) => [r.step, r.accuracy] as const), markers: true }],
    },
  ];
  return figureSvg(charts);
}

/** Writes runDir/curves.svg from runDir/log.jsonl; returns its path. */
export async function writeCurves(runDir: string, labels?: CurveLabels): Promise<string> {
  const path = nodePath.join(runDir, CURVES_FILE);
  await writeFileAtomic(path, curvesSvg(await readLog(runDir), labels));
  return path;
}

/**
 * Trains until `args.steps` (or until shouldStop), logging, validating and checkpointing; writes
 * curves.svg at the end. A NonFiniteError propagates without a checkpoint (the last good one stays).
 */
export async function runTraining<E extends { loss: number; accuracy: number }>(
  trainer: RunnableTrainer<E>, runDir: string, hooks: RunHooks<E> = {},
): Promise<RunResult<E>> {
  const started = performance.now();
  const a = trainer.args;
  const saveEvery = a.saveEvery || a.evalEvery;
  await fs.mkdir(runDir, { recursive: true });
  const logPath = nodePath.join(runDir, LOG_FILE);
  // A resumed run drops log lines written after its checkpoint (they belong to steps redone now).
  if (trainer.resumedLogBytes !== null && existsSync(logPath) && statSync(logPath).size > trainer.resumedLogBytes) {
    truncateSync(logPath, trainer.resumedLogBytes);
  }
  const log = (r: LogRecord) => appendFileSync(logPath, `${JSON.stringify(r)}\n`);
  const logBytes = () => (existsSync(logPath) ? statSync(logPath).size : 0);
  log({ type: trainer.resumedLogBytes === null ? 'start' : 'resume', step: trainer.step, time: new Date().toISOString(), steps: a.steps });

  let lastEval: E | null = null;
  let checkpoint: string | null = null;
  let savedStep = -1;
  let sessionTokens = 0, sessionSeconds = 0;
  const save = async () => {
    if (savedStep === trainer.step) return;
    checkpoint = await timed('save', () => trainer.save(runDir, logBytes()));
    savedStep = trainer.step;
    hooks.onSave?.(checkpoint, trainer.step);
  };
  let status: RunResult<E>['status'] = 'completed';
  const slowest = { step: 0, eval: 0, save: 0 };
  const timed = async <T>(kind: keyof typeof slowest, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    slowest[kind] = Math.max(slowest[kind], performance.now() - t0);
    return out;
  };
  // Whether the next step, with the evaluation and checkpoint it brings, would end after the deadline.
  const pastDeadline = () => {
    if (hooks.deadline === undefined || slowest.step === 0) return false;
    const next = trainer.step + 1;
    const evaluates = next % a.evalEvery === 0 || next === a.steps;
    return performance.now() + slowest.step + (evaluates ? slowest.eval : 0) + slowest.save > hooks.deadline;
  };
  try {
    while (trainer.step < a.steps) {
      // A CPU step never leaves the microtask queue: give signal handlers (Ctrl-C) their turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (hooks.shouldStop?.()) {
        status = 'interrupted';
        break;
      }
      if (pastDeadline()) {
        status = 'time-budget';
        break;
      }
      const r = await timed('step', () => trainer.trainStep());
      sessionTokens += r.tokens;
      sessionSeconds += r.seconds;
      const rate = sessionTokens / sessionSeconds;
      if (r.step % a.logEvery === 0 || r.step === 1 || r.step === a.steps) {
        log({
          type: 'train', step: r.step, loss: r.loss, lr: r.lr, grad_norm: r.gradNorm, tokens: trainer.tokens,
          tokens_per_sec: Math.round(rate), elapsed_s: Number(trainer.elapsedSeconds.toFixed(3)),
        });
      }
      hooks.onStep?.(r, rate);
      if (r.step % a.evalEvery === 0 || r.step === a.steps) {
        lastEval = await timed('eval', () => trainer.validate());
        log({ type: 'val', step: r.step, ...trainer.valRecord(lastEval) });
        hooks.onEval?.(lastEval, r.step);
      }
      if (r.step % saveEvery === 0 || r.step === a.steps) await save();
    }
    if (status !== 'completed' || trainer.step > 0) await save();
  } catch (e) {
    if (e instanceof NonFiniteError) log({ type: 'diverged', step: trainer.step + 1, message: e.message });
    throw e;
  } finally {
    await writeCurves(runDir, trainer.curveLabels).catch(() => undefined);
  }
  return {
    status, step: trainer.step, lastEval, checkpoint,
    tokensPerSec: sessionSeconds > 0 ? sessionTokens / sessionSeconds : 0,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

