/**
 * The GEMM driver shared by the main thread and the worker threads: the kernel configuration,
 * the job descriptor that lives in (shared) wasm memory, and the BLIS-style blocking loops that
 * call the wasm kernels (packA / packB / macro) for one thread's share of a job.
 *
 * No Node or DOM imports here: this file is loaded both by matmul.ts and by matmul-worker.ts.
 */
import { buildKernelModule, type KernelConfig, type KernelExports } from './kernels.js';
import { hasRelaxedSimd, type ModuleBuilder } from './emitter.js';
import { addElementwiseKernels } from './elementwise.js';

/** Register tile and cache blocking. */
export interface GemmShape {
  /** rows × columns of the register tile of C */
  mr: number;
  nr: number;
  /** k-steps per packed block (A micro-panel 5 KB, B micro-panel 8 KB: L1) */
  kc: number;
  /** max rows of op(A) per packed block (240×256×4 = 240 KB: L2) */
  mc: number;
  /** f32x4.relaxed_madd available */
  fma: boolean;
}

export function gemmShape(): GemmShape {
  // Micro-kernel alone, in L1, on Zen 5 / Node 20 (V8 11.3, mul+add): 5×8 ≈ 53 GFLOP/s,
  // 2×16 ≈ 52, 4×8 ≈ 45, 6×8 ≈ 29 (spills: 12 accumulators + 2 B + A + a temporary exceed the
  // 15 allocatable xmm registers). With a fused multiply-add the temporary is not needed, so
  // 6×8 fits (≈ 58 GFLOP/s with --experimental-wasm-relaxed-simd). Unrolling the k-loop made
  // things worse (TurboFan hoists all loads of the unrolled body and spills).
  const fma = hasRelaxedSimd();
  const mr = fma ? 6 : 5;
  return { mr, nr: 8, kc: 256, mc: mr * 48, fma };
}

/** Wasm page size and the shared memory's declared maximum (1 GiB: pointers stay below 2^30). */
export const PAGE = 65536;
export const MAX_PAGES = 16384;

export function kernelConfig(shape: GemmShape, shared: boolean): KernelConfig {
  return { mr: shape.mr, nr: shape.nr, unroll: 1, fma: shape.fma, shared, maximumPages: MAX_PAGES, initialPages: 1 };
}

/** The CPU backend's one wasm module: the GEMM kernels, the element-wise ones (elementwise.ts) and any registered later (fused cells). */
export function buildGemmModuleBytes(shape: GemmShape, shared: boolean, extra: readonly ((mb: ModuleBuilder) => void)[] = []): Uint8Array<ArrayBuffer> {
  return buildKernelModule(kernelConfig(shape, shared), (mb) => {
    addElementwiseKernels(mb);
    for (const add of extra) add(mb);
  });
}

/** Fixed byte offset of the job descriptor in wasm memory (the first page is reserved for it). */
export const JOB_PTR = 256;

/** Int32 fields of the job descriptor (index into an Int32Array view at JOB_PTR). Pointers and strides in bytes. */
export const J = {
  threads: 0,
  batch: 1,
  m: 2,
  n: 3,
  k: 4,
  accumulate: 5,
  aPtr: 6,
  aBatch: 7,
  ars: 8,
  acs: 9,
  bPtr: 10,
  bBatch: 11,
  brs: 12,
  bcs: 13,
  cPtr: 14,
  cBatch: 15,
  ldc: 16,
  /** packed op(B): one [ceil(n/NR)][k][NR] block per distinct B */
  pbPtr: 17,
  pbBatch: 18,
  bCopies: 19,
  /** columns packed per pack unit (multiple of NR) */
  packGroup: 20,
  /** rows / columns of C per compute unit (multiples of MR / NR) */
  rowBlock: 21,
  colBlock: 22,
  /** work-claiming counters (Atomics) */
  nextPack: 23,
  /** KIND_GEMM or KIND_ELEMENTWISE: which driver a helper runs (the element-wise words: elementwise.ts EJ) */
  kind: 24,
  nextUnit: 25,
  wsBase: 26,
  wsStride: 27,
  wsTile: 28,
  mr: 29,
  nr: 30,
  kc: 31,
  /** entry gate for helper threads: GATE_CLOSED bit | number of helpers that entered */
  gate: 32,
  /** helpers that entered and finished */
  finished: 33,
  /** set when a helper failed */
  error: 34,
  /** Int32 done-flag per pack unit (zeroed by the caller) */
  packFlags: 35,
} as const;
export const JOB_WORDS = 40;
export const GATE_CLOSED = 1 << 30;
export const KIND_GEMM = 0;
export const KIND_ELEMENTWISE = 1;
export const KIND_UNITS = 2;

/**
 * Helper-thread side of the job gate: enter the current job if it is open and not full.
 * Returns the helper's thread index (1-based; the calling thread is 0), or 0 if it cannot enter.
 * A helper woken late simply finds the gate closed, so the calling thread never waits for a
 * helper that has not started.
 */
export function tryEnterJob(job: Int32Array): number {
  for (;;) {
    const s = Atomics.load(job, J.gate);
    if (s & GATE_CLOSED) return 0;
    if (s >= job[J.threads]! - 1) return 0;
    if (Atomics.compareExchange(job, J.gate, s, s + 1) === s) return s + 1;
  }
}

/** Helper-thread side: report that this helper's share is done (ok = false on failure). */
export function leaveJob(job: Int32Array, ok: boolean): void {
  if (!ok) Atomics.store(job, J.error, 1);
  Atomics.add(job, J.finished, 1);
  Atomics.notify(job, J.finished);
}

/** Calling-thread side: open the gate of a freshly written job descriptor. */
export function openJob(job: Int32Array): void {
  job[J.finished] = 0;
  job[J.error] = 0;
  Atomics.store(job, J.gate, 0);
}

/**
 * Calling-thread side, after its own share: close the gate and wait for the helpers that entered.
 * Blocks with Atomics.wait where allowed (Node main thread, workers); spins otherwise.
 * Returns the number of helpers that took part, or -1 if one of them reported a failure.
 */
export function closeJob(job: Int32Array): number {
  const entered = Atomics.or(job, J.gate, GATE_CLOSED) & (GATE_CLOSED - 1);
  let spins = 0;
  let f: number;
  while ((f = Atomics.load(job, J.finished)) < entered) {
    if (++spins > 4000) {
      try {
        Atomics.wait(job, J.finished, f, 20);
      } catch {
        spins = 0; // Atomics.wait not allowed on this thread (browser main thread): keep spinning
      }
    }
  }
  return Atomics.load(job, J.error) === 0 ? entered : -1;
}

/** Per-thread workspace layout: packed A block (MC×KC), edge tile (bytes, 64-aligned). */
export function workspaceLayout(s: GemmShape): { aBytes: number; tileBytes: number; stride: number } {
  const al = (x: number): number => Math.ceil(x / 64) * 64;
  const aBytes = al(Math.ceil(s.mc / s.mr) * s.mr * s.kc * 4);
  const tileBytes = al(s.mr * s.nr * 4);
  return { aBytes, tileBytes, stride: aBytes + tileBytes };
}

/**
 * Runs thread `t`'s share of the job. Every participating thread calls this; work is claimed
 * dynamically (Atomics.add on counters in the job), so a late or descheduled thread simply does
 * less. Phase 1 packs op(B) into shared panels (units of `packGroup` columns); once every unit is
 * packed (finishing other threads' stragglers if needed), phase 2 computes C in units of
 * rowBlock × colBlock, each packing its own rows of op(A) into the thread's workspace.
 * Returns the number of compute units this thread did.
 */
export function runGemmShare(ex: KernelExports, job: Int32Array, t: number): number {
  const { packA, packB, macro } = ex;
  const batch = job[J.batch]!, m = job[J.m]!, n = job[J.n]!, k = job[J.k]!;
  const NR = job[J.nr]!, KC = job[J.kc]!;
  const panelBytes = k * NR * 4; // one packed B panel (all of k)

  // ---- phase 1: pack op(B)
  const brs = job[J.brs]!, bcs = job[J.bcs]!, bPtr = job[J.bPtr]!, bBatch = job[J.bBatch]!;
  const pbPtr = job[J.pbPtr]!, pbBatch = job[J.pbBatch]!;
  const G = job[J.packGroup]!;
  const perCopy = Math.ceil(n / G);
  const packUnits = job[J.bCopies]! * perCopy;
  const flags = new Int32Array(job.buffer, job[J.packFlags]!, packUnits);
  const packUnit = (u: number): void => {
    const copy = Math.floor(u / perCopy);
    const j0 = (u - copy * perCopy) * G;
    packB(bPtr + copy * bBatch + j0 * bcs, brs, bcs, k, Math.min(G, n - j0), pbPtr + copy * pbBatch + (j0 / NR) * panelBytes);
    Atomics.store(flags, u, 1);
  };
  let unitMs = 0;
  for (let u = Atomics.add(job, J.nextPack, 1); u < packUnits; u = Atomics.add(job, J.nextPack, 1)) {
    const t0 = performance.now();
    packUnit(u);
    unitMs = Math.max(unitMs, performance.now() - t0);
  }
  // No barrier: a unit still being packed by another thread is given about the time one unit
  // took here, then packed again by this thread (packing is idempotent: same bytes), so a
  // descheduled thread never holds the others up.
  for (let u = 0; u < packUnits; u++) {
    if (Atomics.load(flags, u) !== 0) continue;
    const deadline = performance.now() + 2 * unitMs + 0.005;
    while (Atomics.load(flags, u) === 0 && performance.now() < deadline) {
      // spin
    }
    if (Atomics.load(flags, u) === 0) packUnit(u);
  }

  // ---- phase 2: C in rowBlock × colBlock units
  const ars = job[J.ars]!, acs = job[J.acs]!, aPtr = job[J.aPtr]!, aBatch = job[J.aBatch]!;
  const cPtr = job[J.cPtr]!, cBatch = job[J.cBatch]!, ldc = job[J.ldc]!;
  const accumulate = job[J.accumulate]!;
  const RB = job[J.rowBlock]!, CB = job[J.colBlock]!;
  const rb = Math.ceil(m / RB), cb = Math.ceil(n / CB);
  const perBatch = rb * cb, units = batch * perBatch;
  const wsA = job[J.wsBase]! + t * job[J.wsStride]!;
  const wsTile = wsA + job[J.wsTile]!;
  let done = 0;
  for (let u = Atomics.add(job, J.nextUnit, 1); u < units; u = Atomics.add(job, J.nextUnit, 1)) {
    done++;
    const b = Math.floor(u / perBatch);
    const r = u - b * perBatch;
    const ri = Math.floor(r / cb), ci = r - ri * cb;
    const m0 = ri * RB, n0 = ci * CB;
    const mc = Math.min(RB, m - m0), nc = Math.min(CB, n - n0);
    const aBase = aPtr + b * aBatch + m0 * ars;
    const cBase = cPtr + b * cBatch + m0 * ldc + n0 * 4;
    const pb = pbPtr + (pbBatch === 0 ? 0 : b * pbBatch) + (n0 / NR) * panelBytes;
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packA(aBase + pc * acs, ars, acs, mc, kc, wsA);
      macro(wsA, pb + pc * NR * 4, cBase, ldc, mc, nc, kc, pc > 0 ? 1 : accumulate, wsTile, panelBytes);
    }
  }
  return done;
}
