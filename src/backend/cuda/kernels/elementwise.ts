/**
 * Elementwise kernels: fill, cast, strided copy, unary ops and their derivatives (one generic
 * kernel, the op a run-time code), broadcast binary ops, where, and the fused AdamW update.
 * The formulas follow src/backend/cpu/elementwise.ts one for one.
 *
 * Strided operands arrive as a `Strided` struct by value: the logical shape (after merging
 * contiguous and dropping unit axes on the host) and, per operand, its strides and offset.
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import { PRELUDE } from './common.js';

export const UNARY_OPS: readonly UnaryOp[] = [
  'neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'sigmoid',
  'logSigmoid', 'tanh', 'relu', 'gelu', 'geluTanh', 'silu', 'softplus',
];
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'];

/** Axes a Strided struct holds (after merging); more throws on the host. */
export const MAX_DIMS = 8;
/** Operands a Strided struct holds. */
export const MAX_OPERANDS = 3;
/** int64 words in the struct: shape, strides per operand, offsets per operand, rank, total. */
export const STRIDED_WORDS = MAX_DIMS * (1 + MAX_OPERANDS) + MAX_OPERANDS + 2;

const codes = (prefix: string, ops: readonly string[]) => ops.map((o, i) => `#define ${prefix}_${o} ${i}`).join('\n');

export const ELEMENTWISE_SOURCE = PRELUDE + codes('U', UNARY_OPS) + '\n' + codes('B', BINARY_OPS) + String.raw`

#define MAXD ${MAX_DIMS}
struct Strided {
  i64 shape[MAXD];
  i64 st[${MAX_OPERANDS}][MAXD];
  i64 off[${MAX_OPERANDS}];
  i64 rank;
  i64 total;
};

/** Offsets of logical element n in operands 0..K-1. */
template <int K> __device__ __forceinline__ void offsets(const Strided& s, i64 n, i64* o) {
  #pragma unroll
  for (int k = 0; k < K; k++) o[k] = s.off[k];
  if (s.rank == 1) {
    #pragma unroll
    for (int k = 0; k < K; k++) o[k] += n * s.st[k][0];
    return;
  }
  // 64-bit division costs tens of instructions; below 2³² elements 32-bit division does, which
  // keeps broadcast ops (a [rows, cols] tensor times a [cols] vector) memory-bound. The outermost
  // axis needs no division at all.
  if (s.total <= 0xffffffffll) {
    unsigned int m = (unsigned int)n;
    for (int d = (int)s.rank - 1; d > 0; d--) {
      const unsigned int size = (unsigned int)s.shape[d], c = m % size;
      m /= size;
      #pragma unroll
      for (int k = 0; k < K; k++) o[k] += (i64)c * s.st[k][d];
    }
    #pragma unroll
    for (int k = 0; k < K; k++) o[k] += (i64)m * s.st[k][0];
    return;
  }
  for (int d = (int)s.rank - 1; d > 0; d--) {
    i64 c = n % s.shape[d];
    n /= s.shape[d];
    #pragma unroll
    for (int k = 0; k < K; k++) o[k] += c * s.st[k][d];
  }
  #pragma unroll
  for (int k = 0; k < K; k++) o[k] += n * s.st[k][0];
}

template <class A> __device__ A unary_f(int op, A x) {
  const A SQRT_2_OVER_PI = A(0.7978845608028654), INV_SQRT_2 = A(0.7071067811865476);
  switch (op) {
    case U_neg: return -x;
    case U_abs: return xabs(x);
    case U_sign: return x > 0 ? A(1) : x < 0 ? A(-1) : A(0);
    case U_exp: return xexp(x);
    case U_log: return xlog(x);
    case U_sqrt: return xsqrt(x);
    case U_rsqrt: return A(1) / xsqrt(x);
    case U_square: return x * x;
    case U_reciprocal: return A(1) / x;
    case U_sin: return xsin(x);
    case U_cos: return xcos(x);
    case U_sigmoid: return sigm(x);
    case U_logSigmoid: return -softplus_(-x);
    case U_tanh: return xtanh(x);
    case U_relu: return x > 0 ? x : A(0);
    case U_gelu: return A(0.5) * x * (A(1) + xerf(x * INV_SQRT_2));
    case U_geluTanh: return A(0.5) * x * (A(1) + xtanh(SQRT_2_OVER_PI * (x + A(0.044715) * x * x * x)));
    case U_silu: return x * sigm(x);
    case U_softplus: return softplus_(x);
  }
  return x;
}

/** f'(x) given x and y = f(x). */
template <class A> __device__ A unary_df(int op, A x, A y) {
  const A SQRT_2_OVER_PI = A(0.7978845608028654), INV_SQRT_2 = A(0.7071067811865476), INV_SQRT_2PI = A(0.3989422804014327);
  switch (op) {
    case U_neg: return A(-1);
    case U_abs: return x > 0 ? A(1) : x < 0 ? A(-1) : A(0);
    case U_sign: return A(0);
    case U_exp: return y;
    case U_log: return A(1) / x;
    case U_sqrt: return A(0.5) / y;
    case U_rsqrt: return A(-0.5) * y * y * y;
    case U_square: return A(2) * x;
    case U_reciprocal: return -y * y;
    case U_sin: return xcos(x);
    case U_cos: return -xsin(x);
    case U_sigmoid: return y * (A(1) - y);
    case U_logSigmoid: return sigm(-x);
    case U_tanh: return A(1) - y * y;
    case U_relu: return x > 0 ? A(1) : A(0);
    case U_gelu: return A(0.5) * (A(1) + xerf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * xexp(A(-0.5) * x * x);
    case U_geluTanh: {
      A th = xtanh(SQRT_2_OVER_PI * (x + A(0.044715) * x * x * x));
      return A(0.5) * (A(1) + th) + A(0.5) * x * (A(1) - th * th) * SQRT_2_OVER_PI * (A(1) + A(3) * A(0.044715) * x * x);
    }
    case U_silu: { A s = sigm(x); return s * (A(1) + x * (A(1) - s)); }
    case U_softplus: return sigm(x);
  }
  return A(0);
}

template <class A> __device__ __forceinline__ A binary_f(int op, A a, A b) {
  switch (op) {
    case B_add: return a + b;
    case B_sub: return a - b;
    case B_mul: return a * b;
    case B_div: return a / b;
    case B_pow: return xpow(a, b);
    case B_maximum: return (a >= b || xnan(a)) ? a : b;
    case B_minimum: return (a <= b || xnan(a)) ? a : b;
    case B_gt: return a > b ? A(1) : A(0);
    case B_ge: return a >= b ? A(1) : A(0);
    case B_lt: return a < b ? A(1) : A(0);
    case B_le: return a <= b ? A(1) : A(0);
    case B_eq: return a == b ? A(1) : A(0);
  }
  return a;
}

template <class T> __device__ void fill_body(T* out, i64 n, double v) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, n) TT<T>::st(out, i, (A)v);
}

template <class I, class O> __device__ void cast_body(const I* x, O* out, i64 n) {
  typedef typename TT<O>::A A;
  GRID_LOOP(i, n) TT<O>::st(out, i, (A)TT<I>::ld(x, i));
}

/** Raw element copy through strides (operand 0: source, 1: destination). */
template <class U> __device__ void copy_body(const U* src, U* dst, Strided s) {
  GRID_LOOP(n, s.total) {
    i64 o[2];
    offsets<2>(s, n, o);
    dst[o[1]] = src[o[0]];
  }
}

template <class T> __device__ void unary_body(int op, const T* x, T* out, i64 n) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, n) TT<T>::st(out, i, unary_f<A>(op, TT<T>::ld(x, i)));
}

template <class T> __device__ void unary_grad_body(int op, const T* x, const T* y, const T* dy, T* out, i64 n) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, n) TT<T>::st(out, i, TT<T>::ld(dy, i) * unary_df<A>(op, TT<T>::ld(x, i), TT<T>::ld(y, i)));
}

/** out (contiguous) = op(a, b) with a, b read through strides (operands 0, 1). */
template <class T> __device__ void binary_body(int op, const T* a, const T* b, T* out, Strided s) {
  typedef typename TT<T>::A A;
  GRID_LOOP(n, s.total) {
    i64 o[2];
    offsets<2>(s, n, o);
    TT<T>::st(out, n, binary_f<A>(op, TT<T>::ld(a, o[0]), TT<T>::ld(b, o[1])));
  }
}

template <class C, class T> __device__ void where_body(const C* c, const T* a, const T* b, T* out, Strided s) {
  GRID_LOOP(n, s.total) {
    i64 o[3];
    offsets<3>(s, n, o);
    TT<T>::st(out, n, TT<C>::ld(c, o[0]) != 0 ? TT<T>::ld(a, o[1]) : TT<T>::ld(b, o[2]));
  }
}

/** murmur3's finaliser; dropout_hash is dropoutHash of src/backend/random.ts, bit for bit. */
__device__ __forceinline__ unsigned int fmix32(unsigned int h) {
  h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16; return h;
}
template <class T> __device__ void dropout_mask_body(T* out, i64 n, unsigned int k0, unsigned int k1, unsigned int threshold, double scale) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, n) {
    unsigned int h = fmix32(fmix32(((unsigned int)i * 0x9e3779b9u) ^ k0) ^ k1);
    TT<T>::st(out, i, (A)(h >= threshold ? scale : 0.0));
  }
}

/** AdamW in double arithmetic, as the CPU backend computes it (values stored in T). */
template <class T> __device__ void adamw_body(T* p, const T* g, T* m, T* v, i64 n, double beta1, double beta2,
                                             double eps, double decay, double step, double c2) {
  typedef typename TT<T>::A A;
  GRID_LOOP(i, n) {
    double gi = (double)TT<T>::ld(g, i);
    TT<T>::st(m, i, (A)(beta1 * (double)TT<T>::ld(m, i) + (1 - beta1) * gi));
    TT<T>::st(v, i, (A)(beta2 * (double)TT<T>::ld(v, i) + (1 - beta2) * gi * gi));
    double mi = (double)TT<T>::ld(m, i), vi = (double)TT<T>::ld(v, i);
    TT<T>::st(p, i, (A)((double)TT<T>::ld(p, i) * decay - step * mi / (sqrt(vi) * c2 + eps)));
  }
}

#define DEF_FILL(S, T) extern "C" __global__ void fill_##S(T* out, i64 n, double v) { fill_body<T>(out, n, v); }
FOR_ALL(DEF_FILL)

#define DEF_CAST_TO(SI, TI, SO, TO) extern "C" __global__ void cast_##SI##_##SO(const TI* x, TO* out, i64 n) { cast_body<TI, TO>(x, out, n); }
#define DEF_CAST_FROM(SI, TI) DEF_CAST_TO(SI, TI, f32, float) DEF_CAST_TO(SI, TI, f64, double) DEF_CAST_TO(SI, TI, i32, int) DEF_CAST_TO(SI, TI, bf16, bf16)
FOR_ALL(DEF_CAST_FROM)

extern "C" __global__ void copy_2(const unsigned short* src, unsigned short* dst, Strided s) { copy_body<unsigned short>(src, dst, s); }
extern "C" __global__ void copy_4(const unsigned int* src, unsigned int* dst, Strided s) { copy_body<unsigned int>(src, dst, s); }
extern "C" __global__ void copy_8(const u64* src, u64* dst, Strided s) { copy_body<u64>(src, dst, s); }

#define DEF_UNARY(S, T) \
  extern "C" __global__ void unary_##S(int op, const T* x, T* out, i64 n) { unary_body<T>(op, x, out, n); } \
  extern "C" __global__ void unary_grad_##S(int op, const T* x, const T* y, const T* dy, T* out, i64 n) { unary_grad_body<T>(op, x, y, dy, out, n); } \
  extern "C" __global__ void adamw_##S(T* p, const T* g, T* m, T* v, i64 n, double b1, double b2, double eps, double decay, double step, double c2) { adamw_body<T>(p, g, m, v, n, b1, b2, eps, decay, step, c2); }
FOR_FLOAT(DEF_UNARY)

#define DEF_DROPOUT(S, T) extern "C" __global__ void dropout_mask_##S(T* out, i64 n, unsigned int k0, unsigned int k1, unsigned int threshold, double scale) { dropout_mask_body<T>(out, n, k0, k1, threshold, scale); }
FOR_FLOAT(DEF_DROPOUT)

#define DEF_BINARY(S, T) extern "C" __global__ void binary_##S(int op, const T* a, const T* b, T* out, Strided s) { binary_body<T>(op, a, b, out, s); }
FOR_ALL(DEF_BINARY)

#define DEF_WHERE_TO(SC, TC, S, T) extern "C" __global__ void where_##SC##_##S(const TC* c, const T* a, const T* b, T* out, Strided s) { where_body<TC, T>(c, a, b, out, s); }
#define DEF_WHERE(SC, TC) DEF_WHERE_TO(SC, TC, f32, float) DEF_WHERE_TO(SC, TC, f64, double) DEF_WHERE_TO(SC, TC, i32, int) DEF_WHERE_TO(SC, TC, bf16, bf16)
FOR_ALL(DEF_WHERE)
`;
