/**
 * Fused normalisation over the last axis of [rows, cols] (RMSNorm and LayerNorm, optionally with
 * the residual add before it), forward and backward; the composite ops of src/tensor/fused.ts are
 * the reference.
 *
 * One warp per row. When the row fits (cols ≤ 32·V, V ∈ {4, 8, 16, 32}), each lane keeps its
 * columns c = lane + 32k in registers: the forward reads x (and the residual) once and writes y
 * (and the sum) once; the backward reads s and dy once and writes dx once, recomputing the row's
 * mean and 1/rms from s instead of storing them. Statistics are computed in f32 (f64 for f64) with
 * the variance from the registers (two-pass, no cancellation). Wider rows (V = 0) loop over
 * global memory, where the row stays in L1/L2 between passes.
 *
 * The weight and bias gradients are column sums over all rows: each block accumulates its warps'
 * per-lane sums in shared memory and writes one partial row [block, cols] (f32/f64); the host
 * reduces the partials over blocks into the gradient's dtype.
 */
import { PRELUDE } from './common.js';

/** Register-cached widths: the smallest V with cols ≤ 32·V, or 0 (loop over memory). */
export function normVec(cols: number): number {
  for (const v of [4, 8, 16, 32]) if (cols <= 32 * v) return v;
  return 0;
}

export const NORM_SOURCE = PRELUDE + String.raw`
/** v as storing it in T rounds it (identity for float and double). */
template <class T, class A> __device__ __forceinline__ A rnd(A v) { T t[1]; TT<T>::st(t, 0, v); return TT<T>::ld(t, 0); }

#define WARP_ROWS(r, rows) \
  int lane = threadIdx.x & 31; (void)lane; \
  for (i64 r = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < (rows); r += ((i64)blockDim.x * gridDim.x) >> 5)

/**
 * s = x (+ res, stored to sum); y = (s − μ)·rstd·w (+ b); μ = mean(s) when centered else 0,
 * rstd = 1/√(mean((s − μ)²) + eps).
 */
template <class T, int V> __device__ void norm_fwd_body(int centered, const T* x, const T* res, T* sum, const T* w, const T* b,
                                                        T* y, i64 rows, i64 cols, double epsd) {
  typedef typename TT<T>::A A;
  const A eps = (A)epsd, inv = A(1) / (A)cols;
  WARP_ROWS(r, rows) {
    const i64 base = r * cols;
    A mean = 0, rstd;
    if (V > 0) {
      A v[V > 0 ? V : 1];
      A s1 = 0;
#pragma unroll
      for (int k = 0; k < V; k++) {
        const i64 c = lane + 32 * k;
        A t = 0;
        if (c < cols) {
          t = TT<T>::ld(x, base + c);
          if (res) { t = rnd<T>(t + TT<T>::ld(res, base + c)); TT<T>::st(sum, base + c, t); }
        }
        v[k] = t;
        s1 += t;
      }
      if (centered) mean = warpSum(s1) * inv;
      A s2 = 0;
#pragma unroll
      for (int k = 0; k < V; k++) if (lane + 32 * k < cols) { A d = v[k] - mean; s2 += d * d; }
      rstd = A(1) / xsqrt(warpSum(s2) * inv + eps);
#pragma unroll
      for (int k = 0; k < V; k++) {
        const i64 c = lane + 32 * k;
        if (c < cols) {
          A o = (v[k] - mean) * rstd * TT<T>::ld(w, c);
          if (b) o += TT<T>::ld(b, c);
          TT<T>::st(y, base + c, o);
        }
      }
    } else {
      const T* s = res ? sum : x;
      A s1 = 0;
      for (i64 c = lane; c < cols; c += 32) {
        A t = TT<T>::ld(x, base + c);
        if (res) { t = rnd<T>(t + TT<T>::ld(res, base + c)); TT<T>::st(sum, base + c, t); }
        s1 += t;
      }
      __syncwarp();
      if (centered) mean = warpSum(s1) * inv;
      A s2 = 0;
      for (i64 c = lane; c < cols; c += 32) { A d = TT<T>::ld(s, base + c) - mean; s2 += d * d; }
      rstd = A(1) / xsqrt(warpSum(s2) * inv + eps);
      for (i64 c = lane; c < cols; c += 32) {
        A o = (TT<T>::ld(s, base + c) - mean) * rstd * TT<T>::ld(w, c);
        if (b) o += TT<T>::ld(b, c);
        TT<T>::st(y, base + c, o);
      }
    }
  }
}

/**
 * Given s (the normalised input) and dy: dx = rstd·(g − mean(g)·[centered] − x̂·mean(g·x̂)), g = dy·w,
 * x̂ = (s − μ)·rstd; the block's Σ dy·x̂ and Σ dy per column into pw/pb [gridDim.x, cols] (pb may
 * be null). V = 0: pw/pb must be zero on entry (global atomics).
 */
template <class T, int V> __device__ void norm_bwd_body(int centered, const T* s, const T* w, const T* dy, T* dx,
                                                        typename TT<T>::A* pw, typename TT<T>::A* pb, i64 rows, i64 cols, double epsd) {
  typedef typename TT<T>::A A;
  const A eps = (A)epsd, inv = A(1) / (A)cols;
  __shared__ A shw[V > 0 ? 32 * V : 1], shb[V > 0 ? 32 * V : 1];
  if (V > 0) {
    for (int c = threadIdx.x; c < 32 * V; c += blockDim.x) { shw[c] = 0; shb[c] = 0; }
    __syncthreads();
  }
  A aw[V > 0 ? V : 1], ab[V > 0 ? V : 1];
#pragma unroll
  for (int k = 0; k < (V > 0 ? V : 1); k++) { aw[k] = 0; ab[k] = 0; }
  WARP_ROWS(r, rows) {
    const i64 base = r * cols;
    A mean = 0, rstd;
    if (V > 0) {
      A v[V > 0 ? V : 1], gy[V > 0 ? V : 1];
      A s1 = 0;
#pragma unroll
      for (int k = 0; k < V; k++) {
        const i64 c = lane + 32 * k;
        v[k] = c < cols ? TT<T>::ld(s, base + c) : A(0);
        gy[k] = c < cols ? TT<T>::ld(dy, base + c) : A(0);
        s1 += v[k];
      }
      if (centered) mean = warpSum(s1) * inv;
      A s2 = 0;
#pragma unroll
      for (int k = 0; k < V; k++) if (lane + 32 * k < cols) { A d = v[k] - mean; s2 += d * d; }
      rstd = A(1) / xsqrt(warpSum(s2) * inv + eps);
      A sg = 0, sgx = 0;
#pragma unroll
      for (int k = 0; k < V; k++) {
        const i64 c = lane + 32 * k;
        if (c < cols) {
          const A xh = (v[k] - mean) * rstd, g = gy[k] * TT<T>::ld(w, c);
          v[k] = xh;
          sg += g;
          sgx += g * xh;
          aw[k] += gy[k] * xh;
          ab[k] += gy[k];
        }
      }
      const A mg = centered ? warpSum(sg) * inv : A(0), mgx = warpSum(sgx) * inv;
#pragma unroll
      for (int k = 0; k < V; k++) {
        const i64 c = lane + 32 * k;
        if (c < cols) TT<T>::st(dx, base + c, rstd * (gy[k] * TT<T>::ld(w, c) - mg - v[k] * mgx));
      }
    } else {
      A s1 = 0;
      for (i64 c = lane; c < cols; c += 32) s1 += TT<T>::ld(s, base + c);
      if (centered) mean = warpSum(s1) * inv;
      A s2 = 0;
      for (i64 c = lane; c < cols; c += 32) { A d = TT<T>::ld(s, base + c) - mean; s2 += d * d; }
      rstd = A(1) / xsqrt(warpSum(s2) * inv + eps);
      A sg = 0, sgx = 0;
      for (i64 c = lane; c < cols; c += 32) {
        const A xh = (TT<T>::ld(s, base + c) - mean) * rstd, d = TT<T>::ld(dy, base + c), g = d * TT<T>::ld(w, c);
        sg += g;
        sgx += g * xh;
        atomicAdd(pw + (i64)blockIdx.x * cols + c, d * xh);
        if (pb) atomicAdd(pb + (i64)blockIdx.x * cols + c, d);
      }
      const A mg = centered ? warpSum(sg) * inv : A(0), mgx = warpSum(sgx) * inv;
      for (i64 c = lane; c < cols; c += 32) {
        const A xh = (TT<T>::ld(s, base + c) - mean) * rstd;
        TT<T>::st(dx, base + c, rstd * (TT<T>::ld(dy, base + c) * TT<T>::ld(w, c) - mg - xh * mgx));
      }
    }
  }
  if (V > 0) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int k = 0; k < V; k++) {
      const int c = lane + 32 * k;
      if (c < cols) { atomicAdd(&shw[c], aw[k]); if (pb) atomicAdd(&shb[c], ab[k]); }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      pw[(i64)blockIdx.x * cols + c] = shw[c];
      if (pb) pb[(i64)blockIdx.x * cols + c] = shb[c];
    }
  }
}

#define DEF_NORM_V(S, T, V) \
  extern "C" __global__ void norm_fwd_##S##_v##V(int centered, const T* x, const T* res, T* sum, const T* w, const T* b, T* y, i64 rows, i64 cols, double eps) \
    { norm_fwd_body<T, V>(centered, x, res, sum, w, b, y, rows, cols, eps); } \
  extern "C" __global__ void norm_bwd_##S##_v##V(int centered, const T* s, const T* w, const T* dy, T* dx, TT<T>::A* pw, TT<T>::A* pb, i64 rows, i64 cols, double eps) \
    { norm_bwd_body<T, V>(centered, s, w, dy, dx, pw, pb, rows, cols, eps); }
#define DEF_NORM(S, T) DEF_NORM_V(S, T, 0) DEF_NORM_V(S, T, 4) DEF_NORM_V(S, T, 8) DEF_NORM_V(S, T, 16) DEF_NORM_V(S, T, 32)
FOR_FLOAT(DEF_NORM)
`;
