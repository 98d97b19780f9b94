/**
 * The non-linear recurrences on the GPU, "grid" path: for heads whose R
 * does not fit one block's shared memory (1 × 768: 2.4 M elements), one cooperative persistent
 * kernel per direction splits each head's hidden units over many co-resident blocks that meet at a
 * grid-wide barrier once per step.
 *
 * Block (head n, slice p) owns the units J = [p·U, p·U + U) of head n (U = ⌈d / ⌊SMs / N⌋⌉, so one
 * block per SM; the last slice may be short) and keeps in shared memory the part of R_n it needs
 * for the whole sequence: forward the rows R[g][J, :] (all gates of a unit sit in one block, so the
 * cell runs locally), backward the columns R[g][:, J]. The slice is small, so it is held in f32
 * even for bf16 storage (unlike kernels/rnn-fused.ts: converting bf16 bits in the product loop
 * made the bf16 forward 25 % slower than f32's); same cell code (cellFwd/cellBwd/loadX/loadBwd are shared), same
 * global layouts (`saved`, dRh, dwx), so dR and db stay on cuBLAS.
 *
 * Forward step t: stage h_{t−1} of all rows of head n (f32, written by every block of the head at
 * step t − 1) into shared memory; warp (unit u, k part) computes its units' pre-activations for a
 * tile of 4 rows with the reduction axis spread over the lanes (lane-interleaved k, so R and h reads
 * are contiguous) and folds the 4·GP partial sums with a halving shuffle reduction (16 shuffles,
 * not 16 × 5); then thread (row b, unit u) applies the cell with its states in registers, writes
 * h_t[b, u] to the other half of a double-buffered f32 exchange, and the grid meets.
 * Backward step t: thread (b, u) runs the cell backward with dh_t from the previous iteration and
 * writes its gate gradients (dRh in the storage type for the dR GEMM, a copy for the exchange);
 * the grid meets; every block stages dRh_t (bf16 in the exchange for bf16 storage) of its head (in row tiles as shared memory allows) and
 * computes dh_{t−1}[:, J] = Σ_{g,i} dRh_t[:, g, i]·R[g][i, J]. One barrier per step each way.
 *
 * Why double buffers suffice: slot s is rewritten at step t + 2 only after every block left the
 * barrier of step t + 1, i.e. after every block finished reading it at step t.
 * Exchange reads use __ldcg (L2, never a possibly stale L1 line); the barrier fences before arriving.
 *
 * Shared memory (floats): forward Rs [U][d][GP] | Hs [B4/4][d][4] |
 * Pf [KPF][B4][U][GP]; backward Rb [U][d][GP] | Es [CR][d][GP] (bf16 bits for bf16 LSTM/GRU/sLSTM) | Pb [KPB][B4][U], where B4 is B
 * rounded up to 4, KPF the forward's input parts (its warps each take a pair of units), KPB the backward's input parts
 * (its warps each take a group of up to 8 units), CR the rows of dRh_t staged at once.
 * rnnGridPlan() is the host's copy of this arithmetic.
 */
import type { RnnCellDef } from '../../pointwise/rnn-cell.js';
import { paddedGates } from '../render.js';
import { rnnFusedDevice } from './rnn-fused.js';

/** Threads per block at most (with __launch_bounds__(512, 1): up to 128 registers a thread). */
const MAX_THREADS = 512;

export interface RnnGridPlan {
  /** Units per block, blocks per head, warps per unit, rows of dRh staged at once, B rounded up to 4. */
  units: number; slices: number; wpu: number; cr: number; b4: number;
  blocks: number; threads: number; smemFwd: number; smemBwd: number;
}

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * The grid path's shape for N heads of size d, batch B, bf16 or f32 storage, on a device with
 * `sms` multiprocessors and `optin` bytes of shared memory per block; or why it cannot run.
 */
export function rnnGridPlan(cell: RnnCellDef, N: number, d: number, B: number, bf16: boolean, sms: number, optin: number): RnnGridPlan | { reason: string } {
  const gp = paddedGates(cell.gates);
  // the forward's lane reduction sums 8·GP values per warp (laneSum: at most 32)
  if (gp > 4) return { reason: `${cell.gates} gates (the grid kernels take at most 4)` };
  const perHead = Math.floor(sms / N);
  if (perHead < 1) return { reason: `${N} heads need more co-resident blocks than the device's ${sms} multiprocessors` };
  const units = Math.ceil(d / perHead), slices = Math.ceil(d / units);
  if (32 * units > MAX_THREADS) return { reason: `${units} units per block need ${32 * units} threads (at most ${MAX_THREADS})` };
  const wpu = Math.max(1, Math.floor(MAX_THREADS / (32 * units))), threads = 32 * units * wpu;
  const b4 = roundUp4(B);
  if (b4 * units > threads) return { reason: `batch ${B} × ${units} units per block exceed the block's ${threads} threads` };
  const r = 4 * roundUp4(units * d * gp);
  const kpf = Math.floor((units * wpu) / Math.ceil(units / 2));
  const smemFwd = r + 4 * b4 * d + 4 * kpf * b4 * units * gp;
  if (smemFwd > optin) return { reason: `the grid forward needs ${smemFwd} bytes of shared memory per block, the device gives ${optin}` };
  const kpb = Math.floor((units * wpu) / Math.ceil(units / 8));
  const xb = bf16 && gp === 4 ? 2 : 4; // the backward's exchange element (XT in the kernel)
  const pb = 4 * kpb * b4 * units, tile = 4 * xb * d * gp;
  const cr = Math.min(b4, 4 * Math.floor((optin - r - pb) / tile));
  if (cr < 4) return { reason: `the grid backward cannot stage 4 rows of dRh (${tile} bytes) next to R (${r} bytes)` };
  return { units, slices, wpu, cr, b4, blocks: N * slices, threads, smemFwd, smemBwd: r + cr * d * gp * xb + pb };
}

const RNN_GRID_DEVICE = String.raw`
// ------------------------------------------------------------------------------------ grid barrier

// bar[0] counts arrivals over the whole launch (never reset): barrier number e is passed once it
// reaches e·nb. One atomic and a poll per block, with no generation word to read first and no
// reset by the last arrival (each of those was one more serial L2 round trip). bar starts zeroed.
// The block's last thread arrives for it: callers keep that thread free of item work where they
// can, since the fence also waits for the arriving thread's own outstanding loads and stores.
__device__ __forceinline__ void gridSync(unsigned* bar, unsigned& target, unsigned nb) {
  target += nb;
  __syncthreads();
  if (threadIdx.x == blockDim.x - 1) {
    __threadfence();
    atomicAdd(bar, 1u);
    volatile unsigned* count = bar;
    while (*count < target) { }
    __threadfence();
  }
  __syncthreads();
}

// Shared-memory staging straight from L2 (cp.async.cg skips L1, so no stale line is read), no
// registers on the way: a thread issues all its 16-byte copies back to back, one commit group per
// tile, so tile q can be used while the later ones are still in flight.
__device__ __forceinline__ void cpTile(void* dst, const void* src, int n16) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  const char* g = static_cast<const char*>(src);
  for (int e = threadIdx.x; e < n16; e += blockDim.x)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(s + 16u * e), "l"(g + 16 * e) : "memory");
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most n of this thread's commit groups are pending (stricter for n > 3: still correct).
__device__ __forceinline__ void cpWait(int n) {
  if (n <= 0) asm volatile("cp.async.wait_group 0;\n" ::: "memory");
  else if (n == 1) asm volatile("cp.async.wait_group 1;\n" ::: "memory");
  else if (n == 2) asm volatile("cp.async.wait_group 2;\n" ::: "memory");
  else asm volatile("cp.async.wait_group 3;\n" ::: "memory");
}

extern "C" __global__ void rnng_barrier(unsigned* bar, i64 steps) {
  unsigned target = 0;
  for (i64 s = 0; s < steps; s++) gridSync(bar, target, gridDim.x);
}

/**
 * Sum over the 32 lanes of each of V values (V a power of 2, ≤ 32) in log2(V) halving rounds (each
 * lane hands over the half it does not keep) plus plain rounds for the rest: V − 1 + 5 − log2 V
 * shuffles instead of 5·V. Lane l ends with value l >> (5 − log2 V).
 */
template <int H, int OFF> struct Halve {
  template <int V> static __device__ __forceinline__ void run(float (&v)[V], int lane) {
    const bool up = (lane & OFF) != 0;
    #pragma unroll
    for (int j = 0; j < H; j++) {
      const float send = up ? v[j] : v[j + H], keep = up ? v[j + H] : v[j];
      v[j] = keep + __shfl_xor_sync(0xffffffffu, send, OFF);
    }
    Halve<H / 2, OFF / 2>::run(v, lane);
  }
};
template <int OFF> struct Halve<0, OFF> {
  template <int V> static __device__ __forceinline__ void run(float (&)[V], int) {}
};
// The halving rounds are template recursion, not a loop: a loop left v dynamically indexed (in
// local memory) once the cp.async asm statements (memory clobbers) sat next to it.
template <int V> __device__ __forceinline__ float laneSum(float (&v)[V], int lane) {
  Halve<V / 2, 16>::run(v, lane);
  float s = v[0];
  #pragma unroll
  for (int off = 16 / V; off >= 1; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  return s;
}

/**
 * The block's part of R_n [G, d, d] → shared memory [u][m][GP] (zeros for padding gates and for units
 * past the head's end): rows (byRow, forward: element R[g][j0 + u][m]) or columns (backward:
 * R[g][m][j0 + u]).
 */
template <class T> __device__ void gridLoadR(const T* r, float* Rs, int n, int N, int d, int j0, int uAct, int U, bool byRow) {
  typedef Cell L;
  const int per = d * L::GP;
  for (int e = threadIdx.x; e < U * per; e += blockDim.x) {
    const int u = e / per, m = (e % per) / L::GP, g = e % L::GP;
    float v = 0.f;
    if (g < L::G && u < uAct) {
      const i64 base = (i64)(g * N + n) * d * d;
      v = TT<T>::ld(r, byRow ? base + (i64)(j0 + u) * d + m : base + (i64)m * d + j0 + u);
    }
    Rs[e] = v;
  }
}

// ----------------------------------------------------------------------------------------- forward

/**
 * grid N·P blocks (P = slices per head), block 32·U·WPU threads. Arguments as rnnf_fwd_* plus
 * hx [2][N][B4/4][d][4] (f32 exchange of h) and bar (2 zeroed words).
 */
template <class T> __device__ void gridFwd(const T* wx, const T* r, const T* bias, const T* state0, T* out, T* saved,
    float* hx, unsigned* bar, i64 B, i64 Tn, i64 N, int d, int U, int P, int WPU) {
  typedef Cell L;
  enum { G = L::G, S = L::S, GP = L::GP, V = 8 * GP };
  extern __shared__ float4 smem4[];
  const int B4 = roundUp4((int)B), RT = B4 / 4;
  float* Rs = reinterpret_cast<float*>(smem4);
  float* Hs = Rs + roundUp4(U * d * GP);
  float* Pf = Hs + B4 * d;
  const int tid = threadIdx.x;
  const unsigned nb = gridDim.x;
  unsigned target = 0;
  const int n = blockIdx.x / P, j0 = (blockIdx.x % P) * U, uAct = min(U, d - j0);
  gridLoadR<T>(r, Rs, n, (int)N, d, j0, uAct, U, true);

  // the (row, unit) item of this thread: padding rows (b ≥ B) publish zeros, units past the head none
  const int ib = tid / U, iu = tid % U, u = j0 + iu;
  const bool owner = ib < B4 && iu < uAct, valid = owner && ib < B;
  const i64 bb = ib, Nd = N * d, slots = Tn + 1, gatesOff = S * N * slots * B * d, col = (i64)n * d + u;
  const i64 hxSlot = N * B4 * d;
  const i64 hOff = (((i64)n * RT + ib / 4) * d + u) * 4 + (ib & 3);

  float st[S], xb[L::GB];
  #pragma unroll
  for (int s = 0; s < S; s++) {
    st[s] = valid && state0 ? TT<T>::ld(state0, (s * B + bb) * Nd + col) : 0.f;
    if (valid && saved) TT<T>::st(saved, (((s * N + n) * slots) * B + bb) * d + u, st[s]);
  }
  #pragma unroll
  for (int g = 0; g < L::GB; g++) xb[g] = valid ? TT<T>::ld(bias, (i64)g * Nd + col) : 0.f;
  if (owner) hx[hOff] = valid ? st[0] : 0.f;
  float x0[G], x1[G];
  loadX<G, T>(wx, x0, 0, Tn, bb, valid, Nd, col);
  loadX<G, T>(wx, x1, 1, Tn, bb, valid, Nd, col);
  __threadfence();
  gridSync(bar, target, nb);

  // Product warps: a pair of units (each h load feeds both units' FMAs: with one unit per warp the
  // shared-memory reads of h bounded the step), input part kp of KPF.
  const int NPF = (U + 1) / 2, KPF = (U * WPU) / NPF;
  const int warp = tid >> 5, lane = tid & 31, ua = (warp % NPF) * 2, kp = warp / NPF, kStep = 32 * KPF;
  const bool two = ua + 1 < U, prodWarp = kp < KPF;
  const float4* Hs4 = reinterpret_cast<const float4*>(Hs);
  auto step = [&](i64 t, float (&xv)[G]) {
    const float* src = hx + (t & 1) * hxSlot + (i64)n * B4 * d;
    for (int q = 0; q < RT; q++) cpTile(Hs + q * d * 4, src + (i64)q * d * 4, d);
    for (int rt = 0; rt < RT; rt++) {
      cpWait(RT - 1 - rt);
      __syncthreads();
      if (!prodWarp) continue;
      float v[V];
      #pragma unroll
      for (int q = 0; q < V; q++) v[q] = 0.f;
      #pragma unroll 2
      for (int k = kp * 32 + lane; k < d; k += kStep) {
        float r0[GP], r1[GP];
        ldGates<GP>(Rs + (ua * d + k) * GP, r0);
        if (two) ldGates<GP>(Rs + ((ua + 1) * d + k) * GP, r1);
        else {
          #pragma unroll
          for (int g = 0; g < GP; g++) r1[g] = 0.f;
        }
        const float4 h4 = Hs4[rt * d + k];
        const float hv[4] = {h4.x, h4.y, h4.z, h4.w};
        #pragma unroll
        for (int q = 0; q < 4; q++)
          #pragma unroll
          for (int g = 0; g < G; g++) {
            v[(q * 2) * GP + g] = fmaf(r0[g], hv[q], v[(q * 2) * GP + g]);
            v[(q * 2 + 1) * GP + g] = fmaf(r1[g], hv[q], v[(q * 2 + 1) * GP + g]);
          }
      }
      const float s = laneSum<V>(v, lane);
      if ((lane & (32 / V - 1)) == 0) {
        const int idx = lane / (32 / V), q = idx / (2 * GP), uu = (idx / GP) % 2;
        if (ua + uu < U) Pf[((kp * B4 + rt * 4 + q) * U + ua + uu) * GP + idx % GP] = s;
      }
    }
    __syncthreads();
    float sv[L::GS > 0 ? L::GS : 1];
    if (owner) {
      float rh[G], x[L::GB];
      #pragma unroll
      for (int g = 0; g < G; g++) {
        float s = 0.f;
        for (int p = 0; p < KPF; p++) s += Pf[((p * B4 + ib) * U + iu) * GP + g];
        rh[g] = s;
        x[g] = xv[g] + xb[g];
      }
      #pragma unroll
      for (int g = G; g < L::GB; g++) x[g] = xb[g];
      cellFwd<float, FastMath>(x, rh, st, sv);
      hx[((t + 1) & 1) * hxSlot + hOff] = valid ? st[0] : 0.f;
    }
    // Outputs, saved values and the prefetch after the barrier: its fence would wait for them.
    if (t + 1 < Tn) gridSync(bar, target, nb);
    if (owner) {
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
    }
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

// ---------------------------------------------------------------------------------------- backward

/**
 * grid N·P blocks, block 32·U·WPU threads. Arguments as rnnf_bwd_* plus ex [2][N][B4][d][GP] (f32
 * exchange of the gate gradients), bar, and CR (rows of ex staged at once, a multiple of 4).
 */
/**
 * Element of the backward's exchange of gate gradients: bf16 bits for bf16 storage with 4 padded
 * gates (dRh is stored in bf16 for the dR GEMM anyway; every block reads all of dRh_t each step, 4×
 * the forward's h, so halving it matters), else f32 (and always for Elman: 4·d bf16 of a tile need
 * not be a multiple of 16 bytes).
 */
template <class T, int GP> struct XT { typedef float E; };
template <> struct XT<bf16, 4> { typedef unsigned short E; };
__device__ __forceinline__ void xStore4(float* p, const float* v) { *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]); }
__device__ __forceinline__ void xStore4(unsigned short* p, const float* v) {
  *reinterpret_cast<uint2*>(p) = make_uint2(f2bf(v[0]) | ((unsigned)f2bf(v[1]) << 16), f2bf(v[2]) | ((unsigned)f2bf(v[3]) << 16));
}

/** Units per backward product warp (4 rows × UG sums: one per lane for the final reduction). */
#define UG 8

template <class T> __device__ void gridBwd(const T* r, const T* saved, const T* dout, T* dwx, T* dRh, T* dstate0,
    float* exF, unsigned* bar, i64 B, i64 Tn, i64 N, int d, int U, int P, int WPU, int CR) {
  typedef Cell L;
  enum { G = L::G, S = L::S, GP = L::GP, PV = L::PV };
  typedef typename XT<T, GP>::E X;
  X* ex = reinterpret_cast<X*>(exF);
  extern __shared__ float4 smem4[];
  const int B4 = roundUp4((int)B);
  float* Rb = reinterpret_cast<float*>(smem4);
  X* Es = reinterpret_cast<X*>(Rb + roundUp4(U * d * GP));
  float* Pb = reinterpret_cast<float*>(Es + CR * d * GP);
  const int tid = threadIdx.x;
  const unsigned nb = gridDim.x;
  unsigned target = 0;
  const int n = blockIdx.x / P, j0 = (blockIdx.x % P) * U, uAct = min(U, d - j0);
  gridLoadR<T>(r, Rb, n, (int)N, d, j0, uAct, U, false);

  const int ib = tid / U, iu = tid % U, u = j0 + iu;
  const bool owner = ib < B4 && iu < uAct, valid = owner && ib < B;
  const i64 bb = ib, Nd = N * d, col = (i64)n * d + u;
  const i64 exSlot = N * B4 * d * GP, eOff = (((i64)n * B4 + ib) * d + u) * GP;

  float carry[S], dhRec = 0.f, p0[PV], p1[PV];
  #pragma unroll
  for (int s = 0; s < S; s++) carry[s] = valid ? TT<T>::ld(dout, ((Tn + s) * B + bb) * Nd + col) : 0.f;
  if (valid && Tn > 0) loadBwd<T, float>(saved, dout, p0, Tn - 1, bb, n, u, B, Tn, N, d);
  if (valid && Tn > 1) loadBwd<T, float>(saved, dout, p1, Tn - 2, bb, n, u, B, Tn, N, d);
  __syncthreads();

  // Product warps: unit group ug (UG units: each E load feeds UG units' FMAs, where one unit per
  // warp made shared-memory reads of E the bottleneck), input part kp of KPB.
  const int NG = (U + UG - 1) / UG, KPB = (U * WPU) / NG;
  const int warp = tid >> 5, lane = tid & 31, ug = warp % NG, kp = warp / NG, kStep = 32 * KPB;
  const int u0 = ug * UG, uCnt = min(UG, U - u0);
  const bool prodWarp = kp < KPB;
  const int NT = B4 / 4, SL = CR / 4, tileF = 4 * d * GP;
  auto step = [&](i64 t, float (&pv)[PV]) -> bool {
    float dw[G], dr[GP];
    #pragma unroll
    for (int g = 0; g < GP; g++) dr[g] = 0.f;
    if (valid) cellBwd<float, FastMath>(pv, dhRec, carry, dw, dr);
    if (owner) {
      X* e = ex + (t & 1) * exSlot + eOff;
      if constexpr (GP == 4) xStore4(e, dr);
      else {
        #pragma unroll
        for (int g = 0; g < GP; g++) e[g] = dr[g];
      }
    }
    const bool more = t > 0 || dstate0;
    if (more) gridSync(bar, target, nb);
    // The gradients' stores and the prefetch after the barrier: its fence would wait for them.
    if (valid) {
      #pragma unroll
      for (int g = 0; g < G; g++) {
        TT<T>::st(dwx, ((bb * Tn + t) * G + g) * Nd + col, dw[g]);
        TT<T>::st(dRh, ((n * Tn + t) * B + bb) * G * d + g * d + u, dr[g]);
      }
      if (t >= 2) loadBwd<T, float>(saved, dout, pv, t - 2, bb, n, u, B, Tn, N, d);
    }
    if (!more) return false;
    // dRh_t of the head in tiles of 4 rows through a ring of SL slots (all of them when they fit)
    const X* src = ex + (t & 1) * exSlot + (i64)n * B4 * d * GP;
    int issued = 0;
    const int n16 = tileF * (int)sizeof(X) / 16;
    for (; issued < min(NT, SL); issued++) cpTile(Es + issued * tileF, src + (i64)issued * tileF, n16);
    for (int q = 0; q < NT; q++) {
      cpWait(issued - q - 1);
      __syncthreads();
      const X* Et = Es + (q % SL) * tileF;
      if (prodWarp) {
        float v[4 * UG];
        #pragma unroll
        for (int j = 0; j < 4 * UG; j++) v[j] = 0.f;
        for (int i = kp * 32 + lane; i < d; i += kStep) {
          float ev[4][GP];
          #pragma unroll
          for (int r4 = 0; r4 < 4; r4++) ldGates<GP>(Et + (r4 * d + i) * GP, ev[r4]);
          #pragma unroll
          for (int uu = 0; uu < UG; uu++) {
            if (uu < uCnt) {
              float rv[GP];
              ldGates<GP>(Rb + ((u0 + uu) * d + i) * GP, rv);
              #pragma unroll
              for (int r4 = 0; r4 < 4; r4++)
                #pragma unroll
                for (int g = 0; g < G; g++) v[r4 * UG + uu] = fmaf(rv[g], ev[r4][g], v[r4 * UG + uu]);
            }
          }
        }
        const float s = laneSum<4 * UG>(v, lane);
        if (lane % UG < uCnt) Pb[(kp * B4 + q * 4 + lane / UG) * U + u0 + lane % UG] = s;
      }
      if (q + SL < NT) {
        __syncthreads();
        cpTile(Es + (q % SL) * tileF, src + (i64)(q + SL) * tileF, n16);
        issued++;
      }
    }
    __syncthreads();
    if (owner) {
      float s = 0.f;
      for (int p = 0; p < KPB; p++) s += Pb[(p * B4 + ib) * U + iu];
      dhRec = s;
    }
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

#define RNN_GRID_TYPE(s, T) \
extern "C" __global__ void __launch_bounds__(512, 1) rnng_fwd_##s(const T* wx, const T* r, const T* bias, const T* state0, \
    T* out, T* saved, float* hx, unsigned* bar, i64 B, i64 Tn, i64 N, int d, int U, int P, int WPU) { \
  gridFwd<T>(wx, r, bias, state0, out, saved, hx, bar, B, Tn, N, d, U, P, WPU); } \
extern "C" __global__ void __launch_bounds__(512, 1) rnng_bwd_##s(const T* r, const T* saved, const T* dout, T* dwx, \
    T* dRh, T* dstate0, float* ex, unsigned* bar, i64 B, i64 Tn, i64 N, int d, int U, int P, int WPU, int CR) { \
  gridBwd<T>(r, saved, dout, dwx, dRh, dstate0, ex, bar, B, Tn, N, d, U, P, WPU, CR); }

RNN_GRID_TYPE(f32, float)
RNN_GRID_TYPE(bf16, bf16)
`;

/** The grid path's module for one cell. */
export function rnnGridSource(cell: RnnCellDef): string {
  return rnnFusedDevice(cell) + RNN_GRID_DEVICE;
}
