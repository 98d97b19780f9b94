/**
 * SMR and MSMR, the multiplicative recurrent cells of the Russian character-level LM article
 * series (docs/models.md#smr-msmr), restated with i_t = the cell input after the input projection:
 *
 *   SMR:  o_t = i_t ⊙ (S s_{t−1} + 0.1);  s_t = o_t
 *   MSMR: k = softmax_cells(K(i_t ⊙ s_{t−1}));  d = Σ_c k_c m_c;  o_t = i_t ⊙ (Dm d + 0.1)
 *         κ = tanh(K(o_t));  m_t = tanh(m_{t−1} ⊙ κ + o_t ⊗ (1 − κ));  s_t = o_t
 *
 * (K is the same Dense(U → cells) in both places, as in the source; κ [B, cells] broadcasts over
 * U.) The output at step t is o_t. As rnn.ts for LSTM/GRU: a functional core over projected
 * inputs (`smr`, `msmr`: loops of autograd ops) whose whole per-step work is one small function
 * (`smrUpdate`, `msmrUpdate`); `forward` and `step` both go through it, and a fused kernel later
 * replaces the loop behind the same functions.
 *
 * Input projection: the source uses a "WindowedDense(U, 16)" that it does not specify further;
 * we use its stated fallback, a plain bias-free Linear(inputSize → units) (`in_proj`).
 *
 * Initialisation (the source gives none; chosen so the cells train: test/models/bigram.test.ts
 * trains a RecurrentLM around each, with both residual kinds, below the bigram entropy):
 * - in_proj, K (`key`) and Dm (`mem_out`): torch.nn.Linear's default U(±1/√fan_in). With a
 *   normalised input (rms 1) the entries of i_t have std ≈ 1/√3.
 * - S (`weight_s`, [U, U], out×in like a Linear weight): U(±1/√U), so |S s| ≈ |s|/√3 and the
 *   step map s ↦ i ⊙ (S s) contracts (gain ≈ 1/3) at the start: the state neither explodes nor
 *   dies, since the 0.1 offset keeps o_t ≈ 0.1·i_t plus a decaying memory of the past.
 *
 * States: SMR s [B, units] (a Tensor); MSMR [s, m] with s [B, units] and m [B, cells, units].
 * No state means zeros (then o_1 = 0.1·i_1).
 */
import { add, matmul, mul, reshape, slice, softmax, stack, sub, tanh } from '../tensor/ops.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { Linear, uniformInit } from '../nn/layers.js';
import { Module, type LayerOptions } from '../nn/module.js';
import type { CellOutput, RecurrentCell } from './cell.js';

/** The constant offset inside the product (0.1 in the source). */
export const SMR_OFFSET = 0.1;

export interface SmrOptions extends LayerOptions {
  inputSize: number;
  /** State width U (also the output width). */
  units: number;
}

export interface MsmrOptions extends SmrOptions {
  /** Memory cells (default 3, as the source). */
  cells?: number;
}

/** MSMR state: [s [B, units], m [B, cells, units]]. */
export type MsmrState = readonly Tensor[];

/** One SMR step: i, s [B, U], S [U, U] → o_t = i ⊙ (S s + 0.1) (s null means zeros). */
export function smrUpdate(i: Tensor, s: Tensor | null, S: Tensor): Tensor {
  return s ? mul(i, add(linear(s, S), SMR_OFFSET)) : mul(i, SMR_OFFSET);
}

/**
 * One MSMR step: i, s [B, U], m [B, C, U], K [C, U], Dm [U, U] → [o_t, m_t] (null states mean
 * zeros). Returns the new s (= o_t) and m.
 */
export function msmrUpdate(i: Tensor, s: Tensor | null, m: Tensor | null, K: Tensor, Dm: Tensor): [Tensor, Tensor] {
  const [B, U] = i.shape;
  const C = K.shape[0];
  let o: Tensor;
  if (s && m) {
    const k = softmax(linear(mul(i, s), K), -1);                     // [B, C]
    const d = reshape(matmul(reshape(k, [B, 1, C]), m), [B, U]);     // Σ_c k_c m_c
    o = mul(i, add(linear(d, Dm), SMR_OFFSET));
  } else {
    o = mul(i, SMR_OFFSET);                                          // m = 0 ⇒ d = 0
  }
  const kappa = reshape(tanh(linear(o, K)), [B, C, 1]);
  const fresh = mul(reshape(o, [B, 1, U]), sub(1, kappa));           // o ⊗ (1 − κ)
  const mNext = tanh(m ? add(mul(m, kappa), fresh) : fresh);
  return [o, mNext];
}

/** Outputs over time and the state after the last step. */
export interface SmrResult<S> {
  /** o_t for every step, [B, T, U]. */
  outputs: Tensor;
  state: S;
}

function checkSeq(what: string, i: Tensor): number[] {
  if (i.rank !== 3 || i.shape[1] === 0) throw new Error(`${what}: inputs ${describe(i)} must be [B, T, U] with T ≥ 1`);
  return [...i.shape];
}

function checkShape(what: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (formatShape(t.shape) !== formatShape(shape)) throw new Error(`${what}: ${name} ${describe(t)} must be ${formatShape(shape)}`);
}

/** i [B, T, U] → its step t, [B, U]. */
function at(i: Tensor, t: number): Tensor {
  return reshape(slice(i, 1, t, t + 1), [i.shape[0], i.shape[2]]);
}

/**
 * SMR over a sequence of projected inputs i [B, T, U] with S [U, U] and s_0 [B, U] (null: zeros).
 * A loop of smrUpdate: the reference a fused kernel must reproduce.
 */
export function smr(i: Tensor, S: Tensor, s0: Tensor | null = null): SmrResult<Tensor> {
  const [B, , U] = checkSeq('smr', i);
  checkShape('smr', 'S', S, [U, U]);
  if (s0) checkShape('smr', 's0', s0, [B, U]);
  let s = s0;
  const outs: Tensor[] = [];
  for (let t = 0; t < i.shape[1]; t++) outs.push((s = smrUpdate(at(i, t), s, S)));
  return { outputs: stack(outs, 1), state: s! };
}

/**
 * MSMR over i [B, T, U] with K [C, U], Dm [U, U] and state [s_0 [B, U], m_0 [B, C, U]] (null:
 * zeros). A loop of msmrUpdate.
 */
export function msmr(i: Tensor, K: Tensor, Dm: Tensor, state: MsmrState | null = null): SmrResult<Tensor[]> {
  const [B, , U] = checkSeq('msmr', i);
  const C = K.shape[0];
  checkShape('msmr', 'K', K, [C, U]);
  checkShape('msmr', 'Dm', Dm, [U, U]);
  if (state) {
    if (state.length !== 2) throw new Error(`msmr: state must be [s, m], got ${state.length} tensor(s)`);
    checkShape('msmr', 's', state[0], [B, U]);
    checkShape('msmr', 'm', state[1], [B, C, U]);
  }
  let s = state?.[0] ?? null, m = state?.[1] ?? null;
  const outs: Tensor[] = [];
  for (let t = 0; t < i.shape[1]; t++) {
    [s, m] = msmrUpdate(at(i, t), s, m, K, Dm);
    outs.push(s);
  }
  return { outputs: stack(outs, 1), state: [s!, m!] };
}

/** Shared by SMR and MSMR: the input projection and the shape checks. */
abstract class MultiplicativeCell extends Module {
  readonly inputSize: number;
  readonly units: number;
  readonly inProj: Linear;

  constructor(opts: SmrOptions) {
    super();
    const name = this.constructor.name;
    for (const [k, v] of [['inputSize', opts.inputSize], ['units', opts.units]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: ${k} must be a positive integer, got ${v}`);
    }
    this.inputSize = opts.inputSize;
    this.units = opts.units;
    const { rng, dtype, backend } = opts;
    this.inProj = this.module('in_proj', new Linear({ rng, dtype, backend, inFeatures: opts.inputSize, outFeatures: opts.units, bias: false }));
  }

  /** Throws a one-line error unless x is [B, T, dim] (rank 3) or [B, dim] (rank 2). */
  protected checkInput(x: Tensor, rank: number, what: string): void {
    if (x.rank !== rank || x.shape[rank - 1] !== this.inputSize) {
      const want = rank === 3 ? `[B, T, ${this.inputSize}]` : `[B, ${this.inputSize}]`;
      throw new Error(`${this.constructor.name}.${what}: input ${describe(x)} must be ${want}`);
    }
  }

  /** Throws a one-line error unless s has the expected shape. */
  protected checkStateShape(s: Tensor, shape: readonly number[], what: string): void {
    if (formatShape(s.shape) !== formatShape(shape)) {
      throw new Error(`${this.constructor.name}.${what}: state ${describe(s)} must be ${formatShape(shape)}`);
    }
  }
}

/** SMR: parameters `in_proj.weight` [U, D] and `weight_s` (S) [U, U]. State s [B, U]. */
export class SMR extends MultiplicativeCell implements RecurrentCell<Tensor> {
  readonly weightS: Tensor;

  constructor(opts: SmrOptions) {
    super(opts);
    this.weightS = this.param('weight_s', uniformInit([opts.units, opts.units], 1 / Math.sqrt(opts.units), opts));
  }

  /** x [B, T, inputSize] → o over time [B, T, units] and s_T [B, units]. */
  forward(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 3, 'forward');
    const [B] = x.shape;
    if (state) this.checkStateShape(state, [B, this.units], 'forward');
    const r = smr(this.inProj.forward(x), this.weightS, state ?? null);
    return { output: r.outputs, state: r.state };
  }

  /** x_t [B, inputSize] → o_t [B, units], which is also the next state. */
  step(x: Tensor, state?: Tensor | null): CellOutput<Tensor> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkStateShape(state, [x.shape[0], this.units], 'step');
    const o = smrUpdate(this.inProj.forward(x), state ?? null, this.weightS);
    return { output: o, state: o };
  }
}

/**
 * MSMR: parameters `in_proj.weight` [U, D], `key.weight` (K) [cells, U], `mem_out.weight` (Dm)
 * [U, U]. State [s [B, U], m [B, cells, U]].
 */
export class MSMR extends MultiplicativeCell implements RecurrentCell<MsmrState> {
  readonly cells: number;
  readonly key: Linear;
  readonly memOut: Linear;

  constructor(opts: MsmrOptions) {
    super(opts);
    const cells = opts.cells ?? 3;
    if (!Number.isInteger(cells) || cells <= 0) throw new Error(`MSMR: cells must be a positive integer, got ${cells}`);
    this.cells = cells;
    const { rng, dtype, backend } = opts;
    this.key = this.module('key', new Linear({ rng, dtype, backend, inFeatures: opts.units, outFeatures: cells, bias: false }));
    this.memOut = this.module('mem_out', new Linear({ rng, dtype, backend, inFeatures: opts.units, outFeatures: opts.units, bias: false }));
  }

  private checkState(state: MsmrState, batch: number, what: string): void {
    if (state.length !== 2) throw new Error(`MSMR.${what}: state must be [s, m], got ${state.length} tensor(s)`);
    this.checkStateShape(state[0], [batch, this.units], what);
    this.checkStateShape(state[1], [batch, this.cells, this.units], what);
  }

  /** x [B, T, inputSize] → o over time [B, T, units] and [s_T, m_T]. */
  forward(x: Tensor, state?: MsmrState | null): CellOutput<MsmrState> {
    this.checkInput(x, 3, 'forward');
    const [B] = x.shape;
    if (state) this.checkState(state, B, 'forward');
    const r = msmr(this.inProj.forward(x), this.key.weight, this.memOut.weight, state ?? null);
    return { output: r.outputs, state: r.state };
  }

  /** x_t [B, inputSize] → o_t [B, units] and [s_t, m_t]. */
  step(x: Tensor, state?: MsmrState | null): CellOutput<MsmrState> {
    this.checkInput(x, 2, 'step');
    if (state) this.checkState(state, x.shape[0], 'step');
    const [s, m] = msmrUpdate(this.inProj.forward(x), state?.[0] ?? null, state?.[1] ?? null, this.key.weight, this.memOut.weight);
    return { output: s, state: [s, m] };
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';

/** Registry entries (cells/registry.ts): units = input = dim; no options. */
export const smrCell: CellEntry = {
  name: 'smr', summary: 'SMR (multiplicative recurrence)', options: [],
  create: (dim, _o, layer) => new SMR({ ...layer, inputSize: dim, units: dim }),
};
export const msmrCell: CellEntry = {
  name: 'msmr', summary: 'MSMR (SMR with memory cells)', options: [],
  create: (dim, _o, layer) => new MSMR({ ...layer, inputSize: dim, units: dim }),
};
