/**
 * The GEMM driver shared by the main thread and the worker threads: the kernel configuration,
 * the job descriptor that lives in (shared) wasm memory, and the BLIS-style blocking loops that
 * call the wasm kernels (packA / packB / macro) for one thread's share of a job.
 *
 * No Node or DOM imports here: this file is loaded both by matmul.ts and by matmul-worker.ts.
 */
import { buildKernelModule, type KernelConfig, type KernelExports } from './kernels.js';
import { hasRelaxedSimd } from './emitter.js';

/** Register tile, per instruction set (measured on Zen 5 / V8 11.3: 5×8 mul+add ≈ 53 GFLOP/s in L1). */
export interface GemmShape {
  mr: number;
  nr: number;
  kc: number;
  mc: number;
  nc: number;
  fma: boolean;
}

export function gemmShape(): GemmShape {
  // With a fused multiply-add no temporary register is needed, so a 6×8 tile fits in 15 xmm
  // registers; with mul+add the 5×8 tile is the largest that does not spill.
  const fma = hasRelaxedSimd();
  const mr = fma ? 6 : 5;
  const nr = 8;
  return { mr, nr, kc: 256, mc: mr * 48, nc: 2048, fma };
}

/** Wasm page size and the shared memory's declared maximum (1 GiB: pointers stay below 2^30). */
export const PAGE = 65536;
export const MAX_PAGES = 16384;

export function kernelConfig(shape: GemmShape, shared: boolean): KernelConfig {
  return { mr: shape.mr, nr: shape.nr, unroll: 1, fma: shape.fma, shared, maximumPages: MAX_PAGES, initialPages: 1 };
}

export function buildGemmModuleBytes(shape: GemmShape, shared: boolean): Uint8Array<ArrayBuffer> {
  return buildKernelModule(kernelConfig(shape, shared));
}

/** Fixed byte offset of the job descriptor in wasm memory (the first page is reserved for it). */
export const JOB_PTR = 256;

/** Int32 fields of the job descriptor (index into an Int32Array view at JOB_PTR). */
export const J = {
  threads: 0,
  batch: 1,
  m: 2,
  n: 3,
  k: 4,
  parts: 5,
  splitN: 6,
  accumulate: 7,
  aPtr: 8,
  aBatch: 9,
  ars: 10,
  acs: 11,
  bPtr: 12,
  bBatch: 13,
  brs: 14,
  bcs: 15,
  cPtr: 16,
  cBatch: 17,
  ldc: 18,
  wsBase: 19,
  wsStride: 20,
  wsB: 21,
  wsTile: 22,
  mr: 23,
  nr: 24,
  mc: 25,
  kc: 26,
  nc: 27,
} as const;
export const JOB_WORDS = 32;

/** Per-thread workspace layout: packed A block, packed B block, edge tile (bytes, 64-aligned). */
export function workspaceLayout(s: GemmShape): { aBytes: number; bBytes: number; tileBytes: number; stride: number } {
  const al = (x: number): number => Math.ceil(x / 64) * 64;
  const aBytes = al(Math.ceil(s.mc / s.mr) * s.mr * s.kc * 4);
  const bBytes = al(Math.ceil(s.nc / s.nr) * s.nr * s.kc * 4);
  const tileBytes = al(s.mr * s.nr * 4);
  return { aBytes, bBytes, tileBytes, stride: aBytes + bBytes + tileBytes };
}

/**
 * Runs thread `t`'s share of the job. Work units are (batch, part) pairs, parts being slices of
 * the m (or n) dimension aligned to the register tile; thread t takes a contiguous range of units.
 */
export function runGemmShare(ex: KernelExports, job: Int32Array, t: number): void {
  const T = job[J.threads]!, batch = job[J.batch]!, P = job[J.parts]!;
  const m = job[J.m]!, n = job[J.n]!;
  const splitN = job[J.splitN]! !== 0;
  const MR = job[J.mr]!, NR = job[J.nr]!;
  const units = batch * P;
  const u0 = Math.floor((t * units) / T), u1 = Math.floor(((t + 1) * units) / T);
  const chunk = splitN ? Math.ceil(Math.ceil(n / P) / NR) * NR : Math.ceil(Math.ceil(m / P) / MR) * MR;
  for (let u = u0; u < u1; u++) {
    const b = Math.floor(u / P), part = u - b * P;
    let m0 = 0, m1 = m, n0 = 0, n1 = n;
    if (splitN) {
      n0 = part * chunk;
      n1 = Math.min(n, n0 + chunk);
    } else {
      m0 = part * chunk;
      m1 = Math.min(m, m0 + chunk);
    }
    if (m0 < m1 && n0 < n1) gemmRect(ex, job, t, b, m0, m1, n0, n1);
  }
}

function gemmRect(ex: KernelExports, job: Int32Array, t: number, b: number, m0: number, m1: number, n0: number, n1: number): void {
  const k = job[J.k]!;
  const ars = job[J.ars]!, acs = job[J.acs]!, brs = job[J.brs]!, bcs = job[J.bcs]!, ldc = job[J.ldc]!;
  const aBase = job[J.aPtr]! + b * job[J.aBatch]!;
  const bBase = job[J.bPtr]! + b * job[J.bBatch]!;
  const cBase = job[J.cPtr]! + b * job[J.cBatch]!;
  const accumulate = job[J.accumulate]!;
  const ws = job[J.wsBase]! + t * job[J.wsStride]!;
  const wsA = ws, wsB = ws + job[J.wsB]!, wsTile = ws + job[J.wsTile]!;
  const MC = job[J.mc]!, KC = job[J.kc]!, NC = job[J.nc]!;
  const { packA, packB, macro } = ex;
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = Math.min(NC, n1 - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(bBase + pc * brs + jc * bcs, brs, bcs, kc, nc, wsB);
      const acc = pc > 0 ? 1 : accumulate;
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = Math.min(MC, m1 - ic);
        packA(aBase + ic * ars + pc * acs, ars, acs, mc, kc, wsA);
        macro(wsA, wsB, cBase + ic * ldc + jc * 4, ldc, mc, nc, kc, acc, wsTile);
      }
    }
  }
}
