/**
 * The functional core of the classic non-linear RNNs (LSTM, GRU, Elman, sLSTM) with FlashRNN's
 * layout (docs/models.md#lstm-gru-elman-slstm): the input projection Wx is computed outside for the whole sequence,
 * and the recurrence is block-diagonal — N heads of size d, one d×d block per head and gate.
 *
 *   rnn(wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d], { cell, state? })
 *     → { outputs: h_1..h_T [B, T, N·d], state: the states after the last step, each [B, N·d] }
 *
 * Conventions (the layout every kernel accepts unchanged):
 * - Hidden unit k = n·d + i is unit i of head n, in states and outputs alike.
 * - r[g, n] is an out×in matrix, as PyTorch's weight_hh: the recurrent pre-activation of gate g,
 *   head n, unit i is Σ_j r[g, n, i, j] · h[n·d + j].
 * - Cells, gates (in order), bias rows and states:
 *     lstm   G = 4 (i, f, z, o: PyTorch's i, f, g, o)  Gb = 4  states [h, c]
 *     gru    G = 3 (r, z, n)                          Gb = 4  states [h]
 *     elman  G = 1                                    Gb = 1  states [h]
 *     slstm  G = 4 (i, f, z, o)                       Gb = 4  states [h, c, n, m]
 * - Biases: one per gate (PyTorch's b_ih + b_hh), except that GRU's b [4, N, d] is
 *   [b_r, b_z, b_n, b_rn] as in FlashRNN: b_r = b_ir + b_hr and b_z = b_iz + b_hz (they only ever
 *   appear summed), b_n = b_in (input side of the candidate) and b_rn = b_hn, the recurrent bias
 *   of the candidate, which sits inside the reset gate's product and so cannot be merged:
 *     n = tanh(Wx_n + b_n + r ⊙ (R_n h + b_rn)).
 *   The first G rows of b are input-side biases, added to Wx; rows G.. are recurrent-only.
 *
 * Two paths compute the same function:
 * - the reference: a loop over time of autograd ops, one batched GEMM over the heads per step for
 *   R·h, then the cell's pointwise function — one small function per cell below (lstmPointwise,
 *   gruPointwise, elmanPointwise, slstmPointwise);
 * - the fused op rnnFused (src/tensor/fused.ts) where the backend has the kernels (the CPU
 *   backend: src/backend/cpu/rnn.ts, forward and hand-written BPTT), used by default and tested
 *   against the reference (test/cells/rnn-kernels.test.ts). `fused: false` forces the reference.
 *
 * sLSTM stabiliser: the xLSTM reference's (NX-AI/xlstm, blocks/slstm/src/vanilla/slstm.py), with
 * the exact gradient through the stabiliser state m; see slstmPointwise for the equations and for
 * why not FlashRNN's clamped variant.
 */
import { zeros } from '../tensor/creation.js';
import {
  add, concat, div, eq, exp, logSigmoid, matmul, maximum, mul, permute, reshape, sigmoid, slice, split, stack, sub, tanh, where,
} from '../tensor/ops.js';
import { rnnFused, hasFusedRnn } from '../tensor/fused.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { uniformInit } from '../nn/layers.js';
import { Module, type LayerOptions } from '../nn/module.js';
import type { CellOutput, RecurrentCell } from './cell.js';

export type RnnCellName = 'lstm' | 'gru' | 'elman' | 'slstm';

/**
 * One time step's pointwise work, everything after R·h. Gate tensors are [..., G, d] (the loop
 * uses [N, B, G, d]); `gates()` splits them. States and biases are [..., d] (biases broadcast).
 * @param wx Wx_t + the input-side biases, [..., G, d]
 * @param rh the recurrent product R·h_{t−1} without bias, [..., G, d]
 * @param br recurrent-only biases (Gb − G tensors: GRU's b_rn; none for the others)
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

/** Elman (PyTorch's nn.RNN with tanh): h' = tanh(Wx + b + R h). */
export const elmanPointwise: Pointwise = (wx, rh) => gates(tanh(add(wx, rh)), 1);

/**
 * sLSTM (xLSTM), states h, c, n, m, pre-activations ĩ, f̃, z̃, õ = Wx + b + R h:
 *   a = log σ(f̃) + m_{t−1};  m_t = ĩ where n_{t−1} = 0, else max(ĩ, a)
 *   i = exp(ĩ − m_t), f = exp(a − m_t)
 *   c_t = f c_{t−1} + i tanh(z̃);  n_t = f n_{t−1} + i;  h_t = σ(õ) c_t / n_t
 * This is the xLSTM reference's pointwise function (and FlashRNN's vanilla one without its clamp),
 * with the gradient flowing through m as in that reference. Why this variant and not FlashRNN's
 * (n_t = max(n_t, 1), i, f ≤ 1): from a zero state or any state the cell produced, the max above
 * already gives i, f ≤ 1 and n_t ≥ 1 exactly, so the clamps change nothing there; they only alter
 * the function (h ≠ σ(õ) c/n) for caller-given states with n < 1, and FlashRNN's kernels also drop
 * the gradient through m, which is exact for losses on h but not on the returned c, n, m. The
 * reference's m_t = ĩ rule for the first step is its `torch.all(n == 0)`, taken here per unit
 * (as FlashRNN's CUDA kernels do): identical for a zero initial state and for states the cell
 * produced (n ≥ 1), and it keeps batch rows independent. Ties of the max send the gradient to ĩ.
 * The stabiliser is exact: h equals the unstabilised recurrence (test/cells/rnn-kernels.test.ts).
 */
export const slstmPointwise: Pointwise = (wx, rh, _br, [, c, n, m]) => {
  const [ig, fg, zg, og] = gates(add(wx, rh), 4);
  const a = add(logSigmoid(fg), m);
  const mNext = where(eq(n, 0), ig, maximum(ig, a));
  const i = exp(sub(ig, mNext)), f = exp(sub(a, mNext));
  const cNext = add(mul(f, c), mul(i, tanh(zg)));
  const nNext = add(mul(f, n), i);
  return [mul(sigmoid(og), div(cNext, nNext)), cNext, nNext, mNext];
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
  elman: { gates: 1, biases: 1, states: 1, pointwise: elmanPointwise },
  slstm: { gates: 4, biases: 4, states: 4, pointwise: slstmPointwise },
};

export interface RnnOptions {
  cell: RnnCellName;
  /** Initial states, each [B, N·d] (lstm [h, c], gru/elman [h], slstm [h, c, n, m]); absent means zeros. */
  state?: readonly Tensor[] | null;
  /** false forces the autograd time loop (the reference) even where the backend has the fused kernels. Default true. */
  fused?: boolean;
}

export interface RnnResult {
  /** h_t for every step, [B, T, N·d]. */
  outputs: Tensor;
  /** The states after the last step, each [B, N·d] (see RnnOptions.state). */
  state: Tensor[];
}

function check(ok: boolean, msg: () => string): void {
  if (!ok) throw new Error(`rnn: ${msg()}`);
}

/**
 * Runs a cell over a sequence whose input projection is already computed (see the file comment
 * for layouts, gate orders and biases). Differentiable in wx, r, b and the state.
 */
export function rnn(wx: Tensor, r: Tensor, b: Tensor, opts: RnnOptions): RnnResult {
  const spec = RNN_CELLS[opts.cell];
  check(spec !== undefined, () => `unknown cell '${opts.cell}' (${Object.keys(RNN_CELLS).join(', ')})`);
  const G = spec.gates;
  check(wx.rank === 5 && wx.shape[2] === G, () => `wx ${describe(wx)} must be [B, T, ${G}, N, d] for ${opts.cell}`);
  const [B, T, , N, d] = wx.shape;
  check(T > 0, () => `wx ${describe(wx)} has no time steps`);
  check(formatShape(r.shape) === formatShape([G, N, d, d]), () => `r ${describe(r)} must be ${formatShape([G, N, d, d])} (gates, heads, d_out, d_in)`);
  check(formatShape(b.shape) === formatShape([spec.biases, N, d]), () => `b ${describe(b)} must be ${formatShape([spec.biases, N, d])} for ${opts.cell}`);
  for (const t of [r, b]) check(t.dtype === wx.dtype && t.backend === wx.backend, () => `${describe(t)} must be ${wx.dtype} on ${wx.backend.name}, as wx`);
  const H = N * d;
  const given = opts.state ?? null;
  if (given) {
    check(given.length === spec.states, () => `${opts.cell} takes ${spec.states} state tensor(s), got ${given.length}`);
    for (const s of given) {
      check(formatShape(s.shape) === formatShape([B, H]) && s.dtype === wx.dtype && s.backend === wx.backend,
        () => `state ${describe(s)} must be ${formatShape([B, H])} ${wx.dtype}`);
    }
  }
  if (opts.fused !== false && hasFusedRnn(wx.backend)) {
    // One op: a flat [outputs | last states] tensor, unpacked here.
    const y = rnnFused(opts.cell, spec.states, wx, r, b, given ? stack(given, 0) : null);
    const part = (i: number, shape: number[]) => reshape(slice(y, 0, i * B * H, i * B * H + shape.reduce((p, q) => p * q)), shape);
    return { outputs: part(0, [B, T, H]), state: Array.from({ length: spec.states }, (_, s) => part(T + s, [B, H])) };
  }
  return timeLoop(spec, wx, r, b, given);
}

/** The reference: a loop over time of autograd ops. */
function timeLoop(spec: RnnCellSpec, wx: Tensor, r: Tensor, b: Tensor, given: readonly Tensor[] | null): RnnResult {
  const G = spec.gates;
  const [B, T, , N, d] = wx.shape;
  const H = N * d;
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
// The module base of LSTM, GRU, Elman and SLSTM (lstm.ts, gru.ts, elman.ts, slstm.ts): PyTorch's
// parameters, rnn() underneath.

export interface TorchRnnOptions extends LayerOptions {
  inputSize: number;
  hiddenSize: number;
  /** Heads N of the block-diagonal recurrence, each of size hiddenSize / N. Default 1 (PyTorch's). */
  heads?: number;
  /** false runs the autograd time loop (the reference) instead of the fused kernels. Default true. */
  fused?: boolean;
}

/**
 * Parameters as torch.nn.LSTM / nn.GRU / nn.RNN (one layer, unidirectional), all U(±1/√H):
 *   weight_ih_l0 [G·H, D_in], weight_hh_l0 [G·H, d], bias_ih_l0 [G·H], bias_hh_l0 [G·H]
 * with d = H / heads. Row g·H + n·d + i belongs to gate g, head n, unit i. weight_hh holds only
 * the diagonal blocks of the block-diagonal recurrent matrix: the full matrix would be
 *   W_hh[g·H + n·d + i, n·d + j] = weight_hh_l0[g·H + n·d + i, j]  (zero off the blocks),
 * so with heads = 1 it is exactly PyTorch's [G·H, H] and a PyTorch state dict loads unchanged;
 * with heads > 1 there is no PyTorch equivalent (reshaped, it is rnn()'s r [G, N, d, d]).
 * SLSTM uses the same layout (gates i, f, z, o); it has no PyTorch counterpart.
 */
export abstract class TorchRnn extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly heads: number;
  readonly headDim: number;
  readonly fused: boolean;
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
    this.fused = opts.fused ?? true;
    const GH = this.spec.gates * this.hiddenSize;
    const bound = 1 / Math.sqrt(this.hiddenSize);
    this.weightIh = this.param('weight_ih_l0', uniformInit([GH, this.inputSize], bound, opts));
    this.weightHh = this.param('weight_hh_l0', uniformInit([GH, this.headDim], bound, opts));
    this.biasIh = this.param('bias_ih_l0', uniformInit([GH], bound, opts));
    this.biasHh = this.param('bias_hh_l0', uniformInit([GH], bound, opts));
  }

  /** rnn()'s b [Gb, N, d] from bias_ih and bias_hh (see the file comment). */
  protected rnnBias(): Tensor {
    return summedBias(this.biasIh, this.biasHh, this.spec.gates, this.heads, this.headDim);
  }

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
    return rnn(wx, r, this.rnnBias(), { cell: this.cell, state, fused: this.fused });
  }

  /** The same as run() for one step: x [B, D_in] → h [B, H]. */
  protected runStep(x: Tensor, state: readonly Tensor[] | null): RnnResult {
    const [B] = x.shape;
    const r = this.run(reshape(x, [B, 1, this.inputSize]), state);
    return { outputs: reshape(r.outputs, [B, this.hiddenSize]), state: r.state };
  }
}

/** A TorchRnn whose state is the single tensor h [B, H] (GRU, Elman). */
export abstract class SingleStateRnn extends TorchRnn implements RecurrentCell<Tensor> {
  /** x [B, T, inputSize] → h over time [B, T, hiddenSize] and h_T [B, hiddenSize]; no state means zeros. */
  forward(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState([state], x.shape[0], 'forward');
    const r = this.run(x, state ? [state] : null);
    return { output: r.outputs, state: r.state[0] };
  }

  /** x_t [B, inputSize] → h_t [B, hiddenSize], which is also the next state. */
  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState([state], x.shape[0], 'step');
    const r = this.runStep(x, state ? [state] : null);
    return { output: r.outputs, state: r.state[0] };
  }
}

/** One bias per gate, b = b_ih + b_hh, [G, N, d] (LSTM, Elman, SLSTM). */
export function summedBias(biasIh: Tensor, biasHh: Tensor, gateCount: number, heads: number, headDim: number): Tensor {
  return reshape(add(biasIh, biasHh), [gateCount, heads, headDim]);
}

/** LSTM biases: b = b_ih + b_hh per gate, [4, N, d]. */
export function lstmBias(biasIh: Tensor, biasHh: Tensor, heads: number, headDim: number): Tensor {
  return summedBias(biasIh, biasHh, 4, heads, headDim);
}

/** GRU biases from PyTorch's: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn], [4, N, d]. */
export function gruBias(biasIh: Tensor, biasHh: Tensor, heads: number, headDim: number): Tensor {
  const H = heads * headDim;
  const rz = add(slice(biasIh, 0, 0, 2 * H), slice(biasHh, 0, 0, 2 * H));
  return reshape(concat([rz, slice(biasIh, 0, 2 * H), slice(biasHh, 0, 2 * H)], 0), [4, heads, headDim]);
}
