/**
 * The fused non-linear recurrence (LSTM, GRU, Elman, sLSTM, or any RnnCellDef) on the CPU: the
 * whole time loop in one call, forward and BPTT, with the cell's pointwise math rendered from its
 * definition into WebAssembly (render-wasm.ts). The loop is the same for every cell; the autograd
 * loop in src/cells/rnn.ts is the reference it is tested against.
 *
 * Forward, per step t: one GEMM batched over the heads for the recurrent product
 * rh = h_{t−1}·R_nᵀ (the wasm GEMM of matmul.ts; f64 runs on its JS kernel), then the cell's
 * forward row kernel over [N, B] rows of d units, which writes the new states, the output and,
 * when training, the values the backward needs (`saved`).
 * Backward, per step from the last: the cell's backward row kernel turns the gradient of the
 * step's states into dwx, the recurrent-product gradient dRh and db (summed in doubles), and
 * leaves the gradient w.r.t. the states before the step (not through R) in carry; then one GEMM
 * per step, dh_{t−1} += dRh_t·R_n. dR is a single GEMM over all steps at the end.
 * Pointwise arithmetic is in doubles; storage in the tensors' dtype (f32 or f64). The kernels work
 * in their own WebAssembly memory: inputs are copied in once per call and results out once.
 *
 * Layouts (external ones as in src/cells/rnn.ts: wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d],
 * states [S, B, N·d]; out = outputs [B, T, N·d] then the last states [S, B, N·d]):
 *   Rp   [N, G·d, d]      Rp[n, g·d + i, j] = r[g, n, i, j] (one GEMM operand per head)
 *   hist [S, N, slots, B, d]  state s after step t in slot t (slot 0: the initial state); training
 *        keeps every slot (slots = T + 1, the head of `saved`), inference a ring of 2
 *   rh   [N, B, G·d]      the recurrent product of the current step
 *   gates [T, N, B, Gs, d]  the cell's saved values (after hist in `saved`)
 *   dRh  [N, T, B, G·d]   gradient w.r.t. the recurrent product (the dR GEMM's operand)
 *   carry [S, N, B, d]    gradient w.r.t. the states before the current step, not through R (f64)
 */
import type { RnnDims } from '../backend.js';
import { rnnSavedLength, type RnnCellDef } from '../pointwise/rnn-cell.js';
import { matmul, type FloatArray } from './matmul.js';
import { Arena, cellKernels as kernels, storage, view } from './render-wasm.js';
import { lengthOf } from './cell-scan.js';

export { rnnSavedLength };

// ------------------------------------------------------------------------------------------ helpers

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


function checkSizes(cell: RnnCellDef): void {
  if (!Number.isInteger(cell.gates) || !Number.isInteger(cell.states)) throw new Error(`rnn kernel: '${cell.name}' is not a cell definition (defineRnnCell)`);
}

/**
 * Forward over all T steps (see Backend.rnnForward): out = [h_1..h_T as [B, T, N·d] | last
 * states [S, B, N·d]]; with `saved` (rnnSavedLength elements) also everything rnnBackward reads.
 */
export function rnnForward(cell: RnnCellDef, wx: FloatArray, r: FloatArray, b: FloatArray, state0: FloatArray | null,
                           out: FloatArray, saved: FloatArray | null, dims: RnnDims, lengths: Int32Array | null = null): void {
  checkSizes(cell);
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = cell.gates, S = cell.states, Gs = cell.saved, H = N * d;
  checkLength('wx', wx, B * T * G * H);
  checkLength('r', r, G * N * d * d);
  checkLength('b', b, cell.biases * H);
  checkLength('state0', state0, S * B * H);
  checkLength('out', out, (T + S) * B * H);
  if (saved) checkLength('saved', saved, rnnSavedLength(cell, dims));
  const t = storage(wx), es = t === 'f64' ? 8 : 4;
  const row = kernels.rnnKernels(cell, t);
  const slots = saved ? T + 1 : 2;
  const histLength = saved ? saved.length : S * N * slots * B * d;
  const mem = new Arena(es);
  const wxAt = mem.take(wx.length), bAt = mem.take(b.length), rhAt = mem.take(N * B * G * d);
  const histAt = mem.take(histLength), outAt = mem.take(B * T * H);
  const buf = mem.commit();
  view(buf, t, wxAt, wx.length).set(wx);
  view(buf, t, bAt, b.length).set(b);
  const hist = view(buf, t, histAt, histLength), rh = view(buf, t, rhAt, N * B * G * d);
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
  const stateStride = N * slots * B * d * es, gatesAt = histAt + S * N * slots * B * d * es;
  const outView = view(buf, t, outAt, B * T * H);
  for (let step = 0; step < T; step++) {
    const prev = saved ? step : step & 1, next = saved ? step + 1 : (step + 1) & 1;
    // rh[n] [B, G·d] = h_{t−1}[n] [B, d] · Rp[n]ᵀ
    gemm(hist, rp, rh, N, B, G * d, d, false, true, prev * B * d, slots * B * d, 0, G * d * d);
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        if (step >= lengthOf(lengths, bb, T)) { // padding: the states stay, the output repeats h
          for (let s = 0; s < S; s++) {
            const from = (((s * N + n) * slots + prev) * B + bb) * d;
            hist.copyWithin((((s * N + n) * slots + next) * B + bb) * d, from, from + d);
          }
          const h = ((n * slots + prev) * B + bb) * d;
          outView.set(hist.subarray(h, h + d), (bb * T + step) * H + n * d);
          continue;
        }
        row.forward(
          wxAt + (((bb * T + step) * G * N + n) * d) * es, N * d * es, bAt + n * d * es, N * d * es,
          rhAt + ((n * B + bb) * G * d) * es, d * es,
          histAt + (((n * slots + prev) * B + bb) * d) * es, histAt + (((n * slots + next) * B + bb) * d) * es, stateStride,
          outAt + ((bb * T + step) * H + n * d) * es, gatesAt + (((step * N + n) * B + bb) * Gs * d) * es, d * es, saved ? 1 : 0, d);
      }
    }
  }
  out.set(outView);
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
  if (saved) saved.set(hist);
}

/**
 * BPTT (see Backend.rnnBackward): dout has out's layout (the gradients of the outputs and of the
 * last states); dwx, dr, db and dstate0 (when not null) are overwritten.
 */
export function rnnBackward(cell: RnnCellDef, r: FloatArray, saved: FloatArray, dout: FloatArray, dwx: FloatArray,
                            dr: FloatArray, db: FloatArray, dstate0: FloatArray | null, dims: RnnDims, lengths: Int32Array | null = null): void {
  checkSizes(cell);
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = cell.gates, S = cell.states, Gs = cell.saved, H = N * d, NBd = N * B * d;
  checkLength('r', r, G * N * d * d);
  checkLength('saved', saved, rnnSavedLength(cell, dims));
  checkLength('dout', dout, (T + S) * B * H);
  checkLength('dwx', dwx, B * T * G * H);
  checkLength('dr', dr, G * N * d * d);
  checkLength('db', db, cell.biases * H);
  checkLength('dstate0', dstate0, S * B * H);
  const t = storage(r), es = t === 'f64' ? 8 : 4;
  const row = kernels.rnnKernels(cell, t);
  const slots = T + 1;
  const rp = headMajor(r, G, N, d);
  const mem = new Arena(es);
  const savedAt = mem.take(saved.length), doutAt = mem.take(dout.length), carryAt = mem.take(S * NBd, 8);
  const dhRecAt = mem.take(NBd), dwxAt = mem.take(dwx.length), dRhAt = mem.take(N * T * B * G * d), dbAt = mem.take(db.length, 8);
  const buf = mem.commit();
  const hist = view(buf, t, savedAt, saved.length);
  hist.set(saved);
  view(buf, t, doutAt, dout.length).set(dout); // (doutView below)
  const carry = new Float64Array(buf, carryAt, S * NBd), dhRec = view(buf, t, dhRecAt, NBd), dRh = view(buf, t, dRhAt, N * T * B * G * d);
  const dbAcc = new Float64Array(buf, dbAt, db.length);
  dhRec.fill(0);
  dbAcc.fill(0);
  // the gradients of the last states start the carry
  for (let s = 0; s < S; s++) {
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        const src = ((T + s) * B + bb) * H + n * d, dst = s * NBd + (n * B + bb) * d;
        for (let j = 0; j < d; j++) carry[dst + j] = dout[src + j];
      }
    }
  }
  const stateStride = N * slots * B * d * es, gatesAt = savedAt + S * N * slots * B * d * es;
  const doutView = view(buf, t, doutAt, dout.length), dwxView = view(buf, t, dwxAt, dwx.length);
  for (let step = T - 1; step >= 0; step--) {
    for (let n = 0; n < N; n++) {
      for (let bb = 0; bb < B; bb++) {
        const k = (n * B + bb) * d;
        if (step >= lengthOf(lengths, bb, T)) { // padding is the identity on the states: no input, no R
          const o = (bb * T + step) * H + n * d;
          for (let j = 0; j < d; j++) carry[k + j] += doutView[o + j] + dhRec[k + j];
          for (let g = 0; g < G; g++) {
            const x = ((bb * T + step) * G * N + g * N + n) * d;
            dwxView.fill(0, x, x + d);
          }
          const q = ((n * T + step) * B + bb) * G * d;
          dRh.fill(0, q, q + G * d);
          continue;
        }
        row.backward(
          gatesAt + (((step * N + n) * B + bb) * Gs * d) * es, d * es,
          savedAt + (((n * slots + step) * B + bb) * d) * es, savedAt + (((n * slots + step + 1) * B + bb) * d) * es, stateStride,
          doutAt + ((bb * T + step) * H + n * d) * es, carryAt + k * 8, NBd * 8, dhRecAt + k * es,
          dwxAt + (((bb * T + step) * G * N + n) * d) * es, N * d * es,
          dRhAt + (((n * T + step) * B + bb) * G * d) * es, d * es, dbAt + n * d * 8, N * d * 8, d);
      }
    }
    // dh_{t−1} through R: dhRec[n] [B, d] = dRh_t[n] [B, G·d] · Rp[n] [G·d, d] (not needed after step 1 without dstate0)
    if (step > 0 || dstate0) gemm(dRh, rp, dhRec, N, B, d, G * d, false, false, step * B * G * d, T * B * G * d, 0, G * d * d);
  }
  if (dstate0) {
    for (let s = 0; s < S; s++) {
      for (let n = 0; n < N; n++) {
        for (let bb = 0; bb < B; bb++) {
          const dst = (s * B + bb) * H + n * d, k = (n * B + bb) * d;
          for (let j = 0; j < d; j++) dstate0[dst + j] = carry[s * NBd + k + j] + (s === 0 ? dhRec[k + j] : 0);
        }
      }
    }
  }
  dwx.set(dwxView);
  // dRp[n] [G·d, d] = Σ_{t,b} dRh[n, t, b]ᵀ h_{t−1}[n, b]: A = dRh[n] stored [T·B, G·d], B = hist slots 0..T−1
  const drp = like(r, r.length);
  gemm(dRh, hist, drp, N, G * d, d, T * B, true, false, 0, T * B * G * d, 0, slots * B * d);
  const dd = d * d;
  for (let g = 0; g < G; g++) for (let n = 0; n < N; n++) dr.set(drp.subarray((n * G + g) * dd, (n * G + g + 1) * dd), (g * N + n) * dd);
  for (let i = 0; i < db.length; i++) db[i] = dbAcc[i];
}
