/**
 * Normalisation layers over the last axis: RMSNorm and LayerNorm (weights ones, biases zeros).
 * They run the fused norm op of src/nn/fused-norm.ts: one kernel on a backend that offers it
 * (CUDA), the composite ops of nn/functional.ts's rmsNorm/layerNorm otherwise (the same values).
 * forwardAdd(x, delta) is the pre-norm residual step, sum = x + delta and norm(sum), in one kernel.
 */
import { ones, zeros } from '../tensor/creation.js';
import { addNorm, norm } from './fused-norm.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module, type LayerOptions } from './module.js';

export interface NormOptions extends LayerOptions {
  dim: number;
  eps?: number;
}

/** y = x / √(mean(x²) + eps) · weight over the last axis; eps defaults to 1e-6. */
export class RMSNorm extends Module {
  readonly dim: number;
  readonly eps: number;
  readonly weight: Tensor;

  constructor(opts: NormOptions) {
    super();
    this.dim = opts.dim;
    this.eps = opts.eps ?? 1e-6;
    this.weight = this.param('weight', ones([opts.dim], { dtype: opts.dtype, backend: opts.backend }));
  }

  /** x / √(mean(x²) + eps) · weight over the last axis. */
  forward(x: Tensor): Tensor {
    return norm('rms', x, this.weight, this.eps);
  }

  /** sum = x + delta and y = forward(sum), fused where the backend can. */
  forwardAdd(x: Tensor, delta: Tensor): { sum: Tensor; y: Tensor } {
    return addNorm('rms', x, delta, this.weight, this.eps);
  }
}

/** y = (x − mean) / √(var + eps) · weight + bias over the last axis (biased variance); eps 1e-5. */
export class LayerNorm extends Module {
  readonly dim: number;
  readonly eps: number;
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(opts: NormOptions) {
    super();
    this.dim = opts.dim;
    this.eps = opts.eps ?? 1e-5;
    const where = { dtype: opts.dtype, backend: opts.backend };
    this.weight = this.param('weight', ones([opts.dim], where));
    this.bias = this.param('bias', zeros([opts.dim], where));
  }

  /** (x − mean) / √(var + eps) · weight + bias over the last axis (biased variance, as PyTorch). */
  forward(x: Tensor): Tensor {
    return norm('layer', x, this.weight, this.eps, { bias: this.bias });
  }

  /** sum = x + delta and y = forward(sum), fused where the backend can. */
  forwardAdd(x: Tensor, delta: Tensor): { sum: Tensor; y: Tensor } {
    return addNorm('layer', x, delta, this.weight, this.eps, { bias: this.bias });
  }
}
