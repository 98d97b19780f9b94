/**
 * The functional core of the classic non-linear RNNs (LSTM, GRU, Elman, sLSTM, or a user's cell)
 * with FlashRNN's layout (docs/models.md#lstm-gru-elman-slstm): the input projection Wx is
 * computed outside for the whole sequence, and the recurrence is block-diagonal — N heads of size
 * d, one d×d block per head and gate.
 *
 *   rnn(wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d], { cell, state? })
 *     → { outputs: h_1..h_T [B, T, N·d], state: the states after the last step, each [B, N·d] }
 *
 * Conventions (the layout every kernel accepts unchanged):
 * - Hidden unit k = n·d + i is unit i of head n, in states and outputs alike.
 * - r[g, n] is an out×in matrix, as PyTorch's weight_hh: the recurrent pre-activation of gate g,
 *   head n, unit i is Σ_j r[g, n, i, j] · h[n·d + j].
 * - A cell is its definition (src/backend/pointwise/rnn-cell.ts; the built-in ones are in
 *   ./definitions/): gates G, bias rows Gb, states S and its pointwise forward and backward.
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
 *   R·h, then the cell's forward expressions evaluated with tensor ops (./pointwise.ts), whose
 *   gradient autograd derives without the cell's hand-written backward;
 * - the fused op where the backend renders the cell (rnnForward/rnnBackward: every step in one
 *   call, the cell's backward expressions for BPTT), used by default and tested against the
 *   reference (test/cells/rnn-kernels.test.ts). `fused: false` forces the reference.
 */
import type { Backend } from '../backend/backend.js';
import type { RnnCellDef, RnnDims } from '../backend/pointwise/rnn-cell.js';
import { zeros } from '../tensor/creation.js';
import { isGradEnabled } from '../tensor/engine.js';
import { add, concat, matmul, permute, reshape, slice, split, stack, where } from '../tensor/ops.js';
import { Tensor, describe, formatShape, result } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { uniformInit } from '../nn/layers.js';
import { Module, type LayerOptions } from '../nn/module.js';
import type { CellOutput, RecurrentCell } from './cell.js';
import { elmanDefinition, gruDefinition, lstmDefinition, slstmDefinition } from './definitions/index.js';
import { evaluateTensors } from './pointwise.js';
import { checkLengths, lengthsTensor, validMask, type Lengths, type SequenceOptions } from './sequence.js';

/** The classic cells that share the fused time loop. */
export type RnnCellName = 'lstm' | 'gru' | 'elman' | 'slstm';

/** The built-in cells by name. */
export const RNN_CELLS: Readonly<Record<RnnCellName, RnnCellDef>> = { lstm: lstmDefinition, gru: gruDefinition, elman: elmanDefinition, slstm: slstmDefinition };

/** Splits x [..., G, d] along the gate axis into G tensors [..., d]. */
export function gates(x: Tensor, count: number): Tensor[] {
  const shape = [...x.shape.slice(0, -2), x.shape[x.rank - 1]];
  return split(x, new Array(count).fill(1), -2).map((t) => reshape(t, shape));
}

/** Options of {@link rnn}. */
export interface RnnOptions {
  /** A built-in cell by name, or any cell definition (defineRnnCell). */
  cell: RnnCellName | RnnCellDef;
  /** Initial states, each [B, N·d] (lstm [h, c], gru/elman [h], slstm [h, c, n, m]); absent means zeros. */
  state?: readonly Tensor[] | null;
  /** false forces the autograd time loop (the reference) even where the backend has the fused kernels. Default true. */
  fused?: boolean;
  /** A padded batch: real steps per row (src/cells/sequence.ts). */
  lengths?: Lengths | null;
}

/** What {@link rnn} returns. */
export interface RnnResult {
  /** h_t for every step, [B, T, N·d]. */
  outputs: Tensor;
  /** The states after the last step, each [B, N·d] (see RnnOptions.state). */
  state: Tensor[];
}

function check(ok: boolean, msg: () => string): void {
  if (!ok) throw new Error(`rnn: ${msg()}`);
}

function cellOf(cell: RnnCellName | RnnCellDef): RnnCellDef {
  if (typeof cell !== 'string') return cell;
  const def = RNN_CELLS[cell];
  check(def !== undefined, () => `unknown cell '${cell}' (${Object.keys(RNN_CELLS).join(', ')}, or a cell definition)`);
  return def;
}

/** Whether a backend runs the recurrence as one kernel (rnnSavedLength, rnnForward, rnnBackward). */
export function hasFusedRnn(b: Backend): boolean {
  return typeof b.rnnForward === 'function' && typeof b.rnnBackward === 'function' && typeof b.rnnSavedLength === 'function';
}

/**
 * Runs a cell over a sequence whose input projection is already computed (see the file comment
 * for layouts, gate orders and biases). Differentiable in wx, r, b and the state.
 */
export function rnn(wx: Tensor, r: Tensor, b: Tensor, opts: RnnOptions): RnnResult {
  const cell = cellOf(opts.cell);
  const G = cell.gates;
  check(wx.rank === 5 && wx.shape[2] === G, () => `wx ${describe(wx)} must be [B, T, ${G}, N, d] for ${cell.name}`);
  const [B, T, , N, d] = wx.shape;
  check(T > 0, () => `wx ${describe(wx)} has no time steps`);
  check(formatShape(r.shape) === formatShape([G, N, d, d]), () => `r ${describe(r)} must be ${formatShape([G, N, d, d])} (gates, heads, d_out, d_in)`);
  check(formatShape(b.shape) === formatShape([cell.biases, N, d]), () => `b ${describe(b)} must be ${formatShape([cell.biases, N, d])} for ${cell.name}`);
  for (const t of [r, b]) check(t.dtype === wx.dtype && t.backend === wx.backend, () => `${describe(t)} must be ${wx.dtype} on ${wx.backend.name}, as wx`);
  const H = N * d;
  const given = opts.state ?? null;
  if (given) {
    check(given.length === cell.states, () => `${cell.name} takes ${cell.states} state tensor(s), got ${given.length}`);
    for (const s of given) {
      check(formatShape(s.shape) === formatShape([B, H]) && s.dtype === wx.dtype && s.backend === wx.backend,
        () => `state ${describe(s)} must be ${formatShape([B, H])} ${wx.dtype}`);
    }
  }
  const lengths = opts.lengths ? checkLengths('rnn', opts.lengths, B, T) : null;
  if (opts.fused !== false && hasFusedRnn(wx.backend) && (!lengths || wx.backend.sequenceLengths)) {
    // One op: a flat [outputs | last states] tensor, unpacked here.
    const y = rnnFused(cell, wx, r, b, given ? stack(given, 0) : null, lengths);
    const part = (i: number, shape: number[]) => reshape(slice(y, 0, i * B * H, i * B * H + shape.reduce((p, q) => p * q)), shape);
    return { outputs: part(0, [B, T, H]), state: Array.from({ length: cell.states }, (_, s) => part(T + s, [B, H])) };
  }
  return timeLoop(cell, wx, r, b, given, lengths);
}

/**
 * The fused op: wx, r, b, state0 [S, B, N·d] or null (zeros) → one flat tensor, the outputs
 * [B, T, N·d] then the S last states [S, B, N·d]. Differentiable in all four. What the backward
 * needs is kept only when a gradient will be recorded, in a tensor of the current scope (made
 * next to the output, so it lives as long as the output does).
 */
function rnnFused(cell: RnnCellDef, wx: Tensor, r: Tensor, b: Tensor, state0: Tensor | null, lengths: Int32Array | null): Tensor {
  const be = wx.backend;
  const [batch, time, , heads, headDim] = wx.shape;
  const dims: RnnDims = { batch, time, heads, headDim };
  const inputs = state0 ? [wx, r, b, state0] : [wx, r, b];
  const savedLength = be.rnnSavedLength!(cell, dims);
  const saved = isGradEnabled() && inputs.some((t) => t.requiresGrad)
    ? Tensor.fromBuffer(be, be.alloc(savedLength, wx.dtype), [savedLength]) : null;
  const length = (time + cell.states) * batch * heads * headDim;
  const out = be.alloc(length, wx.dtype);
  const lens = lengths && lengthsTensor(lengths, be);
  be.rnnForward!(cell, wx.buffer, r.buffer, b.buffer, state0?.buffer ?? null, out, saved?.buffer ?? null, dims, lens?.buffer ?? null);
  return result(be, out, [length], `rnn(${cell.name})`, inputs, saved && ((g) => {
    const like = (t: Tensor) => be.alloc(t.size, t.dtype);
    const dwx = like(wx), dr = like(r), db = like(b);
    const ds0 = state0?.requiresGrad ? like(state0) : null;
    be.rnnBackward!(cell, r.buffer, saved.buffer, g.buffer, dwx, dr, db, ds0, dims, lens?.buffer ?? null);
    const grads: (Tensor | null)[] = [Tensor.fromBuffer(be, dwx, wx.shape), Tensor.fromBuffer(be, dr, r.shape), Tensor.fromBuffer(be, db, b.shape)];
    if (state0) grads.push(ds0 && Tensor.fromBuffer(be, ds0, state0.shape));
    return grads;
  }));
}

/** The reference: a loop over time of autograd ops, the cell's forward expressions evaluated with tensor ops. */
function timeLoop(cell: RnnCellDef, wx: Tensor, r: Tensor, b: Tensor, given: readonly Tensor[] | null, lengths: Int32Array | null): RnnResult {
  const G = cell.gates;
  const [B, T, , N, d] = wx.shape;
  const H = N * d;
  // Internal layout: heads lead, so R·h is one GEMM batched over heads: [N, B, d]·[N, G·d, d]ᵀ.
  const toInner = (s: Tensor) => permute(reshape(s, [B, N, d]), [1, 0, 2]);
  let state = given ? given.map(toInner) : Array.from({ length: cell.states }, () => zeros([N, B, d], { dtype: wx.dtype, backend: wx.backend }));
  const inputBias = slice(b, 0, 0, G);                                   // [G, N, d]
  const wxT = permute(add(wx, inputBias), [1, 3, 0, 2, 4]);              // [T, N, B, G, d]
  const rHeads = reshape(permute(r, [1, 0, 2, 3]), [N, G * d, d]);       // [N, G·d, d]
  const extra = cell.biases - G;
  const rb = extra > 0 ? gates(permute(reshape(slice(b, 0, G), [extra, N, 1, d]), [1, 2, 0, 3]), extra) : []; // each [N, 1, d]
  const outputs = [...cell.forward.states];
  // padding keeps the states: real[t] [1, B, 1] is 1 on real steps
  const real = lengths && reshape(permute(validMask(lengths, T, wx), [1, 0]), [T, 1, B, 1]);

  const hs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const x = gates(reshape(slice(wxT, 0, t, t + 1), [N, B, G, d]), G);
    const rh = gates(reshape(matmul(state[0], rHeads, { transB: true }), [N, B, G, d]), G);
    const named: Record<string, Tensor> = {};
    x.forEach((v, i) => { named[`x${i}`] = v; });
    rh.forEach((v, i) => { named[`r${i}`] = v; });
    rb.forEach((v, i) => { named[`rb${i}`] = v; });
    state.forEach((v, i) => { named[`s${i}`] = v; });
    const next = evaluateTensors(outputs, named);
    state = real ? next.map((s, i) => where(reshape(slice(real, 0, t, t + 1), [1, B, 1]), s, state[i])) : next;
    hs.push(state[0]);
  }
  const out = reshape(permute(stack(hs, 0), [2, 0, 1, 3]), [B, T, H]); // [T, N, B, d] → [B, T, N·d]
  const toOuter = (s: Tensor) => reshape(permute(s, [1, 0, 2]), [B, H]);
  return { outputs: out, state: state.map(toOuter) };
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

  constructor(opts: TorchRnnOptions, protected readonly cell: RnnCellDef) {
    super();
    const heads = opts.heads ?? 1;
    const name = this.constructor.name;
    for (const [k, v] of [['inputSize', opts.inputSize], ['hiddenSize', opts.hiddenSize], ['heads', heads]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: ${k} must be a positive integer, got ${v}`);
    }
    if (opts.hiddenSize % heads !== 0) throw new Error(`${name}: hiddenSize ${opts.hiddenSize} is not divisible by heads ${heads}`);
    this.inputSize = opts.inputSize;
    this.hiddenSize = opts.hiddenSize;
    this.heads = heads;
    this.headDim = opts.hiddenSize / heads;
    this.fused = opts.fused ?? true;
    const GH = this.cell.gates * this.hiddenSize;
    const bound = 1 / Math.sqrt(this.hiddenSize);
    this.weightIh = this.param('weight_ih_l0', uniformInit([GH, this.inputSize], bound, opts));
    this.weightHh = this.param('weight_hh_l0', uniformInit([GH, this.headDim], bound, opts));
    this.biasIh = this.param('bias_ih_l0', uniformInit([GH], bound, opts));
    this.biasHh = this.param('bias_hh_l0', uniformInit([GH], bound, opts));
  }

  /** rnn()'s b [Gb, N, d] from bias_ih and bias_hh (see the file comment). */
  protected rnnBias(): Tensor {
    return summedBias(this.biasIh, this.biasHh, this.cell.gates, this.heads, this.headDim);
  }

  /** Throws a one-line error unless x is [B, T, inputSize] (rank 3) or [B, inputSize] (rank 2). */
  protected checkInput(x: Tensor, rank: number, what: string): void {
    if (x.rank !== rank || x.shape[rank - 1] !== this.inputSize) {
      const want = rank === 3 ? `[B, T, ${this.inputSize}]` : `[B, ${this.inputSize}]`;
      throw new Error(`${this.constructor.name}.${what}: input ${describe(x)} must be ${want}`);
    }
  }

  /** Throws a one-line error unless every state tensor is [batch, hiddenSize]. */
  protected checkState(state: readonly Tensor[], batch: number, what: string): void {
    if (state.length !== this.cell.states) throw new Error(`${this.constructor.name}.${what}: expected ${this.cell.states} state tensor(s), got ${state.length}`);
    for (const s of state) {
      if (s.rank !== 2 || s.shape[0] !== batch || s.shape[1] !== this.hiddenSize) {
        throw new Error(`${this.constructor.name}.${what}: state ${describe(s)} must be ${formatShape([batch, this.hiddenSize])}`);
      }
    }
  }

  /** x [B, T, D_in] with states [B, H] → h over time [B, T, H] and the final states. */
  protected run(x: Tensor, state: readonly Tensor[] | null, lengths: Lengths | null = null): RnnResult {
    const [B, T] = x.shape;
    const wx = reshape(linear(x, this.weightIh), [B, T, this.cell.gates, this.heads, this.headDim]);
    const r = reshape(this.weightHh, [this.cell.gates, this.heads, this.headDim, this.headDim]);
    return rnn(wx, r, this.rnnBias(), { cell: this.cell, state, fused: this.fused, lengths });
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
  /**
   * x [B, T, inputSize] → h over time [B, T, hiddenSize] and h_T [B, hiddenSize]; no state means
   * zeros. With opts.lengths (a padded batch) h_T is each row's state after its last real step.
   */
  forward(x: Tensor, state?: Tensor | null, opts: SequenceOptions = {}): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState([state], x.shape[0], 'forward');
    const r = this.run(x, state ? [state] : null, opts.lengths ?? null);
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

/** A TorchRnn whose state is a list of tensors, each [B, H] (LSTM [h, c], sLSTM [h, c, n, m]). */
export abstract class MultiStateRnn extends TorchRnn implements RecurrentCell<readonly Tensor[]> {
  /** x [B, T, inputSize] → h over time [B, T, hiddenSize] and the last states (after each row's last real step with opts.lengths); no state means zeros. */
  forward(x: Tensor, state?: readonly Tensor[] | null, opts: SequenceOptions = {}): CellOutput<readonly Tensor[]> {
    this.checkInput(x, 3, 'forward');
    if (state) this.checkState(state, x.shape[0], 'forward');
    const r = this.run(x, state ?? null, opts.lengths ?? null);
    return { output: r.outputs, state: r.state };
  }

  /** x_t [B, inputSize] → h_t [B, hiddenSize] and the next states. */
  step(x: Tensor, state?: readonly Tensor[] | null): CellOutput<readonly Tensor[]> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState(state, x.shape[0], 'step');
    const r = this.runStep(x, state ?? null);
    return { output: r.outputs, state: r.state };
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
