/**
 * CPU matmul: the public contract and the dispatch between kernels.
 *
 *  - f32: WebAssembly SIMD GEMM (kernels assembled at run time by wasm/kernels.ts), optionally
 *    spread over worker threads that share the wasm memory (see MatmulThreadPool; the Node pool
 *    lives in threads-node.ts and is installed by its enableCpuThreads()).
 *  - f64, tiny problems, and engines without wasm SIMD: the pure TypeScript kernel (matmul-js.ts).
 *
 * This module must stay free of Node imports (it is bundled for the browser).
 */
import { matmulJs } from './matmul-js.js';
import { hasWasmSimd } from './wasm/emitter.js';
import type { KernelExports } from './wasm/kernels.js';
import { EJ, runElementwiseShare } from './wasm/elementwise.js';
import { UJ, runUnitsShare } from './wasm/units.js';
import type { ModuleBuilder } from './wasm/emitter.js';
import {
  buildGemmModuleBytes,
  closeJob,
  gemmShape,
  GATE_CLOSED,
  openJob,
  J,
  JOB_PTR,
  JOB_WORDS,
  KIND_ELEMENTWISE,
  KIND_GEMM,
  KIND_UNITS,
  MAX_PAGES,
  PAGE,
  runGemmShare,
  workspaceLayout,
  type GemmShape,
} from './wasm/gemm.js';

export type FloatArray = Float32Array | Float64Array;

/** C[b] = op(A[b]) · op(B[b]) where op transposes when the flag is set.
 *  Per batch b: A is stored row-major as [m, k] (or [k, m] when transA), starting at aOffset + b*aBatchStride;
 *  B as [k, n] (or [n, k] when transB) at bOffset + b*bBatchStride; C as [m, n] contiguous at cOffset + b*m*n.
 *  A batch stride of 0 broadcasts that operand. When accumulate is true, C += result instead of C = result. */
export interface MatmulSpec {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aOffset: number;
  bOffset: number;
  cOffset: number;
  aBatchStride: number;
  bBatchStride: number;
  accumulate: boolean;
}

/**
 * A set of helper threads for the f32 wasm GEMM. matmul() hands it the shared wasm memory and the
 * compiled kernel module once (attach); per call it writes a job descriptor into that memory,
 * opens the job's gate, wake()s helpers, works on the job itself, then closes the gate and waits
 * for the helpers that entered (so a helper that wakes up late costs nothing).
 *
 * Helper protocol (see wasm/gemm.ts): on wake-up, with
 * `job = new Int32Array(memory.buffer, jobPtr, JOB_WORDS)` and an instance of `module` importing
 * `{ env: { memory } }`: `t = tryEnterJob(job)`; if t > 0, `runGemmShare(exports, job, t)` then
 * `leaveJob(job, ok)`.
 */
export interface MatmulThreadPool {
  /** Receives the shared memory and the compiled kernel module (again whenever matmul.ts replaces them). */
  attach(memory: WebAssembly.Memory, module: WebAssembly.Module): void;
  /** Helpers attached to the current memory and ready to take work now (must not block). */
  readyWorkers(): number;
  /** Wakes up to `count` ready helpers to join the job at byte offset jobPtr. Must not block. */
  wake(jobPtr: number, count: number): void;
  /** Called when the pool is replaced/removed via setMatmulThreadPool. */
  detach?(): void;
}

// ------------------------------------------------------------------------------------------ tuning

/** Below this many multiply-adds (batch·m·n·k) the pure JS kernel is used (no copies, no calls). */
export const JS_MAX_MACS = 4096;
/**
 * From this many multiply-adds on (≈ 45 µs on one thread, e.g. 102³), the worker threads are used
 * if a pool is set. Below it, waking a sleeping helper (futex wake-up: tens of µs in a VM) costs
 * about as much as it saves; back-to-back calls with a still-spinning helper would gain a little.
 */
export const THREAD_MIN_MACS = 1 << 20;

// ------------------------------------------------------------------------------------------ state

interface WasmState {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  exports: KernelExports;
  shared: boolean;
  shape: GemmShape;
  f32: Float32Array;
  job: Int32Array;
  /** Keys of the registered kernels this module was built with (ensureKernels), and its export names in order. */
  keys: ReadonlySet<string>;
  names: readonly string[];
}

let wasm: WasmState | null = null;
/** 'none': not tried yet; 'pending': async compilation in flight; 'failed': use JS. */
let wasmStatus: 'none' | 'pending' | 'ready' | 'failed' = 'none';
let wasmPromise: Promise<boolean> | null = null;
let pool: MatmulThreadPool | null = null;
let threadingEnabled = true;
/** Set to false to force the pure JS kernel (testing, debugging). */
let wasmEnabled = true;
/** Budget for staged operands in wasm memory (bytes); only lowered by tests to exercise chunking. */
let stagingBudget = Infinity;

/** Call counters by path (diagnostics and tests). */
export const matmulCounters = {
  /** calls served by the JS kernel */
  js: 0,
  /** calls served by the wasm kernels */
  wasm: 0,
  /** staged chunks (one per call unless operands exceed the staging budget) */
  chunks: 0,
  /** chunks offered to helper threads */
  threaded: 0,
  /** chunks in which at least one helper thread took part */
  helped: 0,
  /** threaded chunks where the caller waited long for a descheduled helper (see back-off) */
  stalls: 0,
  /** threaded chunks where the helpers did less than half their share (diagnostics) */
  lateHelpers: 0,
  /** times the contention back-off switched threads off for a while */
  backoffs: 0,
};

/**
 * Contention back-off. Work units are claimed dynamically and late helpers are never waited for,
 * so a helper that wakes up late only costs its wake-up. What does hurt is a helper descheduled
 * while it holds a unit (other processes competing for the cores): the caller then waits for a
 * scheduler time slice. A threaded call is a strike when the caller waited for helpers longer
 * than it worked itself, and over 0.2 ms. After two strikes in a row, calls up to that size run
 * single-threaded for a while: 10 ms, doubling (up to 1.6 s) while strikes keep coming within a
 * second of the last back-off.
 * (Process CPU time cannot tell whether helpers ran in parallel: Linux accounts the CPU time of
 * other running threads only at ticks/context switches, so it lags by milliseconds.)
 */
let backoffUntil = 0;
let backoffMs = 0;
let backoffMacs = 0;
let strikes = 0;
let backoffEnabled = true;

function threadsBackingOff(macs: number): boolean {
  return macs <= backoffMacs && performance.now() < backoffUntil;
}

function noteThreadedCall(macs: number, T: number, units: number, ownUnits: number, ownMs: number, waitMs: number): void {
  if (units - ownUnits < ((T - 1) * units) / (2 * T)) matmulCounters.lateHelpers++; // diagnostics only
  if (!backoffEnabled) return;
  if (!(waitMs > 0.2 && waitMs > ownMs)) {
    strikes = 0;
    return;
  }
  matmulCounters.stalls++;
  if (++strikes < 2) return;
  strikes = 0;
  const now = performance.now();
  const recent = now < backoffUntil + 1000;
  backoffMs = recent ? Math.min(1600, Math.max(10, backoffMs * 2)) : 10;
  backoffMacs = recent ? Math.max(backoffMacs, macs) : macs;
  backoffUntil = now + backoffMs;
  matmulCounters.backoffs++;
}

/** Testing hook: disable the contention back-off (so that every large call is offered to helpers). */
export function _setMatmulThreadBackoff(enabled: boolean): void {
  backoffEnabled = enabled;
  backoffMs = 0;
  backoffMacs = 0;
  backoffUntil = 0;
  strikes = 0;
}

/** Testing hook: caps the bytes of operands staged at once (forces batch / row chunking). null resets. */
export function _setMatmulStagingBudget(bytes: number | null): void {
  stagingBudget = bytes ?? Infinity;
}

function createMemory(): { memory: WebAssembly.Memory; shared: boolean } {
  const initial = 64; // 4 MiB
  try {
    if (typeof SharedArrayBuffer === 'function') {
      const memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
      if (memory.buffer instanceof SharedArrayBuffer) return { memory, shared: true };
    }
  } catch {
    // no shared memory (e.g. a browser page without cross-origin isolation)
  }
  return { memory: new WebAssembly.Memory({ initial, maximum: MAX_PAGES }), shared: false };
}

function finishState(memory: WebAssembly.Memory, shared: boolean, shape: GemmShape, module: WebAssembly.Module, instance: WebAssembly.Instance,
                     keys: ReadonlySet<string>): WasmState {
  const st: WasmState = {
    keys,
    names: WebAssembly.Module.exports(module).map((e) => e.name),
    memory,
    module,
    exports: instance.exports as unknown as KernelExports,
    shared,
    shape,
    f32: new Float32Array(memory.buffer),
    job: new Int32Array(memory.buffer, JOB_PTR, JOB_WORDS),
  };
  st.job[J.gate] = GATE_CLOSED; // helpers may only enter while a job is open
  wasm = st;
  wasmStatus = 'ready';
  if (pool && shared) pool.attach(memory, module);
  return st;
}

/** Returns the wasm GEMM state, creating it synchronously when possible. */
function getWasm(): WasmState | null {
  if (wasmStatus === 'ready') return wasm;
  if (wasmStatus !== 'none') return null;
  if (typeof WebAssembly !== 'object' || !hasWasmSimd()) {
    wasmStatus = 'failed';
    return null;
  }
  const shape = gemmShape();
  const { memory, shared } = createMemory();
  const keys = new Set(extraKernels.keys());
  const bytes = buildGemmModuleBytes(shape, shared, [...extraKernels.values()]);
  try {
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    return finishState(memory, shared, shape, module, instance, keys);
  } catch {
    // Browsers refuse synchronous compilation of larger modules on the main thread: compile
    // asynchronously and use the JS kernel meanwhile.
    void initMatmulWasm();
    return null;
  }
}

/**
 * Prepares the wasm kernels asynchronously (useful in browsers, where the first synchronous
 * matmul may otherwise run on the JS kernel). Resolves to whether the wasm kernels are usable.
 */
export function initMatmulWasm(): Promise<boolean> {
  if (wasmStatus === 'ready') return Promise.resolve(true);
  if (wasmStatus === 'failed') return Promise.resolve(false);
  if (wasmPromise) return wasmPromise;
  if (typeof WebAssembly !== 'object' || !hasWasmSimd()) {
    wasmStatus = 'failed';
    return Promise.resolve(false);
  }
  wasmStatus = 'pending';
  const shape = gemmShape();
  const { memory, shared } = createMemory();
  const keys = new Set(extraKernels.keys());
  const bytes = buildGemmModuleBytes(shape, shared, [...extraKernels.values()]);
  wasmPromise = (async () => {
    try {
      const module = await WebAssembly.compile(bytes);
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      finishState(memory, shared, shape, module, instance, keys);
      return true;
    } catch {
      wasmStatus = 'failed';
      return false;
    }
  })();
  return wasmPromise;
}

/**
 * Installs (or removes, with null) the helper threads used by large f32 matmuls. The pool is
 * attached to the shared wasm memory right away (requires shared WebAssembly.Memory support).
 */
export function setMatmulThreadPool(p: MatmulThreadPool | null): void {
  if (pool === p) return;
  if (pool) pool.detach?.();
  pool = p;
  if (!p) return;
  const st = getWasm();
  if (st) {
    if (!st.shared) throw new Error('matmul thread pool needs shared WebAssembly memory (SharedArrayBuffer)');
    p.attach(st.memory, st.module);
  }
  // otherwise the pool is attached when the (async) wasm state becomes ready
}

export function getMatmulThreadPool(): MatmulThreadPool | null {
  return pool;
}

/** Temporarily stops (false) or resumes (true) offering work to the pool, keeping its threads. */
export function setMatmulThreading(enabled: boolean): void {
  threadingEnabled = enabled;
}

/** Which kernels matmul() may use: 'auto' (default) or 'js' (pure TypeScript only). */
export function setMatmulKernel(kind: 'auto' | 'js'): void {
  wasmEnabled = kind === 'auto';
}

/** Describes the f32 path currently available: for diagnostics and benchmarks. */
export function matmulInfo(): { wasm: boolean; shared: boolean; tile: string; fma: boolean; threads: number } {
  const st = getWasm();
  return {
    wasm: !!st && wasmEnabled,
    shared: !!st?.shared,
    tile: st ? `${st.shape.mr}x${st.shape.nr}` : '',
    fma: !!st?.shape.fma,
    threads: 1 + (pool && threadingEnabled && st?.shared ? pool.readyWorkers() : 0),
  };
}

// ------------------------------------------------------------------------------------------ entry

const SPEC_INTS = ['batch', 'm', 'n', 'k', 'aOffset', 'bOffset', 'cOffset', 'aBatchStride', 'bBatchStride'] as const;

function checkSpec(a: FloatArray, b: FloatArray, c: FloatArray, s: MatmulSpec): void {
  const { batch, m, n, k } = s;
  for (let i = 0; i < SPEC_INTS.length; i++) {
    const v = s[SPEC_INTS[i]!];
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`matmul: ${SPEC_INTS[i]} must be a non-negative integer, got ${v}`);
  }
  if (a.constructor !== c.constructor || b.constructor !== c.constructor) throw new TypeError('matmul: a, b and c must have the same element type');
  if (batch === 0 || m === 0 || n === 0) return;
  if (k > 0) {
    if (s.aOffset + (batch - 1) * s.aBatchStride + m * k > a.length) throw new RangeError('matmul: A out of bounds');
    if (s.bOffset + (batch - 1) * s.bBatchStride + k * n > b.length) throw new RangeError('matmul: B out of bounds');
  }
  if (s.cOffset + batch * m * n > c.length) throw new RangeError('matmul: C out of bounds');
}

export function matmul(a: FloatArray, b: FloatArray, c: FloatArray, spec: MatmulSpec): void {
  checkSpec(a, b, c, spec);
  const { batch, m, n, k } = spec;
  if (batch === 0 || m === 0 || n === 0) return;
  if (k === 0) {
    if (!spec.accumulate) c.fill(0, spec.cOffset, spec.cOffset + batch * m * n);
    return;
  }
  if (c instanceof Float32Array && wasmEnabled && batch * m * n * k > JS_MAX_MACS) {
    const st = getWasm();
    if (st && matmulWasm(st, a as Float32Array, b as Float32Array, c, spec)) {
      matmulCounters.wasm++;
      return;
    }
  }
  matmulCounters.js++;
  matmulJs(a, b, c, spec);
}

// ------------------------------------------------------------------------------------------ wasm path

const align64 = (x: number): number => Math.ceil(x / 64) * 64;

function ensureBytes(st: WasmState, bytes: number): boolean {
  const have = st.memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) return false;
    try {
      st.memory.grow(pages);
    } catch {
      return false;
    }
  }
  if (st.f32.buffer !== st.memory.buffer || st.f32.length * 4 !== st.memory.buffer.byteLength) {
    st.f32 = new Float32Array(st.memory.buffer);
    st.job = new Int32Array(st.memory.buffer, JOB_PTR, JOB_WORDS);
  }
  return true;
}

/** Runs the f32 GEMM in wasm; returns false if the operands cannot be staged (caller falls back to JS). */
function matmulWasm(st: WasmState, a: Float32Array, b: Float32Array, c: Float32Array, spec: MatmulSpec): boolean {
  const { batch, m, n, k } = spec;
  const shape = st.shape;
  const macs = batch * m * n * k;
  let T = 1;
  if (pool && threadingEnabled && st.shared && macs >= THREAD_MIN_MACS && !threadsBackingOff(macs)) T = 1 + pool.readyWorkers();
  const ws = workspaceLayout(shape);
  const wsBase = align64(JOB_PTR + JOB_WORDS * 4);
  const dataBase = align64(wsBase + T * ws.stride);
  const limit = Math.min(MAX_PAGES * PAGE - dataBase - PAGE, stagingBudget);

  const aBcast = spec.aBatchStride === 0;
  const bBcast = spec.bBatchStride === 0;
  const packedB = k * Math.ceil(n / shape.nr) * shape.nr;
  const bytesFor = (bc: number, rows: number): number => {
    const bCopies = bBcast ? 1 : bc;
    return 4 * ((aBcast ? 1 : bc) * rows * k + bCopies * (k * n + packedB + n) + bc * rows * n) + 5 * 64;
  };

  if (bytesFor(batch, m) <= limit) {
    runChunk(st, a, b, c, spec, T, ws, wsBase, dataBase, 0, batch, 0, m);
    return true;
  }
  // Too large to stage at once: batches in groups, else row slabs of one batch at a time.
  // The first chunk is always the largest, so if it fits, all of them do (no partial results
  // are written before a fallback to JS).
  let bc = Math.floor(batch / 2);
  while (bc > 0 && bytesFor(bc, m) > limit) bc = Math.floor(bc / 2);
  if (bc > 0) {
    if (!ensureBytes(st, dataBase + bytesFor(bc, m))) return false;
    for (let b0 = 0; b0 < batch; b0 += bc) runChunk(st, a, b, c, spec, T, ws, wsBase, dataBase, b0, Math.min(bc, batch - b0), 0, m);
    return true;
  }
  let rows = Math.floor((limit - bytesFor(1, 0)) / 4 / (k + n));
  rows -= rows % shape.mr;
  if (rows < shape.mr) return false; // B alone does not fit: leave it to the JS kernel
  if (!ensureBytes(st, dataBase + bytesFor(1, rows))) return false;
  for (let bi = 0; bi < batch; bi++) {
    for (let r0 = 0; r0 < m; r0 += rows) runChunk(st, a, b, c, spec, T, ws, wsBase, dataBase, bi, 1, r0, Math.min(m, r0 + rows));
  }
  return true;
}

/** Stages batches [b0, b0+bc) and op(A)/C rows [r0, r1) into wasm memory, runs the job, copies C back. */
function runChunk(
  st: WasmState, a: Float32Array, b: Float32Array, c: Float32Array, spec: MatmulSpec, T: number,
  ws: ReturnType<typeof workspaceLayout>, wsBase: number, dataBase: number,
  b0: number, bc: number, r0: number, r1: number,
): void {
  const { m, n, k, transA, transB } = spec;
  const { mr: MR, nr: NR, mc: MC } = st.shape;
  const rows = r1 - r0;
  const fullRows = rows === m;
  const aBcast = spec.aBatchStride === 0;
  const bBcast = spec.bBatchStride === 0;
  const aCopies = aBcast ? 1 : bc;
  const bCopies = bBcast ? 1 : bc;
  const packedBBytes = k * Math.ceil(n / NR) * NR * 4;
  const aPtr = dataBase;
  const bPtr = align64(aPtr + aCopies * rows * k * 4);
  const cPtr = align64(bPtr + bCopies * k * n * 4);
  const pbPtr = align64(cPtr + bc * rows * n * 4);
  const flagsPtr = align64(pbPtr + bCopies * packedBBytes);
  const end = flagsPtr + bCopies * n * 4; // ≥ one flag per pack unit
  if (!ensureBytes(st, end)) throw new Error('matmul: wasm memory could not grow'); // checked by the caller
  const heap = st.f32;

  // ---- stage A (op(A) rows r0..r1 of each batch, dense)
  const aW = aPtr >> 2;
  if (fullRows && !aBcast && spec.aBatchStride === m * k) {
    const s = spec.aOffset + b0 * m * k;
    heap.set(a.subarray(s, s + bc * m * k), aW);
  } else {
    for (let i = 0; i < aCopies; i++) {
      const ao = spec.aOffset + (b0 + i) * spec.aBatchStride;
      const dst = aW + i * rows * k;
      if (fullRows) heap.set(a.subarray(ao, ao + m * k), dst);
      else if (!transA) heap.set(a.subarray(ao + r0 * k, ao + r1 * k), dst);
      else for (let p = 0; p < k; p++) heap.set(a.subarray(ao + p * m + r0, ao + p * m + r1), dst + p * rows);
    }
  }
  // ---- stage B
  const bW = bPtr >> 2;
  if (!bBcast && spec.bBatchStride === k * n) {
    const s = spec.bOffset + b0 * k * n;
    heap.set(b.subarray(s, s + bc * k * n), bW);
  } else {
    for (let i = 0; i < bCopies; i++) {
      const bo = spec.bOffset + (b0 + i) * spec.bBatchStride;
      heap.set(b.subarray(bo, bo + k * n), bW + i * k * n);
    }
  }
  // ---- stage C (only when accumulating); batches are contiguous in C, rows r0..r1 of each
  const cW = cPtr >> 2;
  const cSrc = (i: number): number => spec.cOffset + (b0 + i) * m * n + r0 * n;
  if (spec.accumulate) {
    if (fullRows) heap.set(c.subarray(cSrc(0), cSrc(0) + bc * m * n), cW);
    else for (let i = 0; i < bc; i++) heap.set(c.subarray(cSrc(i), cSrc(i) + rows * n), cW + i * rows * n);
  }

  // ---- work decomposition: about 4 compute units per thread (claimed dynamically)
  const roundUp = (x: number, q: number): number => Math.ceil(x / q) * q;
  let rowBlock = Math.min(MC, roundUp(rows, MR));
  let colBlock = n;
  let packGroup = roundUp(n, NR);
  if (T > 1) {
    const want = 4 * T;
    if (bc * Math.ceil(rows / rowBlock) < want) {
      rowBlock = Math.min(rowBlock, Math.max(2 * MR, roundUp(Math.ceil(rows / Math.ceil(want / bc)), MR)));
    }
    const rowUnits = bc * Math.ceil(rows / rowBlock);
    if (rowUnits < want) {
      colBlock = Math.max(4 * NR, roundUp(Math.ceil(n / Math.ceil(want / rowUnits)), NR));
      if (colBlock >= n) colBlock = n;
    }
    if (bCopies < 2 * T) packGroup = Math.max(NR, roundUp(Math.ceil(n / Math.ceil((2 * T) / bCopies)), NR));
  }

  // ---- job descriptor
  const job = st.job;
  job[J.kind] = KIND_GEMM;
  job[J.threads] = T;
  job[J.batch] = bc;
  job[J.m] = rows;
  job[J.n] = n;
  job[J.k] = k;
  job[J.accumulate] = spec.accumulate ? 1 : 0;
  job[J.aPtr] = aPtr;
  job[J.aBatch] = aBcast ? 0 : rows * k * 4;
  job[J.ars] = transA ? 4 : k * 4;
  job[J.acs] = transA ? rows * 4 : 4;
  job[J.bPtr] = bPtr;
  job[J.bBatch] = bBcast ? 0 : k * n * 4;
  job[J.brs] = transB ? 4 : n * 4;
  job[J.bcs] = transB ? k * 4 : 4;
  job[J.cPtr] = cPtr;
  job[J.cBatch] = rows * n * 4;
  job[J.ldc] = n * 4;
  job[J.pbPtr] = pbPtr;
  job[J.pbBatch] = bBcast ? 0 : packedBBytes;
  job[J.bCopies] = bCopies;
  job[J.packGroup] = packGroup;
  job[J.rowBlock] = rowBlock;
  job[J.colBlock] = colBlock;
  job[J.nextPack] = 0;
  job[J.nextUnit] = 0;
  job[J.packFlags] = flagsPtr;
  heap.fill(0, flagsPtr >> 2, (flagsPtr >> 2) + bCopies * Math.ceil(n / packGroup));
  job[J.wsBase] = wsBase;
  job[J.wsStride] = ws.stride;
  job[J.wsTile] = ws.aBytes;
  job[J.mr] = MR;
  job[J.nr] = NR;
  job[J.kc] = st.shape.kc;

  matmulCounters.chunks++;
  if (T > 1) {
    matmulCounters.threaded++;
    openJob(job);
    pool!.wake(JOB_PTR, T - 1);
    let helpers = -1;
    const t0 = performance.now();
    let t1 = t0;
    let ownUnits = 0;
    try {
      ownUnits = runGemmShare(st.exports, job, 0);
    } finally {
      t1 = performance.now();
      helpers = closeJob(job);
    }
    if (helpers < 0) throw new Error('matmul: a helper thread failed (see the error printed by the worker)');
    if (helpers > 0) matmulCounters.helped++;
    const units = bc * Math.ceil(rows / rowBlock) * Math.ceil(n / colBlock);
    noteThreadedCall(bc * rows * n * k, T, units, ownUnits, t1 - t0, performance.now() - t1);
  } else {
    runGemmShare(st.exports, job, 0);
  }

  // ---- copy C back
  if (fullRows) c.set(heap.subarray(cW, cW + bc * m * n), cSrc(0));
  else for (let i = 0; i < bc; i++) c.set(heap.subarray(cW + i * rows * n, cW + (i + 1) * rows * n), cSrc(i));
}

// ------------------------------------------------------------------------------------------ other kernels

/**
 * The wasm memory and module exports for the CPU backend's other kernels (element-wise, fused
 * cells): they stage operands at `base` (after the job descriptor and the GEMM workspaces, which
 * they never use at the same time: every call is synchronous on the calling thread) and run in
 * the same module, so the same worker threads can help. null where wasm SIMD is unavailable, not
 * compiled yet, or switched off with setMatmulKernel('js').
 */
export interface WasmKernelHost {
  exports: Record<string, unknown>;
  /** A view of the whole memory, current after the last reserve(). */
  heap: Float32Array;
  /** First byte free for staging. */
  base: number;
}

/** Returns the kernel host with at least `bytes` of staging room after `base`, or null. */
export function wasmKernelHost(bytes: number): WasmKernelHost | null {
  if (!wasmEnabled) return null;
  const st = getWasm();
  if (!st) return null;
  const base = align64(JOB_PTR + JOB_WORDS * 4 + 16 * workspaceLayout(st.shape).stride);
  if (!ensureBytes(st, base + bytes)) return null;
  return { exports: st.exports as unknown as Record<string, unknown>, heap: st.f32, base };
}

/** Element-wise job counters (diagnostics and tests): jobs run, offered to helpers, helped by at least one. */
export const kernelCounters = { jobs: 0, threaded: 0, helped: 0 };

/** Threads (the calling one included) an element-wise job of `work` units would get now. */
export function kernelThreads(work: number, minWork: number): number {
  const st = wasm;
  if (!st || !pool || !threadingEnabled || !st.shared || work < minWork || threadsBackingOff(work)) return 1;
  return 1 + pool.readyWorkers();
}

/**
 * Runs an element-wise kernel (wasm/elementwise.ts) over n vectors on T threads: the job
 * descriptor names the kernel and its pointers; helpers and the calling thread claim chunks.
 */
export function runKernelJob(kernel: number, p0: number, p1: number, p2: number, p3: number, n: number, T: number): void {
  const st = wasm!;
  kernelCounters.jobs++;
  if (T > 1) kernelCounters.threaded++;
  const job = st.job;
  job[J.kind] = KIND_ELEMENTWISE;
  job[J.threads] = T;
  job[EJ.kernel] = kernel;
  job[EJ.p0] = p0; job[EJ.p1] = p1; job[EJ.p2] = p2; job[EJ.p3] = p3;
  job[EJ.n] = n;
  // about 4 chunks per thread, at least 1024 vectors each (a chunk is claimed with one atomic add)
  job[EJ.chunk] = T > 1 ? Math.max(1024, Math.ceil(n / (4 * T))) : n;
  job[J.nextUnit] = 0;
  if (T <= 1) {
    runElementwiseShare(st.exports as unknown as Record<string, unknown>, job, J.nextUnit);
    return;
  }
  openJob(job);
  pool!.wake(JOB_PTR, T - 1);
  const t0 = performance.now();
  let t1 = t0, own = 0, helpers = -1;
  try {
    own = runElementwiseShare(st.exports as unknown as Record<string, unknown>, job, J.nextUnit);
  } finally {
    t1 = performance.now();
    helpers = closeJob(job);
  }
  if (helpers < 0) throw new Error('cpu kernel: a helper thread failed (see the error printed by the worker)');
  if (helpers > 0) kernelCounters.helped++;
  const units = Math.ceil(n / job[EJ.chunk]!);
  noteThreadedCall(n * 16, T, units, own, t1 - t0, performance.now() - t1);
}

// ------------------------------------------------------------------------------------------ registered kernels

/** Kernels added to the module after start-up (fused cells rendered from their definitions), by key. */
const extraKernels = new Map<string, (mb: ModuleBuilder) => void>();

/**
 * Makes sure the module contains the kernels `add` defines (registered once under `key`): the
 * module is rebuilt and re-instantiated on the same memory, and the worker threads are restarted
 * on it (tens of ms, once per new kernel set). Returns whether they can be called now; false in a
 * browser page that cannot compile synchronously (it compiles in the background meanwhile).
 */
export function ensureKernels(key: string, add: (mb: ModuleBuilder) => void): boolean {
  if (!wasmEnabled) return false;
  const st = getWasm();
  if (st?.keys.has(key)) return true;
  extraKernels.set(key, add);
  if (!st) return false; // the module being compiled now (or next) includes it
  const keys = new Set(extraKernels.keys());
  const bytes = buildGemmModuleBytes(st.shape, st.shared, [...extraKernels.values()]);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch {
    wasmStatus = 'pending';
    wasmPromise = (async () => {
      try {
        const m = await WebAssembly.compile(bytes);
        finishState(st.memory, st.shared, st.shape, m, await WebAssembly.instantiate(m, { env: { memory: st.memory } }), keys);
        return true;
      } catch {
        wasmStatus = 'failed';
        return false;
      }
    })();
    return false;
  }
  finishState(st.memory, st.shared, st.shape, module, new WebAssembly.Instance(module, { env: { memory: st.memory } }), keys);
  return true;
}

/** A kernel argument of a unit job: base + row·rowStep + block·blockStep ('count': the block's vectors). */
export type UnitArg = readonly [base: number, rowStep: number, blockStep: number] | 'count';

/**
 * Runs `kernel` once per (row, block of blockVectors channel vectors) over rows × rowVectors, on
 * the calling thread and, from `minWork` on, the helpers (wasm/units.ts). The argument table is
 * written at `tablePtr` (a few words of staging memory the caller reserved).
 */
export function runUnitsJob(kernel: string, args: readonly UnitArg[], rows: number, rowVectors: number, blockVectors: number,
                            tablePtr: number, work: number, minWork: number): void {
  const st = wasm!;
  const id = st.names.indexOf(kernel);
  if (id < 0) throw new Error(`cpu kernel ${kernel} is not in the module`);
  const heap = new Int32Array(st.memory.buffer);
  const t = tablePtr >> 2;
  let countArg = -1;
  args.forEach((a, i) => {
    if (a === 'count') { countArg = i; heap[t + 3 * i] = heap[t + 3 * i + 1] = heap[t + 3 * i + 2] = 0; return; }
    heap[t + 3 * i] = a[0]; heap[t + 3 * i + 1] = a[1]; heap[t + 3 * i + 2] = a[2];
  });
  const job = st.job;
  job[J.kind] = KIND_UNITS;
  job[UJ.kernel] = id;
  job[UJ.nargs] = args.length;
  job[UJ.table] = tablePtr;
  job[UJ.blocks] = Math.ceil(rowVectors / blockVectors);
  job[UJ.rowVectors] = rowVectors;
  job[UJ.blockVectors] = blockVectors;
  job[UJ.countArg] = countArg;
  job[UJ.rows] = rows;
  job[J.nextUnit] = 0;
  const fn = (st.exports as unknown as Record<string, (...a: number[]) => void>)[kernel]!;
  const T = kernelThreads(work, minWork);
  job[J.threads] = T;
  kernelCounters.jobs++;
  if (T <= 1) {
    runUnitsShare(fn, job, heap, J.nextUnit);
    return;
  }
  kernelCounters.threaded++;
  openJob(job);
  pool!.wake(JOB_PTR, T - 1);
  const t0 = performance.now();
  let t1 = t0, own = 0, helpers = -1;
  try {
    own = runUnitsShare(fn, job, heap, J.nextUnit);
  } finally {
    t1 = performance.now();
    helpers = closeJob(job);
  }
  if (helpers < 0) throw new Error('cpu kernel: a helper thread failed (see the error printed by the worker)');
  if (helpers > 0) kernelCounters.helped++;
  noteThreadedCall(work, T, rows * job[UJ.blocks]!, own, t1 - t0, performance.now() - t1);
}
