/**
 * The complex diagonal linear scan x_t = λ ⊙ x_{t−1} + u_t (the LRU's recurrence) and its
 * reverse-scan backward, with exactly the semantics of the CPU kernels in
 * src/backend/cpu/complex-scan.ts. Packed layout: u, x [outer, time, 2, C] (a re row then an im row
 * per step), λ [2, C], x0 [outer, 2, C].
 *
 * One thread per channel (o, c) looping over time: adjacent threads read adjacent elements of a
 * row (coalesced). The chain through time is a dependent multiply-add, so loads are issued
 * CS_UNROLL steps ahead into registers: with only outer·C threads (16k for B 64, N 256) the kernel
 * is latency-bound unless each thread keeps many loads in flight. State and sums in f32 (f64 for
 * f64) whatever the storage dtype (f32, f64, bf16).
 *
 * Backward, with g = ∂L/∂Re + i ∂L/∂Im: G_t = dx_t + conj(λ) G_{t+1}; du_t = G_t;
 * dλ = Σ_{o,t} G_t conj(x_{t−1}) (per-thread sums over t into an f32 partial [outer, 2, C], then
 * complex_scan_dlambda sums over o); dx0 = conj(λ) G_1.
 */
import { PRELUDE } from './common.js';

export const COMPLEX_SCAN_SOURCE = PRELUDE + String.raw`
#define CS_UNROLL 16

template <class T>
__device__ void cscan_body(const T* __restrict__ lam, const T* __restrict__ u, const T* __restrict__ x0, T* __restrict__ out,
                           i64 outer, i64 time, i64 C) {
  typedef typename TT<T>::A A;
  const i64 ch = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= outer * C) return;
  const i64 o = ch / C, c = ch % C;
  const i64 base = o * time * 2 * C + c;
  const A lr = TT<T>::ld(lam, c), li = TT<T>::ld(lam, C + c);
  A pr = x0 ? TT<T>::ld(x0, o * 2 * C + c) : A(0), pi = x0 ? TT<T>::ld(x0, o * 2 * C + C + c) : A(0);
  for (i64 s0 = 0; s0 < time; s0 += CS_UNROLL) {
    A br[CS_UNROLL], bi[CS_UNROLL];
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      if (s0 + k < time) {
        const i64 e = base + (s0 + k) * 2 * C;
        br[k] = TT<T>::ld(u, e); bi[k] = TT<T>::ld(u, e + C);
      }
    }
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      if (s0 + k < time) {
        const i64 e = base + (s0 + k) * 2 * C;
        const A xr = lr * pr - li * pi + br[k];
        const A xi = lr * pi + li * pr + bi[k];
        TT<T>::st(out, e, xr);
        TT<T>::st(out, e + C, xi);
        pr = xr; pi = xi;
      }
    }
  }
}

template <class T>
__device__ void cscan_grad_body(const T* __restrict__ lam, const T* __restrict__ x, const T* __restrict__ x0,
                                const T* __restrict__ dx, T* __restrict__ du, typename TT<T>::A* __restrict__ partial,
                                T* __restrict__ dx0, i64 outer, i64 time, i64 C) {
  typedef typename TT<T>::A A;
  const i64 ch = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= outer * C) return;
  const i64 o = ch / C, c = ch % C;
  const i64 base = o * time * 2 * C + c;
  const A lr = TT<T>::ld(lam, c), li = TT<T>::ld(lam, C + c);
  const A ir = x0 ? TT<T>::ld(x0, o * 2 * C + c) : A(0), ii = x0 ? TT<T>::ld(x0, o * 2 * C + C + c) : A(0);
  A cr = 0, ci = 0; // conj(λ) G_{t+1}
  A sr = 0, si = 0; // Σ_t G_t conj(x_{t−1})
  for (i64 s0 = time - 1; s0 >= 0; s0 -= CS_UNROLL) {
    A gr[CS_UNROLL], gi[CS_UNROLL], pr[CS_UNROLL], pi[CS_UNROLL];
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      const i64 t = s0 - k;
      if (t >= 0) {
        const i64 e = base + t * 2 * C;
        gr[k] = TT<T>::ld(dx, e); gi[k] = TT<T>::ld(dx, e + C);
        if (t > 0) { pr[k] = TT<T>::ld(x, e - 2 * C); pi[k] = TT<T>::ld(x, e - C); }
        else { pr[k] = ir; pi[k] = ii; }
      }
    }
    #pragma unroll
    for (int k = 0; k < CS_UNROLL; k++) {
      const i64 t = s0 - k;
      if (t >= 0) {
        const i64 e = base + t * 2 * C;
        const A Gr = gr[k] + cr, Gi = gi[k] + ci;
        TT<T>::st(du, e, Gr);
        TT<T>::st(du, e + C, Gi);
        sr += Gr * pr[k] + Gi * pi[k];
        si += Gi * pr[k] - Gr * pi[k];
        cr = lr * Gr + li * Gi;
        ci = lr * Gi - li * Gr;
      }
    }
  }
  partial[o * 2 * C + c] = sr;
  partial[o * 2 * C + C + c] = si;
  if (dx0) { TT<T>::st(dx0, o * 2 * C + c, cr); TT<T>::st(dx0, o * 2 * C + C + c, ci); }
}

// dλ[j] = Σ_o partial[o, j] for j < 2C.
template <class T>
__device__ void cscan_dlambda_body(const typename TT<T>::A* __restrict__ partial, T* __restrict__ dlam, i64 outer, i64 C2) {
  typedef typename TT<T>::A A;
  const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= C2) return;
  A s = 0;
  for (i64 o = 0; o < outer; o++) s += partial[o * C2 + j];
  TT<T>::st(dlam, j, s);
}

#define DEF_CSCAN(S, T) \
  extern "C" __global__ void __launch_bounds__(256) complex_scan_##S(const T* lam, const T* u, const T* x0, T* out, i64 outer, i64 time, i64 C) \
    { cscan_body<T>(lam, u, x0, out, outer, time, C); } \
  extern "C" __global__ void __launch_bounds__(256) complex_scan_grad_##S(const T* lam, const T* x, const T* x0, const T* dx, T* du, TT<T>::A* partial, T* dx0, i64 outer, i64 time, i64 C) \
    { cscan_grad_body<T>(lam, x, x0, dx, du, partial, dx0, outer, time, C); } \
  extern "C" __global__ void __launch_bounds__(256) complex_scan_dlambda_##S(const TT<T>::A* partial, T* dlam, i64 outer, i64 C2) \
    { cscan_dlambda_body<T>(partial, dlam, outer, C2); }
FOR_FLOAT(DEF_CSCAN)
`;
