/**
 * The complex first-order linear scan x_t = λ_t ⊙ x_{t−1} + u_t (the LRU's recurrence) and its
 * reverse-scan backward, with exactly the semantics of the CPU kernels in
 * src/backend/cpu/complex-scan.ts: complex numbers as separate real/imaginary arrays, element
 * (o, t, i) of an (outer, size, inner) tensor at (o·size + t)·inner + i, `out` = x_re then x_im.
 *
 * One thread per channel c = o·inner + i looping over time: adjacent threads read adjacent
 * elements of a time row (coalesced across the inner axis). The state is kept in registers in
 * f32 (f64 for f64) whatever the storage dtype (f32, f64, bf16); loads are batched CS_UNROLL steps
 * ahead of the dependent chain. Sizes are kernel arguments.
 *
 * Backward, with g = ∂L/∂Re + i ∂L/∂Im: G_t = dx_t + conj(λ_{t+1}) G_{t+1}; du_t = G_t;
 * dλ_t = G_t conj(x_{t−1}); dx0 = conj(λ_1) G_1.
 */
import { PRELUDE } from './common.js';

export const COMPLEX_SCAN_SOURCE = PRELUDE + String.raw`
#define CS_UNROLL 4

template <class T>
__device__ void cscan_body(const T* __restrict__ lr, const T* __restrict__ li, const T* __restrict__ ur, const T* __restrict__ ui,
                           const T* __restrict__ x0r, const T* __restrict__ x0i, T* __restrict__ out, i64 outer, i64 size, i64 inner) {
  typedef typename TT<T>::A A;
  const i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const i64 o = c / inner, i = c % inner, n = outer * size * inner;
  const i64 base = o * size * inner + i;
  A pr = x0r ? TT<T>::ld(x0r, c) : A(0), pi = x0i ? TT<T>::ld(x0i, c) : A(0);
  for (i64 s0 = 0; s0 < size; s0 += CS_UNROLL) {
    A ar[CS_UNROLL], ai[CS_UNROLL], br[CS_UNROLL], bi[CS_UNROLL];
    #pragma unroll
    for (int u = 0; u < CS_UNROLL; u++) {
      if (s0 + u < size) {
        const i64 k = base + (s0 + u) * inner;
        ar[u] = TT<T>::ld(lr, k); ai[u] = TT<T>::ld(li, k); br[u] = TT<T>::ld(ur, k); bi[u] = TT<T>::ld(ui, k);
      }
    }
    #pragma unroll
    for (int u = 0; u < CS_UNROLL; u++) {
      if (s0 + u < size) {
        const i64 k = base + (s0 + u) * inner;
        const A xr = ar[u] * pr - ai[u] * pi + br[u];
        const A xi = ar[u] * pi + ai[u] * pr + bi[u];
        TT<T>::st(out, k, xr);
        TT<T>::st(out, n + k, xi);
        pr = xr; pi = xi;
      }
    }
  }
}

template <class T>
__device__ void cscan_grad_body(const T* __restrict__ lr, const T* __restrict__ li, const T* __restrict__ x,
                                const T* __restrict__ x0r, const T* __restrict__ x0i, const T* __restrict__ dx,
                                T* __restrict__ dlr, T* __restrict__ dli, T* __restrict__ dur, T* __restrict__ dui,
                                T* __restrict__ dx0r, T* __restrict__ dx0i, i64 outer, i64 size, i64 inner) {
  typedef typename TT<T>::A A;
  const i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const i64 o = c / inner, i = c % inner, n = outer * size * inner;
  const i64 base = o * size * inner + i;
  const A ir = x0r ? TT<T>::ld(x0r, c) : A(0), ii = x0i ? TT<T>::ld(x0i, c) : A(0);
  A cr = 0, ci = 0; // conj(λ_{t+1}) G_{t+1}
  for (i64 s0 = size - 1; s0 >= 0; s0 -= CS_UNROLL) {
    A ar[CS_UNROLL], ai[CS_UNROLL], gr[CS_UNROLL], gi[CS_UNROLL], pr[CS_UNROLL], pi[CS_UNROLL];
    #pragma unroll
    for (int u = 0; u < CS_UNROLL; u++) {
      const i64 t = s0 - u;
      if (t >= 0) {
        const i64 k = base + t * inner;
        ar[u] = TT<T>::ld(lr, k); ai[u] = TT<T>::ld(li, k);
        gr[u] = TT<T>::ld(dx, k); gi[u] = TT<T>::ld(dx, n + k);
        if (t > 0) { pr[u] = TT<T>::ld(x, k - inner); pi[u] = TT<T>::ld(x, n + k - inner); }
        else { pr[u] = ir; pi[u] = ii; }
      }
    }
    #pragma unroll
    for (int u = 0; u < CS_UNROLL; u++) {
      const i64 t = s0 - u;
      if (t >= 0) {
        const i64 k = base + t * inner;
        const A Gr = gr[u] + cr, Gi = gi[u] + ci;
        TT<T>::st(dur, k, Gr);
        TT<T>::st(dui, k, Gi);
        TT<T>::st(dlr, k, Gr * pr[u] + Gi * pi[u]);
        TT<T>::st(dli, k, Gi * pr[u] - Gr * pi[u]);
        cr = ar[u] * Gr + ai[u] * Gi;
        ci = ar[u] * Gi - ai[u] * Gr;
      }
    }
  }
  if (dx0r) TT<T>::st(dx0r, c, cr);
  if (dx0i) TT<T>::st(dx0i, c, ci);
}

#define DEF_CSCAN(S, T) \
  extern "C" __global__ void __launch_bounds__(256) complex_scan_##S(const T* lr, const T* li, const T* ur, const T* ui, const T* x0r, const T* x0i, T* out, i64 outer, i64 size, i64 inner) \
    { cscan_body<T>(lr, li, ur, ui, x0r, x0i, out, outer, size, inner); } \
  extern "C" __global__ void __launch_bounds__(256) complex_scan_grad_##S(const T* lr, const T* li, const T* x, const T* x0r, const T* x0i, const T* dx, T* dlr, T* dli, T* dur, T* dui, T* dx0r, T* dx0i, i64 outer, i64 size, i64 inner) \
    { cscan_grad_body<T>(lr, li, x, x0r, x0i, dx, dlr, dli, dur, dui, dx0r, dx0i, outer, size, inner); }
FOR_FLOAT(DEF_CSCAN)
`;
