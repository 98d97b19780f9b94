/**
 * How work reaches the device: kernel arguments packed as koffi expects them, kernel launches
 * (plain and cooperative) through the module loader, grid sizing, and strided-batched GEMMs on
 * cuBLAS. The op launchers (ops.ts, scans.ts, rnn.ts) build on the Launcher.
 */
import type { BackendBuffer, DType } from '../backend.js';
import { buf, type CudaBuffer, type CudaDevice } from './device.js';
import {
  CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT, CUBLAS_OP_N, CUBLAS_OP_T,
  CUDA_R_16BF, CUDA_R_32F, CUDA_R_64F, check, checkCublas, loadCublas, type Cublas,
} from './ffi.js';
import { ELEM_BYTES, SUFFIX } from './kernels/common.js';
import { MAX_DIMS, MAX_OPERANDS, STRIDED_WORDS } from './kernels/elementwise.js';
import type { ModuleLoader, ModuleName } from './modules.js';
import { collapseAxes } from '../strided.js';

// ------------------------------------------------------------------------------ kernel arguments

const TWO32 = 4294967296;
/** An int64 kernel argument (two 32-bit words, low first). */
export function i64(v: number): Int32Array {
  const a = new Int32Array(2);
  const hi = Math.floor(v / TWO32);
  a[0] = (v - hi * TWO32) | 0;
  a[1] = hi;
  return a;
}
export const i32 = (v: number): Int32Array => Int32Array.of(v);
export const f64 = (v: number): Float64Array => Float64Array.of(v);
/** A device pointer to element `offset` of a buffer (or null). */
export function ptr(b: BackendBuffer | null, offset = 0): Int32Array {
  if (!b) return i64(0);
  const c = buf(b);
  return i64(c.ptr + offset * ELEM_BYTES[c.dtype]);
}

export { collapseAxes };

/** The kernels' `Strided` struct (all int64): shape[8], strides[3][8], offsets[3], rank, total. */
export function stridedArg(shape: readonly number[], views: readonly { offset: number; strides: readonly number[] }[]): { arg: Int32Array; total: number } {
  const total = shape.reduce((n, s) => n * s, 1);
  const c = collapseAxes(shape, views.map((v) => v.strides));
  if (c.shape.length > MAX_DIMS) throw new Error(`cuda: a strided operation over ${c.shape.length} non-mergeable axes (at most ${MAX_DIMS})`);
  const words = new Int32Array(STRIDED_WORDS * 2);
  const put = (w: number, v: number) => words.set(i64(v), 2 * w);
  c.shape.forEach((s, d) => put(d, s));
  c.strides.forEach((st, k) => st.forEach((s, d) => put(MAX_DIMS * (1 + k) + d, s)));
  views.forEach((v, k) => put(MAX_DIMS * (1 + MAX_OPERANDS) + k, v.offset));
  put(MAX_DIMS * (1 + MAX_OPERANDS) + MAX_OPERANDS, c.shape.length);
  put(MAX_DIMS * (1 + MAX_OPERANDS) + MAX_OPERANDS + 1, total);
  return { arg: words, total };
}

// ------------------------------------------------------------------------------ dtypes

export function floatType(dtype: DType, what: string): DType {
  if (dtype === 'i32') throw new Error(`cuda ${what}: i32 is not a float dtype`);
  return dtype;
}
export const floatSuffix = (dtype: DType, what: string): string => SUFFIX[floatType(dtype, what)];
/** The dtype of scan state and chunk aggregates. */
export const accType = (dtype: DType): DType => (dtype === 'f64' ? 'f64' : 'f32');

// ------------------------------------------------------------------------------ the launcher

export class Launcher {
  /** f32 GEMMs on TF32 tensor cores (opt-in, like torch.backends.cuda.matmul.allow_tf32). */
  allowTF32: boolean;
  private cublas: { lib: Cublas; handle: unknown } | null = null;
  private readonly syncEachLaunch = process.env.RECUR_CUDA_SYNC === '1';

  constructor(readonly device: CudaDevice, readonly modules: ModuleLoader, allowTF32: boolean) {
    this.allowTF32 = allowTF32;
  }

  /** Launches kernel `name` of `module` on grid × block threads with `smem` bytes of dynamic shared memory. */
  launch(module: ModuleName, name: string, grid: readonly [number, number?], block: number, args: ArrayBufferView[], smem = 0): void {
    const f = this.modules.function(module, name);
    check(this.device.drv.cuLaunchKernel(f, grid[0], grid[1] ?? 1, 1, block, 1, 1, smem, null, args, null), `launch of ${name}`);
    this.afterLaunch(name);
  }

  /** A cooperative launch: all `blocks` resident at once (the driver refuses it otherwise). */
  launchCooperative(module: ModuleName, name: string, blocks: number, threads: number, smem: number, args: ArrayBufferView[]): void {
    const f = this.modules.function(module, name);
    check(this.device.drv.cuLaunchCooperativeKernel(f, blocks, 1, 1, threads, 1, 1, smem, null, args), `cooperative launch of ${name}`);
    this.afterLaunch(name);
  }

  /** RECUR_CUDA_SYNC=1: synchronizes and checks after every launch (debugging). */
  private afterLaunch(name: string): void {
    if (this.syncEachLaunch) check(this.device.drv.cuCtxSynchronize(), `kernel ${name}`);
  }

  /** Blocks for a grid-stride loop over n items. */
  blocks(n: number, perBlock = 256): number {
    return Math.max(1, Math.min(Math.ceil(n / perBlock), this.device.info.multiprocessors * 16));
  }

  /** A scratch buffer (free it with `free`). */
  temp(length: number, dtype: DType): CudaBuffer {
    return this.device.alloc(length, dtype);
  }

  free(b: BackendBuffer): void {
    this.device.free(b);
  }

  /**
   * Row-major strided-batched C[i] = op(A[i])·op(B[i]) (+ C[i] when accumulate) on raw device
   * addresses with explicit leading dimensions (elements) and batch strides, in `dtype`;
   * `label` names the GEMM in errors.
   */
  gemm(label: string, dtype: DType, transA: boolean, transB: boolean, m: number, n: number, k: number,
       a: number, lda: number, sA: number, b: number, ldb: number, sB: number, c: number, ldc: number, sC: number,
       batch: number, accumulate: boolean): void {
    let type: number, compute: number;
    switch (dtype) {
      case 'f32': type = CUDA_R_32F; compute = this.allowTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; break;
      case 'bf16': type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
      case 'f64': type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
      default: throw new Error(`cuda ${label}: ${dtype} is not a matmul dtype`);
    }
    const cb = this.cublasLib();
    const one = dtype === 'f64' ? Float64Array.of(1) : Float32Array.of(1);
    const beta = dtype === 'f64' ? Float64Array.of(accumulate ? 1 : 0) : Float32Array.of(accumulate ? 1 : 0);
    // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
    checkCublas(cb.lib.cublasGemmStridedBatchedEx(cb.handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
      n, m, k, one, b, type, ldb, sB, a, type, lda, sA, beta, c, type, ldc, sC, batch, compute, CUBLAS_GEMM_DEFAULT),
    `${label} GEMM ${batch}×[${m}×${k}]·[${k}×${n}] ${dtype}`);
    if (this.syncEachLaunch) this.device.synchronize();
  }

  private cublasLib(): { lib: Cublas; handle: unknown } {
    if (!this.cublas) {
      const lib = loadCublas();
      const h: unknown[] = [null];
      checkCublas(lib.cublasCreate(h), 'cublasCreate');
      this.cublas = { lib, handle: h[0] };
    }
    return this.cublas;
  }
}
