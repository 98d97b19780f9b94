/**
 * The CUDA device and its memory: whether a device is usable here, the context on one device,
 * its limits, and buffers from the stream-ordered caching allocator (allocator.ts) with their
 * host transfers (bf16 converted on the host). Kernels and GEMMs are launched elsewhere
 * (launch.ts); this file only owns what every launch runs on.
 */
import type { BackendBuffer, DType, HostArray } from '../backend.js';
import { CachingAllocator, type AllocatorStats, type Block } from './allocator.js';
import { nvrtcArch } from './compiler.js';
import {
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, check, loadDriver, ptrNumber,
  type Driver,
} from './ffi.js';
import { ELEM_BYTES } from './kernels/common.js';

// ------------------------------------------------------------------------------ availability

/** Whether CUDA can be used here, and why not in one sentence. */
export interface CudaStatus {
  available: boolean;
  /** Why not, in one sentence (when unavailable). */
  reason?: string;
  devices?: number;
}

/** Whether a CUDA device can be used here (driver library present, initialised, ≥ 1 device). */
export function cudaStatus(): CudaStatus {
  let drv: Driver;
  try {
    drv = loadDriver();
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
  const rc = drv.cuInit(0);
  if (rc !== 0) return { available: false, reason: `the NVIDIA driver did not initialise (cuInit returned ${rc})` };
  const n = [0];
  if (drv.cuDeviceGetCount(n) !== 0 || n[0] < 1) return { available: false, reason: 'no CUDA device is present' };
  return { available: true, devices: n[0] };
}

/** Options of the CUDA backend; each also has an environment variable (noted per field). */
export interface CudaOptions {
  /** Device ordinal (default 0, or RECUR_CUDA_DEVICE). */
  device?: number;
  /** Let f32 GEMMs use TF32 tensor cores (default false, or RECUR_CUDA_TF32=1). */
  allowTF32?: boolean;
}

/** The GPU a CudaBackend runs on. */
export interface DeviceInfo {
  name: string;
  ordinal: number;
  computeCapability: string;
  arch: string;
  multiprocessors: number;
}

// ------------------------------------------------------------------------------ buffers

export class CudaBuffer implements BackendBuffer {
  freed = false;
  constructor(readonly length: number, readonly dtype: DType, readonly block: Block) {}
  get ptr(): number { return this.block.ptr; }
}

/** The CUDA buffer behind a backend buffer; throws for another backend's buffer or a freed one. */
export const buf = (b: BackendBuffer): CudaBuffer => {
  if (!(b instanceof CudaBuffer)) throw new Error('cuda: a buffer from another backend was passed to the CUDA backend');
  if (b.freed) throw new Error('cuda: use of a freed buffer');
  return b;
};

const TWO32 = 4294967296;

// ------------------------------------------------------------------------------ the device

/** One device's primary context, its limits, its memory and the word where kernels report bad indices. */
export class CudaDevice {
  readonly info: DeviceInfo;
  readonly drv: Driver;
  private readonly allocator: CachingAllocator;
  /** 8 bytes of device memory where kernels record the first bad index (all ones: none). */
  readonly errWord: number;
  private smemOptinBytes = 0;

  constructor(ordinal: number) {
    const status = cudaStatus();
    if (!status.available) {
      throw new Error(`The CUDA backend is unavailable on this machine (${status.reason?.replace(/\.$/, '')}); use the 'cpu' backend.`);
    }
    const drv = this.drv = loadDriver();
    const dev = [0];
    check(drv.cuDeviceGet(dev, ordinal), `cuDeviceGet(${ordinal})`);
    const attr = (a: number) => { const v = [0]; check(drv.cuDeviceGetAttribute(v, a, dev[0]), 'cuDeviceGetAttribute'); return v[0]; };
    const major = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), minor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    const nameBytes = new Uint8Array(256);
    check(drv.cuDeviceGetName(nameBytes, 256, dev[0]), 'cuDeviceGetName');
    const ctx: unknown[] = [null];
    check(drv.cuDevicePrimaryCtxRetain(ctx, dev[0]), 'cuDevicePrimaryCtxRetain');
    check(drv.cuCtxSetCurrent(ctx[0]), 'cuCtxSetCurrent');
    this.info = {
      name: Buffer.from(nameBytes.subarray(0, nameBytes.indexOf(0))).toString('utf8'),
      ordinal,
      computeCapability: `${major}.${minor}`,
      arch: nvrtcArch(major, minor),
      multiprocessors: attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
    };
    this.allocator = new CachingAllocator({
      alloc: (bytes) => { const p = [0]; check(drv.cuMemAlloc(p, bytes), `cuMemAlloc(${bytes} bytes)`); return ptrNumber(p[0]); },
      free: (p) => check(drv.cuMemFree(p), 'cuMemFree'),
      synchronize: () => this.synchronize(),
    });
    const e = [0];
    check(drv.cuMemAlloc(e, 8), 'cuMemAlloc(error word)');
    this.errWord = ptrNumber(e[0]);
    check(drv.cuMemsetD8(this.errWord, 0xff, 8), 'cuMemsetD8');
  }

  /** Waits for every queued kernel and copy; surfaces asynchronous kernel errors. */
  synchronize(): void {
    check(this.drv.cuCtxSynchronize(), 'cuCtxSynchronize (a kernel failed, or an earlier launch did)');
  }

  /** The most dynamic shared memory a block may opt into (bytes; 227 KiB on the H100). */
  sharedMemoryOptin(): number {
    if (this.smemOptinBytes === 0) {
      const dev = [0], v = [0];
      check(this.drv.cuDeviceGet(dev, this.info.ordinal), 'cuDeviceGet');
      check(this.drv.cuDeviceGetAttribute(v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev[0]), 'cuDeviceGetAttribute');
      this.smemOptinBytes = v[0];
    }
    return this.smemOptinBytes;
  }

  /** Throws the first index error a kernel recorded (synchronizes); `describe` builds the message. */
  checkIndexError(describe: (position: number) => Error): void {
    const word = new Uint32Array(2);
    check(this.drv.cuMemcpyDtoH(word, this.errWord, 8), 'reading the index-error word');
    if (word[0] === 0xffffffff && word[1] === 0xffffffff) return;
    check(this.drv.cuMemsetD8(this.errWord, 0xff, 8), 'cuMemsetD8');
    throw describe(word[1] * TWO32 + word[0]);
  }

  /** One i32 element of a buffer (synchronizes). */
  readInt(b: CudaBuffer, index: number): number {
    const v = new Int32Array(1);
    check(this.drv.cuMemcpyDtoH(v, b.ptr + index * 4, 4), 'reading an index');
    return v[0];
  }

  // ---------------------------------------------------------------------------- memory

  alloc(length: number, dtype: DType): CudaBuffer {
    if (!Number.isInteger(length) || length < 0) throw new Error(`cuda: cannot allocate ${length} elements`);
    return new CudaBuffer(length, dtype, this.allocator.alloc(length * ELEM_BYTES[dtype]));
  }

  free(buffer: BackendBuffer): void {
    const b = buf(buffer);
    b.freed = true;
    this.allocator.free(b.block);
  }

  /** Returns cached device memory to the driver. */
  emptyCache(): void {
    this.allocator.emptyCache();
  }

  memoryStats(): AllocatorStats {
    return this.allocator.stats();
  }

  liveBuffers(): number {
    return this.allocator.liveBlocks();
  }

  write(buffer: BackendBuffer, data: HostArray): void {
    const b = buf(buffer);
    if (data.length !== b.length) throw new Error(`write: ${data.length} values into a buffer of ${b.length}`);
    if (b.length === 0) return;
    let host: ArrayBufferView;
    switch (b.dtype) {
      case 'f32': host = data instanceof Float32Array ? data : Float32Array.from(data); break;
      case 'f64': host = data instanceof Float64Array ? data : Float64Array.from(data); break;
      case 'i32': host = data instanceof Int32Array ? data : Int32Array.from(data); break;
      case 'bf16': host = toBf16(data instanceof Float32Array ? data : Float32Array.from(data)); break;
    }
    check(this.drv.cuMemcpyHtoD(b.ptr, host, b.length * ELEM_BYTES[b.dtype]), 'cuMemcpyHtoD');
  }

  readSync(buffer: BackendBuffer): HostArray {
    const b = buf(buffer);
    const n = b.length;
    let out: HostArray;
    if (b.dtype === 'bf16') {
      const raw = new Uint16Array(n);
      if (n) check(this.drv.cuMemcpyDtoH(raw, b.ptr, n * 2), 'cuMemcpyDtoH (or an earlier kernel)');
      out = fromBf16(raw);
    } else {
      out = b.dtype === 'f64' ? new Float64Array(n) : b.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
      if (n) check(this.drv.cuMemcpyDtoH(out, b.ptr, n * ELEM_BYTES[b.dtype]), 'cuMemcpyDtoH (or an earlier kernel)');
    }
    return out;
  }
}

// ------------------------------------------------------------------------------ bf16 on the host

/** f32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function toBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) > 0x7f800000) { out[i] = (u >>> 16) | 0x40; continue; }
    out[i] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

export function fromBf16(x: Uint16Array): Float32Array {
  const out = new Float32Array(x.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < x.length; i++) bits[i] = x[i] << 16;
  return out;
}

/** Rounds f32 values to the nearest bf16 (as storing them on a bf16 tensor does). */
export function roundToBf16(x: Float32Array): Float32Array {
  return fromBf16(toBf16(x));
}
