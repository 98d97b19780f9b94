/** Elementwise CPU kernels: unary ops with their derivatives, broadcast binary ops, where, strided copy. */
import type { BinaryOp, HostArray, UnaryOp } from '../backend.js';

type Fn1 = (x: number) => number;
/** Derivative of a unary op from its input x and output y. */
type Grad1 = (x: number, y: number) => number;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf with fractional error below 1.2e-7 everywhere (Chebyshev fit of erfc, Numerical Recipes). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc : erfc - 1;
}

/** log(1 + e^x) without overflow. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const UNARY: Record<UnaryOp, { f: Fn1; df: Grad1 }> = {
  neg: { f: (x) => -x, df: () => -1 },
  abs: { f: Math.abs, df: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0) },
  sign: { f: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), df: () => 0 },
  exp: { f: Math.exp, df: (_x, y) => y },
  log: { f: Math.log, df: (x) => 1 / x },
  sqrt: { f: Math.sqrt, df: (_x, y) => 0.5 / y },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), df: (_x, y) => -0.5 * y * y * y },
  square: { f: (x) => x * x, df: (x) => 2 * x },
  reciprocal: { f: (x) => 1 / x, df: (_x, y) => -y * y },
  sin: { f: Math.sin, df: Math.cos },
  cos: { f: Math.cos, df: (x) => -Math.sin(x) },
  sigmoid: { f: sigmoid, df: (_x, y) => y * (1 - y) },
  logSigmoid: { f: (x) => -softplus(-x), df: (x) => sigmoid(-x) },
  tanh: { f: Math.tanh, df: (_x, y) => 1 - y * y },
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  gelu: {
    f: (x) => 0.5 * x * (1 + erf(x * INV_SQRT_2)),
    df: (x) => 0.5 * (1 + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  },
  geluTanh: {
    f: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
    df: (x) => {
      const th = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    },
  },
  silu: {
    f: (x) => x * sigmoid(x),
    df: (x) => { const s = sigmoid(x); return s * (1 + x * (1 - s)); },
  },
  softplus: { f: softplus, df: sigmoid },
};

export function unary(op: UnaryOp, x: HostArray, out: HostArray): void {
  const n = out.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); return;
    case 'square': for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; return;
    case 'relu': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0; return;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); return;
    default: {
      const f = UNARY[op].f;
      for (let i = 0; i < n; i++) out[i] = f(x[i]);
    }
  }
}

export function unaryGrad(op: UnaryOp, x: HostArray, y: HostArray, dy: HostArray, out: HostArray): void {
  const n = out.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -dy[i]; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = dy[i] * y[i]; return;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = dy[i] * y[i] * (1 - y[i]); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = dy[i] * (1 - y[i] * y[i]); return;
    default: {
      const df = UNARY[op].df;
      for (let i = 0; i < n; i++) out[i] = dy[i] * df(x[i], y[i]);
    }
  }
}

type Fn2 = (a: number, b: number) => number;
const BINARY: Record<BinaryOp, Fn2> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
};

/** Iterates a strided N-d index space; calls body(outIndexStart, offsets..., innerLength). */
function forEachRow(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  body: (rowStart: number, offs: number[], innerLen: number) => void,
): void {
  const nd = shape.length;
  if (nd === 0) { body(0, offsets.slice(), 1); return; }
  const inner = shape[nd - 1];
  let rows = 1;
  for (let d = 0; d < nd - 1; d++) rows *= shape[d];
  if (rows === 0 || inner === 0) return;
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  const offs = offsets.slice();
  for (let r = 0; r < rows; r++) {
    body(r * inner, offs, inner);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      for (let s = 0; s < strides.length; s++) offs[s] += strides[s][d];
      if (idx[d] < shape[d]) break;
      for (let s = 0; s < strides.length; s++) offs[s] -= strides[s][d] * shape[d];
      idx[d] = 0;
    }
  }
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

export function binary(
  op: BinaryOp, a: HostArray, aOff: number, aStr: readonly number[],
  b: HostArray, bOff: number, bStr: readonly number[], out: HostArray, shape: readonly number[],
): void {
  const n = out.length;
  const aFlat = isContiguous(shape, aStr);
  const bFlat = isContiguous(shape, bStr);
  const bScalar = bStr.every((s, d) => s === 0 || shape[d] === 1);
  if (aFlat && bFlat) {
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = a[aOff + i] + b[bOff + i]; return;
      case 'sub': for (let i = 0; i < n; i++) out[i] = a[aOff + i] - b[bOff + i]; return;
      case 'mul': for (let i = 0; i < n; i++) out[i] = a[aOff + i] * b[bOff + i]; return;
      case 'div': for (let i = 0; i < n; i++) out[i] = a[aOff + i] / b[bOff + i]; return;
    }
  }
  if (aFlat && bScalar) {
    const s = b[bOff];
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = a[aOff + i] + s; return;
      case 'sub': for (let i = 0; i < n; i++) out[i] = a[aOff + i] - s; return;
      case 'mul': for (let i = 0; i < n; i++) out[i] = a[aOff + i] * s; return;
      case 'div': for (let i = 0; i < n; i++) out[i] = a[aOff + i] / s; return;
    }
  }
  const f = BINARY[op];
  const nd = shape.length;
  const aIn = nd ? aStr[nd - 1] : 0;
  const bIn = nd ? bStr[nd - 1] : 0;
  forEachRow(shape, [aStr, bStr], [aOff, bOff], (start, [ao, bo], len) => {
    if (op === 'add' && aIn === 1 && bIn === 1) {
      for (let i = 0; i < len; i++) out[start + i] = a[ao + i] + b[bo + i];
    } else if (op === 'mul' && aIn === 1 && bIn === 1) {
      for (let i = 0; i < len; i++) out[start + i] = a[ao + i] * b[bo + i];
    } else {
      for (let i = 0; i < len; i++) out[start + i] = f(a[ao + i * aIn], b[bo + i * bIn]);
    }
  });
}

export function where(
  c: HostArray, cOff: number, cStr: readonly number[], a: HostArray, aOff: number, aStr: readonly number[],
  b: HostArray, bOff: number, bStr: readonly number[], out: HostArray, shape: readonly number[],
): void {
  const nd = shape.length;
  const cIn = nd ? cStr[nd - 1] : 0, aIn = nd ? aStr[nd - 1] : 0, bIn = nd ? bStr[nd - 1] : 0;
  forEachRow(shape, [cStr, aStr, bStr], [cOff, aOff, bOff], (start, [co, ao, bo], len) => {
    for (let i = 0; i < len; i++) out[start + i] = c[co + i * cIn] !== 0 ? a[ao + i * aIn] : b[bo + i * bIn];
  });
}

export function copy(
  src: HostArray, srcOff: number, srcStr: readonly number[],
  dst: HostArray, dstOff: number, dstStr: readonly number[], shape: readonly number[],
): void {
  const nd = shape.length;
  const sIn = nd ? srcStr[nd - 1] : 0, dIn = nd ? dstStr[nd - 1] : 0;
  forEachRow(shape, [srcStr, dstStr], [srcOff, dstOff], (_start, [so, dO], len) => {
    if (sIn === 1 && dIn === 1) {
      dst.set(src.subarray(so, so + len), dO);
    } else {
      for (let i = 0; i < len; i++) dst[dO + i * dIn] = src[so + i * sIn];
    }
  });
}
