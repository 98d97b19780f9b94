/**
 * The layers as plain functions of their inputs and parameters (the modules call these with their
 * own parameters). Written once over the tensor ops, so autograd gives the backward; they are also
 * what gradient checks differentiate with respect to the parameters.
 */
import { zeros } from '../tensor/creation.js';
import {
  add, chunk, concat, matmul, mean, mul, pad, reshape, rsqrt, sigmoid, slice, square, sub, sum, transpose,
} from '../tensor/ops.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';

function checkLastDim(what: string, x: Tensor, size: number): void {
  if (x.rank < 1 || x.shape[x.rank - 1] !== size) {
    throw new Error(`${what}: input ${describe(x)} must have last dimension ${size}`);
  }
}

/** y = x Wᵀ + b for x [..., in], W [out, in], b [out]: one GEMM over all leading dims. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.rank !== 2) throw new Error(`linear: weight ${describe(weight)} must be [out, in]`);
  const [out, inF] = weight.shape;
  checkLastDim(`linear(${inF} → ${out})`, x, inF);
  const x2 = x.rank === 1 ? reshape(x, [1, inF]) : x;
  const xw = matmul(x2, weight, { transB: true });
  const y = bias ? add(xw, bias) : xw;
  return x.rank === 1 ? reshape(y, [out]) : y;
}

/** y = x / √(mean(x²) + eps) · weight over the last axis. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  checkLastDim('rmsNorm', x, weight.size);
  const inv = rsqrt(add(mean(square(x), -1, true), eps));
  return mul(mul(x, inv), weight);
}

/** y = (x − mean) / √(var + eps) · weight + bias over the last axis, var biased (÷ n). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): Tensor {
  checkLastDim('layerNorm', x, weight.size);
  const centered = sub(x, mean(x, -1, true));
  const inv = rsqrt(add(mean(square(centered), -1, true), eps));
  const y = mul(mul(centered, inv), weight);
  return bias ? add(y, bias) : y;
}

/** Gated linear unit over the last axis: with [a, g] the two halves (a first), a ⊙ σ(g) (torch's F.glu). */
export function glu(x: Tensor): Tensor {
  const [a, g] = chunk(x, 2, -1);
  return mul(a, sigmoid(g));
}

/** A causal convolution's output and the last k − 1 inputs, the state to continue from. */
export interface ConvResult {
  /** [B, T, C] (causalConv1d) or [B, C] (causalConv1dStep) */
  output: Tensor;
  /** The last K−1 inputs [B, K−1, C], to pass to the next call. */
  state: Tensor;
}

function checkConv(what: string, x: Tensor, weight: Tensor, state: Tensor | null | undefined, rank: number): [number, number] {
  if (weight.rank !== 3 || weight.shape[1] !== 1) throw new Error(`${what}: weight ${describe(weight)} must be [C, 1, K]`);
  const [C, , K] = weight.shape;
  if (x.rank !== rank || x.shape[rank - 1] !== C) {
    throw new Error(`${what}: input ${describe(x)} must be ${rank === 3 ? `[B, T, ${C}]` : `[B, ${C}]`}`);
  }
  const want = [x.shape[0], K - 1, C];
  if (state && formatShape(state.shape) !== formatShape(want)) {
    throw new Error(`${what}: state ${describe(state)} must be ${formatShape(want)}`);
  }
  return [C, K];
}

/**
 * Causal depthwise convolution over time, channels last: x [B, T, C], weight [C, 1, K] (PyTorch's
 * depthwise Conv1d layout), bias [C]:
 *   y[b, t, c] = bias[c] + Σ_j weight[c, 0, j] · x[b, t − (K−1) + j, c]
 * with the K−1 inputs before t = 0 taken from `state` [B, K−1, C] (zeros when absent). Returns the
 * new state (the last K−1 inputs, with their autograd path: detach it to truncate backpropagation),
 * so chunked calls with the state carried equal one long call. A loop of K shifted products.
 */
export function causalConv1d(x: Tensor, weight: Tensor, bias: Tensor | null, state?: Tensor | null): ConvResult {
  const [C, K] = checkConv('causalConv1d', x, weight, state, 3);
  const T = x.shape[1];
  // Time-padded input [B, T + K − 1, C]: output t reads rows t..t+K−1.
  const padded = state ? concat([state, x], 1) : pad(x, [[0, 0], [K - 1, 0], [0, 0]]);
  const taps = reshape(weight, [C, K]);
  let y: Tensor | null = null;
  for (let j = 0; j < K; j++) {
    const term = mul(slice(padded, 1, j, j + T), reshape(slice(taps, 1, j, j + 1), [C]));
    y = y ? add(y, term) : term;
  }
  return { output: bias ? add(y!, bias) : y!, state: slice(padded, 1, T, T + K - 1) };
}

/** One step of causalConv1d: x [B, C] → output [B, C], from the window [state; x] [B, K, C]. */
export function causalConv1dStep(x: Tensor, weight: Tensor, bias: Tensor | null, state?: Tensor | null): ConvResult {
  const [C, K] = checkConv('causalConv1dStep', x, weight, state, 2);
  const B = x.shape[0];
  const prev = state ?? zeros([B, K - 1, C], { dtype: x.dtype, backend: x.backend });
  const window = concat([prev, reshape(x, [B, 1, C])], 1);
  const filters = transpose(reshape(weight, [C, K])); // [K, C]
  const y = sum(mul(window, filters), 1);
  return { output: bias ? add(y, bias) : y, state: slice(window, 1, 1) };
}
