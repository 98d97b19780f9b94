/**
 * One generic family of elementwise kernels, parameterised by the op's WGSL expression: unary ops
 * and their derivatives, broadcasting binary ops and `where` (operands read through strides held
 * in the uniform block), fill, cast, strided copy, the dropout mask (the CPU backend's counter hash,
 * bit for bit) and the fused AdamW update.
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import { renderKernel, type Kernel, type WgslType } from '../wgsl.js';

/** Axes of a strided operand after merging (collapseAxes). */
export const MAX_DIMS = 8;
/** Uniform words: 0 total, 1 rank, 2.. shape, then per strided operand k at 10 + 9k: offset, strides. */
export const STRIDED = { total: 0, rank: 1, shape: 2, operand: (k: number) => 10 + 9 * k, scalars: 40 } as const;

/** f(x) in f32. */
const UNARY: Record<UnaryOp, string> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', exp: 'exp(x)', log: 'log(x)', sqrt: 'sqrt(x)', rsqrt: '1.0 / sqrt(x)',
  square: 'x * x', reciprocal: '1.0 / x', sin: 'sin_(x)', cos: 'cos_(x)', sigmoid: 'sigmoid_(x)', logSigmoid: '-softplus_(-x)',
  tanh: 'tanh_(x)', relu: 'select(0.0, x, x > 0.0)', gelu: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))',
  geluTanh: '0.5 * x * (1.0 + tanh_(0.79788456080286536 * (x + 0.044715 * x * x * x)))', silu: 'x * sigmoid_(x)',
  softplus: 'softplus_(x)',
};

/** dy·f'(x) in f32, from x, y = f(x) and dy. */
const UNARY_GRAD: Record<UnaryOp, string> = {
  neg: '-dy', abs: 'dy * sign(x)', sign: '0.0', exp: 'dy * y', log: 'dy / x', sqrt: 'dy * 0.5 / y', rsqrt: 'dy * (-0.5 * y * y * y)',
  square: 'dy * 2.0 * x', reciprocal: '-dy * y * y', sin: 'dy * cos_(x)', cos: '-dy * sin_(x)', sigmoid: 'dy * y * (1.0 - y)',
  logSigmoid: 'dy * sigmoid_(-x)', tanh: 'dy * (1.0 - y * y)', relu: 'select(0.0, dy, x > 0.0)',
  gelu: 'dy * (0.5 * (1.0 + erf_(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x))',
  geluTanh: 'dy * geluTanhGrad(x)', silu: 'dy * sigmoid_(x) * (1.0 + x * (1.0 - sigmoid_(x)))', softplus: 'dy * sigmoid_(x)',
};

const GELU_TANH_GRAD = /* wgsl */ `
fn geluTanhGrad(x: f32) -> f32 {
  let th = tanh_(0.79788456080286536 * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * 0.79788456080286536 * (1.0 + 3.0 * 0.044715 * x * x);
}`;

/** a ∘ b in the operands' type T (comparisons give 0/1 in T). */
function binaryExpr(op: BinaryOp, t: WgslType): string {
  const one = t === 'f32' ? '1.0' : '1', zero = t === 'f32' ? '0.0' : '0';
  const cmp = (c: string) => `select(${zero}, ${one}, ${c})`;
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return t === 'f32' ? 'a / b' : 'select(0, a / b, b != 0)';
    case 'pow': return t === 'f32' ? 'pow_(a, b)' : 'i32(pow_(f32(a), f32(b)))';
    case 'maximum': return t === 'f32' ? 'select(b, a, a >= b || isnan_(a))' : 'max(a, b)';
    case 'minimum': return t === 'f32' ? 'select(b, a, a <= b || isnan_(a))' : 'min(a, b)';
    case 'gt': return cmp('a > b');
    case 'ge': return cmp('a >= b');
    case 'lt': return cmp('a < b');
    case 'le': return cmp('a <= b');
    case 'eq': return cmp('a == b');
  }
}

/** Math.pow's cases that WGSL's pow (exp2(b·log2 a)) leaves undefined: a ≤ 0, b = 0. */
const POW = /* wgsl */ `
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a > 0.0) { return pow(a, b); }
  if (a == 0.0) { return select(INF, 0.0, b > 0.0); }
  if (floor(b) != b) { return INF - INF; }
  let m = pow(-a, b);
  return select(m, -m, (abs(b) % 2.0) == 1.0);
}`;

/** Offset of the item `gid` for strided operands 0..n−1 into variables o0.. (the index walks the merged axes). */
function stridedOffsets(n: number): string {
  const lines = [`  var rem = gid;`];
  for (let k = 0; k < n; k++) lines.push(`  var o${k} = pi(${STRIDED.operand(k)}u);`);
  lines.push(`  for (var d = i32(pu(${STRIDED.rank}u)) - 1; d >= 0; d--) {`);
  lines.push(`    let s = pu(${STRIDED.shape}u + u32(d));`);
  lines.push(`    let c = i32(rem % s);`);
  lines.push(`    rem = rem / s;`);
  for (let k = 0; k < n; k++) lines.push(`    o${k} += c * pi(${STRIDED.operand(k) + 1}u + u32(d));`);
  lines.push(`  }`);
  return lines.join('\n');
}

const guard = (total: string) => `  if (gid >= ${total}) { return; }`;

export function unaryKernel(op: UnaryOp): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    body: `${guard('pu(0u)')}\n  let x = X[gid];\n  Out[gid] = ${UNARY[op]};`,
  });
}

export function unaryGradKernel(op: UnaryOp): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Y', type: 'f32' }, { name: 'DY', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    decls: GELU_TANH_GRAD,
    body: `${guard('pu(0u)')}\n  let x = X[gid];\n  let y = Y[gid];\n  let dy = DY[gid];\n  Out[gid] = ${UNARY_GRAD[op]};`,
  });
}

/** out[i] = a[..] ∘ b[..] through strides; a and b of type `t`, out of type `out`. */
export function binaryKernel(op: BinaryOp, ta: WgslType, tb: WgslType, out: WgslType): Kernel {
  return renderKernel({
    bindings: [{ name: 'A', type: ta }, { name: 'B', type: tb }, { name: 'Out', type: out, write: true }],
    decls: POW,
    body: `${guard(`pu(${STRIDED.total}u)`)}\n${stridedOffsets(2)}
  let a = A[o0];
  let b = ${ta}(B[o1]);
  Out[gid] = ${out}(${binaryExpr(op, ta)});`,
  });
}

export function whereKernel(tc: WgslType, t: WgslType): Kernel {
  return renderKernel({
    bindings: [{ name: 'C', type: tc }, { name: 'A', type: t }, { name: 'B', type: t }, { name: 'Out', type: t, write: true }],
    body: `${guard(`pu(${STRIDED.total}u)`)}\n${stridedOffsets(3)}
  Out[gid] = select(B[o2], A[o1], C[o0] != ${tc === 'f32' ? '0.0' : '0'});`,
  });
}

/** Raw 32-bit strided copy (operand 0 = source, operand 1 = destination). */
export function copyKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Src', type: 'u32' }, { name: 'Dst', type: 'u32', write: true }],
    body: `${guard(`pu(${STRIDED.total}u)`)}\n${stridedOffsets(2)}\n  Dst[o1] = Src[o0];`,
  });
}

/** Out[offset + i] = the bits in word 2, for i < word 0 (word 1: offset). */
export function fillKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Out', type: 'u32', write: true }],
    body: `${guard('pu(0u)')}\n  Out[pu(1u) + gid] = pu(2u);`,
  });
}

/** f32 ↔ i32 (f32 → i32 truncates toward zero, as the CPU backend's Math.trunc). */
export function castKernel(from: WgslType, to: WgslType): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: from }, { name: 'Out', type: to, write: true }],
    body: `${guard('pu(0u)')}\n  Out[gid] = ${to}(${from === 'f32' && to === 'i32' ? 'trunc(X[gid])' : 'X[gid]'});`,
  });
}

/**
 * Inverted-dropout mask: keep ⇔ dropoutHash(k0, k1, i) ≥ threshold (src/tensor/random.ts: murmur3's
 * finaliser twice over i·φ ⊕ k0), so the mask is the CPU backend's, bit for bit.
 * Words: 0 n, 1 k0, 2 k1, 3 threshold, 4 scale (f32).
 */
export function dropoutKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Out', type: 'f32', write: true }],
    decls: /* wgsl */ `
fn fmix32(h0: u32) -> u32 {
  var h = h0;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}`,
    body: `${guard('pu(0u)')}
  let hash = fmix32(fmix32((gid * 0x9e3779b9u) ^ pu(1u)) ^ pu(2u));
  Out[gid] = select(0.0, pf(4u), hash >= pu(3u));`,
  });
}

/** AdamW in place. Words: 0 n, 1 β1, 2 β2, 3 eps, 4 decay = 1 − lr·wd, 5 lr/c1, 6 1/√c2. */
export function adamwKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Param', type: 'f32', write: true }, { name: 'G', type: 'f32' }, { name: 'M', type: 'f32', write: true },
      { name: 'V', type: 'f32', write: true }],
    body: `${guard('pu(0u)')}
  let g = G[gid];
  let m = pf(1u) * M[gid] + (1.0 - pf(1u)) * g;
  let v = pf(2u) * V[gid] + (1.0 - pf(2u)) * g * g;
  M[gid] = m;
  V[gid] = v;
  Param[gid] = Param[gid] * pf(4u) - pf(5u) * m / (sqrt(v) * pf(6u) + pf(3u));`,
  });
}
