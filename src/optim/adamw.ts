/**
 * AdamW (Loshchilov & Hutter), exactly torch.optim.AdamW's update with its defaults, per
 * parameter with step count t:
 *   p ← p·(1 − lr·λ);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
 * run by the backend's fused `adamw` kernel, in place on p, m and v (no allocation per step).
 */
import { zerosLike } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import { convertLike, copyOf } from '../nn/module.js';
import { Optimizer, type OptimizerState, type ParamGroup, type Params } from './optimizer.js';

/** Hyperparameters of {@link AdamW} (PyTorch's defaults unless noted). */
export interface AdamWOptions {
  /** Base learning rate (default 1e-3). */
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay λ (default 0.01, as PyTorch). Groups may override it. */
  weightDecay?: number;
}

/** AdamW (decoupled weight decay), as torch.optim.AdamW; parameter groups may set their own lr ratio and weight decay. */
export class AdamW extends Optimizer {
  beta1: number;
  beta2: number;
  eps: number;
  private m: (Tensor | null)[];
  private v: (Tensor | null)[];

  constructor(params: Params, opts: AdamWOptions = {}) {
    super(params, opts.lr ?? 1e-3, opts.weightDecay ?? 0.01);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new Error(`AdamW: betas must be in [0, 1), got ${b}`);
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
  }

  step(): void {
    this.forEachWithGrad((group, gi, i, p, grad) => {
      if (!this.m[i]) {
        this.m[i] = zerosLike(p).keep();
        this.v[i] = zerosLike(p).keep();
      }
      const t = ++this.steps[i];
      p.backend.adamw(p.buffer, grad.buffer, this.m[i]!.buffer, this.v[i]!.buffer, {
        lr: this.groupLr(gi), beta1: this.beta1, beta2: this.beta2, eps: this.eps,
        weightDecay: group.weightDecay, correction1: 1 - this.beta1 ** t, correction2: 1 - this.beta2 ** t,
      });
    });
  }

  /** Step counts and hyperparameters (JSON) and copies of m, v as `<i>.m`, `<i>.v` for stepped parameters. */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    this.params.forEach((_, i) => {
      if (this.m[i]) {
        tensors[`${i}.m`] = copyOf(this.m[i]!);
        tensors[`${i}.v`] = copyOf(this.v[i]!);
      }
    });
    return { meta: this.baseMeta('AdamW', { beta1: this.beta1, beta2: this.beta2, eps: this.eps }), tensors };
  }

  /** Restores a stateDict() (values are copied; the caller keeps ownership of `state`). */
  loadStateDict(state: OptimizerState): void {
    this.loadMeta('AdamW', state, (i) => (state.meta.steps[i] > 0 ? [`${i}.m`, `${i}.v`] : []));
    const h = state.meta.hyper;
    this.beta1 = Number(h.beta1);
    this.beta2 = Number(h.beta2);
    this.eps = Number(h.eps);
    noGrad(() => this.params.forEach((p, i) => {
      this.m[i] = restoreBuffer(this.m[i], state.tensors[`${i}.m`], p);
      this.v[i] = restoreBuffer(this.v[i], state.tensors[`${i}.v`], p);
    }));
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const t of [...this.m, ...this.v]) t?.dispose();
    this.m.fill(null);
    this.v.fill(null);
  }
}

/** @internal Copies a saved buffer into (or as) a kept state tensor like p; frees it when none is saved. */
export function restoreBuffer(own: Tensor | null, saved: Tensor | undefined, p: Tensor): Tensor | null {
  if (!saved) {
    own?.dispose();
    return null;
  }
  return scope(() => {
    const src = convertLike(saved, p);
    if (own) {
      own.assign(src);
      return null;
    }
    return copyOf(src).keep();
  }) ?? own;
}

/**
 * Adam = AdamW with no weight decay: the same implementation, and then exactly torch.optim.Adam
 * with weight_decay 0 (PyTorch's Adam decays by L2 in the gradient, which is not offered here).
 */
export class Adam extends AdamW {
  constructor(params: Params, opts: Omit<AdamWOptions, 'weightDecay'> = {}) {
    const noDecay = (g: ParamGroup): ParamGroup => {
      if (g.weightDecay) throw new Error('Adam: a group sets weightDecay; use AdamW for weight decay');
      return { ...g, weightDecay: 0 };
    };
    const groups = params.length && 'params' in (params[0] as object) ? (params as readonly ParamGroup[]).map(noDecay) : params;
    super(groups, { ...opts, weightDecay: 0 });
  }
}
