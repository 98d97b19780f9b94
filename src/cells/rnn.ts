/**
 * The functional core of the classic gated RNNs (LSTM, GRU) with FlashRNN's layout
 * (REFERENCE.md §2): the input projection Wx is computed outside for the whole sequence, and the
 * recurrence is block-diagonal — N heads of size d, one d×d block per head and gate.
 *
 *   rnn(wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d], { cell, state? })
 *     → { outputs: h_1..h_T [B, T, N·d], state: [h_T, c_T] (LSTM) | [h_T] (GRU), each [B, N·d] }
 *
 * Conventions (the layout a fused kernel must accept unchanged):
 * - Hidden unit k = n·d + i is unit i of head n, in states and outputs alike.
 * - r[g, n] is an out×in matrix, as PyTorch's weight_hh: the recurrent pre-activation of gate g,
 *   head n, unit i is Σ_j r[g, n, i, j] · h[n·d + j].
 * - Gate order as PyTorch: LSTM i, f, z (PyTorch's g), o; GRU r, z, n.
 * - Biases: LSTM b [4, N, d], one bias per gate (nn.LSTM's b_ih + b_hh). GRU b [4, N, d] =
 *   [b_r, b_z, b_n, b_rn] as in FlashRNN: b_r = b_ir + b_hr and b_z = b_iz + b_hz (they only ever
 *   appear summed), b_n = b_in (input side of the candidate) and b_rn = b_hn, the recurrent bias
 *   of the candidate, which sits inside the reset gate's product and so cannot be merged:
 *     n = tanh(Wx_n + b_n + r ⊙ (R_n h + b_rn)).
 *   The first G rows of b are input-side biases, added to Wx; rows G.. are recurrent-only.
 *
 * This is the reference implementation: a loop over time of autograd ops, one batched GEMM over
 * the heads per step for R·h, then the cell's pointwise function. Each cell's pointwise step is
 * one small function below (lstmPointwise, gruPointwise); a fused CPU/CUDA kernel put behind
 * `rnn()` later must compute exactly those, and is tested against this loop.
 */
import { zeros } from '../tensor/creation.js';
import { add, concat, matmul, mul, permute, reshape, sigmoid, slice, split, stack, sub, tanh } from '../tensor/ops.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { uniformInit } from '../nn/layers.js';
import { Module, type LayerOptions } from '../nn/module.js';

export type RnnCellName = 'lstm' | 'gru';

/**
 * One time step's pointwise work, everything after R·h. Gate tensors are [..., G, d] (the loop
 * uses [N, B, G, d]); `gates()` splits them. States and biases are [..., d] (biases broadcast).
 * @param wx Wx_t + the input-side biases, [..., G, d]
 * @param rh the recurrent product R·h_{t−1} without bias, [..., G, d]
 * @param br recurrent-only biases (Gb − G tensors: GRU's b_rn; none for LSTM)
 * @param state the previous states, state[0] = h
 * @returns the new states, [0] = h (which is also the output)
 */
export type Pointwise = (wx: Tensor, rh: Tensor, br: readonly Tensor[], state: readonly Tensor[]) => Tensor[];

/** Splits x [..., G, d] along the gate axis into G tensors [..., d]. */
export function gates(x: Tensor, count: number): Tensor[] {
  const shape = [...x.shape.slice(0, -2), x.shape[x.rank - 1]];
  return split(x, new Array(count).fill(1), -2).map((t) => reshape(t, shape));
}

/** LSTM: c = σ(f) c + σ(i) tanh(z); h = σ(o) tanh(c), each gate ĝ = Wx + b + R h. */
export const lstmPointwise: Pointwise = (wx, rh, _br, [, c]) => {
  const [i, f, z, o] = gates(add(wx, rh), 4);
  const cNext = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(z)));
  return [mul(sigmoid(o), tanh(cNext)), cNext];
};

/**
 * GRU, PyTorch's "reset after" form: r = σ(Wx_r + b_r + R_r h), z = σ(Wx_z + b_z + R_z h),
 * n = tanh(Wx_n + b_n + r ⊙ (R_n h + b_rn)), h' = z ⊙ h + (1 − z) ⊙ n = n + z ⊙ (h − n).
 */
export const gruPointwise: Pointwise = (wx, rh, [bRn], [h]) => {
  const [xr, xz, xn] = gates(wx, 3);
  const [hr, hz, hn] = gates(rh, 3);
  const r = sigmoid(add(xr, hr));
  const z = sigmoid(add(xz, hz));
  const n = tanh(add(xn, mul(r, add(hn, bRn))));
  return [add(n, mul(z, sub(h, n)))];
};

/** What the loop needs to know about a cell. */
export interface RnnCellSpec {
  /** Gates of Wx and R. */
  gates: number;
  /** Rows of b: gates + the recurrent-only biases. */
  biases: number;
  /** States carried ([h, c] → 2). */
  states: number;
  pointwise: Pointwise;
}

export const RNN_CELLS: Readonly<Record<RnnCellName, RnnCellSpec>> = {
  lstm: { gates: 4, biases: 4, states: 2, pointwise: lstmPointwise },
  gru: { gates: 3, biases: 4, states: 1, pointwise: gruPointwise },
};

export interface RnnOptions {
  cell: RnnCellName;
  /** Initial states, each [B, N·d] (LSTM [h, c], GRU [h]); absent means zeros. */
  state?: readonly Tensor[] | null;
}

export interface RnnResult {
  /** h_t for every step, [B, T, N·d]. */
  outputs: Tensor;
  /** The states after the last step, each [B, N·d] (LSTM [h, c], GRU [h]). */
  state: Tensor[];
}

function check(ok: boolean, msg: () => string): void {
  if (!ok) throw new Error(`rnn: ${msg()}`);
}

/**
 * Runs an LSTM or GRU over a sequence whose input projection is already computed (see the file
 * comment for layouts, gate orders and biases). Differentiable in wx, r, b and the state.
 */
export function rnn(wx: Tensor, r: Tensor, b: Tensor, opts: RnnOptions): RnnResult {
  const spec = RNN_CELLS[opts.cell];
  check(spec !== undefined, () => `unknown cell '${opts.cell}' (lstm or gru)`);
  const G = spec.gates;
  check(wx.rank === 5 && wx.shape[2] === G, () => `wx ${describe(wx)} must be [B, T, ${G}, N, d] for ${opts.cell}`);
  const [B, T, , N, d] = wx.shape;
  check(T > 0, () => `wx ${describe(wx)} has no time steps`);
  check(formatShape(r.shape) === formatShape([G, N, d, d]), () => `r ${describe(r)} must be ${formatShape([G, N, d, d])} (gates, heads, d_out, d_in)`);
  check(formatShape(b.shape) === formatShape([spec.biases, N, d]), () => `b ${describe(b)} must be ${formatShape([spec.biases, N, d])} for ${opts.cell}`);
  const H = N * d;
  const given = opts.state ?? null;
  if (given) {
    check(given.length === spec.states, () => `${opts.cell} takes ${spec.states} state tensor(s), got ${given.length}`);
    for (const s of given) check(formatShape(s.shape) === formatShape([B, H]) && s.dtype === wx.dtype, () => `state ${describe(s)} must be ${formatShape([B, H])} ${wx.dtype}`);
  }

  // Internal layout: heads lead, so R·h is one GEMM batched over heads: [N, B, d]·[N, G·d, d]ᵀ.
  const toInner = (s: Tensor) => permute(reshape(s, [B, N, d]), [1, 0, 2]);
  let state = given ? given.map(toInner) : Array.from({ length: spec.states }, () => zeros([N, B, d], { dtype: wx.dtype, backend: wx.backend }));
  const inputBias = slice(b, 0, 0, G);                                   // [G, N, d]
  const wxT = permute(add(wx, inputBias), [1, 3, 0, 2, 4]);              // [T, N, B, G, d]
  const rHeads = reshape(permute(r, [1, 0, 2, 3]), [N, G * d, d]);       // [N, G·d, d]
  const extra = spec.biases - G;
  const br = extra > 0 ? gates(permute(reshape(slice(b, 0, G), [extra, N, 1, d]), [1, 2, 0, 3]), extra) : []; // each [N, 1, d]

  const hs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const wxt = reshape(slice(wxT, 0, t, t + 1), [N, B, G, d]);
    const rh = reshape(matmul(state[0], rHeads, { transB: true }), [N, B, G, d]);
    state = spec.pointwise(wxt, rh, br, state);
    hs.push(state[0]);
  }
  const outputs = reshape(permute(stack(hs, 0), [2, 0, 1, 3]), [B, T, H]); // [T, N, B, d] → [B, T, N·d]
  const toOuter = (s: Tensor) => reshape(permute(s, [1, 0, 2]), [B, H]);
  return { outputs, state: state.map(toOuter) };
}

// ---------------------------------------------------------------------------------------------
// The module base of LSTM and GRU (lstm.ts, gru.ts): PyTorch's parameters, rnn() underneath.

export interface TorchRnnOptions extends LayerOptions {
  inputSize: number;
  hiddenSize: number;
  /** Heads N of the block-diagonal recurrence, each of size hiddenSize / N. Default 1 (PyTorch's). */
  heads?: number;
}

/**
 * Parameters as torch.nn.LSTM / nn.GRU (one layer, unidirectional), all U(±1/√H):
 *   weight_ih_l0 [G·H, D_in], weight_hh_l0 [G·H, d], bias_ih_l0 [G·H], bias_hh_l0 [G·H]
 * with d = H / heads. Row g·H + n·d + i belongs to gate g, head n, unit i. weight_hh holds only
 * the diagonal blocks of the block-diagonal recurrent matrix: the full matrix would be
 *   W_hh[g·H + n·d + i, n·d + j] = weight_hh_l0[g·H + n·d + i, j]  (zero off the blocks),
 * so with heads = 1 it is exactly PyTorch's [G·H, H] and a PyTorch state dict loads unchanged;
 * with heads > 1 there is no PyTorch equivalent (reshaped, it is rnn()'s r [G, N, d, d]).
 */
export abstract class TorchRnn extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly heads: number;
  readonly headDim: number;
  readonly weightIh: Tensor;
  readonly weightHh: Tensor;
  readonly biasIh: Tensor;
  readonly biasHh: Tensor;
  protected readonly spec: RnnCellSpec;

  constructor(opts: TorchRnnOptions, protected readonly cell: RnnCellName) {
    super();
    const heads = opts.heads ?? 1;
    const name = this.constructor.name;
    for (const [k, v] of [['inputSize', opts.inputSize], ['hiddenSize', opts.hiddenSize], ['heads', heads]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: ${k} must be a positive integer, got ${v}`);
    }
    if (opts.hiddenSize % heads !== 0) throw new Error(`${name}: hiddenSize ${opts.hiddenSize} is not divisible by heads ${heads}`);
    this.spec = RNN_CELLS[cell];
    this.inputSize = opts.inputSize;
    this.hiddenSize = opts.hiddenSize;
    this.heads = heads;
    this.headDim = opts.hiddenSize / heads;
    const GH = this.spec.gates * this.hiddenSize;
    const bound = 1 / Math.sqrt(this.hiddenSize);
    this.weightIh = this.param('weight_ih_l0', uniformInit([GH, this.inputSize], bound, opts));
    this.weightHh = this.param('weight_hh_l0', uniformInit([GH, this.headDim], bound, opts));
    this.biasIh = this.param('bias_ih_l0', uniformInit([GH], bound, opts));
    this.biasHh = this.param('bias_hh_l0', uniformInit([GH], bound, opts));
  }

  /** rnn()'s b [Gb, N, d] from bias_ih and bias_hh (see the file comment). */
  protected abstract rnnBias(): Tensor;

  protected checkInput(x: Tensor, rank: number, what: string): void {
    if (x.rank !== rank || x.shape[rank - 1] !== this.inputSize) {
      const want = rank === 3 ? `[B, T, ${this.inputSize}]` : `[B, ${this.inputSize}]`;
      throw new Error(`${this.constructor.name}.${what}: input ${describe(x)} must be ${want}`);
    }
  }

  protected checkState(state: readonly Tensor[], batch: number, what: string): void {
    if (state.length !== this.spec.states) throw new Error(`${this.constructor.name}.${what}: expected ${this.spec.states} state tensor(s), got ${state.length}`);
    for (const s of state) {
      if (s.rank !== 2 || s.shape[0] !== batch || s.shape[1] !== this.hiddenSize) {
        throw new Error(`${this.constructor.name}.${what}: state ${describe(s)} must be ${formatShape([batch, this.hiddenSize])}`);
      }
    }
  }

  /** x [B, T, D_in] with states [B, H] → h over time [B, T, H] and the final states. */
  protected run(x: Tensor, state: readonly Tensor[] | null): RnnResult {
    const [B, T] = x.shape;
    const wx = reshape(linear(x, this.weightIh), [B, T, this.spec.gates, this.heads, this.headDim]);
    const r = reshape(this.weightHh, [this.spec.gates, this.heads, this.headDim, this.headDim]);
    return rnn(wx, r, this.rnnBias(), { cell: this.cell, state });
  }

  /** The same as run() for one step: x [B, D_in] → h [B, H]. */
  protected runStep(x: Tensor, state: readonly Tensor[] | null): RnnResult {
    const [B] = x.shape;
    const r = this.run(reshape(x, [B, 1, this.inputSize]), state);
    return { outputs: reshape(r.outputs, [B, this.hiddenSize]), state: r.state };
  }
}

/** LSTM biases: b = b_ih + b_hh per gate, [4, N, d]. */
export function lstmBias(biasIh: Tensor, biasHh: Tensor, heads: number, headDim: number): Tensor {
  return reshape(add(biasIh, biasHh), [4, heads, headDim]);
}

/** GRU biases from PyTorch's: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn], [4, N, d]. */
export function gruBias(biasIh: Tensor, biasHh: Tensor, heads: number, headDim: number): Tensor {
  const H = heads * headDim;
  const rz = add(slice(biasIh, 0, 0, 2 * H), slice(biasHh, 0, 0, 2 * H));
  return reshape(concat([rz, slice(biasIh, 0, 2 * H), slice(biasHh, 0, 2 * H)], 0), [4, heads, headDim]);
}
