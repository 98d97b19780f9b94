/**
 * One optimisation step, safe against divergence: forward + backward inside a scope, then the
 * loss and gradient norm are read back and checked before the optimizer touches a parameter, so a
 * NaN or infinity stops training with a message and the weights (and any checkpoint) stay clean.
 */
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { clipGradNorm } from '../optim/clip.js';
import { scope, type Tensor } from '../tensor/tensor.js';

export class NonFiniteError extends Error {
  constructor(what: string, value: number, step?: number) {
    super(`${what} became ${value}${step === undefined ? '' : ` at step ${step}`}; training stopped before the update, parameters are unchanged`);
    this.name = 'NonFiniteError';
  }
}

export interface StepOptions {
  /** Global gradient-norm clip; 0 or undefined measures the norm without clipping. */
  clip?: number;
  /** Step number, for the error message. */
  step?: number;
}

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
  return checkAndUpdate(measured, optimizer, opts);
}

/** The clip limit of a step: Infinity (measure without scaling) when clipping is off. */
export function clipLimit(opts: StepOptions): number {
  return opts.clip && opts.clip > 0 ? opts.clip : Infinity;
}

/**
 * The end of every training step: reads the loss and the gradient norm (disposing both), stops
 * with NonFiniteError before the update if either is NaN or infinite, else runs the optimizer.
 */
export async function checkAndUpdate(measured: { loss: Tensor; norm: Tensor }, optimizer: Optimizer, opts: StepOptions): Promise<StepResult> {
  const lossValue = await measured.loss.item();
  const normValue = await measured.norm.item();
  measured.loss.dispose();
  measured.norm.dispose();
  if (!Number.isFinite(lossValue)) throw new NonFiniteError('the loss', lossValue, opts.step);
  if (!Number.isFinite(normValue)) throw new NonFiniteError('the gradient norm', normValue, opts.step);
  optimizer.step();
  return { loss: lossValue, gradNorm: normValue };
}
