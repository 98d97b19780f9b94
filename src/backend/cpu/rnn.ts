/**
 * The non-linear recurrences of src/cells/rnn.ts (LSTM, GRU, Elman, sLSTM; docs/models.md#lstm-gru-elman-slstm) on
 * the CPU: the whole time loop in one call, forward and a hand-written backward (BPTT), as plain
 * functions over typed arrays with the layouts in comments (the autograd loop in rnn.ts is the
 * reference they are tested against).
 *
 * Forward, per step t: one GEMM batched over the heads for the recurrent product
 * rh = h_{t−1}·R_nᵀ (the wasm GEMM of matmul.ts; f64 runs on its JS kernel), then one pass over
 * [N, B, d] that applies the cell's pointwise function and writes the new states, the output and,
 * when training, the gate values the backward needs (`saved`).
 * Backward, per step from the last: one pass that turns the gradient of the step's states into
 * the gate gradients (dwx, the recurrent-product gradient dRh, db summed in doubles), then one GEMM
 * per step, dh_{t−1} += dRh_t·R_n. dR is a single GEMM over all steps at the end.
 * Pointwise arithmetic is in doubles (JS numbers); storage in the tensors' dtype (f32 or f64).
 *
 * Layouts (external ones as in rnn.ts: wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d],
 * states [S, B, N·d]; out = outputs [B, T, N·d] then the last states [S, B, N·d]):
 *   Rp   [N, G·d, d]      Rp[n, g·d + i, j] = r[g, n, i, j] (one GEMM operand per head)
 *   hist [S, N, slots, B, d]  state s after step t in slot t (slot 0: the initial state); training
 *        keeps every slot (slots = T + 1, the head of `saved`), inference a ring of 2
 *   rh   [N, B, G·d]      the recurrent product of the current step
 *   gates [T, N, B, Gs, d]  per-cell saved gate values (after hist in `saved`)
 *   dRh  [N, T, B, G·d]   gradient w.r.t. the recurrent product (the dR GEMM's operand)
 *   carry [S, N, B, d]    gradient w.r.t. the states before the current step, not through R (f64)
 */
import type { RnnCellKind, RnnDims } from '../backend.js';
import { matmul, type FloatArray } from './matmul.js';

export interface RnnCellLayout {
  /** Gates G of wx and r. */
  gates: number;
  /** Bias rows Gb (GRU: one more, b_rn, inside the reset product). */
  biases: number;
  /** States S (h first). */
  states: number;
  /** Gate values per unit and step kept for the backward (Gs). */
  saved: number;
}

/**
 * lstm: states h, c; saved σ(i), σ(f), tanh(z), σ(o).
 * gru: states h; saved r, z, n and hn = R_n h + b_rn.
 * elman: states h; nothing saved (tanh' comes from h itself).
 * slstm: states h, c, n, m; saved i, f (stabilised), tanh(z̃), σ(õ), σ(−f̃) and the branch of the
 * stabiliser (1: m_t = ĩ, 0: m_t = log σ(f̃) + m_{t−1}).
 */
export const RNN_CELL_LAYOUT: Readonly<Record<RnnCellKind, RnnCellLayout>> = {
  lstm: { gates: 4, biases: 4, states: 2, saved: 4 },
  gru: { gates: 3, biases: 4, states: 1, saved: 4 },
  elman: { gates: 1, biases: 1, states: 1, saved: 0 },
  slstm: { gates: 4, biases: 4, states: 4, saved: 6 },
};

function layoutOf(cell: RnnCellKind): RnnCellLayout {
  const L = RNN_CELL_LAYOUT[cell];
  if (!L) throw new Error(`rnn kernel: unknown cell '${String(cell)}' (lstm, gru, elman or slstm)`);
  return L;
}

/** Length of `saved`: every state at every step (T + 1 slots) and the cell's gate values. */
export function rnnSavedLength(cell: RnnCellKind, { batch, time, heads, headDim }: RnnDims): number {
  const L = layoutOf(cell);
  const unit = batch * heads * headDim;
  return L.states * (time + 1) * unit + L.saved * time * unit;
}

// ------------------------------------------------------------------------------------------ helpers

// σ and tanh through one Math.exp each (V8's Math.tanh costs ~1.5 exp): exact to rounding for
// large |x| (e^x overflowing to ∞ gives the limits), ~1e-16 absolute near 0.
function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function tanh(x: number): number {
  return 1 - 2 / (Math.exp(2 * x) + 1);
}

/** log σ(x) = −softplus(−x), without overflow. */
function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function like(a: FloatArray, n: number): FloatArray {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/** C[i] = op(A[i])·op(B[i]) for i < batch (see MatmulSpec in matmul.ts). */
function gemm(a: FloatArray, b: FloatArray, c: FloatArray, batch: number, m: number, n: number, k: number,
              transA: boolean, transB: boolean, aOffset: number, aBatchStride: number, bOffset: number, bBatchStride: number): void {
  matmul(a, b, c, { batch, m, n, k, transA, transB, aOffset, bOffset, cOffset: 0, aBatchStride, bBatchStride, accumulate: false });
}

/** r [G, N, d, d] → Rp [N, G·d, d]. */
function headMajor(r: FloatArray, G: number, N: number, d: number): FloatArray {
  const rp = like(r, r.length);
  const dd = d * d;
  for (let g = 0; g < G; g++) for (let n = 0; n < N; n++) rp.set(r.subarray((g * N + n) * dd, (g * N + n + 1) * dd), (n * G + g) * dd);
  return rp;
}

function checkLength(what: string, a: FloatArray | null, n: number): void {
  if (a && a.length !== n) throw new Error(`rnn kernel: ${what} has ${a.length} elements, expected ${n}`);
}

/** What a forward pointwise pass reads and writes (see the layouts in the file comment). */
interface Fwd {
  B: number; T: number; N: number; d: number; slots: number;
  wx: FloatArray; bias: FloatArray; rh: FloatArray; hist: FloatArray; out: FloatArray;
  /** The gates region (training) or null. */
  gates: FloatArray | null;
  gatesOff: number;
}

/** What a backward pointwise pass reads and writes. */
interface Bwd {
  B: number; T: number; N: number; d: number; slots: number;
  hist: FloatArray; gates: FloatArray; gatesOff: number;
  dout: FloatArray; dhRec: FloatArray; carry: Float64Array;
  dwx: FloatArray; dRh: FloatArray; db: Float64Array;
}

// ------------------------------------------------------------------------------------------ cells
// Each cell: fwd(c, t, prev, next) reads slot `prev` of hist and writes slot `next`; bwd(c, t)
// turns the gradient w.r.t. the states after step t (dout + carry + dhRec for h, carry for the
// others) into dwx, dRh and db of step t and leaves the gradient w.r.t. the states before step t
// (not through R) in carry. hist slots are t (before) and t + 1 (after) in the backward.

/** LSTM: c' = σ(f) c + σ(i) tanh(z); h' = σ(o) tanh(c'). */
function lstmFwd(c: Fwd, t: number, prev: number, next: number): void {
  const { B, T, N, d, slots, wx, bias, rh, hist, out, gates, gatesOff } = c;
  const Nd = N * d, H = Nd, cs = N * slots * B * d;
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 4 * N + n) * d, q = (n * B + b) * 4 * d;
      const hp = ((n * slots + prev) * B + b) * d, hn = ((n * slots + next) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 4 * d;
      for (let j = 0; j < d; j++) {
        const i = sigmoid(wx[x + j] + bias[b0 + j] + rh[q + j]);
        const f = sigmoid(wx[x + Nd + j] + bias[b1 + j] + rh[q + d + j]);
        const z = tanh(wx[x + 2 * Nd + j] + bias[b2 + j] + rh[q + 2 * d + j]);
        const og = sigmoid(wx[x + 3 * Nd + j] + bias[b3 + j] + rh[q + 3 * d + j]);
        const cNew = f * hist[cs + hp + j] + i * z;
        const h = og * tanh(cNew);
        hist[hn + j] = h;
        hist[cs + hn + j] = cNew;
        out[o + j] = h;
        if (gates) {
          gates[sv + j] = i;
          gates[sv + d + j] = f;
          gates[sv + 2 * d + j] = z;
          gates[sv + 3 * d + j] = og;
        }
      }
    }
  }
}

function lstmBwd(c: Bwd, t: number): void {
  const { B, T, N, d, slots, hist, gates, gatesOff, dout, dhRec, carry, dwx, dRh, db } = c;
  const Nd = N * d, H = Nd, cs = N * slots * B * d, NBd = N * B * d;
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 4 * N + n) * d, q = ((n * T + t) * B + b) * 4 * d;
      const hp = ((n * slots + t) * B + b) * d, hn = ((n * slots + t + 1) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 4 * d;
      const k = (n * B + b) * d;
      for (let j = 0; j < d; j++) {
        const i = gates[sv + j], f = gates[sv + d + j], z = gates[sv + 2 * d + j], og = gates[sv + 3 * d + j];
        const dh = dout[o + j] + carry[k + j] + dhRec[k + j];
        const tc = tanh(hist[cs + hn + j]);
        const dc = carry[NBd + k + j] + dh * og * (1 - tc * tc);
        const di = dc * z * i * (1 - i);
        const df = dc * hist[cs + hp + j] * f * (1 - f);
        const dz = dc * i * (1 - z * z);
        const dog = dh * tc * og * (1 - og);
        carry[k + j] = 0;
        carry[NBd + k + j] = dc * f;
        dwx[x + j] = dRh[q + j] = di;
        dwx[x + Nd + j] = dRh[q + d + j] = df;
        dwx[x + 2 * Nd + j] = dRh[q + 2 * d + j] = dz;
        dwx[x + 3 * Nd + j] = dRh[q + 3 * d + j] = dog;
        db[b0 + j] += di;
        db[b1 + j] += df;
        db[b2 + j] += dz;
        db[b3 + j] += dog;
      }
    }
  }
}

/** GRU (reset after): r, z = σ(·), n = tanh(wx_n + b_n + r (R_n h + b_rn)), h' = n + z (h − n). */
function gruFwd(c: Fwd, t: number, prev: number, next: number): void {
  const { B, T, N, d, slots, wx, bias, rh, hist, out, gates, gatesOff } = c;
  const Nd = N * d, H = Nd;
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 3 * N + n) * d, q = (n * B + b) * 3 * d;
      const hp = ((n * slots + prev) * B + b) * d, hn = ((n * slots + next) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 4 * d;
      for (let j = 0; j < d; j++) {
        const r = sigmoid(wx[x + j] + bias[b0 + j] + rh[q + j]);
        const z = sigmoid(wx[x + Nd + j] + bias[b1 + j] + rh[q + d + j]);
        const hr = rh[q + 2 * d + j] + bias[b3 + j];
        const nv = tanh(wx[x + 2 * Nd + j] + bias[b2 + j] + r * hr);
        const h = nv + z * (hist[hp + j] - nv);
        hist[hn + j] = h;
        out[o + j] = h;
        if (gates) {
          gates[sv + j] = r;
          gates[sv + d + j] = z;
          gates[sv + 2 * d + j] = nv;
          gates[sv + 3 * d + j] = hr;
        }
      }
    }
  }
}

function gruBwd(c: Bwd, t: number): void {
  const { B, T, N, d, slots, hist, gates, gatesOff, dout, dhRec, carry, dwx, dRh, db } = c;
  const Nd = N * d, H = Nd;
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 3 * N + n) * d, q = ((n * T + t) * B + b) * 3 * d;
      const hp = ((n * slots + t) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 4 * d;
      const k = (n * B + b) * d;
      for (let j = 0; j < d; j++) {
        const r = gates[sv + j], z = gates[sv + d + j], nv = gates[sv + 2 * d + j], hr = gates[sv + 3 * d + j];
        const dh = dout[o + j] + carry[k + j] + dhRec[k + j];
        const dn = dh * (1 - z) * (1 - nv * nv);
        const dr = dn * hr * r * (1 - r);
        const dz = dh * (hist[hp + j] - nv) * z * (1 - z);
        const dhr = dn * r;
        carry[k + j] = dh * z;
        dwx[x + j] = dRh[q + j] = dr;
        dwx[x + Nd + j] = dRh[q + d + j] = dz;
        dwx[x + 2 * Nd + j] = dn;
        dRh[q + 2 * d + j] = dhr;
        db[b0 + j] += dr;
        db[b1 + j] += dz;
        db[b2 + j] += dn;
        db[b3 + j] += dhr;
      }
    }
  }
}

/** Elman: h' = tanh(wx + b + R h). */
function elmanFwd(c: Fwd, t: number, _prev: number, next: number): void {
  const { B, T, N, d, slots, wx, bias, rh, hist, out } = c;
  const H = N * d;
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * N + n) * d, q = (n * B + b) * d;
      const hn = ((n * slots + next) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      for (let j = 0; j < d; j++) {
        const h = tanh(wx[x + j] + bias[n * d + j] + rh[q + j]);
        hist[hn + j] = h;
        out[o + j] = h;
      }
    }
  }
}

function elmanBwd(c: Bwd, t: number): void {
  const { B, T, N, d, slots, hist, dout, dhRec, carry, dwx, dRh, db } = c;
  const H = N * d;
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * N + n) * d, q = ((n * T + t) * B + b) * d;
      const hn = ((n * slots + t + 1) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const k = (n * B + b) * d;
      for (let j = 0; j < d; j++) {
        const h = hist[hn + j];
        const dp = (dout[o + j] + carry[k + j] + dhRec[k + j]) * (1 - h * h);
        carry[k + j] = 0;
        dwx[x + j] = dRh[q + j] = dp;
        db[n * d + j] += dp;
      }
    }
  }
}

/**
 * sLSTM, the xLSTM reference's stabiliser (see slstmPointwise in src/cells/rnn.ts):
 * a = log σ(f̃) + m; m' = ĩ where n = 0, else max(ĩ, a) (ties: ĩ); i = e^{ĩ − m'}, f = e^{a − m'};
 * c' = f c + i tanh(z̃); n' = f n + i; h' = σ(õ) c'/n'.
 */
function slstmFwd(c: Fwd, t: number, prev: number, next: number): void {
  const { B, T, N, d, slots, wx, bias, rh, hist, out, gates, gatesOff } = c;
  const Nd = N * d, H = Nd, ss = N * slots * B * d; // state stride in hist
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 4 * N + n) * d, q = (n * B + b) * 4 * d;
      const hp = ((n * slots + prev) * B + b) * d, hn = ((n * slots + next) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 6 * d;
      for (let j = 0; j < d; j++) {
        const pi = wx[x + j] + bias[b0 + j] + rh[q + j];
        const pf = wx[x + Nd + j] + bias[b1 + j] + rh[q + d + j];
        const z = tanh(wx[x + 2 * Nd + j] + bias[b2 + j] + rh[q + 2 * d + j]);
        const og = sigmoid(wx[x + 3 * Nd + j] + bias[b3 + j] + rh[q + 3 * d + j]);
        const cPrev = hist[ss + hp + j], nPrev = hist[2 * ss + hp + j];
        const a = logSigmoid(pf) + hist[3 * ss + hp + j];
        const branchI = nPrev === 0 || pi >= a;
        const m = branchI ? pi : a;
        const i = Math.exp(pi - m), f = Math.exp(a - m);
        const cNew = f * cPrev + i * z, nNew = f * nPrev + i;
        const h = og * (cNew / nNew);
        hist[hn + j] = h;
        hist[ss + hn + j] = cNew;
        hist[2 * ss + hn + j] = nNew;
        hist[3 * ss + hn + j] = m;
        out[o + j] = h;
        if (gates) {
          gates[sv + j] = i;
          gates[sv + d + j] = f;
          gates[sv + 2 * d + j] = z;
          gates[sv + 3 * d + j] = og;
          gates[sv + 4 * d + j] = sigmoid(-pf);
          gates[sv + 5 * d + j] = branchI ? 1 : 0;
        }
      }
    }
  }
}

/**
 * With y = c'/n': dõ = dh y σ'(õ); dc' += dh σ(õ)/n'; dn' −= dh σ(õ) y/n'; the gradients of
 * log i and log f are di·i and df·f, and m' takes −(both) + its own gradient, which goes to ĩ or
 * to a by the forward's branch; a = log σ(f̃) + m passes its gradient to f̃ (times σ(−f̃)) and m.
 */
function slstmBwd(c: Bwd, t: number): void {
  const { B, T, N, d, slots, hist, gates, gatesOff, dout, dhRec, carry, dwx, dRh, db } = c;
  const Nd = N * d, H = Nd, ss = N * slots * B * d, NBd = N * B * d;
  for (let n = 0; n < N; n++) {
    const b0 = n * d, b1 = (N + n) * d, b2 = (2 * N + n) * d, b3 = (3 * N + n) * d;
    for (let b = 0; b < B; b++) {
      const x = ((b * T + t) * 4 * N + n) * d, q = ((n * T + t) * B + b) * 4 * d;
      const hp = ((n * slots + t) * B + b) * d, hn = ((n * slots + t + 1) * B + b) * d;
      const o = (b * T + t) * H + n * d;
      const sv = gatesOff + ((t * N + n) * B + b) * 6 * d;
      const k = (n * B + b) * d;
      for (let j = 0; j < d; j++) {
        const i = gates[sv + j], f = gates[sv + d + j], z = gates[sv + 2 * d + j], og = gates[sv + 3 * d + j];
        const qf = gates[sv + 4 * d + j], branchI = gates[sv + 5 * d + j] !== 0;
        const dh = dout[o + j] + carry[k + j] + dhRec[k + j];
        const nNew = hist[2 * ss + hn + j];
        const y = hist[ss + hn + j] / nNew;
        const dc = carry[NBd + k + j] + (dh * og) / nNew;
        const dn = carry[2 * NBd + k + j] - (dh * og * y) / nNew;
        const dog = dh * y * og * (1 - og);
        const dz = dc * i * (1 - z * z);
        const dLogI = (dc * z + dn) * i;
        const dF = dc * hist[ss + hp + j] + dn * hist[2 * ss + hp + j];
        const dLogF = dF === 0 ? 0 : dF * f; // f may overflow on a first step (n = 0), where dF = 0
        const dm = carry[3 * NBd + k + j] - dLogI - dLogF;
        const di = branchI ? dLogI + dm : dLogI;
        const da = branchI ? dLogF : dLogF + dm;
        const df = da * qf;
        carry[k + j] = 0;
        carry[NBd + k + j] = dc * f;
        carry[2 * NBd + k + j] = dn * f;
        carry[3 * NBd + k + j] = da;
        dwx[x + j] = dRh[q + j] = di;
        dwx[x + Nd + j] = dRh[q + d + j] = df;
        dwx[x + 2 * Nd + j] = dRh[q + 2 * d + j] = dz;
        dwx[x + 3 * Nd + j] = dRh[q + 3 * d + j] = dog;
        db[b0 + j] += di;
        db[b1 + j] += df;
        db[b2 + j] += dz;
        db[b3 + j] += dog;
      }
    }
  }
}

const CELLS: Record<RnnCellKind, { fwd: (c: Fwd, t: number, prev: number, next: number) => void; bwd: (c: Bwd, t: number) => void }> = {
  lstm: { fwd: lstmFwd, bwd: lstmBwd },
  gru: { fwd: gruFwd, bwd: gruBwd },
  elman: { fwd: elmanFwd, bwd: elmanBwd },
  slstm: { fwd: slstmFwd, bwd: slstmBwd },
};

// ------------------------------------------------------------------------------------------ entry

/**
 * Forward over all T steps (see Backend.rnnForward): out = [h_1..h_T as [B, T, N·d] | last
 * states [S, B, N·d]]; with `saved` (rnnSavedLength elements) also everything rnnBackward reads.
 */
export function rnnForward(cell: RnnCellKind, wx: FloatArray, r: FloatArray, b: FloatArray, state0: FloatArray | null,
                           out: FloatArray, saved: FloatArray | null, dims: RnnDims): void {
  const L = layoutOf(cell);
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = L.gates, S = L.states, H = N * d;
  checkLength('wx', wx, B * T * G * H);
  checkLength('r', r, G * N * d * d);
  checkLength('b', b, L.biases * H);
  checkLength('state0', state0, S * B * H);
  checkLength('out', out, (T + S) * B * H);
  if (saved) checkLength('saved', saved, rnnSavedLength(cell, dims));
  const slots = saved ? T + 1 : 2;
  const hist = saved ?? like(wx, S * N * slots * B * d);
  // slot 0 ← the initial states (zeros when none)
  for (let s = 0; s < S; s++) {
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        const dst = (((s * N + n) * slots) * B + bb) * d;
        if (state0) hist.set(state0.subarray((s * B + bb) * H + n * d, (s * B + bb) * H + (n + 1) * d), dst);
        else hist.fill(0, dst, dst + d);
      }
    }
  }
  const rp = headMajor(r, G, N, d);
  const c: Fwd = {
    B, T, N, d, slots, wx, bias: b, rh: like(wx, N * B * G * d), hist, out,
    gates: saved, gatesOff: S * N * slots * B * d,
  };
  if (L.saved === 0) c.gates = null;
  const fwd = CELLS[cell].fwd;
  for (let t = 0; t < T; t++) {
    const prev = saved ? t : t & 1, next = saved ? t + 1 : (t + 1) & 1;
    // rh[n] [B, G·d] = h_{t−1}[n] [B, d] · Rp[n]ᵀ
    gemm(hist, rp, c.rh, N, B, G * d, d, false, true, prev * B * d, slots * B * d, 0, G * d * d);
    fwd(c, t, prev, next);
  }
  // the last states → out's tail
  const last = saved ? T : T & 1;
  for (let s = 0; s < S; s++) {
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        const src = (((s * N + n) * slots + last) * B + bb) * d;
        out.set(hist.subarray(src, src + d), ((T + s) * B + bb) * H + n * d);
      }
    }
  }
}

/**
 * BPTT (see Backend.rnnBackward): dout has out's layout (the gradients of the outputs and of the
 * last states); dwx, dr, db and dstate0 (when not null) are overwritten.
 */
export function rnnBackward(cell: RnnCellKind, r: FloatArray, saved: FloatArray, dout: FloatArray, dwx: FloatArray,
                            dr: FloatArray, db: FloatArray, dstate0: FloatArray | null, dims: RnnDims): void {
  const L = layoutOf(cell);
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = L.gates, S = L.states, H = N * d, NBd = N * B * d;
  checkLength('r', r, G * N * d * d);
  checkLength('saved', saved, rnnSavedLength(cell, dims));
  checkLength('dout', dout, (T + S) * B * H);
  checkLength('dwx', dwx, B * T * G * H);
  checkLength('dr', dr, G * N * d * d);
  checkLength('db', db, L.biases * H);
  checkLength('dstate0', dstate0, S * B * H);
  const slots = T + 1;
  const rp = headMajor(r, G, N, d);
  const carry = new Float64Array(S * NBd);
  // the gradients of the last states start the carry
  for (let s = 0; s < S; s++) {
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        const src = ((T + s) * B + bb) * H + n * d, dst = s * NBd + (n * B + bb) * d;
        for (let j = 0; j < d; j++) carry[dst + j] = dout[src + j];
      }
    }
  }
  const dbAcc = new Float64Array(L.biases * H);
  const c: Bwd = {
    B, T, N, d, slots, hist: saved, gates: saved, gatesOff: S * N * slots * B * d,
    dout, dhRec: like(r, NBd), carry, dwx, dRh: like(r, N * T * B * G * d), db: dbAcc,
  };
  const bwd = CELLS[cell].bwd;
  for (let t = T - 1; t >= 0; t--) {
    bwd(c, t);
    // dh_{t−1} through R: dhRec[n] [B, d] = dRh_t[n] [B, G·d] · Rp[n] [G·d, d] (not needed after step 1 without dstate0)
    if (t > 0 || dstate0) gemm(c.dRh, rp, c.dhRec, N, B, d, G * d, false, false, t * B * G * d, T * B * G * d, 0, G * d * d);
  }
  if (dstate0) {
    for (let s = 0; s < S; s++) {
      for (let n = 0; n < N; n++) {
        for (let bb = 0; bb < B; bb++) {
          const dst = (s * B + bb) * H + n * d, k = (n * B + bb) * d;
          for (let j = 0; j < d; j++) dstate0[dst + j] = carry[s * NBd + k + j] + (s === 0 ? c.dhRec[k + j] : 0);
        }
      }
    }
  }
  // dRp[n] [G·d, d] = Σ_{t,b} dRh[n, t, b]ᵀ h_{t−1}[n, b]: A = dRh[n] stored [T·B, G·d], B = hist slots 0..T−1
  const drp = like(r, r.length);
  gemm(c.dRh, saved, drp, N, G * d, d, T * B, true, false, 0, T * B * G * d, 0, slots * B * d);
  const dd = d * d;
  for (let g = 0; g < G; g++) for (let n = 0; n < N; n++) dr.set(drp.subarray((n * G + g) * dd, (n * G + g + 1) * dd), (g * N + n) * dd);
  for (let i = 0; i < db.length; i++) db[i] = dbAcc[i];
}
