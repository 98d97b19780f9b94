/**
 * The complex diagonal linear scan x_t = λ ⊙ x_{t−1} + u_t (the LRU's recurrence) and its
 * reverse-scan backward, with exactly the semantics of the CPU kernels in
 * src/backend/cpu/complex-scan.ts. Packed layout: u, x [outer, time, 2, C] (a re row then an im row
 * per step), λ [2, C], x0 [outer, 2, C].
 *
 * A thread scans one channel (o, c) over one chunk of P time chunks of length L: adjacent threads
 * read adjacent elements of a row (coalesced), and loads are issued CS_UNROLL steps ahead of the
 * dependent multiply-add chain. With P = 1 that is the whole sequence in one pass; with few
 * channels (B·N = 16k for B 64, N 256) that pass is latency-bound, so the host splits time into
 * P chunks (three passes: chunk end states from a zero start → a short sequential carry across
 * chunks with λ^L → the chunk scans again from the right start, now writing). Reading u twice
 * costs less than leaving most of the GPU idle. State and sums in f32 (f64 for f64) whatever the
 * storage dtype (f32, f64, bf16).
 *
 * Backward, with g = ∂L/∂Re + i ∂L/∂Im: G_t = dx_t + conj(λ) G_{t+1}; du_t = G_t;
 * dλ = Σ_{o,t} G_t conj(x_{t−1}) (per-thread sums into an f32 partial [outer·P, 2, C], then
 * complex_scan_dlambda sums the rows); dx0 = conj(λ) G_1. Chunked the same way, in reverse.
 */
import { PRELUDE } from './common.js';

export const COMPLEX_SCAN_SOURCE = PRELUDE + String.raw`
#define CS_UNROLL 16

// Thread → (o, p, c) with c fastest; false when past the end.
__device__ inline bool cs_index(i64 outer, i64 P, i64 C, i64& o, i64& p, i64& c) {
  const i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= outer * P * C) return false;
  c = k % C; p = (k / C) % P; o = k / (C * P);
  return true;
}

// Steps [t0, t1) of the channel at base from the state (pr, pi); writes x when out is set.
template <class T>
__device__ void cs_forward(const T* __restrict__ u, T* __restrict__ out, typename TT<T>::A lr, typename TT<T>::A li,
                           typename TT<T>::A& pr, typename TT<T>::A& pi, i64 base, i64 t0, i64 t1, i64 C) {
  typedef typename TT<T>::A A;
  for (i64 s0 = t0; s0 < t1; s0 += CS_UNROLL) {
    A br[CS_UNROLL], bi[CS_UNROLL];
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      if (s0 + k < t1) { const i64 e = base + (s0 + k) * 2 * C; br[k] = TT<T>::ld(u, e); bi[k] = TT<T>::ld(u, e + C); }
    }
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      if (s0 + k < t1) {
        const A xr = lr * pr - li * pi + br[k];
        const A xi = lr * pi + li * pr + bi[k];
        if (out) { const i64 e = base + (s0 + k) * 2 * C; TT<T>::st(out, e, xr); TT<T>::st(out, e + C, xi); }
        pr = xr; pi = xi;
      }
    }
  }
}

// Steps t1−1 … t0 of the reverse scan from the carry (cr, ci) = conj(λ) G_{t1}; with du set it
// writes du and adds Σ G_t conj(x_{t−1}) into (sr, si).
template <class T>
__device__ void cs_backward(const T* __restrict__ x, const T* __restrict__ x0, const T* __restrict__ dx, T* __restrict__ du,
                            typename TT<T>::A lr, typename TT<T>::A li, typename TT<T>::A& cr, typename TT<T>::A& ci,
                            typename TT<T>::A& sr, typename TT<T>::A& si, i64 base, i64 x0base, i64 t0, i64 t1, i64 C) {
  typedef typename TT<T>::A A;
  for (i64 s0 = t1 - 1; s0 >= t0; s0 -= CS_UNROLL) {
    A gr[CS_UNROLL], gi[CS_UNROLL], pr[CS_UNROLL], pi[CS_UNROLL];
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      const i64 t = s0 - k;
      if (t >= t0) {
        const i64 e = base + t * 2 * C;
        gr[k] = TT<T>::ld(dx, e); gi[k] = TT<T>::ld(dx, e + C);
        if (du) {
          if (t > 0) { pr[k] = TT<T>::ld(x, e - 2 * C); pi[k] = TT<T>::ld(x, e - C); }
          else if (x0) { pr[k] = TT<T>::ld(x0, x0base); pi[k] = TT<T>::ld(x0, x0base + C); }
          else { pr[k] = 0; pi[k] = 0; }
        }
      }
    }
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      const i64 t = s0 - k;
      if (t >= t0) {
        const A Gr = gr[k] + cr, Gi = gi[k] + ci;
        if (du) {
          const i64 e = base + t * 2 * C;
          TT<T>::st(du, e, Gr); TT<T>::st(du, e + C, Gi);
          sr += Gr * pr[k] + Gi * pi[k];
          si += Gi * pr[k] - Gr * pi[k];
        }
        cr = lr * Gr + li * Gi;
        ci = lr * Gi - li * Gr;
      }
    }
  }
}

// (ar, ai)^n by squaring.
template <class A>
__device__ void cs_pow(A ar, A ai, i64 n, A& rr, A& ri) {
  rr = 1; ri = 0;
  while (n > 0) {
    if (n & 1) { const A t = rr * ar - ri * ai; ri = rr * ai + ri * ar; rr = t; }
    const A t = ar * ar - ai * ai; ai = 2 * ar * ai; ar = t;
    n >>= 1;
  }
}

// Forward pass 1: each chunk's end state from a zero start → ends [outer, P, 2, C].
template <class T>
__device__ void cs_ends(const T* lam, const T* u, typename TT<T>::A* ends, i64 outer, i64 time, i64 C, i64 P, i64 L) {
  typedef typename TT<T>::A A;
  i64 o, p, c;
  if (!cs_index(outer, P, C, o, p, c)) return;
  A pr = 0, pi = 0;
  const i64 t0 = p * L, t1 = t0 + L < time ? t0 + L : time;
  cs_forward<T>(u, (T*)0, TT<T>::ld(lam, c), TT<T>::ld(lam, C + c), pr, pi, o * time * 2 * C + c, t0, t1, C);
  const i64 k = (o * P + p) * 2 * C + c;
  ends[k] = pr; ends[k + C] = pi;
}

// Pass 2: ends[o, p] ← what enters chunk p, one thread per (o, c). Forward: the state after the
// chunks before it (x0 for p = 0), carried across a chunk by λ^L. Backward: the carry from the
// chunks after it (0 for the last), carried by conj(λ)^L. Every chunk but the last has length L.
template <class T>
__device__ void cs_carry(const T* lam, const T* x0, typename TT<T>::A* ends, i64 outer, i64 C, i64 P, i64 L, bool backward) {
  typedef typename TT<T>::A A;
  const i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= outer * C) return;
  const i64 o = k / C, c = k % C;
  const A im = TT<T>::ld(lam, C + c);
  A lr, li;
  cs_pow<A>(TT<T>::ld(lam, c), backward ? -im : im, L, lr, li);
  A sr = x0 ? TT<T>::ld(x0, o * 2 * C + c) : A(0), si = x0 ? TT<T>::ld(x0, o * 2 * C + C + c) : A(0);
  for (i64 j = 0; j < P; j++) {
    const i64 e = (o * P + (backward ? P - 1 - j : j)) * 2 * C + c;
    const A er = ends[e], ei = ends[e + C];
    ends[e] = sr; ends[e + C] = si;
    const A nr = lr * sr - li * si + er, ni = lr * si + li * sr + ei;
    sr = nr; si = ni;
  }
}

// Pass 3 (or the only pass with P = 1): the chunk from its true start, writing x.
template <class T>
__device__ void cs_scan(const T* lam, const T* u, const T* x0, const typename TT<T>::A* carry, T* out, i64 outer, i64 time, i64 C, i64 P, i64 L) {
  typedef typename TT<T>::A A;
  i64 o, p, c;
  if (!cs_index(outer, P, C, o, p, c)) return;
  A pr, pi;
  if (carry) { const i64 k = (o * P + p) * 2 * C + c; pr = carry[k]; pi = carry[k + C]; }
  else { pr = x0 ? TT<T>::ld(x0, o * 2 * C + c) : A(0); pi = x0 ? TT<T>::ld(x0, o * 2 * C + C + c) : A(0); }
  const i64 t0 = p * L, t1 = t0 + L < time ? t0 + L : time;
  cs_forward<T>(u, out, TT<T>::ld(lam, c), TT<T>::ld(lam, C + c), pr, pi, o * time * 2 * C + c, t0, t1, C);
}

// Backward pass 1: each chunk's outgoing carry conj(λ) G_{t0} from a zero carry → ends.
template <class T>
__device__ void cs_grad_ends(const T* lam, const T* dx, typename TT<T>::A* ends, i64 outer, i64 time, i64 C, i64 P, i64 L) {
  typedef typename TT<T>::A A;
  i64 o, p, c;
  if (!cs_index(outer, P, C, o, p, c)) return;
  A cr = 0, ci = 0, sr = 0, si = 0;
  const i64 t0 = p * L, t1 = t0 + L < time ? t0 + L : time;
  cs_backward<T>((const T*)0, (const T*)0, dx, (T*)0, TT<T>::ld(lam, c), TT<T>::ld(lam, C + c), cr, ci, sr, si, o * time * 2 * C + c, 0, t0, t1, C);
  const i64 k = (o * P + p) * 2 * C + c;
  ends[k] = cr; ends[k + C] = ci;
}

// Pass 3 (or the only pass): du, the dλ partial of the chunk, and dx0 from chunk 0.
template <class T>
__device__ void cs_grad(const T* lam, const T* x, const T* x0, const T* dx, T* du, typename TT<T>::A* partial, T* dx0,
                        const typename TT<T>::A* carry, i64 outer, i64 time, i64 C, i64 P, i64 L) {
  typedef typename TT<T>::A A;
  i64 o, p, c;
  if (!cs_index(outer, P, C, o, p, c)) return;
  const i64 k = (o * P + p) * 2 * C + c;
  A cr = carry ? carry[k] : A(0), ci = carry ? carry[k + C] : A(0), sr = 0, si = 0;
  const i64 t0 = p * L, t1 = t0 + L < time ? t0 + L : time;
  cs_backward<T>(x, x0, dx, du, TT<T>::ld(lam, c), TT<T>::ld(lam, C + c), cr, ci, sr, si, o * time * 2 * C + c, o * 2 * C + c, t0, t1, C);
  partial[k] = sr; partial[k + C] = si;
  if (dx0 && p == 0) { TT<T>::st(dx0, o * 2 * C + c, cr); TT<T>::st(dx0, o * 2 * C + C + c, ci); }
}

// dλ[j] = Σ_r partial[r, j] over the rows r < rows, j < 2C.
template <class T>
__device__ void cs_dlambda(const typename TT<T>::A* __restrict__ partial, T* __restrict__ dlam, i64 rows, i64 C2) {
  typedef typename TT<T>::A A;
  const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= C2) return;
  A s = 0;
  for (i64 r = 0; r < rows; r++) s += partial[r * C2 + j];
  TT<T>::st(dlam, j, s);
}

#define DEF_CSCAN(S, T) \
  extern "C" __global__ void complex_scan_ends_##S(const T* lam, const T* u, TT<T>::A* ends, i64 outer, i64 time, i64 C, i64 P, i64 L) \
    { cs_ends<T>(lam, u, ends, outer, time, C, P, L); } \
  extern "C" __global__ void complex_scan_carry_##S(const T* lam, const T* x0, TT<T>::A* ends, i64 outer, i64 C, i64 P, i64 L) \
    { cs_carry<T>(lam, x0, ends, outer, C, P, L, false); } \
  extern "C" __global__ void complex_scan_##S(const T* lam, const T* u, const T* x0, const TT<T>::A* carry, T* out, i64 outer, i64 time, i64 C, i64 P, i64 L) \
    { cs_scan<T>(lam, u, x0, carry, out, outer, time, C, P, L); } \
  extern "C" __global__ void complex_scan_grad_ends_##S(const T* lam, const T* dx, TT<T>::A* ends, i64 outer, i64 time, i64 C, i64 P, i64 L) \
    { cs_grad_ends<T>(lam, dx, ends, outer, time, C, P, L); } \
  extern "C" __global__ void complex_scan_grad_carry_##S(const T* lam, TT<T>::A* ends, i64 outer, i64 C, i64 P, i64 L) \
    { cs_carry<T>(lam, (const T*)0, ends, outer, C, P, L, true); } \
  extern "C" __global__ void complex_scan_grad_##S(const T* lam, const T* x, const T* x0, const T* dx, T* du, TT<T>::A* partial, T* dx0, const TT<T>::A* carry, i64 outer, i64 time, i64 C, i64 P, i64 L) \
    { cs_grad<T>(lam, x, x0, dx, du, partial, dx0, carry, outer, time, C, P, L); } \
  extern "C" __global__ void complex_scan_dlambda_##S(const TT<T>::A* partial, T* dlam, i64 rows, i64 C2) \
    { cs_dlambda<T>(partial, dlam, rows, C2); }
FOR_FLOAT(DEF_CSCAN)
`;
