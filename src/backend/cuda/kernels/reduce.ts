/**
 * Kernels along one axis of an (outer, size, inner) layout and on rows: reductions (split over
 * blocks into f32/f64 partials when a row is long), argmax, softmax and its gradient,
 * cross-entropy and its gradient, gather and scatter-add. Semantics follow
 * src/backend/cpu/reduce.ts, including NaN propagation in max/min, first-index argmax ties, and
 * index range errors: a bad index is recorded (smallest position wins, as the CPU loop's first)
 * in an error word the host reads after the launch.
 */
import { PRELUDE } from './common.js';

export const REDUCE_OPS = ['sum', 'max', 'min'] as const;

export const REDUCE_SOURCE = PRELUDE + String.raw`
#define R_SUM 0
#define R_MAX 1
#define R_MIN 2

template <class A> __device__ __forceinline__ A r_init(int op) { return op == R_SUM ? A(0) : op == R_MAX ? -xinf<A>() : xinf<A>(); }
/** The CPU's sequential rule, made symmetric: NaN wins, else the larger (smaller) or the sum. */
template <class A> __device__ __forceinline__ A r_comb(int op, A a, A b) {
  if (op == R_SUM) return a + b;
  if (xnan(a) || xnan(b)) return xnan(a) ? a : b;
  if (op == R_MAX) return b > a ? b : a;
  return b < a ? b : a;
}
template <class A> __device__ A warpReduce(int op, A v) {
  for (int o = 16; o > 0; o >>= 1) v = r_comb(op, v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
/** Reduces v over the block (blockDim.x a multiple of 32, ≤ 1024); the result in every thread. */
template <class A> __device__ A blockReduce(int op, A v) {
  __shared__ A part[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warpReduce(op, v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < nw ? part[lane] : r_init<A>(op);
  return warpReduce(op, v);
}

/** inner == 1: block (row o, split s) reduces x[o·size + s·chunk …] into out[o·nsplit + s]. */
template <class T, class O> __device__ void reduce_rows_body(int op, const T* x, O* out, i64 outer, i64 size, i64 nsplit, i64 chunk) {
  typedef typename TT<O>::A A;
  for (i64 r = blockIdx.x; r < outer * nsplit; r += gridDim.x) {
    i64 o = r / nsplit, s = r % nsplit;
    i64 begin = s * chunk, end = min(size, begin + chunk);
    const T* row = x + o * size;
    A acc = r_init<A>(op);
    // unrolled so that each thread keeps several independent loads in flight
    #pragma unroll 8
    for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x) acc = r_comb(op, acc, (A)TT<T>::ld(row, j));
    acc = blockReduce(op, acc);
    if (threadIdx.x == 0) TT<O>::st(out, r, acc);
    __syncthreads();
  }
}

/** inner > 1: thread (o, s, i) reduces its chunk of the axis into out[(o·nsplit + s)·inner + i]. */
template <class T, class O> __device__ void reduce_cols_body(int op, const T* x, O* out, i64 outer, i64 size, i64 inner, i64 nsplit, i64 chunk) {
  typedef typename TT<O>::A A;
  GRID_LOOP(t, outer * nsplit * inner) {
    i64 i = t % inner, r = t / inner;
    i64 o = r / nsplit, s = r % nsplit;
    i64 begin = s * chunk, end = min(size, begin + chunk);
    const T* base = x + o * size * inner + i;
    A acc = r_init<A>(op);
    #pragma unroll 8
    for (i64 j = begin; j < end; j++) acc = r_comb(op, acc, (A)TT<T>::ld(base, j * inner));
    TT<O>::st(out, t, acc);
  }
}

/** argmax over rows (inner == 1): one warp per row; ties and NaN as the CPU's strict '>' scan. */
template <class T> __device__ void argmax_rows_body(const T* x, int* out, i64 rows, i64 size) {
  typedef typename TT<T>::A A;
  i64 warps = ((i64)blockDim.x * gridDim.x) >> 5;
  int lane = threadIdx.x & 31;
  for (i64 r = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    A best = -xinf<A>();
    i64 at = -1;
    for (i64 j = lane; j < size; j += 32) {
      A v = TT<T>::ld(x, r * size + j);
      if (v > best) { best = v; at = j; }
    }
    for (int o = 16; o > 0; o >>= 1) {
      A ob = __shfl_xor_sync(0xffffffffu, best, o);
      i64 oa = __shfl_xor_sync(0xffffffffu, at, o);
      if (oa >= 0 && (at < 0 || ob > best || (ob == best && oa < at))) { best = ob; at = oa; }
    }
    if (lane == 0) out[r] = at < 0 ? 0 : (int)at;
  }
}

template <class T> __device__ void argmax_cols_body(const T* x, int* out, i64 outer, i64 size, i64 inner) {
  typedef typename TT<T>::A A;
  GRID_LOOP(t, outer * inner) {
    i64 i = t % inner, o = t / inner;
    A best = -xinf<A>();
    int at = 0;
    for (i64 s = 0; s < size; s++) {
      A v = TT<T>::ld(x, (o * size + s) * inner + i);
      if (v > best) { best = v; at = (int)s; }
    }
    out[t] = at;
  }
}

/** Row max and Σ exp(x − max) of one row, by one warp (the result in every lane). */
template <class T, class A> __device__ void rowStats(const T* row, i64 cols, A& mx, A& sum) {
  int lane = threadIdx.x & 31;
  mx = -xinf<A>();
  for (i64 c = lane; c < cols; c += 32) { A v = TT<T>::ld(row, c); if (v > mx) mx = v; }
  mx = warpMax(mx);
  sum = A(0);
  for (i64 c = lane; c < cols; c += 32) sum += xexp(TT<T>::ld(row, c) - mx);
  sum = warpSum(sum);
}

#define WARP_ROWS(r, rows) \
  int lane = threadIdx.x & 31; (void)lane; \
  for (i64 r = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < (rows); r += ((i64)blockDim.x * gridDim.x) >> 5)

template <class T> __device__ void softmax_body(const T* x, T* out, i64 rows, i64 cols, int logForm) {
  typedef typename TT<T>::A A;
  WARP_ROWS(r, rows) {
    const T* row = x + r * cols;
    A mx, sum;
    rowStats<T, A>(row, cols, mx, sum);
    if (logForm) {
      A lse = mx + xlog(sum);
      for (i64 c = lane; c < cols; c += 32) TT<T>::st(out, r * cols + c, TT<T>::ld(row, c) - lse);
    } else {
      A inv = A(1) / sum;
      for (i64 c = lane; c < cols; c += 32) TT<T>::st(out, r * cols + c, xexp(TT<T>::ld(row, c) - mx) * inv);
    }
  }
}

template <class T> __device__ void softmax_grad_body(const T* y, const T* dy, T* out, i64 rows, i64 cols, int logForm) {
  typedef typename TT<T>::A A;
  WARP_ROWS(r, rows) {
    i64 base = r * cols;
    A dot = 0;
    for (i64 c = lane; c < cols; c += 32) dot += logForm ? TT<T>::ld(dy, base + c) : TT<T>::ld(dy, base + c) * TT<T>::ld(y, base + c);
    dot = warpSum(dot);
    for (i64 c = lane; c < cols; c += 32) {
      A yv = TT<T>::ld(y, base + c), g = TT<T>::ld(dy, base + c);
      TT<T>::st(out, base + c, logForm ? g - xexp(yv) * dot : yv * (g - dot));
    }
  }
}

template <class T> __device__ void cross_entropy_body(const T* logits, const int* targets, T* out, i64 rows, i64 cols,
                                                      int ignoreIndex, u64* err) {
  typedef typename TT<T>::A A;
  WARP_ROWS(r, rows) {
    int t = targets[r];
    if (t == ignoreIndex) { if (lane == 0) TT<T>::st(out, r, A(0)); continue; }
    if (t < 0 || t >= cols) { if (lane == 0) { atomicMin(err, (u64)r); TT<T>::st(out, r, A(0)); } continue; }
    const T* row = logits + r * cols;
    A mx, sum;
    rowStats<T, A>(row, cols, mx, sum);
    if (lane == 0) TT<T>::st(out, r, mx + xlog(sum) - TT<T>::ld(row, t));
  }
}

template <class T> __device__ void cross_entropy_grad_body(const T* logits, const int* targets, const T* dloss, T* out,
                                                           i64 rows, i64 cols, int ignoreIndex) {
  typedef typename TT<T>::A A;
  WARP_ROWS(r, rows) {
    int t = targets[r];
    i64 base = r * cols;
    if (t == ignoreIndex || t < 0 || t >= cols) {
      for (i64 c = lane; c < cols; c += 32) TT<T>::st(out, base + c, A(0));
      continue;
    }
    A mx, sum;
    rowStats<T, A>(logits + base, cols, mx, sum);
    A lse = mx + xlog(sum), g = TT<T>::ld(dloss, r);
    for (i64 c = lane; c < cols; c += 32) {
      A v = g * xexp(TT<T>::ld(logits, base + c) - lse);
      TT<T>::st(out, base + c, c == t ? v - g : v);
    }
  }
}

/** out[(o·k + j)·inner + i] = x[(o·size + index[o·ios + j])·inner + i] (raw element copy). */
template <class U> __device__ void gather_body(const U* x, const int* index, U* out, i64 outer, i64 size, i64 inner, i64 k,
                                               i64 ios, u64* err) {
  GRID_LOOP(t, outer * k * inner) {
    i64 i = t % inner, r = t / inner;
    i64 j = r % k, o = r / k;
    int s = index[o * ios + j];
    if (s < 0 || s >= size) { atomicMin(err, (u64)r); out[t] = U(0); continue; }
    out[t] = x[(o * size + s) * inner + i];
  }
}

__device__ __forceinline__ void atomicAddT(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomicAddT(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomicAddT(int* p, double v) { atomicAdd(p, toInt32(v)); }
__device__ __forceinline__ void atomicAddT(bf16* p, float v) {
  unsigned int* word = (unsigned int*)((size_t)p & ~(size_t)3);
  bool high = ((size_t)p & 2) != 0;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    unsigned short cur = high ? (unsigned short)(assumed >> 16) : (unsigned short)(assumed & 0xffffu);
    unsigned short nxt = f2bf(bf2f(cur) + v);
    unsigned int repl = high ? ((assumed & 0xffffu) | ((unsigned int)nxt << 16)) : ((assumed & 0xffff0000u) | nxt);
    old = atomicCAS(word, assumed, repl);
  } while (old != assumed);
}

/**
 * out must be zero; out[(o·size + index[o·ios + j])·inner + i] += src[(o·k + j)·inner + i].
 * O may be wider than T: bf16 sources accumulate into an f32 buffer (the host casts it back), so
 * many additions into one row do not each round to bf16.
 */
template <class T, class O> __device__ void scatter_add_body(const T* src, const int* index, O* out, i64 outer, i64 size, i64 inner,
                                                             i64 k, i64 ios, u64* err) {
  GRID_LOOP(t, outer * k * inner) {
    i64 i = t % inner, r = t / inner;
    i64 j = r % k, o = r / k;
    int s = index[o * ios + j];
    if (s < 0 || s >= size) { atomicMin(err, (u64)r); continue; }
    atomicAddT(out + (o * size + s) * inner + i, TT<T>::ld(src, t));
  }
}

#define DEF_REDUCE_IO(SI, TI, SO, TO) \
  extern "C" __global__ void reduce_rows_##SI##_##SO(int op, const TI* x, TO* out, i64 outer, i64 size, i64 nsplit, i64 chunk) { reduce_rows_body<TI, TO>(op, x, out, outer, size, nsplit, chunk); } \
  extern "C" __global__ void reduce_cols_##SI##_##SO(int op, const TI* x, TO* out, i64 outer, i64 size, i64 inner, i64 nsplit, i64 chunk) { reduce_cols_body<TI, TO>(op, x, out, outer, size, inner, nsplit, chunk); }
DEF_REDUCE_IO(f32, float, f32, float)
DEF_REDUCE_IO(f64, double, f64, double)
DEF_REDUCE_IO(bf16, bf16, bf16, bf16)
DEF_REDUCE_IO(bf16, bf16, f32, float)
DEF_REDUCE_IO(f32, float, bf16, bf16)

#define DEF_ROWS(S, T) \
  extern "C" __global__ void argmax_rows_##S(const T* x, int* out, i64 rows, i64 size) { argmax_rows_body<T>(x, out, rows, size); } \
  extern "C" __global__ void argmax_cols_##S(const T* x, int* out, i64 outer, i64 size, i64 inner) { argmax_cols_body<T>(x, out, outer, size, inner); } \
  extern "C" __global__ void softmax_##S(const T* x, T* out, i64 rows, i64 cols, int logForm) { softmax_body<T>(x, out, rows, cols, logForm); } \
  extern "C" __global__ void softmax_grad_##S(const T* y, const T* dy, T* out, i64 rows, i64 cols, int logForm) { softmax_grad_body<T>(y, dy, out, rows, cols, logForm); } \
  extern "C" __global__ void cross_entropy_##S(const T* l, const int* t, T* out, i64 rows, i64 cols, int ig, u64* err) { cross_entropy_body<T>(l, t, out, rows, cols, ig, err); } \
  extern "C" __global__ void cross_entropy_grad_##S(const T* l, const int* t, const T* d, T* out, i64 rows, i64 cols, int ig) { cross_entropy_grad_body<T>(l, t, d, out, rows, cols, ig); }
FOR_FLOAT(DEF_ROWS)

#define DEF_SCATTER(S, T) extern "C" __global__ void scatter_add_##S(const T* src, const int* index, T* out, i64 outer, i64 size, i64 inner, i64 k, i64 ios, u64* err) { scatter_add_body<T, T>(src, index, out, outer, size, inner, k, ios, err); }
FOR_ALL(DEF_SCATTER)
extern "C" __global__ void scatter_add_bf16_f32(const bf16* src, const int* index, float* out, i64 outer, i64 size, i64 inner, i64 k, i64 ios, u64* err) { scatter_add_body<bf16, float>(src, index, out, outer, size, inner, k, ios, err); }

extern "C" __global__ void gather_2(const unsigned short* x, const int* index, unsigned short* out, i64 outer, i64 size, i64 inner, i64 k, i64 ios, u64* err) { gather_body<unsigned short>(x, index, out, outer, size, inner, k, ios, err); }
extern "C" __global__ void gather_4(const unsigned int* x, const int* index, unsigned int* out, i64 outer, i64 size, i64 inner, i64 k, i64 ios, u64* err) { gather_body<unsigned int>(x, index, out, outer, size, inner, k, ios, err); }
extern "C" __global__ void gather_8(const u64* x, const int* index, u64* out, i64 outer, i64 size, i64 inner, i64 k, i64 ios, u64* err) { gather_body<u64>(x, index, out, outer, size, inner, k, ios, err); }
`;
