/**
 * The data a backend needs to run a non-linear recurrent cell (LSTM, GRU, Elman, sLSTM, or one of
 * a user's) as one fused time loop: its sizes, and its pointwise forward and backward as
 * expressions (expr.ts). The loop around them is the same for every cell (FlashRNN's layout, see
 * docs/models.md#lstm-gru-elman-slstm):
 *
 *   per step t:  rh = R·h_{t−1} (one GEMM per head and gate), then per hidden unit
 *                forward(x = Wx_t + input bias, r = rh, rb = recurrent-only biases, s = states)
 *                → the new states n (n0 = h_t, the output) and the values g the backward needs.
 *   backward, from the last step: per unit
 *                backward(g, s = states before, n = states after, d = dL/d(states after))
 *                → dx (= dWx; the input biases' gradients are its sums), dr (the gradient of R·h,
 *                  which feeds dh_{t−1} += drᵀR and dR), drb, dp (dL/d(states before), not through R).
 *
 * Input and output names (programs are keyed by them):
 *   forward inputs  x0..x{G−1}, r0..r{G−1}, rb0..rb{Gb−G−1}, s0..s{S−1}
 *   forward outputs states: S expressions (n0..), saved: Gs expressions (g0..)
 *   backward inputs g0..g{Gs−1}, s0..s{S−1}, n0..n{S−1}, d0..d{S−1} (biases are not among them:
 *                   a cell saves what it needs, as GRU saves R_n h + b_rn)
 *   backward outputs dx: G, dr: G, drb: Gb − G, dp: S expressions
 * The backend seam carries a definition, never a cell's name: a new cell is a new definition.
 */
import { constant, fingerprint, input, inputsOf, type Expr, type Operand } from './expr.js';

/** A classic cell (LSTM, GRU, Elman, sLSTM) as expressions: the pointwise step and its backward around the Wx + R h matmuls; what {@link defineRnnCell} returns and the backends render. */
export interface RnnCellDef {
  /** A short name, for messages and kernel names ([a-z0-9_] only). */
  readonly name: string;
  /** G: gates of Wx and R. */
  readonly gates: number;
  /** Gb ≥ G: rows of b; rows G.. are recurrent-only biases (GRU's b_rn). */
  readonly biases: number;
  /** S: states carried, state 0 being h (LSTM [h, c] → 2). */
  readonly states: number;
  /** Gs: values per unit and step kept for the backward. */
  readonly saved: number;
  readonly forward: { readonly states: readonly Expr[]; readonly saved: readonly Expr[] };
  readonly backward: { readonly dx: readonly Expr[]; readonly dr: readonly Expr[]; readonly drb: readonly Expr[]; readonly dp: readonly Expr[] };
  /** A stable text of the whole definition: renderers cache kernels by it. */
  readonly key: string;
}

/** The inputs a forward program reads. */
export interface RnnForwardInputs {
  /** Wx_t + input-side bias, one per gate. */
  x: Expr[];
  /** The recurrent product R·h_{t−1} without bias, one per gate. */
  r: Expr[];
  /** Recurrent-only biases. */
  rb: Expr[];
  /** The states before the step, s[0] = h_{t−1}. */
  s: Expr[];
}

/** The inputs a backward program reads. */
export interface RnnBackwardInputs {
  /** The values the forward saved. */
  g: Expr[];
  /** The states before the step. */
  s: Expr[];
  /** The states after the step (n[0] = h_t). */
  n: Expr[];
  /** dL/d(states after the step); d[0] includes the output's gradient. */
  d: Expr[];
}

/** What a classic cell's author writes: gate and state counts, the pointwise forward and its backward. */
export interface RnnCellSpec {
  name: string;
  gates: number;
  /** Default: gates (no recurrent-only bias). */
  biases?: number;
  states: number;
  /** Numbers in the results are constants (a state whose gradient does not flow back: 0). */
  forward(i: RnnForwardInputs): { states: Operand[]; saved: Operand[] };
  /** Gradients of the step's inputs from the saved values and the states' gradients. */
  backward(i: RnnBackwardInputs): { dx: Operand[]; dr?: Operand[]; drb?: Operand[]; dp: Operand[] };
}

const lift = (xs: readonly Operand[]): Expr[] => xs.map((x) => (typeof x === 'number' ? constant(x) : x));
const names = (prefix: string, n: number): Expr[] => Array.from({ length: n }, (_, i) => input(`${prefix}${i}`));

/**
 * Builds and checks a cell definition: the programs are written as functions of named inputs,
 * and `dr` defaults to `dx` (the usual case: the gate's pre-activation is Wx + R·h + b).
 */
export function defineRnnCell(spec: RnnCellSpec): RnnCellDef {
  const { name, gates: G, states: S } = spec;
  const Gb = spec.biases ?? G;
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`defineRnnCell: name '${name}' must be lower-case letters, digits and _`);
  for (const [what, v, lo] of [['gates', G, 1], ['states', S, 1], ['biases', Gb, G]] as const) {
    if (!Number.isInteger(v) || v < lo) throw new Error(`defineRnnCell(${name}): ${what} must be an integer ≥ ${lo}, got ${v}`);
  }
  const fwdIn: RnnForwardInputs = { x: names('x', G), r: names('r', G), rb: names('rb', Gb - G), s: names('s', S) };
  const f = spec.forward(fwdIn);
  const forward = { states: lift(f.states), saved: lift(f.saved) };
  const Gs = forward.saved.length;
  const bwdIn: RnnBackwardInputs = { g: names('g', Gs), s: names('s', S), n: names('n', S), d: names('d', S) };
  const bw = spec.backward(bwdIn);
  const backward = { dx: lift(bw.dx), dr: lift(bw.dr ?? bw.dx), drb: lift(bw.drb ?? []), dp: lift(bw.dp) };
  const counts: Array<[string, number, number]> = [
    ['forward states', forward.states.length, S], ['backward dx', backward.dx.length, G], ['backward dr', backward.dr.length, G],
    ['backward drb', backward.drb.length, Gb - G], ['backward dp', backward.dp.length, S],
  ];
  for (const [what, got, want] of counts) {
    if (got !== want) throw new Error(`defineRnnCell(${name}): ${what} has ${got} expressions, expected ${want}`);
  }
  checkInputs(name, 'forward', [...forward.states, ...forward.saved], [fwdIn.x, fwdIn.r, fwdIn.rb, fwdIn.s]);
  checkInputs(name, 'backward', [...backward.dx, ...backward.dr, ...backward.drb, ...backward.dp], [bwdIn.g, bwdIn.s, bwdIn.n, bwdIn.d]);
  const key = `${name}:${G}:${Gb}:${S}|${fingerprint([...forward.states, ...forward.saved])}|${fingerprint([...backward.dx, ...backward.dr, ...backward.drb, ...backward.dp])}`;
  return { name, gates: G, biases: Gb, states: S, saved: Gs, forward, backward, key };
}

function checkInputs(name: string, which: string, outputs: readonly Expr[], allowed: readonly Expr[][]): void {
  const ok = new Set(allowed.flat().map((e) => (e.op === 'input' ? e.name : '')));
  for (const n of inputsOf(outputs)) {
    if (!ok.has(n)) throw new Error(`defineRnnCell(${name}): the ${which} program reads '${n}', which it is not given (${[...ok].join(', ')})`);
  }
}

/** Sizes of a fused recurrence: B, T, N heads of size d. */
export interface RnnDims { batch: number; time: number; heads: number; headDim: number }

/**
 * Elements of the `saved` buffer of a fused recurrence, the same layout on every backend: every
 * state at every step (hist [S, N, T + 1, B, d]), then the saved values (gates [T, N, B, Gs, d]).
 */
export function rnnSavedLength(cell: RnnCellDef, { batch, time, heads, headDim }: RnnDims): number {
  const unit = batch * heads * headDim;
  return cell.states * (time + 1) * unit + cell.saved * time * unit;
}
