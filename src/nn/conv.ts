/** CausalConv1d: the module form of causalConv1d (functional.ts), with PyTorch's weight layout. */
import type { Tensor } from '../tensor/tensor.js';
import { causalConv1d, causalConv1dStep, type ConvResult } from './functional.js';
import { uniformInit } from './layers.js';
import { Module, type LayerOptions } from './module.js';

export interface CausalConv1dOptions extends LayerOptions {
  channels: number;
  kernelSize: number;
  bias?: boolean;
}

/**
 * Causal depthwise 1-D convolution over [B, T, C] (channels last): y[t] = b + Σ_j w[c, 0, j] ·
 * x[t − (K−1) + j], zero left padding unless a state is given. Weight [C, 1, K] and bias [C] as
 * nn.Conv1d(C, C, K, groups=C), both initialised U(±1/√K) (a depthwise filter's fan-in is K).
 */
export class CausalConv1d extends Module {
  readonly channels: number;
  readonly kernelSize: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(opts: CausalConv1dOptions) {
    super();
    const { channels: C, kernelSize: K } = opts;
    if (!Number.isInteger(K) || K < 1) throw new Error(`CausalConv1d: kernelSize must be a positive integer, got ${K}`);
    this.channels = C;
    this.kernelSize = K;
    const bound = 1 / Math.sqrt(K);
    this.weight = this.param('weight', uniformInit([C, 1, K], bound, opts));
    this.bias = (opts.bias ?? true) ? this.param('bias', uniformInit([C], bound, opts)) : null;
  }

  /**
   * The sequence x [B, T, C]; `state` [B, K−1, C] from a previous call replaces the zero padding,
   * so chunked calls with the state carried equal one long call. Returns { output, state }.
   */
  forward(x: Tensor, state?: Tensor | null): ConvResult {
    return causalConv1d(x, this.weight, this.bias, state);
  }

  /** One time step x_t [B, C] → { output [B, C], state [B, K−1, C] }; agrees with forward. */
  step(x: Tensor, state?: Tensor | null): ConvResult {
    return causalConv1dStep(x, this.weight, this.bias, state);
  }
}
