/**
 * The CUDA C prelude every kernel module starts with: storage types and their compute types
 * (f32 → float, f64 → double, i32 → double as JavaScript does, bf16 → float), bf16 conversion
 * (round to nearest even, no cuda_bf16.h needed), overloaded math, warp reductions, and the
 * instantiation macros that give each template an extern "C" name per dtype (e.g. unary_f32).
 *
 * Sizes are always kernel arguments; nothing about a problem is baked into a compiled module.
 */
import type { DType } from '../../backend.js';

/** Kernel-name suffix of a dtype. */
export const SUFFIX: Record<DType, string> = { f32: 'f32', f64: 'f64', i32: 'i32', bf16: 'bf16' };

/** Bytes per element. */
export const ELEM_BYTES: Record<DType, number> = { f32: 4, f64: 8, i32: 4, bf16: 2 };

export const PRELUDE = String.raw`
typedef long long i64;
typedef unsigned long long u64;
struct bf16 { unsigned short x; };

#define F_INF __int_as_float(0x7f800000)
#define F_NAN __int_as_float(0x7fffffff)

__device__ __forceinline__ float bf2f(unsigned short v) { return __uint_as_float(((unsigned int)v) << 16); }
__device__ __forceinline__ unsigned short f2bf(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}
/** JavaScript's ToInt32 of a truncated value (what storing into an Int32Array does). */
__device__ __forceinline__ int toInt32(double v) {
  if (!isfinite(v)) return 0;
  double t = trunc(v);
  double m = fmod(t, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (int)(unsigned int)m;
}

template <class T> struct TT;
template <> struct TT<float> {
  typedef float A;
  static __device__ __forceinline__ float ld(const float* p, i64 i) { return p[i]; }
  static __device__ __forceinline__ void st(float* p, i64 i, float v) { p[i] = v; }
};
template <> struct TT<double> {
  typedef double A;
  static __device__ __forceinline__ double ld(const double* p, i64 i) { return p[i]; }
  static __device__ __forceinline__ void st(double* p, i64 i, double v) { p[i] = v; }
};
template <> struct TT<int> {
  typedef double A;
  static __device__ __forceinline__ double ld(const int* p, i64 i) { return (double)p[i]; }
  static __device__ __forceinline__ void st(int* p, i64 i, double v) { p[i] = toInt32(v); }
};
template <> struct TT<bf16> {
  typedef float A;
  static __device__ __forceinline__ float ld(const bf16* p, i64 i) { return bf2f(p[i].x); }
  static __device__ __forceinline__ void st(bf16* p, i64 i, float v) { bf16 b; b.x = f2bf(v); p[i] = b; }
};

// Overloaded math: float versions for float compute, double for double.
__device__ __forceinline__ float xexp(float x) { return expf(x); }
__device__ __forceinline__ double xexp(double x) { return exp(x); }
__device__ __forceinline__ float xlog(float x) { return logf(x); }
__device__ __forceinline__ double xlog(double x) { return log(x); }
__device__ __forceinline__ float xlog1p(float x) { return log1pf(x); }
__device__ __forceinline__ double xlog1p(double x) { return log1p(x); }
__device__ __forceinline__ float xsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double xsqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float xsin(float x) { return sinf(x); }
__device__ __forceinline__ double xsin(double x) { return sin(x); }
__device__ __forceinline__ float xcos(float x) { return cosf(x); }
__device__ __forceinline__ double xcos(double x) { return cos(x); }
__device__ __forceinline__ float xtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double xtanh(double x) { return tanh(x); }
__device__ __forceinline__ float xerf(float x) { return erff(x); }
__device__ __forceinline__ double xerf(double x) { return erf(x); }
__device__ __forceinline__ float xpow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double xpow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float xabs(float x) { return fabsf(x); }
__device__ __forceinline__ double xabs(double x) { return fabs(x); }
template <class A> __device__ __forceinline__ bool xnan(A x) { return x != x; }
template <class A> __device__ __forceinline__ A xinf() { return (A)F_INF; }

template <class A> __device__ __forceinline__ A sigm(A x) {
  if (x >= 0) return A(1) / (A(1) + xexp(-x));
  A e = xexp(x);
  return e / (A(1) + e);
}
template <class A> __device__ __forceinline__ A softplus_(A x) {
  return x > 0 ? x + xlog1p(xexp(-x)) : xlog1p(xexp(x));
}
/** log(e^a + e^b), exact at −∞ (the CPU backend's logaddexp, expression for expression). */
template <class A> __device__ __forceinline__ A logaddexp_(A a, A b) {
  if (a == -xinf<A>()) return b;
  if (b == -xinf<A>()) return a;
  return a > b ? a + xlog1p(xexp(b - a)) : b + xlog1p(xexp(a - b));
}
/** minGRU's g(x) = x + ½ (x ≥ 0), σ(x) (x < 0), and its derivative. */
template <class A> __device__ __forceinline__ A mingru_g(A x) { return x >= 0 ? x + A(0.5) : sigm(x); }
template <class A> __device__ __forceinline__ A mingru_dg(A x) { if (x >= 0) return A(1); A s = sigm(x); return s * (A(1) - s); }

template <class A> __device__ __forceinline__ A warpSum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class A> __device__ __forceinline__ A warpMax(A v) {
  for (int o = 16; o > 0; o >>= 1) { A w = __shfl_xor_sync(0xffffffffu, v, o); v = w > v ? w : v; }
  return v;
}

/** Grid-stride loop over [0, n). */
#define GRID_LOOP(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

#define FOR_FLOAT(M) M(f32, float) M(f64, double) M(bf16, bf16)
#define FOR_ALL(M) M(f32, float) M(f64, double) M(i32, int) M(bf16, bf16)
`;
