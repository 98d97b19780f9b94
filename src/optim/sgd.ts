/**
 * Stochastic gradient descent, as torch.optim.SGD (dampening 0):
 *   d = g + λ·p;  with momentum μ: b ← d on the first step, else μ·b + d; d = nesterov ? d + μ·b : b
 *   p ← p − lr·d
 */
import { noGrad } from '../tensor/engine.js';
import { add, mul, sub } from '../tensor/ops.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import { copyOf } from '../nn/module.js';
import { restoreBuffer } from './adamw.js';
import { Optimizer, type OptimizerState, type Params } from './optimizer.js';

/** Hyperparameters of {@link SGD}. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional momentum (Nesterov too) and weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer {
  momentum: number;
  nesterov: boolean;
  private buffers: (Tensor | null)[];

  constructor(params: Params, opts: SGDOptions) {
    super(params, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (!(this.momentum >= 0)) throw new Error(`SGD: momentum must be ≥ 0, got ${this.momentum}`);
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: nesterov needs a momentum > 0');
    this.buffers = this.params.map(() => null);
  }

  step(): void {
    noGrad(() => this.forEachWithGrad((group, gi, i, p, grad) => {
      const lr = this.groupLr(gi);
      const mu = this.momentum;
      scope(() => {
        let d = group.weightDecay !== 0 ? add(grad, mul(p, group.weightDecay)) : grad;
        if (mu !== 0) {
          const prev = this.buffers[i];
          const buf = prev ? add(mul(prev, mu), d) : copyOf(d);
          if (prev) prev.assign(buf);
          else this.buffers[i] = buf.keep();
          d = this.nesterov ? add(d, mul(buf, mu)) : buf;
        }
        p.assign(sub(p, mul(d, lr)));
      });
      this.steps[i]++;
    }));
  }

  /** Hyperparameters and step counts (JSON) and copies of the momentum buffers as `<i>.momentum`. */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    this.buffers.forEach((b, i) => { if (b) tensors[`${i}.momentum`] = copyOf(b); });
    return { meta: this.baseMeta('SGD', { momentum: this.momentum, nesterov: this.nesterov }), tensors };
  }

  /** Restores the momentum buffers and step counts of stateDict (a one-line error for another optimizer's state). */
  loadStateDict(state: OptimizerState): void {
    const hasBuffer = Number(state.meta.hyper.momentum) !== 0;
    this.loadMeta('SGD', state, (i) => (hasBuffer && state.meta.steps[i] > 0 ? [`${i}.momentum`] : []));
    this.momentum = Number(state.meta.hyper.momentum);
    this.nesterov = Boolean(state.meta.hyper.nesterov);
    noGrad(() => this.params.forEach((p, i) => {
      this.buffers[i] = restoreBuffer(this.buffers[i], state.tensors[`${i}.momentum`], p);
    }));
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers.fill(null);
  }
}
