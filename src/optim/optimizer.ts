/**
 * What every optimizer shares: parameter groups with their own learning-rate ratio and weight
 * decay, the base learning rate a schedule drives, zeroGrad, and the JSON + tensors state format.
 */
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';

/** A set of parameters with its own hyperparameters (the optimizer's defaults otherwise). */
export interface ParamGroup {
  params: readonly Tensor[];
  lr?: number;
  weightDecay?: number;
}

/** A flat parameter list (one group) or explicit groups. */
export type Params = readonly Tensor[] | readonly ParamGroup[];

/** An optimizer's state: JSON-able numbers plus tensors (copies the caller owns) by key. */
export interface OptimizerState {
  meta: OptimizerMeta;
  /** Per-parameter buffers, keyed `<parameter index>.<buffer>` (index over all groups in order). */
  tensors: Record<string, Tensor>;
}

/** The JSON part of an optimizer's state (the tensors go to safetensors). */
export interface OptimizerMeta {
  type: string;
  lr: number;
  groups: { lrRatio: number; weightDecay: number }[];
  /** Optimizer-specific hyperparameters (betas, eps, momentum, ...). */
  hyper: Record<string, number | boolean>;
  /** Updates applied to each parameter so far (index as in `tensors`). */
  steps: number[];
}

interface Group {
  readonly params: Tensor[];
  /** This group's learning rate over the base one: a schedule that sets `lr` keeps the ratio. */
  lrRatio: number;
  weightDecay: number;
}

function isTensorList(p: Params): p is readonly Tensor[] {
  return p.length === 0 || !('params' in (p[0] as object));
}

/** Base of the optimizers: parameter groups, a learning rate that schedules set, `step`, `zeroGrad`, `stateDict`/`loadStateDict` for checkpoints, `dispose`. */
export abstract class Optimizer {
  protected readonly groups: Group[];
  /** Every parameter, in group order: index i is the key of its state. */
  protected readonly params: Tensor[];
  protected steps: number[];
  private baseLr: number;

  protected constructor(params: Params, lr: number, weightDecay: number) {
    if (!(lr >= 0)) throw new Error(`${this.constructor.name}: lr must be ≥ 0, got ${lr}`);
    this.baseLr = lr;
    const groups = isTensorList(params) ? [{ params }] : params;
    const seen = new Set<Tensor>();
    this.groups = groups.map((g, gi) => {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: ${describe(p)} appears twice in the parameters (group ${gi})`);
        seen.add(p);
      }
      let lrRatio = 1;
      if (g.lr !== undefined && g.lr !== lr) {
        if (lr === 0) throw new Error(`${this.constructor.name}: group ${gi} sets lr ${g.lr} but the base lr is 0 (groups keep a ratio to it)`);
        lrRatio = g.lr / lr;
      }
      return { params: [...g.params], lrRatio, weightDecay: g.weightDecay ?? weightDecay };
    });
    this.params = this.groups.flatMap((g) => g.params);
    this.steps = this.params.map(() => 0);
  }

  /** The base learning rate; each group's is this times its ratio. */
  get lr(): number { return this.baseLr; }
  set lr(value: number) {
    if (!(value >= 0)) throw new Error(`${this.constructor.name}: lr must be ≥ 0, got ${value}`);
    this.baseLr = value;
  }

  /** The learning rate group i uses now. */
  groupLr(i: number): number {
    return this.baseLr * this.groups[i].lrRatio;
  }

  /** Applies one update to every parameter that has a gradient. */
  abstract step(): void;

  /** Frees the optimizer's state buffers (the parameters stay). */
  abstract dispose(): void;

  /** Drops the gradients of all parameters. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Visits (group, its index, parameter index, parameter, gradient) for every parameter with a gradient. */
  protected forEachWithGrad(fn: (g: Group, gi: number, i: number, p: Tensor, grad: Tensor) => void): void {
    let i = 0;
    for (const [gi, g] of this.groups.entries()) {
      for (const p of g.params) {
        const grad = p.grad;
        if (grad) {
          if (grad.dtype !== p.dtype || grad.backend !== p.backend || formatShape(grad.shape) !== formatShape(p.shape)) {
            throw new Error(`${this.constructor.name}: gradient ${describe(grad)} on ${grad.backend.name} does not match parameter ${describe(p)} on ${p.backend.name}`);
          }
          fn(g, gi, i, p, grad);
        }
        i++;
      }
    }
  }

  /** The common part of stateDict's meta, for subclasses. */
  protected baseMeta(type: string, hyper: Record<string, number | boolean>): OptimizerMeta {
    return {
      type, lr: this.baseLr, hyper, steps: [...this.steps],
      groups: this.groups.map((g) => ({ lrRatio: g.lrRatio, weightDecay: g.weightDecay })),
    };
  }

  /**
   * Checks a saved state against this optimizer (type, group and parameter counts, the buffer
   * keys `keys(i)` names for parameter i and their shapes), listing every problem in one error;
   * then restores the learning rates, weight decays and step counts. The caller copies the buffers.
   */
  protected loadMeta(type: string, state: OptimizerState, keys: (i: number) => string[]): void {
    const { meta, tensors } = state;
    const problems: string[] = [];
    if (meta.type !== type) problems.push(`the state is for ${meta.type}`);
    if (meta.groups.length !== this.groups.length) problems.push(`${meta.groups.length} groups saved, ${this.groups.length} here`);
    if (meta.steps.length !== this.params.length) problems.push(`${meta.steps.length} parameters saved, ${this.params.length} here`);
    if (!problems.length) {
      const expected = new Set<string>();
      this.params.forEach((p, i) => {
        for (const k of keys(i)) {
          expected.add(k);
          const t = Object.prototype.hasOwnProperty.call(tensors, k) ? tensors[k] : undefined;
          if (!t) problems.push(`missing ${k}`);
          else if (formatShape(t.shape) !== formatShape(p.shape)) problems.push(`${k}: expected ${formatShape(p.shape)} (as ${describe(p)}), got ${formatShape(t.shape)}`);
        }
      });
      for (const k of Object.keys(tensors)) if (!expected.has(k)) problems.push(`unexpected ${k}`);
    }
    if (problems.length) throw new Error(`${type}.loadStateDict: ${problems.join('; ')}`);
    this.baseLr = meta.lr;
    meta.groups.forEach((g, i) => {
      this.groups[i].lrRatio = g.lrRatio;
      this.groups[i].weightDecay = g.weightDecay;
    });
    this.steps = [...meta.steps];
  }
}
