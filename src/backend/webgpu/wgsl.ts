/**
 * The small WGSL renderer every webgpu kernel goes through. A kernel is a body of statements plus
 * the storage buffers it binds; `renderKernel` adds the shared pieces: the per-dispatch uniform
 * block (64 words of sizes, offsets and scalars: sizes are never baked into a shader, so one
 * pipeline serves every shape), the storage declarations, the linear invocation index over a 2-D
 * grid of workgroups, and the numerically careful scalar functions (log1p, expm1, sigmoid,
 * softplus, tanh, erf) that WGSL lacks or defines too loosely. Cell definitions' expressions
 * (src/backend/pointwise) are rendered here too (renderExprs).
 */
import { schedule, type Expr } from '../pointwise/expr.js';

/** Element types of storage arrays: f32/i32 tensors; u32 for raw copies and hashes. */
export type WgslType = 'f32' | 'i32' | 'u32';

/** A storage binding: its WGSL name, element type, and whether the kernel writes it. */
export interface Binding {
  name: string;
  type: WgslType | 'atomic<u32>' | 'atomic<i32>';
  write?: boolean;
}

/** Words in the uniform block of one dispatch (256 bytes: the dynamic-offset alignment). */
export const PARAM_WORDS = 64;

/** The uniform word kept 0 (see INF in the prelude); kernels use words below it. */
export const INF_WORD = PARAM_WORDS - 1;

/** Threads per workgroup of the one-thread-per-item kernels. */
export const WG = 256;

export interface KernelSpec {
  bindings: readonly Binding[];
  body: string;
  /** Workgroup size (x only); default WG. */
  workgroup?: number;
  /** Declarations placed before the entry point (workgroup arrays, helper functions). */
  decls?: string;
}

const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${PARAM_WORDS / 4}>;
fn pu(k: u32) -> u32 { return P[k / 4u][k % 4u]; }
fn pi(k: u32) -> i32 { return bitcast<i32>(pu(k)); }
fn pf(k: u32) -> f32 { return bitcast<f32>(pu(k)); }

// log(1 + x) and e^x − 1 to full precision near 0 (Kahan's corrections)
fn log1p_(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0) { return x; }
  if (u > 3.0e38) { return log(u); }
  return log(u) * (x / (u - 1.0));
}
fn expm1_(x: f32) -> f32 {
  if (x > 80.0) { return exp(x); }
  let u = exp(x);
  if (u == 1.0) { return x; }
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * x / log(u);
}
fn sigmoid_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
fn softplus_(x: f32) -> f32 {
  if (x > 0.0) { return x + log1p_(exp(-x)); }
  return log1p_(exp(x));
}
// tanh from expm1 of a non-positive argument: no overflow, relative precision near 0
fn tanh_(x: f32) -> f32 {
  let e = expm1_(-2.0 * abs(x));
  let t = -e / (e + 2.0);
  return select(t, -t, x < 0.0);
}
// erf with fractional error below 1.2e-7 (the Chebyshev fit of erfc the CPU backend uses)
fn erf_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let erfc = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(erfc - 1.0, 1.0 - erfc, x >= 0.0);
}
// sin and cos to ~1 ulp near the origin (WGSL allows 2^-11 absolute error): reduction by π/2 in
// two parts (Cody–Waite), then cephes' single-precision polynomials on [−π/4, π/4]
fn sincos_(x: f32) -> vec2<f32> {
  let q = round(x * 0.63661977236758134);
  let r = (x - q * 1.5707963705062866) + q * 4.3711388286737929e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  let k = i32(q - 4.0 * floor(q * 0.25));
  if (k == 0) { return vec2<f32>(s, c); }
  if (k == 1) { return vec2<f32>(c, -s); }
  if (k == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}
fn sin_(x: f32) -> f32 { return sincos_(x).x; }
fn cos_(x: f32) -> f32 { return sincos_(x).y; }
fn isnan_(x: f32) -> bool { return !(x == x); }
// log(e^a + e^b), exact at −∞
fn logaddexp_(a: f32, b: f32) -> f32 {
  if (a == -INF) { return b; }
  if (b == -INF) { return a; }
  let m = max(a, b);
  return m + log1p_(exp(-abs(a - b)));
}
// +∞ cannot be a WGSL constant; main() sets it from the reserved word INF_WORD (always 0)
var<private> INF: f32;
`;

/** A rendered kernel: its WGSL module (entry point `main`) and which storage bindings it writes. */
export interface Kernel { source: string; writes: boolean[] }

/** The complete WGSL module of a kernel. */
export function renderKernel(spec: KernelSpec): Kernel {
  const wg = spec.workgroup ?? WG;
  const decls = spec.bindings.map((b, k) => {
    const access = b.write ? 'read_write' : 'read';
    return `@group(0) @binding(${k + 1}) var<storage, ${access}> ${b.name}: array<${b.type}>;`;
  });
  const source = `${PRELUDE}
${decls.join('\n')}
${spec.decls ?? ''}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  INF = bitcast<f32>(0x7f800000u + pu(${INF_WORD}u));
  let lid = lid3.x;
  // the workgroup's linear number over the 2-D grid (more than 65535 workgroups wrap into y)
  let group = wid.y * nwg.x + wid.x;
  let gid = group * ${wg}u + lid;
${spec.body}
}
`;
  return { source, writes: spec.bindings.map((b) => b.write === true) };
}

/** 2-D grid of workgroups covering `groups` (each dimension at most 65535). */
export function grid(groups: number): [number, number] {
  const g = Math.max(1, groups);
  if (g <= 65535) return [g, 1];
  return [65535, Math.ceil(g / 65535)];
}

/** WGSL literal of a JS number as an f32 expression (no exponent surprises). */
export function f32Literal(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`wgsl: non-finite literal ${v}`);
  const s = Math.fround(v).toPrecision(9);
  return s.includes('.') || s.includes('e') ? `f32(${s})` : `f32(${s}.0)`;
}

/**
 * A program of pointwise expressions (src/backend/pointwise/expr.ts) as WGSL statements: one
 * `let` per node in schedule order (hash-consed nodes are computed once), inputs read through
 * `load(name)` (a WGSL expression), in f32. Returns the statements and the WGSL names of the
 * outputs. The scalar functions are the prelude's careful ones (log1p_, sigmoid_, tanh_, …).
 */
export function renderExprs(outputs: readonly Expr[], load: (name: string) => string): { code: string; results: string[] } {
  const name = (e: Expr) => `e${e.id}`;
  const lines: string[] = [];
  for (const e of schedule(outputs)) {
    lines.push(`let ${name(e)} = ${renderNode(e, name, load)};`);
  }
  return { code: lines.join('\n'), results: outputs.map(name) };
}

function renderNode(e: Expr, name: (e: Expr) => string, load: (n: string) => string): string {
  switch (e.op) {
    case 'const':
      if (Number.isNaN(e.value)) return '(INF - INF)';
      if (e.value === Infinity) return 'INF';
      if (e.value === -Infinity) return '(-INF)';
      return f32Literal(e.value);
    case 'input': return `f32(${load(e.name)})`;
    case 'unary': {
      const x = name(e.x);
      switch (e.fn) {
        case 'neg': return `-${x}`;
        case 'exp': return `exp(${x})`;
        case 'log': return `log(${x})`;
        case 'log1p': return `log1p_(${x})`;
        case 'sigmoid': return `sigmoid_(${x})`;
        case 'tanh': return `tanh_(${x})`;
        case 'logSigmoid': return `-softplus_(-${x})`;
        case 'softplus': return `softplus_(${x})`;
        case 'sqrt': return `sqrt(${x})`;
        case 'abs': return `abs(${x})`;
      }
      break;
    }
    case 'binary': {
      const a = name(e.a), b = name(e.b);
      switch (e.fn) {
        case 'add': return `${a} + ${b}`;
        case 'sub': return `${a} - ${b}`;
        case 'mul': return `${a} * ${b}`;
        case 'div': return `${a} / ${b}`;
        case 'max': return `max(${a}, ${b})`;
        case 'min': return `min(${a}, ${b})`;
      }
      break;
    }
    case 'compare': {
      const op = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' }[e.fn];
      return `select(0.0, 1.0, ${name(e.a)} ${op} ${name(e.b)})`;
    }
    case 'select': return `select(${name(e.b)}, ${name(e.a)}, ${name(e.cond)} != 0.0)`;
  }
  throw new Error(`wgsl: cannot render expression node ${JSON.stringify(e)}`);
}
