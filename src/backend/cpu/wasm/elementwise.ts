/**
 * Element-wise f32x4 kernels of the CPU backend, assembled into the same module as the GEMM (so the
 * worker threads that instantiate it can run them too): unary ops and their derivatives (the
 * transcendental ones through math.ts), the AdamW update, and the loop shape they share.
 *
 * Every kernel works on whole vectors: pointers are byte offsets into the shared memory, `n` counts
 * f32x4 vectors. Callers stage arrays into regions rounded up to 16 bytes, so a length that is not
 * a multiple of 4 only computes a few padding lanes that nobody reads back (float SIMD never traps).
 */
import { Code, I32, V128, type ModuleBuilder } from './emitter.js';
import * as m from './math.js';
import type { UnaryOp } from '../../backend.js';

/** Pushes f(x) for the local x. */
type Emit1 = (c: Code, x: number) => void;
/** Pushes dy·f'(x) from locals x, y = f(x), dy. */
type EmitGrad = (c: Code, x: number, y: number, dy: number) => void;

const call = (fn: (c: Code) => void): Emit1 => (c, x) => { c.get(x); fn(c); };
/** bitselect with the operands in reading order: where mask then a else b. */
function select(c: Code, mask: () => void, a: () => void, b: () => void): void {
  a(); b(); mask(); c.v128Bitselect();
}
const geZero = (c: Code, x: number) => (): void => { c.get(x).f32x4Const(0).f32x4Ge(); };

/** The unary ops that have an f32x4 kernel (the others stay on the scalar path). */
export const SIMD_UNARY: Partial<Record<UnaryOp, { f: Emit1; df: EmitGrad }>> = {
  neg: { f: (c, x) => c.get(x).f32x4Neg(), df: (c, _x, _y, dy) => c.get(dy).f32x4Neg() },
  square: { f: (c, x) => c.get(x).get(x).f32x4Mul(), df: (c, x, _y, dy) => c.get(x).get(x).f32x4Add().get(dy).f32x4Mul() },
  sqrt: { f: (c, x) => c.get(x).f32x4Sqrt(), df: (c, _x, y, dy) => c.get(dy).f32x4Const(0.5).f32x4Mul().get(y).f32x4Div() },
  reciprocal: {
    f: (c, x) => c.f32x4Const(1).get(x).f32x4Div(),
    df: (c, _x, y, dy) => c.get(dy).get(y).f32x4Mul().get(y).f32x4Mul().f32x4Neg(),
  },
  relu: {
    f: (c, x) => select(c, () => c.get(x).f32x4Const(0).f32x4Gt(), () => c.get(x), () => c.f32x4Const(0)),
    df: (c, x, _y, dy) => select(c, () => c.get(x).f32x4Const(0).f32x4Gt(), () => c.get(dy), () => c.f32x4Const(0)),
  },
  exp: { f: call(m.exp), df: (c, _x, y, dy) => c.get(dy).get(y).f32x4Mul() },
  log: { f: call(m.log), df: (c, x, _y, dy) => c.get(dy).get(x).f32x4Div() },
  sigmoid: {
    f: call(m.sigmoid),
    df: (c, _x, y, dy) => c.get(dy).get(y).f32x4Mul().f32x4Const(1).get(y).f32x4Sub().f32x4Mul(),
  },
  tanh: {
    f: call(m.tanh),
    // 1 − y² as (1 − y)(1 + y): exact 1 − y near |y| = 1, where 1 − y·y would cancel
    df: (c, _x, y, dy) => c.get(dy).f32x4Const(1).get(y).f32x4Sub().f32x4Mul().f32x4Const(1).get(y).f32x4Add().f32x4Mul(),
  },
  softplus: { f: call(m.softplus), df: (c, x, _y, dy) => { c.get(x); m.sigmoid(c); c.get(dy).f32x4Mul(); } },
  logSigmoid: { f: call(m.logSigmoid), df: (c, x, _y, dy) => { c.get(x).f32x4Neg(); m.sigmoid(c); c.get(dy).f32x4Mul(); } },
  silu: {
    f: (c, x) => { c.get(x); m.sigmoid(c); c.get(x).f32x4Mul(); },
    df: (c, x, _y, dy) => {
      // σ(x)·(1 + x·σ(−x))·dy: σ(−x) computed, not 1 − σ(x) (which loses its digits for x ≫ 0)
      c.get(x); m.sigmoid(c);
      c.f32x4Const(1).get(x);
      c.get(x).f32x4Neg(); m.sigmoid(c);
      c.f32x4Mul().f32x4Add().f32x4Mul().get(dy).f32x4Mul();
    },
  },
};

export const SIMD_UNARY_OPS = Object.keys(SIMD_UNARY) as UnaryOp[];

/**
 * Kernel ids shared by the calling thread and the workers (the job descriptor names a kernel by
 * id): unary ops first, then their derivatives, then adamw.
 */
export const KERNEL_IDS: readonly string[] = [
  ...SIMD_UNARY_OPS.map((op) => `unary_${op}`),
  ...SIMD_UNARY_OPS.map((op) => `unaryGrad_${op}`),
  'adamw',
];
export const kernelId = (name: string): number => {
  const i = KERNEL_IDS.indexOf(name);
  if (i < 0) throw new Error(`no wasm kernel ${name}`);
  return i;
};

/**
 * One signature for every element-wise kernel: (p0, p1, p2, p3, n) with byte pointers p0..p3 and n
 * vectors; each kernel reads and writes what it needs. The AdamW kernel's scalars come from a small
 * parameter block at p3 (see adamwParams).
 */
export type ElementwiseKernel = (p0: number, p1: number, p2: number, p3: number, n: number) => void;

/** Loop over n vectors: body(k) gets the byte offset local k (0, 16, 32, ...). */
function vectorLoop(c: Code, n: number, body: (k: number) => void): void {
  const k = c.local(I32), end = c.local(I32);
  c.get(n).i32Const(4).i32Shl().set(end);
  c.get(end).if_().loop();
  body(k);
  c.get(k).i32Const(16).i32Add().tee(k).get(end).i32LtU().brIf(0);
  c.end().end();
}

/**
 * AdamW hyper-parameters as f32 words at ADAMW_HYPER_PTR (page 0: right after the job descriptor
 * at 256 + 40·4, before the 64-aligned GEMM workspaces at 448):
 * β1, 1−β1, β2, 1−β2, decay = 1 − lr·wd, step = lr/c1, 1/√c2, eps.
 */
export const ADAMW_HYPER_PTR = 416;
export const ADAMW_WORDS = 8;

export function addElementwiseKernels(mb: ModuleBuilder): void {
  const sig = [I32, I32, I32, I32, I32] as const;
  const P0 = 0, P1 = 1, P2 = 2, P3 = 3, N = 4;
  const at = (c: Code, base: number, k: number): Code => c.get(base).get(k).i32Add();
  for (const op of SIMD_UNARY_OPS) {
    const f = mb.declare(`unary_${op}`, sig);
    mb.define(f, (c) => {
      const x = c.local(V128);
      // unary: x at p0 → out at p1
      vectorLoop(c, N, (k) => {
        at(c, P0, k).v128Load().set(x);
        at(c, P1, k);
        SIMD_UNARY[op]!.f(c, x);
        c.v128Store();
      });
    });
  }
  for (const op of SIMD_UNARY_OPS) {
    const f = mb.declare(`unaryGrad_${op}`, sig);
    mb.define(f, (c) => {
      const x = c.local(V128), y = c.local(V128), dy = c.local(V128);
      // x at p0, y at p1, dy at p2 → out at p3
      vectorLoop(c, N, (k) => {
        at(c, P0, k).v128Load().set(x);
        at(c, P1, k).v128Load().set(y);
        at(c, P2, k).v128Load().set(dy);
        at(c, P3, k);
        SIMD_UNARY[op]!.df(c, x, y, dy);
        c.v128Store();
      });
    });
  }
  const adamw = mb.declare('adamw', sig);
  mb.define(adamw, (c) => {
    // param p0, grad p1, m p2, v p3, all updated in place but grad
    const hp: number[] = [];
    for (let i = 0; i < ADAMW_WORDS; i++) {
      const l = c.local(V128);
      c.i32Const(ADAMW_HYPER_PTR).v128Load32Splat(i * 4).set(l);
      hp.push(l);
    }
    const [b1, nb1, b2, nb2, decay, step, c2, eps] = hp as [number, number, number, number, number, number, number, number];
    const g = c.local(V128), mm = c.local(V128), vv = c.local(V128);
    vectorLoop(c, N, (k) => {
      at(c, P1, k).v128Load().set(g);
      at(c, P2, k).v128Load().get(b1).f32x4Mul().get(g).get(nb1).f32x4Mul().f32x4Add().set(mm);
      at(c, P3, k).v128Load().get(b2).f32x4Mul().get(g).get(g).f32x4Mul().get(nb2).f32x4Mul().f32x4Add().set(vv);
      at(c, P2, k).get(mm).v128Store();
      at(c, P3, k).get(vv).v128Store();
      // p = p·decay − step·m/(√v·c2 + eps)
      at(c, P0, k);
      at(c, P0, k).v128Load().get(decay).f32x4Mul();
      c.get(step).get(mm).f32x4Mul().get(vv).f32x4Sqrt().get(c2).f32x4Mul().get(eps).f32x4Add().f32x4Div().f32x4Sub();
      c.v128Store();
    });
  });
}

/** Words of the job descriptor (wasm/gemm.ts's J) that an element-wise job uses. */
export const EJ = { kernel: 1, p0: 2, p1: 3, p2: 4, p3: 5, n: 6, chunk: 7 } as const;

/**
 * Runs thread t's share of an element-wise job: chunks of `chunk` vectors claimed dynamically
 * (Atomics.add on the job's unit counter), each a call of the kernel on offset pointers.
 */
export function runElementwiseShare(exports: Record<string, unknown>, job: Int32Array, nextUnit: number): number {
  const kernel = exports[KERNEL_IDS[job[EJ.kernel]!]!] as ElementwiseKernel;
  const p0 = job[EJ.p0]!, p1 = job[EJ.p1]!, p2 = job[EJ.p2]!, p3 = job[EJ.p3]!;
  const n = job[EJ.n]!, chunk = job[EJ.chunk]!;
  const units = Math.ceil(n / chunk);
  let done = 0;
  for (let u = Atomics.add(job, nextUnit, 1); u < units; u = Atomics.add(job, nextUnit, 1)) {
    const off = u * chunk * 16;
    kernel(p0 + off, p1 + off, p2 + off, p3 + off, Math.min(chunk, n - u * chunk));
    done++;
  }
  return done;
}
