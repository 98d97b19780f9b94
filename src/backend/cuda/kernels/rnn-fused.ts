/**
 * The non-linear recurrences on the GPU, "fused" path: one persistent
 * kernel runs all T steps forward, another all T steps backward, so a sequence costs two launches
 * instead of the alternating path's 2·T (kernels/rnn.ts), which is bound by ~10 µs of host time
 * per launch.
 *
 * One block per (head n, tile of MAXB = 4 batch rows); R_n of all gates sits in shared memory
 * (f32 for f32 storage, bf16 bits for bf16: exact, half the space, so d = 128 fits) for the whole
 * sequence; products and cell math run in f32; and the recurrent state of the block's rows lives in registers. Heads and batch
 * tiles never exchange data, so blocks need no grid-wide barrier and need not be co-resident.
 *
 * Per step the block computes its [MAXB, G·d] slice of h_{t−1}·R_nᵀ with the reduction axis split
 * KS ways (thread (j, kq) for output unit j and input range kq): each R element is read from
 * shared memory once per step and reused for the 4 batch rows in registers, which is what keeps
 * shared-memory bandwidth below the FMA rate. The KS partial sums meet in shared memory; then each
 * thread applies the cell to the (row, unit) items it owns for the whole sequence (the same items
 * every step, so c, n, m never leave registers) and publishes h_t for the next product.
 * The backward does the same with Rᵀ: gate gradients of step t (its dRh) go to shared memory, and
 * dh_{t−1} = dRh_t·R_n is split over the gate-unit axis.
 *
 * Global memory sees exactly the alternating path's layouts (src/backend/cpu/rnn.ts's file comment):
 * `saved` = hist [S, N, T + 1, B, d] then gates [T, N, B, Gs, d], dRh [N, T, B, G·d], so dR (one
 * GEMM over all steps) and db (column sums) stay on cuBLAS in rnnBackward (../rnn.ts).
 * The cell's math is rendered from its definition (../render.ts, FastMath) in float.
 *
 * Shared memory (floats): forward Rs [d (k), d (j), GP] | P [KS, G, MAXB, d] | H [d, MAXB];
 * backward Rb [d (i), d (k), GP] | P [KS, MAXB, d] | D [d (i), MAXB, GP], where GP is G padded to a
 * float4 (GRU's 3 → 4) so one 16-byte load fetches a unit's gates. rnnFusedSmemBytes() is the host's
 * copy of this arithmetic.
 */
import type { RnnCellDef } from '../../pointwise/rnn-cell.js';
import { CELL_MATH, paddedGates, renderRnnCell } from '../render.js';
import { PRELUDE } from './common.js';

/** Batch rows per block (the register tile of the recurrent product). */
export const RNN_FUSED_ROWS = 4;

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** Dynamic shared memory of the forward and backward kernels (bytes); see the file comment. */
export function rnnFusedSmemBytes(cell: RnnCellDef, d: number, ks: number, rBytes: number): { fwd: number; bwd: number } {
  const gp = paddedGates(cell.gates), g = cell.gates, m = RNN_FUSED_ROWS;
  const r = roundUp4(Math.ceil((d * d * gp * rBytes) / 4));
  return {
    fwd: 4 * (r + roundUp4(ks * g * m * d) + d * m),
    bwd: 4 * (r + roundUp4(ks * m * d) + d * m * gp),
  };
}

/**
 * The reduction split KS: MAXB ways, so the block's MAXB·d threads each own exactly one (row, unit)
 * item and its state stays in scalar registers (d = 64: 256 threads, 16 inputs each).
 */
export function rnnFusedSplit(_d: number): number {
  return RNN_FUSED_ROWS;
}

/** The prelude, one cell's rendered math and the single-block device functions, without any kernel (rnn-grid.ts builds on them). */
export function rnnFusedDevice(cell: RnnCellDef): string {
  return PRELUDE + CELL_MATH + renderRnnCell(cell) + FUSED_DEVICE;
}

const FUSED_DEVICE = String.raw`
#define MAXB 4

template <int GP> __device__ __forceinline__ void ldGates(const float* p, float (&v)[GP]) {
  if constexpr (GP == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
  } else {
    #pragma unroll
    for (int g = 0; g < GP; g++) v[g] = p[g];
  }
}

/** The padded gates of one R element pair from bf16 shared memory (R stored as bf16 bits: bf16 storage, exact). */
template <int GP> __device__ __forceinline__ void ldGates(const unsigned short* p, float (&v)[GP]) {
  if constexpr (GP == 4) {
    const uint2 q = *reinterpret_cast<const uint2*>(p);
    v[0] = bf2f(q.x & 0xffffu); v[1] = bf2f(q.x >> 16); v[2] = bf2f(q.y & 0xffffu); v[3] = bf2f(q.y >> 16);
  } else {
    #pragma unroll
    for (int g = 0; g < GP; g++) v[g] = bf2f(p[g]);
  }
}

__device__ __forceinline__ int roundUp4(int n) { return (n + 3) & ~3; }

/** R in shared memory: f32 for f32 storage, the bf16 bits themselves for bf16 (half the space, lossless). */
template <class T> struct SR { typedef float E; };
template <> struct SR<bf16> { typedef unsigned short E; };
__device__ __forceinline__ float srOf(const float* r, i64 i) { return r[i]; }
__device__ __forceinline__ unsigned short srOf(const bf16* r, i64 i) { return r[i].x; }

/** Floats of shared memory R takes (rounded up to a float4). */
template <class T> __device__ __forceinline__ int rFloats(int elems) {
  return roundUp4((elems * (int)sizeof(typename SR<T>::E) + 3) / 4);
}

/** R_n [G, d, d] (rows: output unit i, columns: input unit k) → smem, [k][i][GP] when byInput, else [i][k][GP]. */
template <class T> __device__ void loadR(const T* r, typename SR<T>::E* Rs, int n, int N, int d, bool byInput) {
  typedef Cell L;
  typedef typename SR<T>::E E;
  const int dd = d * d;
  for (int e = threadIdx.x; e < L::GP * dd; e += blockDim.x) {
    const int g = e / dd, ik = e % dd, i = ik / d, k = ik % d;
    const E v = g < L::G ? srOf(r, ((i64)(g * N + n) * d + i) * d + k) : E(0);
    Rs[(byInput ? k * d + i : i * d + k) * L::GP + g] = v;
  }
}

// ---------------------------------------------------------------------------------------- forward

/** Loads wx of step t for one (row, unit) (zeros past the end or for a padding row). */
template <int G, class T> __device__ __forceinline__ void loadX(const T* wx, float (&x)[G], i64 t, i64 Tn, i64 bb, bool valid, i64 Nd, i64 col) {
  #pragma unroll
  for (int g = 0; g < G; g++) x[g] = valid && t < Tn ? TT<T>::ld(wx, ((bb * Tn + t) * G + g) * Nd + col) : 0.f;
}

/**
 * grid (N, ceil(B / MAXB)), block MAXB·d threads (KS = MAXB: thread tid is product thread
 * (j = tid mod d, kq = tid / d) and owns the item (row tid / d, unit tid mod d)). saved null:
 * inference (only out is written). wx [B, T, G, N, d], r [G, N, d, d], bias [GB, N, d],
 * state0 [S, B, N·d] or null, out [T + S, B, N·d] (outputs then last states).
 * The input projections are loaded 2 steps ahead: they come from DRAM (~0.6 µs), about a step.
 */
template <class T> __device__ void fusedFwd(const T* wx, const T* r, const T* bias, const T* state0,
    T* out, T* saved, i64 B, i64 Tn, i64 N, int d) {
  typedef Cell L;
  enum { G = L::G, S = L::S, GP = L::GP, KS = MAXB };
  extern __shared__ float4 smem4[];
  typename SR<T>::E* Rs = reinterpret_cast<typename SR<T>::E*>(smem4);
  float* P = reinterpret_cast<float*>(smem4) + rFloats<T>(d * d * GP);
  float* Hs = P + roundUp4(KS * G * MAXB * d);
  const int n = blockIdx.x, tid = threadIdx.x;
  const int b = tid / d, u = tid % d;
  const i64 bb = (i64)blockIdx.y * MAXB + b;
  const bool valid = bb < B;
  const i64 Nd = N * d, slots = Tn + 1, gatesOff = S * N * slots * B * d, col = n * d + u;
  loadR<T>(r, Rs, n, (int)N, d, true);

  float st[S], xb[L::GB];
  #pragma unroll
  for (int s = 0; s < S; s++) {
    st[s] = valid && state0 ? TT<T>::ld(state0, (s * B + bb) * Nd + col) : 0.f;
    if (valid && saved) TT<T>::st(saved, (((s * N + n) * slots) * B + bb) * d + u, st[s]);
  }
  #pragma unroll
  for (int g = 0; g < L::GB; g++) xb[g] = TT<T>::ld(bias, (i64)g * Nd + col);
  Hs[u * MAXB + b] = valid ? st[0] : 0.f;
  // Two register sets of input projections, each refilled right after its step for the step two
  // ahead (no register moves, which would wait for the loads).
  float x0[G], x1[G];
  loadX<G, T>(wx, x0, 0, Tn, bb, valid, Nd, col);
  loadX<G, T>(wx, x1, 1, Tn, bb, valid, Nd, col);
  __syncthreads();

  const int j = u, kq = b;
  const int kLen = (d + KS - 1) / KS, k0 = kq * kLen, k1 = min(d, k0 + kLen);
  auto step = [&](i64 t, float (&xv)[G]) {
    // partial rh[b][g][j] over k in [k0, k1)
    float acc[MAXB][G];
    #pragma unroll
    for (int q = 0; q < MAXB; q++)
      #pragma unroll
      for (int g = 0; g < G; g++) acc[q][g] = 0.f;
    #pragma unroll 4
    for (int k = k0; k < k1; k++) {
      float rv[GP];
      ldGates<GP>(Rs + (k * d + j) * GP, rv);
      const float4 h4 = reinterpret_cast<const float4*>(Hs)[k];
      const float hv[MAXB] = {h4.x, h4.y, h4.z, h4.w};
      #pragma unroll
      for (int q = 0; q < MAXB; q++)
        #pragma unroll
        for (int g = 0; g < G; g++) acc[q][g] = fmaf(rv[g], hv[q], acc[q][g]);
    }
    #pragma unroll
    for (int g = 0; g < G; g++)
      #pragma unroll
      for (int q = 0; q < MAXB; q++) P[((kq * G + g) * MAXB + q) * d + j] = acc[q][g];
    __syncthreads();
    float rh[G], x[L::GB], sv[L::GS > 0 ? L::GS : 1];
    #pragma unroll
    for (int g = 0; g < G; g++) {
      float s = 0.f;
      #pragma unroll
      for (int p = 0; p < KS; p++) s += P[((p * G + g) * MAXB + b) * d + u];
      rh[g] = s;
      x[g] = xv[g] + xb[g];
    }
    #pragma unroll
    for (int g = G; g < L::GB; g++) x[g] = xb[g];
    cellFwd<float, FastMath>(x, rh, st, sv);
    Hs[u * MAXB + b] = valid ? st[0] : 0.f;
    if (valid) {
      TT<T>::st(out, (bb * Tn + t) * Nd + col, st[0]);
      if (saved) {
        #pragma unroll
        for (int s = 0; s < S; s++) TT<T>::st(saved, (((s * N + n) * slots + t + 1) * B + bb) * d + u, st[s]);
        #pragma unroll
        for (int g = 0; g < L::GS; g++) TT<T>::st(saved, gatesOff + ((t * N + n) * B + bb) * L::GS * d + g * d + u, sv[g]);
      }
    }
    loadX<G, T>(wx, xv, t + 2, Tn, bb, valid, Nd, col);
    __syncthreads();
  };
  for (i64 t = 0; t < Tn; t += 2) {
    step(t, x0);
    if (t + 1 < Tn) step(t + 1, x1);
  }
  if (valid) {
    #pragma unroll
    for (int s = 0; s < S; s++) TT<T>::st(out, ((Tn + s) * B + bb) * Nd + col, st[s]);
  }
}

// --------------------------------------------------------------------------------------- backward

/**
 * grid (N, ceil(B / MAXB)), block MAXB·d threads (product thread (k = tid mod d, iq = tid / d),
 * item (row tid / d, unit tid mod d)). saved as the forward wrote it; dout [T + S, B, N·d];
 * dwx [B, T, G, N, d]; dRh [N, T, B, G·d]; dstate0 [S, B, N·d] or null. The saved values are
 * loaded 2 steps ahead, as the forward's wx.
 */
template <class T> __device__ void fusedBwd(const T* r, const T* saved, const T* dout, T* dwx, T* dRh, T* dstate0,
    i64 B, i64 Tn, i64 N, int d) {
  typedef Cell L;
  enum { G = L::G, S = L::S, GP = L::GP, PV = L::PV, KS = MAXB };
  extern __shared__ float4 smem4[];
  typename SR<T>::E* Rb = reinterpret_cast<typename SR<T>::E*>(smem4);
  float* P = reinterpret_cast<float*>(smem4) + rFloats<T>(d * d * GP);
  float* Ds = P + roundUp4(KS * MAXB * d);
  const int n = blockIdx.x, tid = threadIdx.x;
  const int b = tid / d, u = tid % d;
  const i64 bb = (i64)blockIdx.y * MAXB + b;
  const bool valid = bb < B;
  const i64 Nd = N * d, col = n * d + u;
  loadR<T>(r, Rb, n, (int)N, d, false);

  float carry[S], dhRec = 0.f, p0[PV], p1[PV];
  #pragma unroll
  for (int s = 0; s < S; s++) carry[s] = valid ? TT<T>::ld(dout, ((Tn + s) * B + bb) * Nd + col) : 0.f;
  if (valid && Tn > 0) loadBwd<T, float>(saved, dout, p0, Tn - 1, bb, n, u, B, Tn, N, d);
  if (valid && Tn > 1) loadBwd<T, float>(saved, dout, p1, Tn - 2, bb, n, u, B, Tn, N, d);

  const int k = u, iq = b;
  const int iLen = (d + KS - 1) / KS, i0 = iq * iLen, i1 = min(d, i0 + iLen);
  // one step; false after the last one (t = 0 without dstate0 needs no dh_{−1})
  auto step = [&](i64 t, float (&pv)[PV]) -> bool {
    float dw[G], dr[GP];
    #pragma unroll
    for (int g = 0; g < GP; g++) dr[g] = 0.f;
    if (valid) {
      cellBwd<float, FastMath>(pv, dhRec, carry, dw, dr);
      #pragma unroll
      for (int g = 0; g < G; g++) {
        TT<T>::st(dwx, ((bb * Tn + t) * G + g) * Nd + col, dw[g]);
        TT<T>::st(dRh, ((n * Tn + t) * B + bb) * G * d + g * d + u, dr[g]);
      }
      if (t >= 2) loadBwd<T, float>(saved, dout, pv, t - 2, bb, n, u, B, Tn, N, d);
    }
    #pragma unroll
    for (int g = 0; g < GP; g++) Ds[(u * MAXB + b) * GP + g] = dr[g];
    __syncthreads();
    if (t == 0 && !dstate0) return false;
    // partial dh_{t−1}[b][k] = Σ_{i in [i0, i1), g} dRh[b][g][i] R[g][i][k]
    float acc[MAXB];
    #pragma unroll
    for (int q = 0; q < MAXB; q++) acc[q] = 0.f;
    #pragma unroll 2
    for (int i = i0; i < i1; i++) {
      float rv[GP];
      ldGates<GP>(Rb + (i * d + k) * GP, rv);
      #pragma unroll
      for (int q = 0; q < MAXB; q++) {
        float dv[GP];
        ldGates<GP>(Ds + (i * MAXB + q) * GP, dv);
        #pragma unroll
        for (int g = 0; g < G; g++) acc[q] = fmaf(rv[g], dv[g], acc[q]);
      }
    }
    #pragma unroll
    for (int q = 0; q < MAXB; q++) P[(iq * MAXB + q) * d + k] = acc[q];
    __syncthreads();
    float s = 0.f;
    #pragma unroll
    for (int p = 0; p < KS; p++) s += P[(p * MAXB + b) * d + u];
    dhRec = s;
    return true;
  };
  for (i64 t = Tn - 1; t >= 0; t -= 2) {
    if (!step(t, p0)) break;
    if (t >= 1 && !step(t - 1, p1)) break;
  }
  if (dstate0 && valid) {
    #pragma unroll
    for (int s = 0; s < S; s++) TT<T>::st(dstate0, (s * B + bb) * Nd + col, carry[s] + (s == 0 ? dhRec : 0.f));
  }
}
`;

/** The kernels of the single-block path (the device functions above are shared with kernels/rnn-grid.ts). */
const RNN_FUSED_KERNELS = String.raw`

#define RNN_FUSED_TYPE(s, T) \
extern "C" __global__ void rnnf_fwd_##s(const T* wx, const T* r, const T* bias, const T* state0, T* out, T* saved, \
    i64 B, i64 Tn, i64 N, int d) { fusedFwd<T>(wx, r, bias, state0, out, saved, B, Tn, N, d); } \
extern "C" __global__ void rnnf_bwd_##s(const T* r, const T* saved, const T* dout, T* dwx, T* dRh, T* dstate0, \
    i64 B, i64 Tn, i64 N, int d) { fusedBwd<T>(r, saved, dout, dwx, dRh, dstate0, B, Tn, N, d); }

RNN_FUSED_TYPE(f32, float)
RNN_FUSED_TYPE(bf16, bf16)
`;

/** The fused path's module for one cell. */
export function rnnFusedSource(cell: RnnCellDef): string {
  return rnnFusedDevice(cell) + RNN_FUSED_KERNELS;
}
