/**
 * The first-order linear recurrence h_t = a_t·h_{t−1} + b_t (real space) or
 * L_t = logaddexp(a_t + L_{t−1}, b_t) (log space) as a chunked parallel scan, and its reverse
 * scan for gradients; and the fused minGRU/minLSTM gate math + scan with its backward.
 *
 * Layout: element (o, t, i) of an (outer, size, inner) tensor at (o·size + t)·inner + i; a
 * channel c = o·inner + i is one independent sequence, one thread per (channel, time chunk).
 * Few passes:
 *  - phase 1 (only when the time axis is split into chunks): each chunk's aggregate, i.e. the
 *    affine map it applies to the carried state (∏a, local scan from 0; Σa and local log-scan
 *    from −∞ in log space; for the reverse scan ∏coef and the local carry from 0);
 *  - phase 2: each chunk folds the aggregates of the chunks before it (after it, in reverse)
 *    into its carry-in, then runs its steps and writes the outputs.
 * The number of chunks is chosen on the host so that channels × chunks fills the GPU; with
 * enough channels it is 1 and the scan is a single pass (each input read once, output written
 * once). Loads are batched UNROLL steps ahead of the dependent chain. State and aggregates are
 * kept in f32 (f64 for f64), whatever the storage dtype.
 *
 * Fused cells (proj = [B, T, C·D], the input projection, chunks in minGRU-pytorch's order):
 *  - minGRU (C = 2, hidden k_h, gate k_z): a = σ(−k_z), b = σ(k_z)·g(k_h);
 *  - minLSTM (C = 3, hidden k_h, k_f, k_i): d = softplus(−k_f) − softplus(−k_i), a = σ(−d), b = σ(d)·g(k_h);
 * computed in real space (exactly the log-space result, up to rounding: a ∈ (0, 1), b > 0). The
 * forward reads proj once and writes h once; the backward reads proj, h, dh once and writes
 * dproj once (plus the chunk aggregates' pass when the time axis is split).
 */
import { PRELUDE } from './common.js';

export const SCAN_SOURCE = PRELUDE + String.raw`
/** Steps loaded per batch: the fused kernels keep two batches of UNROLL/2 in flight, the generic scan one of UNROLL/2. */
#define UNROLL 8
#define GEN_UNROLL (UNROLL / 2)

/** Common thread geometry: channel c (x), chunk k (y), its time range [t0, t1). */
#define SCAN_GEOMETRY(channels, size, chunkLen) \
  i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x; \
  int k = blockIdx.y; \
  if (c >= (channels)) return; \
  i64 t0 = (i64)k * (chunkLen), t1 = min((i64)(size), t0 + (chunkLen));

template <class A, bool LOG> __device__ __forceinline__ A step_(A a, A h, A b) { return LOG ? logaddexp_(a + h, b) : a * h + b; }

// ------------------------------------------------------------------------------ generic scan

template <class T, bool LOG>
__device__ void scan_body(const T* __restrict__ a, double aConst, const T* __restrict__ b, const T* __restrict__ h0,
                          T* __restrict__ out, i64 outer, i64 size, i64 inner, int reverse, i64 chunkLen, int nChunks,
                          typename TT<T>::A* aggA, typename TT<T>::A* aggB, int phase) {
  typedef typename TT<T>::A A;
  const i64 channels = outer * inner;
  SCAN_GEOMETRY(channels, size, chunkLen)
  const i64 o = c / inner, i = c % inner;
  const i64 base = o * size * inner + i;
  const A idH = LOG ? -xinf<A>() : A(0);
  if (phase == 1) {
    if (k == nChunks - 1) return;
    A P = LOG ? A(0) : A(1), h = idH;
    for (i64 s = t0; s < t1; s++) {
      i64 t = reverse ? size - 1 - s : s;
      A av = a ? TT<T>::ld(a, base + t * inner) : (A)aConst;
      A bv = TT<T>::ld(b, base + t * inner);
      P = LOG ? P + av : P * av;
      h = step_<A, LOG>(av, h, bv);
    }
    aggA[(i64)k * channels + c] = P;
    aggB[(i64)k * channels + c] = h;
    return;
  }
  A h = h0 ? TT<T>::ld(h0, c) : idH;
  for (int j = 0; j < k; j++) h = step_<A, LOG>(aggA[(i64)j * channels + c], h, aggB[(i64)j * channels + c]);
  for (i64 s0 = t0; s0 < t1; s0 += GEN_UNROLL) {
    A av[GEN_UNROLL], bv[GEN_UNROLL];
    #pragma unroll
    for (int u = 0; u < GEN_UNROLL; u++) {
      i64 s = s0 + u;
      if (s < t1) {
        i64 t = reverse ? size - 1 - s : s;
        av[u] = a ? TT<T>::ld(a, base + t * inner) : (A)aConst;
        bv[u] = TT<T>::ld(b, base + t * inner);
      }
    }
    #pragma unroll
    for (int u = 0; u < GEN_UNROLL; u++) {
      i64 s = s0 + u;
      if (s < t1) {
        i64 t = reverse ? size - 1 - s : s;
        h = step_<A, LOG>(av[u], h, bv[u]);
        TT<T>::st(out, base + t * inner, h);
      }
    }
  }
}

/**
 * Gradients of the scan. With carry q (the gradient reaching h_t from h_{t+1}):
 * g_t = dh_t + q; real: da_t = g_t·h_{t−1}, db_t = g_t, q ← a_t·g_t;
 * log: w_t = e^{a_t + L_{t−1} − L_t} (0 where L_{t−1} or L_t is −∞), da_t = g_t·w_t,
 * db_t = g_t·e^{b_t − L_t} (0 where b_t or L_t is −∞), q ← w_t·g_t. dh0 = the final q.
 */
template <class T, bool LOG>
__device__ void scan_grad_body(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ h,
                               const T* __restrict__ h0, const T* __restrict__ dh, T* __restrict__ da, T* __restrict__ db,
                               T* __restrict__ dh0, i64 outer, i64 size, i64 inner, i64 chunkLen, int nChunks,
                               typename TT<T>::A* aggP, typename TT<T>::A* aggQ, int phase) {
  typedef typename TT<T>::A A;
  const i64 channels = outer * inner;
  SCAN_GEOMETRY(channels, size, chunkLen)
  const i64 o = c / inner, i = c % inner;
  const i64 base = o * size * inner + i;
  const A NEG_INF = -xinf<A>();
  const A init = h0 ? TT<T>::ld(h0, c) : (LOG ? NEG_INF : A(0));
  if (phase == 1 && k == 0) return;
  A q = 0, P = 1;
  if (phase == 2) {
    for (int j = nChunks - 1; j > k; j--) q = aggP[(i64)j * channels + c] * q + aggQ[(i64)j * channels + c];
  }
  A L = TT<T>::ld(h, base + (t1 - 1) * inner);
  for (i64 t = t1 - 1; t >= t0; t--) {
    const i64 at = base + t * inner;
    A av = TT<T>::ld(a, at);
    A prev = t > 0 ? TT<T>::ld(h, at - inner) : init;
    A g = TT<T>::ld(dh, at) + q;
    A coef;
    if (LOG) coef = (prev == NEG_INF || L == NEG_INF) ? A(0) : xexp(av + prev - L);
    else coef = av;
    if (phase == 2) {
      if (LOG) {
        A bv = TT<T>::ld(b, at);
        TT<T>::st(da, at, g * coef);
        TT<T>::st(db, at, (bv == NEG_INF || L == NEG_INF) ? A(0) : g * xexp(bv - L));
      } else {
        TT<T>::st(da, at, g * prev);
        TT<T>::st(db, at, g);
      }
    } else {
      P *= coef;
    }
    q = coef * g;
    L = prev;
  }
  if (phase == 1) {
    aggP[(i64)k * channels + c] = P;
    aggQ[(i64)k * channels + c] = q;
  } else if (k == 0 && dh0) {
    TT<T>::st(dh0, c, q);
  }
}

// --------------------------------------------------------------------------- fused minGRU / minLSTM
// Fast intrinsics for float (MUFU exp/log/reciprocal, ~1e-7 relative error); exact for double.
__device__ __forceinline__ float fexp(float x) { return __expf(x); }
__device__ __forceinline__ double fexp(double x) { return exp(x); }
__device__ __forceinline__ float flog(float x) { return __logf(x); }
__device__ __forceinline__ double flog(double x) { return log(x); }
__device__ __forceinline__ float frcp(float x) { return __fdividef(1.0f, x); }
__device__ __forceinline__ double frcp(double x) { return 1.0 / x; }

/** σ(x) and σ(−x) from one exponential. */
template <class A> __device__ __forceinline__ void sig2(A x, A& sp, A& sn) {
  A e = fexp(-xabs(x)), r = frcp(A(1) + e), hi = r, lo = e * r;
  sp = x >= 0 ? hi : lo;
  sn = x >= 0 ? lo : hi;
}
/** softplus(−x) and σ(−x) from one exponential. */
template <class A> __device__ __forceinline__ void spsig(A x, A& softplusNeg, A& sigNeg) {
  A e = fexp(-xabs(x)), onep = A(1) + e, r = frcp(onep);
  softplusNeg = (x < 0 ? -x : A(0)) + flog(onep);
  sigNeg = x >= 0 ? e * r : r;
}
/** g(x) (minGRU's positive activation) and g'(x). */
template <class A> __device__ __forceinline__ void gfun(A x, A& g, A& dg) {
  A e = fexp(-xabs(x)), r = frcp(A(1) + e), lo = e * r; // σ(x) for x < 0
  g = x >= 0 ? x + A(0.5) : lo;
  dg = x >= 0 ? A(1) : lo * r;
}

/** The recurrence coefficients a, b of one step from the projected inputs. */
template <class A, int KIND> __device__ __forceinline__ void gates(A kh, A k1, A k2, A& a, A& b) {
  A g, dg, p;
  gfun(kh, g, dg);
  if (KIND == 0) {
    sig2(k1, p, a);
  } else {
    A spf, spi, sf, si;
    spsig(k1, spf, sf);
    spsig(k2, spi, si);
    sig2(spf - spi, p, a);
  }
  b = p * g;
}

/** V adjacent elements at p (one 4/8/16-byte access for V = 2; p is V-aligned). */
template <class T, int V> struct Vec;
template <class T> struct Vec<T, 1> {
  typedef typename TT<T>::A A;
  static __device__ __forceinline__ void ld(const T* p, A* x) { x[0] = TT<T>::ld(p, 0); }
  static __device__ __forceinline__ void st(T* p, const A* x) { TT<T>::st(p, 0, x[0]); }
};
template <> struct Vec<float, 2> {
  static __device__ __forceinline__ void ld(const float* p, float* x) { float2 v = *reinterpret_cast<const float2*>(p); x[0] = v.x; x[1] = v.y; }
  static __device__ __forceinline__ void st(float* p, const float* x) { *reinterpret_cast<float2*>(p) = make_float2(x[0], x[1]); }
};
template <> struct Vec<double, 2> {
  static __device__ __forceinline__ void ld(const double* p, double* x) { double2 v = *reinterpret_cast<const double2*>(p); x[0] = v.x; x[1] = v.y; }
  static __device__ __forceinline__ void st(double* p, const double* x) { *reinterpret_cast<double2*>(p) = make_double2(x[0], x[1]); }
};
template <> struct Vec<bf16, 2> {
  static __device__ __forceinline__ void ld(const bf16* p, float* x) {
    unsigned int w = *reinterpret_cast<const unsigned int*>(p);
    x[0] = bf2f((unsigned short)(w & 0xffffu));
    x[1] = bf2f((unsigned short)(w >> 16));
  }
  static __device__ __forceinline__ void st(bf16* p, const float* x) {
    *reinterpret_cast<unsigned int*>(p) = (unsigned int)f2bf(x[0]) | ((unsigned int)f2bf(x[1]) << 16);
  }
};

/**
 * Loads U steps (from step s0, going by dir, inside [lo, hi)) of the projected input of V adjacent
 * channels: kh/k1/k2[u·V + v] (C = 2: k2 unused).
 */
template <class T, int C, int U, int V> __device__ __forceinline__ void loadProj(const T* p, i64 CD, i64 D, i64 s0, int dir, i64 lo, i64 hi,
    typename TT<T>::A* kh, typename TT<T>::A* k1, typename TT<T>::A* k2) {
  #pragma unroll
  for (int u = 0; u < U; u++) {
    i64 t = s0 + dir * u;
    if (t >= lo && t < hi) {
      const T* q = p + t * CD;
      Vec<T, V>::ld(q, kh + u * V);
      Vec<T, V>::ld(q + D, k1 + u * V);
      if (C == 3) Vec<T, V>::ld(q + 2 * D, k2 + u * V);
    }
  }
}

/** Thread geometry of the fused kernels: V adjacent channels c … c+V−1 (x), time chunk k (y). */
#define FUSED_GEOMETRY \
  const i64 channels = B * D, CD = C * D; \
  const i64 c = ((i64)blockIdx.x * blockDim.x + threadIdx.x) * V; \
  const int k = blockIdx.y; \
  if (c >= channels) return; \
  const i64 t0 = (i64)k * chunkLen, t1 = min(Tn, t0 + chunkLen); \
  const i64 bi = c / D, d = c % D;

template <class T, int KIND, int V>
__device__ void minrnn_fwd_body(const T* __restrict__ proj, const T* __restrict__ h0, T* __restrict__ out,
                                i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks,
                                typename TT<T>::A* aggA, typename TT<T>::A* aggB, int phase) {
  typedef typename TT<T>::A A;
  const int C = KIND == 0 ? 2 : 3;
  const int U = UNROLL / (2 * V);
  FUSED_GEOMETRY
  const T* p = proj + bi * Tn * CD + d;
  T* y = out + bi * Tn * D + d;
  A kh[U * V], k1[U * V], k2[U * V], h[V];
  if (phase == 1) {
    if (k == nChunks - 1) return;
    A P[V];
    #pragma unroll
    for (int v = 0; v < V; v++) { P[v] = 1; h[v] = 0; }
    for (i64 s0 = t0; s0 < t1; s0 += U) {
      loadProj<T, C, U, V>(p, CD, D, s0, 1, t0, t1, kh, k1, k2);
      #pragma unroll
      for (int u = 0; u < U; u++) {
        if (s0 + u < t1) {
          #pragma unroll
          for (int v = 0; v < V; v++) {
            A av, bv;
            gates<A, KIND>(kh[u * V + v], k1[u * V + v], k2[u * V + v], av, bv);
            P[v] *= av;
            h[v] = av * h[v] + bv;
          }
        }
      }
    }
    #pragma unroll
    for (int v = 0; v < V; v++) { aggA[(i64)k * channels + c + v] = P[v]; aggB[(i64)k * channels + c + v] = h[v]; }
    return;
  }
  #pragma unroll
  for (int v = 0; v < V; v++) {
    h[v] = h0 ? TT<T>::ld(h0, c + v) : A(0);
    for (int j = 0; j < k; j++) h[v] = aggA[(i64)j * channels + c + v] * h[v] + aggB[(i64)j * channels + c + v];
  }
  loadProj<T, C, U, V>(p, CD, D, t0, 1, t0, t1, kh, k1, k2);
  for (i64 s0 = t0; s0 < t1; s0 += U) {
    A nh[U * V], n1[U * V], n2[U * V];
    loadProj<T, C, U, V>(p, CD, D, s0 + U, 1, t0, t1, nh, n1, n2); // the next batch, in flight during this one
    #pragma unroll
    for (int u = 0; u < U; u++) {
      if (s0 + u < t1) {
        #pragma unroll
        for (int v = 0; v < V; v++) {
          A av, bv;
          gates<A, KIND>(kh[u * V + v], k1[u * V + v], k2[u * V + v], av, bv);
          h[v] = av * h[v] + bv;
        }
        Vec<T, V>::st(y + (s0 + u) * D, h);
      }
    }
    #pragma unroll
    for (int i = 0; i < U * V; i++) { kh[i] = nh[i]; k1[i] = n1[i]; k2[i] = n2[i]; }
  }
}

template <class T, int KIND, int V>
__device__ void minrnn_bwd_body(const T* __restrict__ proj, const T* __restrict__ h0, const T* __restrict__ hs,
                                const T* __restrict__ dh, T* __restrict__ dproj, T* __restrict__ dh0,
                                i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks,
                                typename TT<T>::A* aggP, typename TT<T>::A* aggQ, int phase) {
  typedef typename TT<T>::A A;
  const int C = KIND == 0 ? 2 : 3;
  const int U = UNROLL / (2 * V);
  FUSED_GEOMETRY
  if (phase == 1 && k == 0) return;
  const T* p = proj + bi * Tn * CD + d;
  T* dp = dproj + bi * Tn * CD + d;
  const T* hh = hs + bi * Tn * D + d;
  const T* gg = dh + bi * Tn * D + d;
  A kh[U * V], k1[U * V], k2[U * V], dv[U * V], q[V];
  #pragma unroll
  for (int v = 0; v < V; v++) q[v] = 0;
  if (phase == 1) {
    A P[V];
    #pragma unroll
    for (int v = 0; v < V; v++) P[v] = 1;
    for (i64 s0 = t1 - 1; s0 >= t0; s0 -= U) {
      loadProj<T, C, U, V>(p, CD, D, s0, -1, t0, t1, kh, k1, k2);
      #pragma unroll
      for (int u = 0; u < U; u++) if (s0 - u >= t0) Vec<T, V>::ld(gg + (s0 - u) * D, dv + u * V);
      #pragma unroll
      for (int u = 0; u < U; u++) {
        if (s0 - u >= t0) {
          #pragma unroll
          for (int v = 0; v < V; v++) {
            A av, bv;
            gates<A, KIND>(kh[u * V + v], k1[u * V + v], k2[u * V + v], av, bv);
            q[v] = av * (dv[u * V + v] + q[v]);
            P[v] *= av;
          }
        }
      }
    }
    #pragma unroll
    for (int v = 0; v < V; v++) { aggP[(i64)k * channels + c + v] = P[v]; aggQ[(i64)k * channels + c + v] = q[v]; }
    return;
  }
  A init[V];
  #pragma unroll
  for (int v = 0; v < V; v++) {
    for (int j = nChunks - 1; j > k; j--) q[v] = aggP[(i64)j * channels + c + v] * q[v] + aggQ[(i64)j * channels + c + v];
    init[v] = h0 ? TT<T>::ld(h0, c + v) : A(0);
  }
  A hp[U * V];
  auto loadRest = [&](i64 s0, A* hpv, A* dvv) {
    #pragma unroll
    for (int u = 0; u < U; u++) {
      i64 t = s0 - u;
      if (t >= t0) {
        if (t > 0) Vec<T, V>::ld(hh + (t - 1) * D, hpv + u * V);
        else {
          #pragma unroll
          for (int v = 0; v < V; v++) hpv[u * V + v] = init[v];
        }
        Vec<T, V>::ld(gg + t * D, dvv + u * V);
      }
    }
  };
  loadProj<T, C, U, V>(p, CD, D, t1 - 1, -1, t0, t1, kh, k1, k2);
  loadRest(t1 - 1, hp, dv);
  for (i64 s0 = t1 - 1; s0 >= t0; s0 -= U) {
    A nh[U * V], n1[U * V], n2[U * V], nhp[U * V], ndv[U * V];
    loadProj<T, C, U, V>(p, CD, D, s0 - U, -1, t0, t1, nh, n1, n2);
    loadRest(s0 - U, nhp, ndv);
    #pragma unroll
    for (int u = 0; u < U; u++) {
      i64 t = s0 - u;
      if (t >= t0) {
        A dkh[V], dk1[V], dk2[V];
        #pragma unroll
        for (int v = 0; v < V; v++) {
          const int i = u * V + v;
          A g = dv[i] + q[v];
          A gk, dg, a;
          gfun(kh[i], gk, dg);
          if (KIND == 0) {
            A z;
            sig2(k1[i], z, a);
            dk1[v] = g * (gk - hp[i]) * z * a;
            dkh[v] = g * z * dg;
            dk2[v] = 0;
          } else {
            A spf, spi, sf, si, ip;
            spsig(k1[i], spf, sf);
            spsig(k2[i], spi, si);
            sig2(spf - spi, ip, a);
            A gd = g * (gk - hp[i]) * ip * a;
            dk1[v] = -gd * sf;
            dk2[v] = gd * si;
            dkh[v] = g * ip * dg;
          }
          q[v] = a * g;
        }
        T* o = dp + t * CD;
        Vec<T, V>::st(o, dkh);
        Vec<T, V>::st(o + D, dk1);
        if (C == 3) Vec<T, V>::st(o + 2 * D, dk2);
      }
    }
    #pragma unroll
    for (int i = 0; i < U * V; i++) { kh[i] = nh[i]; k1[i] = n1[i]; k2[i] = n2[i]; hp[i] = nhp[i]; dv[i] = ndv[i]; }
  }
  if (k == 0 && dh0) {
    #pragma unroll
    for (int v = 0; v < V; v++) TT<T>::st(dh0, c + v, q[v]);
  }
}

#define DEF_FUSED(S, T, V) \
  extern "C" __global__ void __launch_bounds__(256, 4) mingru_fwd_##S##_v##V(const T* proj, const T* h0, T* out, i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks, TT<T>::A* aggA, TT<T>::A* aggB, int phase) \
    { minrnn_fwd_body<T, 0, V>(proj, h0, out, B, Tn, D, chunkLen, nChunks, aggA, aggB, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) minlstm_fwd_##S##_v##V(const T* proj, const T* h0, T* out, i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks, TT<T>::A* aggA, TT<T>::A* aggB, int phase) \
    { minrnn_fwd_body<T, 1, V>(proj, h0, out, B, Tn, D, chunkLen, nChunks, aggA, aggB, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) mingru_bwd_##S##_v##V(const T* proj, const T* h0, const T* h, const T* dh, T* dproj, T* dh0, i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks, TT<T>::A* aggP, TT<T>::A* aggQ, int phase) \
    { minrnn_bwd_body<T, 0, V>(proj, h0, h, dh, dproj, dh0, B, Tn, D, chunkLen, nChunks, aggP, aggQ, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) minlstm_bwd_##S##_v##V(const T* proj, const T* h0, const T* h, const T* dh, T* dproj, T* dh0, i64 B, i64 Tn, i64 D, i64 chunkLen, int nChunks, TT<T>::A* aggP, TT<T>::A* aggQ, int phase) \
    { minrnn_bwd_body<T, 1, V>(proj, h0, h, dh, dproj, dh0, B, Tn, D, chunkLen, nChunks, aggP, aggQ, phase); }

#define DEF_SCAN(S, T) \
  extern "C" __global__ void __launch_bounds__(256, 4) scan_real_##S(const T* a, double aConst, const T* b, const T* h0, T* out, i64 outer, i64 size, i64 inner, int reverse, i64 chunkLen, int nChunks, TT<T>::A* aggA, TT<T>::A* aggB, int phase) \
    { scan_body<T, false>(a, aConst, b, h0, out, outer, size, inner, reverse, chunkLen, nChunks, aggA, aggB, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) scan_log_##S(const T* a, double aConst, const T* b, const T* h0, T* out, i64 outer, i64 size, i64 inner, int reverse, i64 chunkLen, int nChunks, TT<T>::A* aggA, TT<T>::A* aggB, int phase) \
    { scan_body<T, true>(a, aConst, b, h0, out, outer, size, inner, reverse, chunkLen, nChunks, aggA, aggB, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) scan_grad_real_##S(const T* a, const T* b, const T* h, const T* h0, const T* dh, T* da, T* db, T* dh0, i64 outer, i64 size, i64 inner, i64 chunkLen, int nChunks, TT<T>::A* aggP, TT<T>::A* aggQ, int phase) \
    { scan_grad_body<T, false>(a, b, h, h0, dh, da, db, dh0, outer, size, inner, chunkLen, nChunks, aggP, aggQ, phase); } \
  extern "C" __global__ void __launch_bounds__(256, 4) scan_grad_log_##S(const T* a, const T* b, const T* h, const T* h0, const T* dh, T* da, T* db, T* dh0, i64 outer, i64 size, i64 inner, i64 chunkLen, int nChunks, TT<T>::A* aggP, TT<T>::A* aggQ, int phase) \
    { scan_grad_body<T, true>(a, b, h, h0, dh, da, db, dh0, outer, size, inner, chunkLen, nChunks, aggP, aggQ, phase); } \
  DEF_FUSED(S, T, 1) DEF_FUSED(S, T, 2)
FOR_FLOAT(DEF_SCAN)
`;
