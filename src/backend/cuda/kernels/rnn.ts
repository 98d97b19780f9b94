/**
 * The non-linear recurrences (LSTM, GRU, Elman, sLSTM) on the GPU, "alternating" path: per time
 * step the host issues one strided-batched cuBLAS GEMM over the heads (rh = h_{t−1}·R_nᵀ, or in
 * the backward dh_{t−1} = dRh_t·R_n) and one of these pointwise kernels for all (head, batch, unit)
 * at once. The math and every layout mirror src/backend/cpu/rnn.ts (the reference; its file
 * comment has the layouts of hist, gates, rh, dRh and carry), expression for expression, in the
 * storage type's compute type (float for f32/bf16, double for f64). `carry` is in the compute type.
 *
 * One thread per element i of [N, B, d]: j = i mod d, b = (i / d) mod B, n = i / (B·d).
 * Sizes are kernel arguments.
 */
import { PRELUDE } from './common.js';

export const RNN_SOURCE = PRELUDE + String.raw`
template <class A> __device__ __forceinline__ A logsigm(A x) {
  return x >= 0 ? -xlog1p(xexp(-x)) : x - xlog1p(xexp(x));
}

#define RNN_IDX \
  const i64 j = i % d, bb = (i / d) % B, n = i / (B * d); \
  const i64 Nd = N * d; (void)Nd;

// ---------------------------------------------------------------------------------------- forward
// prev / next: hist slots read and written; t: the step (wx, out and gates index).

template <class T> __device__ void lstm_fwd(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates,
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 cs = N * slots * B * d;
    const i64 x = ((bb * Tn + t) * 4 * N + n) * d + j, q = (n * B + bb) * 4 * d + j;
    const i64 hp = ((n * slots + prev) * B + bb) * d + j, hn = ((n * slots + next) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 4 * d + j;
    const A ig = sigm(TT<T>::ld(wx, x) + TT<T>::ld(bias, n * d + j) + TT<T>::ld(rh, q));
    const A f = sigm(TT<T>::ld(wx, x + Nd) + TT<T>::ld(bias, (N + n) * d + j) + TT<T>::ld(rh, q + d));
    const A z = xtanh(TT<T>::ld(wx, x + 2 * Nd) + TT<T>::ld(bias, (2 * N + n) * d + j) + TT<T>::ld(rh, q + 2 * d));
    const A og = sigm(TT<T>::ld(wx, x + 3 * Nd) + TT<T>::ld(bias, (3 * N + n) * d + j) + TT<T>::ld(rh, q + 3 * d));
    const A cNew = f * TT<T>::ld(hist, cs + hp) + ig * z;
    const A h = og * xtanh(cNew);
    TT<T>::st(hist, hn, h);
    TT<T>::st(hist, cs + hn, cNew);
    TT<T>::st(out, o, h);
    if (gates) {
      TT<T>::st(gates, sv, ig); TT<T>::st(gates, sv + d, f); TT<T>::st(gates, sv + 2 * d, z); TT<T>::st(gates, sv + 3 * d, og);
    }
  }
}

template <class T> __device__ void gru_fwd(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates,
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 x = ((bb * Tn + t) * 3 * N + n) * d + j, q = (n * B + bb) * 3 * d + j;
    const i64 hp = ((n * slots + prev) * B + bb) * d + j, hn = ((n * slots + next) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 4 * d + j;
    const A r = sigm(TT<T>::ld(wx, x) + TT<T>::ld(bias, n * d + j) + TT<T>::ld(rh, q));
    const A z = sigm(TT<T>::ld(wx, x + Nd) + TT<T>::ld(bias, (N + n) * d + j) + TT<T>::ld(rh, q + d));
    const A hr = TT<T>::ld(rh, q + 2 * d) + TT<T>::ld(bias, (3 * N + n) * d + j);
    const A nv = xtanh(TT<T>::ld(wx, x + 2 * Nd) + TT<T>::ld(bias, (2 * N + n) * d + j) + r * hr);
    const A h = nv + z * (TT<T>::ld(hist, hp) - nv);
    TT<T>::st(hist, hn, h);
    TT<T>::st(out, o, h);
    if (gates) {
      TT<T>::st(gates, sv, r); TT<T>::st(gates, sv + d, z); TT<T>::st(gates, sv + 2 * d, nv); TT<T>::st(gates, sv + 3 * d, hr);
    }
  }
}

template <class T> __device__ void elman_fwd(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates,
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 x = ((bb * Tn + t) * N + n) * d + j, q = (n * B + bb) * d + j;
    const i64 hn = ((n * slots + next) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const A h = xtanh(TT<T>::ld(wx, x) + TT<T>::ld(bias, n * d + j) + TT<T>::ld(rh, q));
    TT<T>::st(hist, hn, h);
    TT<T>::st(out, o, h);
  }
}

template <class T> __device__ void slstm_fwd(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates,
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 ss = N * slots * B * d;
    const i64 x = ((bb * Tn + t) * 4 * N + n) * d + j, q = (n * B + bb) * 4 * d + j;
    const i64 hp = ((n * slots + prev) * B + bb) * d + j, hn = ((n * slots + next) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 6 * d + j;
    const A pi = TT<T>::ld(wx, x) + TT<T>::ld(bias, n * d + j) + TT<T>::ld(rh, q);
    const A pf = TT<T>::ld(wx, x + Nd) + TT<T>::ld(bias, (N + n) * d + j) + TT<T>::ld(rh, q + d);
    const A z = xtanh(TT<T>::ld(wx, x + 2 * Nd) + TT<T>::ld(bias, (2 * N + n) * d + j) + TT<T>::ld(rh, q + 2 * d));
    const A og = sigm(TT<T>::ld(wx, x + 3 * Nd) + TT<T>::ld(bias, (3 * N + n) * d + j) + TT<T>::ld(rh, q + 3 * d));
    const A cPrev = TT<T>::ld(hist, ss + hp), nPrev = TT<T>::ld(hist, 2 * ss + hp);
    const A a = logsigm(pf) + TT<T>::ld(hist, 3 * ss + hp);
    const bool branchI = nPrev == A(0) || pi >= a;
    const A m = branchI ? pi : a;
    const A ig = xexp(pi - m), f = xexp(a - m);
    const A cNew = f * cPrev + ig * z, nNew = f * nPrev + ig;
    const A h = og * (cNew / nNew);
    TT<T>::st(hist, hn, h);
    TT<T>::st(hist, ss + hn, cNew);
    TT<T>::st(hist, 2 * ss + hn, nNew);
    TT<T>::st(hist, 3 * ss + hn, m);
    TT<T>::st(out, o, h);
    if (gates) {
      TT<T>::st(gates, sv, ig); TT<T>::st(gates, sv + d, f); TT<T>::st(gates, sv + 2 * d, z); TT<T>::st(gates, sv + 3 * d, og);
      TT<T>::st(gates, sv + 4 * d, sigm(-pf)); TT<T>::st(gates, sv + 5 * d, branchI ? A(1) : A(0));
    }
  }
}

// --------------------------------------------------------------------------------------- backward
// hist slots t (before) and t + 1 (after); dRh [N, T, B, G·d]; carry [S, N, B, d] in A.

template <class T> __device__ void lstm_bwd(const T* hist, const T* gates, const T* dout, const T* dhRec,
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 cs = N * slots * B * d, NBd = N * B * d;
    const i64 x = ((bb * Tn + t) * 4 * N + n) * d + j, q = ((n * Tn + t) * B + bb) * 4 * d + j;
    const i64 hp = ((n * slots + t) * B + bb) * d + j, hn = ((n * slots + t + 1) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 4 * d + j;
    const i64 k = i;
    const A ig = TT<T>::ld(gates, sv), f = TT<T>::ld(gates, sv + d), z = TT<T>::ld(gates, sv + 2 * d), og = TT<T>::ld(gates, sv + 3 * d);
    const A dh = TT<T>::ld(dout, o) + carry[k] + TT<T>::ld(dhRec, k);
    const A tc = xtanh(TT<T>::ld(hist, cs + hn));
    const A dc = carry[NBd + k] + dh * og * (A(1) - tc * tc);
    const A di = dc * z * ig * (A(1) - ig);
    const A df = dc * TT<T>::ld(hist, cs + hp) * f * (A(1) - f);
    const A dz = dc * ig * (A(1) - z * z);
    const A dog = dh * tc * og * (A(1) - og);
    carry[k] = 0;
    carry[NBd + k] = dc * f;
    TT<T>::st(dwx, x, di); TT<T>::st(dRh, q, di);
    TT<T>::st(dwx, x + Nd, df); TT<T>::st(dRh, q + d, df);
    TT<T>::st(dwx, x + 2 * Nd, dz); TT<T>::st(dRh, q + 2 * d, dz);
    TT<T>::st(dwx, x + 3 * Nd, dog); TT<T>::st(dRh, q + 3 * d, dog);
  }
}

template <class T> __device__ void gru_bwd(const T* hist, const T* gates, const T* dout, const T* dhRec,
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 x = ((bb * Tn + t) * 3 * N + n) * d + j, q = ((n * Tn + t) * B + bb) * 3 * d + j;
    const i64 hp = ((n * slots + t) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 4 * d + j;
    const i64 k = i;
    const A r = TT<T>::ld(gates, sv), z = TT<T>::ld(gates, sv + d), nv = TT<T>::ld(gates, sv + 2 * d), hr = TT<T>::ld(gates, sv + 3 * d);
    const A dh = TT<T>::ld(dout, o) + carry[k] + TT<T>::ld(dhRec, k);
    const A dn = dh * (A(1) - z) * (A(1) - nv * nv);
    const A dr = dn * hr * r * (A(1) - r);
    const A dz = dh * (TT<T>::ld(hist, hp) - nv) * z * (A(1) - z);
    const A dhr = dn * r;
    carry[k] = dh * z;
    TT<T>::st(dwx, x, dr); TT<T>::st(dRh, q, dr);
    TT<T>::st(dwx, x + Nd, dz); TT<T>::st(dRh, q + d, dz);
    TT<T>::st(dwx, x + 2 * Nd, dn);
    TT<T>::st(dRh, q + 2 * d, dhr);
  }
}

template <class T> __device__ void elman_bwd(const T* hist, const T* gates, const T* dout, const T* dhRec,
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 x = ((bb * Tn + t) * N + n) * d + j, q = ((n * Tn + t) * B + bb) * d + j;
    const i64 hn = ((n * slots + t + 1) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 k = i;
    const A h = TT<T>::ld(hist, hn);
    const A dp = (TT<T>::ld(dout, o) + carry[k] + TT<T>::ld(dhRec, k)) * (A(1) - h * h);
    carry[k] = 0;
    TT<T>::st(dwx, x, dp); TT<T>::st(dRh, q, dp);
  }
}

template <class T> __device__ void slstm_bwd(const T* hist, const T* gates, const T* dout, const T* dhRec,
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, N * B * d) {
    RNN_IDX
    const i64 ss = N * slots * B * d, NBd = N * B * d;
    const i64 x = ((bb * Tn + t) * 4 * N + n) * d + j, q = ((n * Tn + t) * B + bb) * 4 * d + j;
    const i64 hp = ((n * slots + t) * B + bb) * d + j, hn = ((n * slots + t + 1) * B + bb) * d + j;
    const i64 o = (bb * Tn + t) * Nd + n * d + j;
    const i64 sv = gatesOff + ((t * N + n) * B + bb) * 6 * d + j;
    const i64 k = i;
    const A ig = TT<T>::ld(gates, sv), f = TT<T>::ld(gates, sv + d), z = TT<T>::ld(gates, sv + 2 * d), og = TT<T>::ld(gates, sv + 3 * d);
    const A qf = TT<T>::ld(gates, sv + 4 * d);
    const bool branchI = TT<T>::ld(gates, sv + 5 * d) != A(0);
    const A dh = TT<T>::ld(dout, o) + carry[k] + TT<T>::ld(dhRec, k);
    const A nNew = TT<T>::ld(hist, 2 * ss + hn);
    const A y = TT<T>::ld(hist, ss + hn) / nNew;
    const A dc = carry[NBd + k] + (dh * og) / nNew;
    const A dn = carry[2 * NBd + k] - (dh * og * y) / nNew;
    const A dog = dh * y * og * (A(1) - og);
    const A dz = dc * ig * (A(1) - z * z);
    const A dLogI = (dc * z + dn) * ig;
    const A dF = dc * TT<T>::ld(hist, ss + hp) + dn * TT<T>::ld(hist, 2 * ss + hp);
    const A dLogF = dF == A(0) ? A(0) : dF * f;
    const A dm = carry[3 * NBd + k] - dLogI - dLogF;
    const A di = branchI ? dLogI + dm : dLogI;
    const A da = branchI ? dLogF : dLogF + dm;
    const A df = da * qf;
    carry[k] = 0;
    carry[NBd + k] = dc * f;
    carry[2 * NBd + k] = dn * f;
    carry[3 * NBd + k] = da;
    TT<T>::st(dwx, x, di); TT<T>::st(dRh, q, di);
    TT<T>::st(dwx, x + Nd, df); TT<T>::st(dRh, q + d, df);
    TT<T>::st(dwx, x + 2 * Nd, dz); TT<T>::st(dRh, q + 2 * d, dz);
    TT<T>::st(dwx, x + 3 * Nd, dog); TT<T>::st(dRh, q + 3 * d, dog);
  }
}

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

#define RNN_CELL(cell, s, T) \
extern "C" __global__ void rnn_fwd_##cell##_##s(const T* wx, const T* bias, const T* rh, T* hist, T* out, T* gates, \
    i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 prev, i64 next, i64 gatesOff) { \
  cell##_fwd<T>(wx, bias, rh, hist, out, gates, B, Tn, N, d, slots, t, prev, next, gatesOff); } \
extern "C" __global__ void rnn_bwd_##cell##_##s(const T* hist, const T* gates, const T* dout, const T* dhRec, \
    typename TT<T>::A* carry, T* dwx, T* dRh, i64 B, i64 Tn, i64 N, i64 d, i64 slots, i64 t, i64 gatesOff) { \
  cell##_bwd<T>(hist, gates, dout, dhRec, carry, dwx, dRh, B, Tn, N, d, slots, t, gatesOff); }

#define RNN_TYPE(s, T) \
  RNN_CELL(lstm, s, T) RNN_CELL(gru, s, T) RNN_CELL(elman, s, T) RNN_CELL(slstm, s, T) \
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

FOR_FLOAT(RNN_TYPE)
`;
