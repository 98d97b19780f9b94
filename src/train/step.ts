/**
 * One optimisation step, safe against divergence: forward + backward inside a scope, then the
 * loss and gradient norm are read back and checked before the optimizer touches a parameter, so a
 * NaN or infinity stops training with a message and the weights (and any checkpoint) stay clean.
 */
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { clipGradNorm } from '../optim/clip.js';
import { add, mul, sum } from '../tensor/ops.js';
import { scope, type Tensor } from '../tensor/tensor.js';

/** Thrown when the loss, the gradient norm or the updated weights become NaN or infinite; the message says whether the parameters are unchanged. */
export class NonFiniteError extends Error {
  /**
   * `afterUpdate`: the update itself produced the non-finite value (a learning rate so large that
   * finite gradients overflow the weights); the weights in memory are spoilt, no checkpoint takes them.
   */
  constructor(what: string, value: number | string, step?: number, afterUpdate = false) {
    super(`${what} became ${value}${step === undefined ? '' : ` at step ${step}`}; training stopped ${afterUpdate ? 'after the update' : 'before the update, parameters are unchanged'}`);
    this.name = 'NonFiniteError';
  }
}

/**
 * Whether every value of every tensor is finite, with one reduction per tensor on its own
 * backend: x · 0 is 0 for finite x and NaN for ±Inf and NaN, so the sum is 0 exactly when all are
 * finite (no readback of the tensors themselves).
 */
export async function allFinite(tensors: readonly Tensor[]): Promise<boolean> {
  if (tensors.length === 0) return true;
  const total = scope(() => tensors.map((t) => sum(mul(t.detach(), 0))).reduce((a, b) => add(a, b)));
  const v = await total.item();
  total.dispose();
  return Number.isFinite(v);
}

/** Options of {@link trainStep}. */
export interface StepOptions {
  /** Global gradient-norm clip; 0 or undefined measures the norm without clipping. */
  clip?: number;
  /** Step number, for the error message. */
  step?: number;
}

/** What a training step measured. */
export interface StepResult {
  loss: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
}

/** zeroGrad → loss = computeLoss() → backward → (clip) → check finite → optimizer.step(). */
export async function trainStep(model: Module, optimizer: Optimizer, computeLoss: () => Tensor, opts: StepOptions = {}): Promise<StepResult> {
  const measured = scope(() => {
    model.zeroGrad();
    const l = computeLoss();
    l.backward();
    return { loss: l.detach(), norm: clipGradNorm(model.parameters(), clipLimit(opts)) };
  });
  return checkAndUpdate(measured, optimizer, opts, model.parameters());
}

/** The clip limit of a step: Infinity (measure without scaling) when clipping is off. */
export function clipLimit(opts: StepOptions): number {
  return opts.clip && opts.clip > 0 ? opts.clip : Infinity;
}

/**
 * The end of every training step: reads the loss and the gradient norm (disposing both), stops
 * with NonFiniteError before the update if either is NaN or infinite, else runs the optimizer and
 * checks that the updated `weights` are finite (NonFiniteError after the update otherwise).
 */
export async function checkAndUpdate(measured: { loss: Tensor; norm: Tensor }, optimizer: Optimizer, opts: StepOptions, weights: readonly Tensor[]): Promise<StepResult> {
  const lossValue = await measured.loss.item();
  const normValue = await measured.norm.item();
  measured.loss.dispose();
  measured.norm.dispose();
  if (!Number.isFinite(lossValue)) throw new NonFiniteError('the loss', lossValue, opts.step);
  if (!Number.isFinite(normValue)) throw new NonFiniteError('the gradient norm', normValue, opts.step);
  optimizer.step();
  if (!(await allFinite(weights))) throw new NonFiniteError('the weights', 'NaN or infinite', opts.step, true);
  return { loss: lossValue, gradNorm: normValue };
}
