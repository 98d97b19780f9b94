/**
 * Mixed-precision training: master weights in f32, working copies in bf16.
 *
 * The policy (the "bf16 storage and GEMMs, f32 accumulation, f32 scans and master weights, no
 * loss scaling" of the CUDA backend), as `recur train --dtype bf16` runs it:
 *
 *  - The model a run owns, the one that checkpoints, validation, `recur generate` and `--resume`
 *    see, keeps its parameters in the master dtype (f32). The optimizer (AdamW and its moments)
 *    only ever touches these, so a checkpoint of a bf16 run is an ordinary f32 checkpoint.
 *  - A second instance of the same architecture holds the working copies in the compute dtype
 *    (bf16). Each step:
 *      1. master → working: one cast kernel per parameter (the only place weights are rounded);
 *      2. forward and backward on the working model: activations and gradients are stored in
 *         bf16, GEMMs run on bf16 tensor cores with f32 accumulation, and the kernels that need
 *         range or many additions compute in f32 (the fused scans keep their state in f32,
 *         reductions, norms, softmax/cross-entropy and scatter-add accumulate in f32);
 *      3. working gradients → master gradients, cast to f32, then clipping, the finite checks and
 *         AdamW run in f32 exactly as in an f32 run (src/train/step.ts's contract: a non-finite
 *         loss or gradient norm throws NonFiniteError before any parameter changes).
 *  - No loss scaling: bf16 has f32's exponent range, so gradients do not underflow as f16's do.
 *
 * The mechanism itself is dtype-agnostic (any master/working pair of float dtypes on any
 * backend), which is how it is tested without a GPU: f64 masters with f32 working copies on the
 * CPU backend. The working model must be built like the master (same parameter names and shapes)
 * and share its dropout generator, so that a mixed-precision run draws the same masks an f32 run
 * would; LMTrainer does this.
 */
import type { DType } from '../backend/backend.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { clipGradNorm } from '../optim/clip.js';
import { noGrad } from '../tensor/engine.js';
import { cast } from '../tensor/ops.js';
import { describe, formatShape, scope, type Tensor } from '../tensor/tensor.js';
import { checkAndUpdate, clipLimit, type StepOptions, type StepResult } from './step.js';

/** The precisions `recur train --dtype` offers: plain f32, or bf16 working copies of f32 masters. */
export type TrainDtype = 'f32' | 'bf16';
export const TRAIN_DTYPES: readonly TrainDtype[] = ['f32', 'bf16'];

/** Why a precision cannot run on a backend (null when it can). */
export function precisionUnsupported(dtype: TrainDtype, backendName: string): string | null {
  if (dtype === 'bf16' && backendName !== 'cuda') {
    return `--dtype bf16 needs --device cuda (bf16 is a GPU storage type; the ${backendName} backend trains in f32)`;
  }
  return null;
}

export class MixedPrecision {
  /** [master, working] parameter pairs, in the master's namedParameters() order. */
  private readonly pairs: [Tensor, Tensor][];

  /**
   * master: the model whose parameters are the master weights (the optimizer's); working: the
   * same architecture with its parameters in the compute dtype. Copies master → working now.
   */
  constructor(readonly master: Module, readonly working: Module) {
    const m = master.namedParameters(), w = new Map(working.namedParameters());
    const problems: string[] = [];
    this.pairs = [];
    for (const [name, p] of m) {
      const q = w.get(name);
      if (!q) { problems.push(`working model has no '${name}'`); continue; }
      if (formatShape(q.shape) !== formatShape(p.shape)) problems.push(`'${name}': master ${describe(p)}, working ${describe(q)}`);
      if (q.backend !== p.backend) problems.push(`'${name}': master on ${p.backend.name}, working on ${q.backend.name}`);
      this.pairs.push([p, q]);
      w.delete(name);
    }
    for (const name of w.keys()) problems.push(`working model has an extra '${name}'`);
    if (problems.length) throw new Error(`MixedPrecision: the working model does not mirror the master: ${problems.join('; ')}`);
    this.syncWorking();
  }

  /** The compute dtype (of the working copies). */
  get computeDtype(): DType {
    return this.pairs[0]?.[1].dtype ?? 'f32';
  }

  /** Casts every master parameter into its working copy (no autograd). */
  syncWorking(): void {
    noGrad(() => {
      for (const [p, q] of this.pairs) scope(() => { q.assign(cast(p, q.dtype)); });
    });
  }

  /**
   * Moves the working model's gradients onto the masters, cast to the master dtype (dropping the
   * working ones). A parameter the loss did not reach has no gradient on either side.
   */
  gradsToMaster(): void {
    noGrad(() => {
      for (const [p, q] of this.pairs) {
        p.grad?.dispose();
        p.grad = null;
        const g = q.grad;
        if (!g) continue;
        q.grad = null;
        p.grad = g.dtype === p.dtype ? g : scope(() => cast(g, p.dtype)).keep();
        if (p.grad !== g) g.dispose();
      }
    });
  }

  /**
   * One optimisation step with the contract of trainStep (src/train/step.ts):
   * sync working ← master → zeroGrad → loss = computeLoss() (on the working model) → backward →
   * gradients to the masters → (clip) → check finite → optimizer.step() on the masters.
   * The reported loss is the working model's (bf16 in a bf16 run); the norm is the f32 one.
   */
  async step(optimizer: Optimizer, computeLoss: () => Tensor, opts: StepOptions = {}): Promise<StepResult> {
    this.syncWorking();
    const measured = scope(() => {
      this.master.zeroGrad();
      this.working.zeroGrad();
      const l = computeLoss();
      l.backward();
      this.gradsToMaster();
      return { loss: l.detach(), norm: clipGradNorm(this.master.parameters(), clipLimit(opts)) };
    });
    return checkAndUpdate(measured, optimizer, opts, this.master.parameters());
  }

  /** Frees the working copies and their gradients (the master model stays). */
  dispose(): void {
    this.working.dispose();
  }
}
