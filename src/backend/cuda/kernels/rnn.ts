/**
 * The non-linear recurrences on the GPU, "alternating" path: per time step the host issues one
 * strided-batched cuBLAS GEMM over the heads (rh = h_{t−1}·R_nᵀ, or in the backward
 * dh_{t−1} = dRh_t·R_n) and one of these pointwise kernels for all (head, batch, unit) at once.
 * The cell's math is rendered from its definition (../render.ts) in the storage type's compute
 * type (float for f32/bf16, double for f64) with the prelude's precise functions; the layouts are
 * the cell contract's (src/backend/pointwise/rnn-cell.ts): wx [B, T, G, N, d], bias [GB, N, d],
 * hist [S, N, slots, B, d] then gates [T, N, B, GS, d], rh [N, B, G·d], dRh [N, T, B, G·d],
 * carry [S, N, B, d] in the compute type.
 *
 * One thread per element i of [N, B, d]: j = i mod d, b = (i / d) mod B, n = i / (B·d).
 * Sizes are kernel arguments.
 */
import type { RnnCellDef } from '../../pointwise/rnn-cell.js';
import { CELL_MATH, renderRnnCell } from '../render.js';
import { PRELUDE } from './common.js';

/** The alternating path's module for one cell: its rendered math, the loops, the helper kernels. */
export function rnnSource(cell: RnnCellDef): string {
  return PRELUDE + CELL_MATH + renderRnnCell(cell) + RNN_LOOPS;
}

const RNN_LOOPS = String.raw`
#define RNN_IDX \
  const i64 j = i % d, bb = (i / d) % B, n = i / (B * d); \
  const i64 Nd = N * d;

// ---------------------------------------------------------------------------------------- forward
// prev / next: hist slots read and written; t: the step (wx, out and gates index).

template <class T> __device__ void rnn_fwd(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates,
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) {
  typedef typename TT<T>::A A;
  typedef Cell L;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 ss = N * slots * B * d;
    const i64 x0 = ((bb * Tn + t) * L::G * N + n) * d + j, q = (n * B + bb) * L::G * d + j;
    const i64 hp = ((n * slots + prev) * B + bb) * d + j, hn = ((n * slots + next) * B + bb) * d + j;
    const i64 sv0 = gatesOff + ((t * N + n) * B + bb) * L::GS * d + j;
    A x[L::GB], r[L::G], st[L::S], sv[L::GS > 0 ? L::GS : 1];
    #pragma unroll
    for (int g = 0; g < L::GB; g++) {
      x[g] = g < L::G ? TT<T>::ld(wx, x0 + g * Nd) + TT<T>::ld(bias, (g * N + n) * d + j) : TT<T>::ld(bias, (g * N + n) * d + j);
      if (g < L::G) r[g] = TT<T>::ld(rh, q + g * d);
    }
    #pragma unroll
    for (int s = 0; s < L::S; s++) st[s] = TT<T>::ld(hist, s * ss + hp);
    cellFwd<A, PreciseMath<A> >(x, r, st, sv);
    #pragma unroll
    for (int s = 0; s < L::S; s++) TT<T>::st(hist, s * ss + hn, st[s]);
    TT<T>::st(out, (bb * Tn + t) * Nd + n * d + j, st[0]);
    if (gates) {
      #pragma unroll
      for (int g = 0; g < L::GS; g++) TT<T>::st(gates, sv0 + g * d, sv[g]);
    }
  }
}

// --------------------------------------------------------------------------------------- backward
// hist slots t (before) and t + 1 (after), slots = T + 1; dRh [N, T, B, G·d]; carry [S, N, B, d] in A.

template <class T> __device__ void rnn_bwd(const T* hist, const T* gates, const T* dout, const T* dhRec,
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) {
  typedef typename TT<T>::A A;
  typedef Cell L;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 NBd = N * B * d;
    const i64 x0 = ((bb * Tn + t) * L::G * N + n) * d + j, q = ((n * Tn + t) * B + bb) * L::G * d + j;
    A pv[L::PV], cr[L::S], dw[L::G], dr[L::G];
    loadBwd<T, A>(hist, dout, pv, t, bb, (int)n, (int)j, B, Tn, N, (int)d);
    #pragma unroll
    for (int s = 0; s < L::S; s++) cr[s] = carry[s * NBd + i];
    cellBwd<A, PreciseMath<A> >(pv, TT<T>::ld(dhRec, i), cr, dw, dr);
    #pragma unroll
    for (int s = 0; s < L::S; s++) carry[s * NBd + i] = cr[s];
    #pragma unroll
    for (int g = 0; g < L::G; g++) { TT<T>::st(dwx, x0 + g * Nd, dw[g]); TT<T>::st(dRh, q + g * d, dr[g]); }
  }
}

#define RNN_TYPE(s, T) \
extern "C" __global__ void rnn_fwd_##s(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates, \
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) { \
  rnn_fwd<T>(wx, bias, rh, hist, out, gates, B, Tn, N, d, slots, t, prev, next, gatesOff); } \
extern "C" __global__ void rnn_bwd_##s(const T* hist, const T* gates, const T* dout, const T* dhRec, \
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) { \
  rnn_bwd<T>(hist, gates, dout, dhRec, carry, dwx, dRh, B, Tn, N, d, slots, t, gatesOff); }

FOR_FLOAT(RNN_TYPE)
`;

/** The cell-independent kernels of every RNN path: R's layout change, the state history's ends, dstate0. */
export const RNN_HELPERS_SOURCE = PRELUDE + String.raw`
// ---------------------------------------------------------------------------------------- helpers

/** r [G, N, d, d] ↔ Rp [N, G·d, d] (toHeadMajor 1: r → rp; 0: rp → r). */
template <class T> __device__ void rnn_permute_r(const T* src, T* dst, i64 G, i64 N, i64 d, int toHeadMajor) {
  const i64 dd = d * d;
  GRID_LOOP(i, G * N * dd) {
    const i64 e = i % dd, gn = i / dd, g = gn / N, n = gn % N;
    const i64 rp = (n * G + g) * dd + e;
    if (toHeadMajor) dst[rp] = src[i]; else dst[i] = src[rp];
  }
}

/** hist slot 0 ← state0 [S, B, N·d] (zeros when null). */
template <class T> __device__ void rnn_init_hist(const T* state0, T* hist, i64 S, i64 B, i64 N, i64 d, i64 slots) {
  GRID_LOOP(i, S * N * B * d) {
    const i64 j = i % d, bb = (i / d) % B, n = (i / (B * d)) % N, s = i / (N * B * d);
    T v;
    if (state0) v = state0[(s * B + bb) * N * d + n * d + j]; else TT<T>::st(&v, 0, 0);
    hist[(((s * N + n) * slots) * B + bb) * d + j] = v;
  }
}

/** out's tail [S, B, N·d] ← hist slot last. */
template <class T> __device__ void rnn_last_states(const T* hist, T* out, i64 S, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 last) {
  GRID_LOOP(i, S * N * B * d) {
    const i64 j = i % d, bb = (i / d) % B, n = (i / (B * d)) % N, s = i / (N * B * d);
    out[((Tn + s) * B + bb) * N * d + n * d + j] = hist[(((s * N + n) * slots + last) * B + bb) * d + j];
  }
}

/** carry [S, N, B, d] ← dout's tail [S, B, N·d]. */
template <class T> __device__ void rnn_init_carry(const T* dout, typename TT<T>::A* carry, i64 S, i64 B, i64 Tn, i64 N, i64 d) {
  GRID_LOOP(i, S * N * B * d) {
    const i64 j = i % d, bb = (i / d) % B, n = (i / (B * d)) % N, s = i / (N * B * d);
    carry[i] = TT<T>::ld(dout, ((Tn + s) * B + bb) * N * d + n * d + j);
  }
}

/** dstate0 [S, B, N·d] ← carry (+ dhRec for h). */
template <class T> __device__ void rnn_dstate0(const typename TT<T>::A* carry, const T* dhRec, T* dstate0, i64 S, i64 B, i64 N, i64 d) {
  GRID_LOOP(i, S * N * B * d) {
    const i64 j = i % d, bb = (i / d) % B, n = (i / (B * d)) % N, s = i / (N * B * d);
    typename TT<T>::A v = carry[i];
    if (s == 0) v += TT<T>::ld(dhRec, i);
    TT<T>::st(dstate0, (s * B + bb) * N * d + n * d + j, v);
  }
}


#define RNN_HELPERS_TYPE(s, T) \
extern "C" __global__ void rnn_permute_r_##s(const T* src, T* dst, i64 G, i64 N, i64 d, int toHeadMajor) { \
  rnn_permute_r<T>(src, dst, G, N, d, toHeadMajor); } \
extern "C" __global__ void rnn_init_hist_##s(const T* state0, T* hist, i64 S, i64 B, i64 N, i64 d, i64 slots) { \
  rnn_init_hist<T>(state0, hist, S, B, N, d, slots); } \
extern "C" __global__ void rnn_last_states_##s(const T* hist, T* out, i64 S, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 last) { \
  rnn_last_states<T>(hist, out, S, B, Tn, N, d, slots, last); } \
extern "C" __global__ void rnn_init_carry_##s(const T* dout, typename TT<T>::A* carry, i64 S, i64 B, i64 Tn, i64 N, i64 d) { \
  rnn_init_carry<T>(dout, carry, S, B, Tn, N, d); } \
extern "C" __global__ void rnn_dstate0_##s(const typename TT<T>::A* carry, const T* dhRec, T* dstate0, i64 S, i64 B, i64 N, i64 d) { \
  rnn_dstate0<T>(carry, dhRec, dstate0, S, B, N, d); }

FOR_FLOAT(RNN_HELPERS_TYPE)
`;
