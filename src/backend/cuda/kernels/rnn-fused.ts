/**
 * The non-linear recurrences (LSTM, GRU, Elman, sLSTM) on the GPU, "fused" path: one persistent
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
 * The math is the CPU kernel's, expression for expression, in float.
 *
 * Shared memory (floats): forward Rs [d (k), d (j), GP] | P [KS, G, MAXB, d] | H [d, MAXB];
 * backward Rb [d (i), d (k), GP] | P [KS, MAXB, d] | D [d (i), MAXB, GP], where GP is G padded to a
 * float4 (GRU's 3 → 4) so one 16-byte load fetches a unit's gates. rnnFusedSmemBytes() is the host's
 * copy of this arithmetic.
 */
import { PRELUDE } from './common.js';

/** Batch rows per block (the register tile of the recurrent product). */
export const RNN_FUSED_ROWS = 4;

/** Gates G, states S, saved gate values Gs per cell (as RNN_CELL_LAYOUT) and the padded gate count GP. */
const GP: Record<string, number> = { lstm: 4, gru: 4, elman: 1, slstm: 4 };
const GATES: Record<string, number> = { lstm: 4, gru: 3, elman: 1, slstm: 4 };

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** Dynamic shared memory of the forward and backward kernels (bytes); see the file comment. */
export function rnnFusedSmemBytes(cell: string, d: number, ks: number, rBytes: number): { fwd: number; bwd: number } {
  const gp = GP[cell], g = GATES[cell], m = RNN_FUSED_ROWS;
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

/** The prelude, cells, activations and the single-block device functions, without any kernel. */
export const RNN_FUSED_DEVICE = PRELUDE + String.raw`
#define MAXB 4

// Branch-free activations: the prelude's sigm and tanhf branch on the sign or size of x, and a warp
// whose lanes straddle the branch runs both sides every step (these took the H100 12 × 64 LSTM
// from 4.7 to 4.2 ms fwd+bwd). expf/logf rather than __expf/__logf: the intrinsics' error grows
// with |x| (~70 ulp for sLSTM's e^{ĩ − m} at ±30 gates) and used up most of the 1e-4 test margin.
// tanh and log σ: ~1e-7 absolute near 0 (the CPU kernel's tanh is the same formula).
__device__ __forceinline__ float fsig(float x) { return __frcp_rn(1.f + expf(-x)); }
__device__ __forceinline__ float ftanh(float x) { return 1.f - 2.f * __frcp_rn(expf(2.f * x) + 1.f); }
__device__ __forceinline__ float flogsig(float x) { return fminf(x, 0.f) - logf(1.f + expf(-fabsf(x))); }

// cell ids: 0 lstm, 1 gru, 2 elman, 3 slstm
template <int C> struct Cell;
template <> struct Cell<0> { enum { G = 4, GB = 4, S = 2, GS = 4, GP = 4, PV = 7 }; };
template <> struct Cell<1> { enum { G = 3, GB = 4, S = 1, GS = 4, GP = 4, PV = 6 }; };
template <> struct Cell<2> { enum { G = 1, GB = 1, S = 1, GS = 0, GP = 1, PV = 2 }; };
template <> struct Cell<3> { enum { G = 4, GB = 4, S = 4, GS = 6, GP = 4, PV = 11 }; };

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
template <int C, class T> __device__ void loadR(const T* r, typename SR<T>::E* Rs, int n, int N, int d, bool byInput) {
  typedef Cell<C> L;
  typedef typename SR<T>::E E;
  const int dd = d * d;
  for (int e = threadIdx.x; e < L::GP * dd; e += blockDim.x) {
    const int g = e / dd, ik = e % dd, i = ik / d, k = ik % d;
    const E v = g < L::G ? srOf(r, ((i64)(g * N + n) * d + i) * d + k) : E(0);
    Rs[(byInput ? k * d + i : i * d + k) * L::GP + g] = v;
  }
}

// ---------------------------------------------------------------------------------------- forward

/**
 * One step of the cell for one (row, unit): x = wx + b (per gate; GRU's x[3] is b_rn), rh the
 * recurrent product, st the states (updated in place), sv the values saved for the backward.
 */
template <int C> __device__ __forceinline__ void cellFwd(const float* x, const float* rh, float* st, float* sv) {
  if constexpr (C == 0) {
    const float ig = fsig(x[0] + rh[0]), f = fsig(x[1] + rh[1]), z = ftanh(x[2] + rh[2]), og = fsig(x[3] + rh[3]);
    const float cNew = f * st[1] + ig * z;
    st[0] = og * ftanh(cNew); st[1] = cNew;
    sv[0] = ig; sv[1] = f; sv[2] = z; sv[3] = og;
  } else if constexpr (C == 1) {
    const float r = fsig(x[0] + rh[0]), z = fsig(x[1] + rh[1]);
    const float hr = rh[2] + x[3];
    const float nv = ftanh(x[2] + r * hr);
    st[0] = nv + z * (st[0] - nv);
    sv[0] = r; sv[1] = z; sv[2] = nv; sv[3] = hr;
  } else if constexpr (C == 2) {
    st[0] = ftanh(x[0] + rh[0]);
  } else {
    const float pi = x[0] + rh[0], pf = x[1] + rh[1];
    const float z = ftanh(x[2] + rh[2]), og = fsig(x[3] + rh[3]);
    const float a = flogsig(pf) + st[3];
    const bool branchI = st[2] == 0.f || pi >= a;
    const float m = branchI ? pi : a;
    const float ig = expf(pi - m), f = expf(a - m);
    const float cNew = f * st[1] + ig * z, nNew = f * st[2] + ig;
    st[0] = og * (cNew / nNew); st[1] = cNew; st[2] = nNew; st[3] = m;
    sv[0] = ig; sv[1] = f; sv[2] = z; sv[3] = og; sv[4] = fsig(-pf); sv[5] = branchI ? 1.f : 0.f;
  }
}

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
template <int C, class T> __device__ void fusedFwd(const T* wx, const T* r, const T* bias, const T* state0,
    T* out, T* saved, i64 B, i64 Tn, i64 N, int d) {
  typedef Cell<C> L;
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
  loadR<C, T>(r, Rs, n, (int)N, d, true);

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
    if constexpr (L::GB > G) x[3] = xb[3];
    cellFwd<C>(x, rh, st, sv);
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

/** The saved values step t of one (row, unit) reads (see the CPU kernel's cellBwd functions). */
template <int C, class T> __device__ __forceinline__ void loadBwd(const T* saved, const T* dout, float* pv,
    i64 t, i64 bb, int n, int u, i64 B, i64 Tn, i64 N, int d) {
  typedef Cell<C> L;
  const i64 slots = Tn + 1, ss = N * slots * B * d, gatesOff = L::S * ss;
  const i64 hp = ((n * slots + t) * B + bb) * d + u, hn = hp + B * d;
  const i64 sv = gatesOff + ((t * N + n) * B + bb) * L::GS * d + u;
  pv[0] = TT<T>::ld(dout, (bb * Tn + t) * N * d + n * d + u);
  if constexpr (C == 0) {
    #pragma unroll
    for (int g = 0; g < 4; g++) pv[1 + g] = TT<T>::ld(saved, sv + g * d);
    pv[5] = TT<T>::ld(saved, ss + hn); pv[6] = TT<T>::ld(saved, ss + hp);
  } else if constexpr (C == 1) {
    #pragma unroll
    for (int g = 0; g < 4; g++) pv[1 + g] = TT<T>::ld(saved, sv + g * d);
    pv[5] = TT<T>::ld(saved, hp);
  } else if constexpr (C == 2) {
    pv[1] = TT<T>::ld(saved, hn);
  } else {
    #pragma unroll
    for (int g = 0; g < 6; g++) pv[1 + g] = TT<T>::ld(saved, sv + g * d);
    pv[7] = TT<T>::ld(saved, ss + hn); pv[8] = TT<T>::ld(saved, 2 * ss + hn);
    pv[9] = TT<T>::ld(saved, ss + hp); pv[10] = TT<T>::ld(saved, 2 * ss + hp);
  }
}

/**
 * Backward of one step for one (row, unit): dh = dout + carry_h + dhRec; carry (the gradients of
 * the states after the step, h's without dout and dhRec) becomes the gradients before it; dw the
 * wx (= pre-activation) gradients, dr the recurrent-product gradients (dRh).
 */
template <int C> __device__ __forceinline__ void cellBwd(const float* pv, float dhRec, float* carry, float* dw, float* dr) {
  const float dh = pv[0] + carry[0] + dhRec;
  if constexpr (C == 0) {
    const float ig = pv[1], f = pv[2], z = pv[3], og = pv[4];
    const float tc = ftanh(pv[5]);
    const float dc = carry[1] + dh * og * (1.f - tc * tc);
    dw[0] = dr[0] = dc * z * ig * (1.f - ig);
    dw[1] = dr[1] = dc * pv[6] * f * (1.f - f);
    dw[2] = dr[2] = dc * ig * (1.f - z * z);
    dw[3] = dr[3] = dh * tc * og * (1.f - og);
    carry[0] = 0.f;
    carry[1] = dc * f;
  } else if constexpr (C == 1) {
    const float r = pv[1], z = pv[2], nv = pv[3], hr = pv[4];
    const float dn = dh * (1.f - z) * (1.f - nv * nv);
    dw[0] = dr[0] = dn * hr * r * (1.f - r);
    dw[1] = dr[1] = dh * (pv[5] - nv) * z * (1.f - z);
    dw[2] = dn;
    dr[2] = dn * r;
    dr[3] = 0.f;
    carry[0] = dh * z;
  } else if constexpr (C == 2) {
    const float h = pv[1];
    dw[0] = dr[0] = dh * (1.f - h * h);
    carry[0] = 0.f;
  } else {
    const float ig = pv[1], f = pv[2], z = pv[3], og = pv[4], qf = pv[5];
    const bool branchI = pv[6] != 0.f;
    const float nNew = pv[8];
    const float y = pv[7] / nNew;
    const float dc = carry[1] + (dh * og) / nNew;
    const float dn = carry[2] - (dh * og * y) / nNew;
    const float dog = dh * y * og * (1.f - og);
    const float dz = dc * ig * (1.f - z * z);
    const float dLogI = (dc * z + dn) * ig;
    const float dF = dc * pv[9] + dn * pv[10];
    const float dLogF = dF == 0.f ? 0.f : dF * f;
    const float dm = carry[3] - dLogI - dLogF;
    const float di = branchI ? dLogI + dm : dLogI;
    const float da = branchI ? dLogF : dLogF + dm;
    dw[0] = dr[0] = di;
    dw[1] = dr[1] = da * qf;
    dw[2] = dr[2] = dz;
    dw[3] = dr[3] = dog;
    carry[0] = 0.f;
    carry[1] = dc * f;
    carry[2] = dn * f;
    carry[3] = da;
  }
}

/**
 * grid (N, ceil(B / MAXB)), block MAXB·d threads (product thread (k = tid mod d, iq = tid / d),
 * item (row tid / d, unit tid mod d)). saved as the forward wrote it; dout [T + S, B, N·d];
 * dwx [B, T, G, N, d]; dRh [N, T, B, G·d]; dstate0 [S, B, N·d] or null. The saved values are
 * loaded 2 steps ahead, as the forward's wx.
 */
template <int C, class T> __device__ void fusedBwd(const T* r, const T* saved, const T* dout, T* dwx, T* dRh, T* dstate0,
    i64 B, i64 Tn, i64 N, int d) {
  typedef Cell<C> L;
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
  loadR<C, T>(r, Rb, n, (int)N, d, false);

  float carry[S], dhRec = 0.f, p0[PV], p1[PV];
  #pragma unroll
  for (int s = 0; s < S; s++) carry[s] = valid ? TT<T>::ld(dout, ((Tn + s) * B + bb) * Nd + col) : 0.f;
  if (valid && Tn > 0) loadBwd<C, T>(saved, dout, p0, Tn - 1, bb, n, u, B, Tn, N, d);
  if (valid && Tn > 1) loadBwd<C, T>(saved, dout, p1, Tn - 2, bb, n, u, B, Tn, N, d);

  const int k = u, iq = b;
  const int iLen = (d + KS - 1) / KS, i0 = iq * iLen, i1 = min(d, i0 + iLen);
  // one step; false after the last one (t = 0 without dstate0 needs no dh_{−1})
  auto step = [&](i64 t, float (&pv)[PV]) -> bool {
    float dw[G], dr[GP];
    #pragma unroll
    for (int g = 0; g < GP; g++) dr[g] = 0.f;
    if (valid) {
      cellBwd<C>(pv, dhRec, carry, dw, dr);
      #pragma unroll
      for (int g = 0; g < G; g++) {
        TT<T>::st(dwx, ((bb * Tn + t) * G + g) * Nd + col, dw[g]);
        TT<T>::st(dRh, ((n * Tn + t) * B + bb) * G * d + g * d + u, dr[g]);
      }
      if (t >= 2) loadBwd<C, T>(saved, dout, pv, t - 2, bb, n, u, B, Tn, N, d);
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

#define RNN_FUSED_CELL(cell, c, s, T) \
extern "C" __global__ void rnnf_fwd_##cell##_##s(const T* wx, const T* r, const T* bias, const T* state0, T* out, T* saved, \
    i64 B, i64 Tn, i64 N, int d) { fusedFwd<c, T>(wx, r, bias, state0, out, saved, B, Tn, N, d); } \
extern "C" __global__ void rnnf_bwd_##cell##_##s(const T* r, const T* saved, const T* dout, T* dwx, T* dRh, T* dstate0, \
    i64 B, i64 Tn, i64 N, int d) { fusedBwd<c, T>(r, saved, dout, dwx, dRh, dstate0, B, Tn, N, d); }

#define RNN_FUSED_TYPE(s, T) \
  RNN_FUSED_CELL(lstm, 0, s, T) RNN_FUSED_CELL(gru, 1, s, T) RNN_FUSED_CELL(elman, 2, s, T) RNN_FUSED_CELL(slstm, 3, s, T)

RNN_FUSED_TYPE(f32, float)
RNN_FUSED_TYPE(bf16, bf16)
`;

export const RNN_FUSED_SOURCE = RNN_FUSED_DEVICE + RNN_FUSED_KERNELS;
