/**
 * koffi bindings to the CUDA driver API (libcuda), NVRTC and cuBLAS: the only native code the CUDA
 * backend touches, loaded at run time (nothing is built at install time). koffi itself is loaded
 * lazily, so importing this module costs nothing on machines that never select CUDA.
 *
 * Conventions: device pointers are plain numbers (CUDA's addresses fit in 2^53); every call that
 * returns a status goes through check(), which throws with the library's own error name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
type KoffiLib = { func(signature: string): Fn };
interface Koffi { load(path: string): KoffiLib }

let koffiModule: Koffi | null = null;

/** koffi, loaded on first use (a clear error if the optional native package is missing). */
export function koffi(): Koffi {
  if (!koffiModule) {
    try {
      koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (e) {
      // koffi is an optional peer dependency: CPU and browser users never install it.
      if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
        throw new Error(`the CUDA device needs the optional 'koffi' package: run 'npm install koffi' in your project`);
      }
      throw new Error(`the CUDA backend needs the 'koffi' package, which could not be loaded (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return koffiModule;
}

/** Directories where CUDA's user-space libraries usually live (toolkit, pip wheels aside). */
function cudaLibDirs(): string[] {
  const dirs: string[] = [];
  for (const v of ['CUDA_PATH', 'CUDA_HOME', 'CUDA_ROOT']) {
    const root = process.env[v];
    if (root) dirs.push(join(root, 'lib64'), join(root, 'targets', 'x86_64-linux', 'lib'), join(root, 'lib'));
  }
  dirs.push('/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/local/cuda/targets/sbsa-linux/lib',
    '/usr/local/nvidia/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib');
  return dirs;
}

let ldconfigCache: string[] | null = null;
/** Paths from the dynamic linker's cache whose file name starts with `stem` (e.g. libnvrtc.so). */
function ldconfigPaths(stem: string): string[] {
  if (ldconfigCache === null) {
    try {
      ldconfigCache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n').map((l) => l.split('=> ')[1]?.trim()).filter((p): p is string => !!p);
    } catch {
      ldconfigCache = [];
    }
  }
  return ldconfigCache.filter((p) => p.slice(p.lastIndexOf('/') + 1).startsWith(stem));
}

/**
 * Loads the first library that opens: an explicit path from `envVar`, the plain names (the dynamic
 * linker's search), the usual CUDA directories, then ldconfig's cache. Throws listing what was tried.
 */
export function loadLibrary(what: string, names: readonly string[], envVar: string): KoffiLib {
  const k = koffi();
  const candidates: string[] = [];
  const explicit = process.env[envVar];
  if (explicit) candidates.push(explicit);
  candidates.push(...names);
  for (const dir of cudaLibDirs()) for (const n of names) candidates.push(join(dir, n));
  candidates.push(...ldconfigPaths(names[0]));
  const failures: string[] = [];
  for (const c of [...new Set(candidates)]) {
    if (c.includes('/') && !existsSync(c)) continue;
    try {
      return k.load(c);
    } catch (e) {
      // A bare name that the linker cannot find is simply absent; a file that exists but fails to load is worth reporting.
      if (c.includes('/')) failures.push(`${c}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (failures.length) throw new Error(`${what} was found but could not be loaded (${failures[0]})`);
  throw new Error(`${what} was not found${explicit ? ` (not even at ${envVar}=${explicit})` : ''}`);
}

// ------------------------------------------------------------------------------------ driver API

export interface Driver {
  cuInit(flags: number): number;
  cuDriverGetVersion(v: number[]): number;
  cuDeviceGetCount(n: number[]): number;
  cuDeviceGet(dev: number[], ordinal: number): number;
  cuDeviceGetAttribute(v: number[], attr: number, dev: number): number;
  cuDeviceGetName(name: Uint8Array, len: number, dev: number): number;
  cuDevicePrimaryCtxRetain(ctx: unknown[], dev: number): number;
  cuCtxSetCurrent(ctx: unknown): number;
  cuCtxSynchronize(): number;
  cuMemAlloc(ptr: number[], bytes: number): number;
  cuMemFree(ptr: number): number;
  cuMemGetInfo(free: number[], total: number[]): number;
  cuMemcpyHtoD(dst: number, src: ArrayBufferView, bytes: number): number;
  cuMemcpyDtoH(dst: ArrayBufferView, src: number, bytes: number): number;
  cuMemcpyDtoD(dst: number, src: number, bytes: number): number;
  cuMemsetD8(dst: number, value: number, count: number): number;
  cuModuleLoadData(mod: unknown[], image: Uint8Array): number;
  cuModuleGetFunction(fn: unknown[], mod: unknown, name: string): number;
  cuLaunchKernel(f: unknown, gx: number, gy: number, gz: number, bx: number, by: number, bz: number,
                 shmem: number, stream: unknown, params: ArrayBufferView[], extra: null): number;
  /** Refuses the launch unless every block can be resident at once (what makes a spinning grid barrier safe). */
  cuLaunchCooperativeKernel(f: unknown, gx: number, gy: number, gz: number, bx: number, by: number, bz: number,
                            shmem: number, stream: unknown, params: ArrayBufferView[]): number;
  /** More than 48 KiB of dynamic shared memory is opt-in per function (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES). */
  cuFuncSetAttribute(f: unknown, attr: number, value: number): number;
  cuGetErrorName(code: number, out: (string | null)[]): number;
}

// CUdevice_attribute values (cuda.h)
export const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
export const CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
// CUfunction_attribute
export const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
export const CUDA_ERROR_OUT_OF_MEMORY = 2;

let driver: Driver | null = null;

/** The driver API; throws (one sentence) when libcuda cannot be opened. */
export function loadDriver(): Driver {
  if (driver) return driver;
  const lib = loadLibrary('the NVIDIA driver library (libcuda.so.1)', ['libcuda.so.1', 'libcuda.so'], 'RECUR_LIBCUDA');
  const f = (s: string) => lib.func(s);
  driver = {
    cuInit: f('int cuInit(uint32_t flags)'),
    cuDriverGetVersion: f('int cuDriverGetVersion(_Out_ int *v)'),
    cuDeviceGetCount: f('int cuDeviceGetCount(_Out_ int *n)'),
    cuDeviceGet: f('int cuDeviceGet(_Out_ int *dev, int ordinal)'),
    cuDeviceGetAttribute: f('int cuDeviceGetAttribute(_Out_ int *v, int attr, int dev)'),
    cuDeviceGetName: f('int cuDeviceGetName(void *name, int len, int dev)'),
    cuDevicePrimaryCtxRetain: f('int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)'),
    cuCtxSetCurrent: f('int cuCtxSetCurrent(void *ctx)'),
    cuCtxSynchronize: f('int cuCtxSynchronize()'),
    cuMemAlloc: f('int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)'),
    cuMemFree: f('int cuMemFree_v2(uint64_t dptr)'),
    cuMemGetInfo: f('int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)'),
    cuMemcpyHtoD: f('int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)'),
    cuMemcpyDtoH: f('int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)'),
    cuMemcpyDtoD: f('int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)'),
    cuMemsetD8: f('int cuMemsetD8_v2(uint64_t dst, uint8_t value, size_t count)'),
    cuModuleLoadData: f('int cuModuleLoadData(_Out_ void **mod, const void *image)'),
    cuModuleGetFunction: f('int cuModuleGetFunction(_Out_ void **fn, void *mod, const char *name)'),
    cuLaunchKernel: f('int cuLaunchKernel(void *f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, uint32_t shmem, void *stream, void **params, void **extra)'),
    cuLaunchCooperativeKernel: f('int cuLaunchCooperativeKernel(void *f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, uint32_t shmem, void *stream, void **params)'),
    cuFuncSetAttribute: f('int cuFuncSetAttribute(void *f, int attr, int value)'),
    cuGetErrorName: f('int cuGetErrorName(int code, _Out_ const char **name)'),
  };
  return driver;
}

/** Throws `what failed: CUDA_ERROR_...` unless the driver call returned CUDA_SUCCESS. */
export function check(code: number, what: string): void {
  if (code === 0) return;
  let name = `error ${code}`;
  try {
    const out: (string | null)[] = [null];
    if (driver && driver.cuGetErrorName(code, out) === 0 && out[0]) name = `${out[0]} (${code})`;
  } catch {
    // keep the numeric code: the name is a courtesy
  }
  const err = new Error(`CUDA: ${what} failed with ${name}`) as Error & { code: number };
  err.code = code;
  throw err;
}

/** A device pointer from koffi's output (number or BigInt) as a number. */
export function ptrNumber(p: number | bigint): number {
  const n = Number(p);
  if (!Number.isSafeInteger(n)) throw new Error(`CUDA: device pointer ${p} does not fit a JavaScript number`);
  return n;
}

// ------------------------------------------------------------------------------------------ NVRTC

export interface Nvrtc {
  version(): string;
  nvrtcCreateProgram(prog: unknown[], src: string, name: string, n: number, headers: null, names: null): number;
  nvrtcCompileProgram(prog: unknown, n: number, options: string[]): number;
  nvrtcGetProgramLogSize(prog: unknown, size: number[]): number;
  nvrtcGetProgramLog(prog: unknown, log: Uint8Array): number;
  nvrtcGetCUBINSize(prog: unknown, size: number[]): number;
  nvrtcGetCUBIN(prog: unknown, out: Uint8Array): number;
  nvrtcGetSupportedArchs(archs: Int32Array): number;
  nvrtcGetNumSupportedArchs(n: number[]): number;
  nvrtcDestroyProgram(prog: unknown[]): number;
}

let nvrtc: Nvrtc | null = null;

export function loadNvrtc(): Nvrtc {
  if (nvrtc) return nvrtc;
  const lib = loadLibrary('NVRTC (libnvrtc.so)', ['libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12'], 'RECUR_NVRTC');
  const f = (s: string) => lib.func(s);
  const nvrtcVersion = f('int nvrtcVersion(_Out_ int *major, _Out_ int *minor)');
  nvrtc = {
    version: () => { const a = [0], b = [0]; nvrtcVersion(a, b); return `${a[0]}.${b[0]}`; },
    nvrtcCreateProgram: f('int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)'),
    nvrtcCompileProgram: f('int nvrtcCompileProgram(void *prog, int numOptions, const char **options)'),
    nvrtcGetProgramLogSize: f('int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetProgramLog: f('int nvrtcGetProgramLog(void *prog, void *log)'),
    nvrtcGetCUBINSize: f('int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetCUBIN: f('int nvrtcGetCUBIN(void *prog, void *cubin)'),
    nvrtcGetNumSupportedArchs: f('int nvrtcGetNumSupportedArchs(_Out_ int *n)'),
    nvrtcGetSupportedArchs: f('int nvrtcGetSupportedArchs(void *archs)'),
    nvrtcDestroyProgram: f('int nvrtcDestroyProgram(_Inout_ void **prog)'),
  };
  return nvrtc;
}

// ----------------------------------------------------------------------------------------- cuBLAS

export interface Cublas {
  cublasCreate(handle: unknown[]): number;
  cublasGemmStridedBatchedEx(h: unknown, ta: number, tb: number, m: number, n: number, k: number,
    alpha: Float32Array | Float64Array, A: number, At: number, lda: number, sA: number,
    B: number, Bt: number, ldb: number, sB: number, beta: Float32Array | Float64Array,
    C: number, Ct: number, ldc: number, sC: number, batch: number, compute: number, algo: number): number;
}

// cudaDataType and cublasComputeType_t values (library_types.h, cublas_api.h)
export const CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16BF = 14;
export const CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 74, CUBLAS_COMPUTE_64F = 70;
export const CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_GEMM_DEFAULT = -1;

let cublas: Cublas | null = null;

export function loadCublas(): Cublas {
  if (cublas) return cublas;
  const lib = loadLibrary('cuBLAS (libcublas.so)', ['libcublas.so', 'libcublas.so.13', 'libcublas.so.12'], 'RECUR_CUBLAS');
  const f = (s: string) => lib.func(s);
  cublas = {
    cublasCreate: f('int cublasCreate_v2(_Out_ void **handle)'),
    cublasGemmStridedBatchedEx: f('int cublasGemmStridedBatchedEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, uint64_t A, int At, int lda, int64_t sA, uint64_t B, int Bt, int ldb, int64_t sB, const void *beta, uint64_t C, int Ct, int ldc, int64_t sC, int batch, int compute, int algo)'),
  };
  return cublas;
}

export function checkCublas(code: number, what: string): void {
  if (code !== 0) throw new Error(`cuBLAS: ${what} failed with status ${code}`);
}
