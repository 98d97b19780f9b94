/**
 * The CUDA backend: the Backend interface (src/backend/backend.ts) on an NVIDIA GPU, driven from
 * TypeScript through koffi (ffi.ts). Kernels are CUDA C templates (kernels/*.ts) compiled by NVRTC
 * at first use for the device's architecture and cached on disk (compiler.ts); GEMMs go to cuBLAS;
 * memory comes from a stream-ordered caching allocator (allocator.ts). Everything runs on the
 * legacy default stream, so launches are ordered and a freed block can be reused at once.
 *
 * dtypes: f32, f64, i32 and bf16 storage (bf16 computes in f32; its GEMMs take bf16 and accumulate
 * in f32). TF32 GEMMs for f32 are opt-in: `allowTF32` (or RECUR_CUDA_TF32=1), like PyTorch's
 * allow_tf32. Debugging: RECUR_CUDA_SYNC=1 synchronizes and checks after every launch.
 *
 * Beyond the interface: `minRnnScan`/`minRnnScanGrad`, the fused minGRU/minLSTM gate math + scan,
 * and `norm`/`normGrad`, the fused RMSNorm/LayerNorm (+ residual add), both used by
 * src/tensor/fused.ts; the optional fused recurrences rnnSavedLength/rnnForward/rnnBackward
 * (LSTM, GRU, Elman, sLSTM): the "fused" persistent kernels (kernels/rnn-fused.ts, R in shared
 * memory for all T steps, 2 launches a sequence) wherever rnnFusedPlan accepts the problem (f32/bf16
 * and R_n of all gates fitting one block's shared memory: on the H100 head size ≤ 116 f32, ≤ 128 bf16),
 * else, when one head's R does not fit a block (1 × 768), the "grid" path (kernels/rnn-grid.ts: a
 * cooperative kernel per direction, each head's units split over up to one block per SM that meet
 * at a grid barrier every step; rnnGridPlanFor: the slice of R, h and the partial sums fitting
 * shared memory, batch × units per block ≤ its threads), else the "alternating" path (kernels/rnn.ts, a GEMM + a
 * pointwise launch per step); RECUR_CUDA_RNN=fused|grid|alternating (or the rnnKernel field)
 * forces one; and synchronize(),
 * emptyCache(), memoryStats().
 */
import type {
  AdamWHyper, AxisLayout, Backend, BackendBuffer, BinaryOp, DType, HostArray, MatmulSpec, ReduceOp,
  StridedView, UnaryOp,
} from '../backend.js';
import { registerBackend } from '../../tensor/engine.js';
import { dropoutThreshold } from '../../tensor/random.js';
import { CachingAllocator, type AllocatorStats, type Block } from './allocator.js';
import { compile, nvrtcArch } from './compiler.js';
import {
  CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT, CUBLAS_OP_N, CUBLAS_OP_T,
  CUDA_R_16BF, CUDA_R_32F, CUDA_R_64F, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, check, checkCublas,
  loadCublas, loadDriver, ptrNumber, type Cublas, type Driver,
} from './ffi.js';
import { ELEM_BYTES, SUFFIX } from './kernels/common.js';
import { BINARY_OPS, ELEMENTWISE_SOURCE, MAX_DIMS, MAX_OPERANDS, STRIDED_WORDS, UNARY_OPS } from './kernels/elementwise.js';
import { REDUCE_OPS, REDUCE_SOURCE } from './kernels/reduce.js';
import { SCAN_SOURCE } from './kernels/scan.js';
import { COMPLEX_SCAN_SOURCE } from './kernels/complex-scan.js';
import { NORM_SOURCE, normVec } from './kernels/norm.js';
import { RNN_SOURCE } from './kernels/rnn.js';
import {
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, RNN_FUSED_ROWS, RNN_FUSED_SOURCE,
  cuFuncSetAttribute, rnnFusedSmemBytes, rnnFusedSplit,
} from './kernels/rnn-fused.js';
import { RNN_GRID_SOURCE, cuLaunchCooperativeKernel, rnnGridPlan, type RnnGridPlan } from './kernels/rnn-grid.js';
import type { ComplexScanDims, LinearScanCellDef, NormKind, RnnCellDef, RnnDims } from '../backend.js';
import { rnnSavedLength as savedLength } from '../pointwise/rnn-cell.js';

/**
 * The cells the hand-written CUDA RNN kernels implement (kernels/rnn*.ts). Transitional: those
 * kernels are being rendered from the cell definitions; until then a definition is matched to
 * them by name and sizes, and any other definition is refused in one sentence.
 */
type RnnCellKind = 'lstm' | 'gru' | 'elman' | 'slstm';
const KERNEL_CELLS: Record<RnnCellKind, [number, number, number, number]> = { lstm: [4, 4, 2, 4], gru: [3, 4, 1, 4], elman: [1, 1, 1, 0], slstm: [4, 4, 4, 6] };

function kernelCell(cell: RnnCellDef | RnnCellKind): RnnCellKind {
  if (typeof cell === 'string') return cell;
  const sizes = KERNEL_CELLS[cell.name as RnnCellKind];
  if (!sizes || sizes.join() !== [cell.gates, cell.biases, cell.states, cell.saved].join()) {
    throw new Error(`cuda rnn: the CUDA backend has no kernel for the cell '${cell.name}' yet (built-in cells: lstm, gru, elman, slstm); run it with fused: false`);
  }
  return cell.name as RnnCellKind;
}

function scanKernelPrefix(cell: LinearScanCellDef): string {
  if ((cell.name === 'mingru' && cell.chunks === 2) || (cell.name === 'minlstm' && cell.chunks === 3)) return cell.name;
  throw new Error(`cuda cellScan: the CUDA backend has no kernel for the cell '${cell.name}' yet (mingru, minlstm); run it with fused: false`);
}

/** The kernel modules, compiled on first use. */
export const MODULES = { elementwise: ELEMENTWISE_SOURCE, reduce: REDUCE_SOURCE, scan: SCAN_SOURCE, complexScan: COMPLEX_SCAN_SOURCE, norm: NORM_SOURCE, rnn: RNN_SOURCE } as const;
type ModuleName = keyof typeof MODULES;


class CudaBuffer implements BackendBuffer {
  freed = false;
  constructor(readonly length: number, readonly dtype: DType, readonly block: Block) {}
  get ptr(): number { return this.block.ptr; }
}

const buf = (b: BackendBuffer): CudaBuffer => {
  if (!(b instanceof CudaBuffer)) throw new Error('cuda: a buffer from another backend was passed to the CUDA backend');
  if (b.freed) throw new Error('cuda: use of a freed buffer');
  return b;
};

// ------------------------------------------------------------------------------ kernel arguments

const TWO32 = 4294967296;
function i64(v: number): Int32Array {
  const a = new Int32Array(2);
  const hi = Math.floor(v / TWO32);
  a[0] = (v - hi * TWO32) | 0;
  a[1] = hi;
  return a;
}
const i32 = (v: number): Int32Array => Int32Array.of(v);
const f64 = (v: number): Float64Array => Float64Array.of(v);
/** A device pointer to element `offset` of a buffer (or null). */
function ptr(b: BackendBuffer | null, offset = 0): Int32Array {
  if (!b) return i64(0);
  const c = buf(b);
  return i64(c.ptr + offset * ELEM_BYTES[c.dtype]);
}

/**
 * Merges axes that are contiguous in every operand and drops unit axes, so a kernel walks as few
 * axes as possible (a contiguous tensor becomes one axis).
 */
export function collapseAxes(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const n = outShape.length;
    if (n > 0 && strides.every((st, k) => outStrides[k][n - 1] === st[d] * shape[d])) {
      outShape[n - 1] *= shape[d];
      strides.forEach((st, k) => { outStrides[k][n - 1] = st[d]; });
    } else {
      outShape.push(shape[d]);
      strides.forEach((st, k) => outStrides[k].push(st[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/** The kernels' `Strided` struct (all int64): shape[8], strides[3][8], offsets[3], rank, total. */
function stridedArg(shape: readonly number[], views: readonly { offset: number; strides: readonly number[] }[]): { arg: Int32Array; total: number } {
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

// ------------------------------------------------------------------------------ availability

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

export interface CudaOptions {
  /** Device ordinal (default 0, or RECUR_CUDA_DEVICE). */
  device?: number;
  /** Let f32 GEMMs use TF32 tensor cores (default false, or RECUR_CUDA_TF32=1). */
  allowTF32?: boolean;
}

export interface DeviceInfo {
  name: string;
  ordinal: number;
  computeCapability: string;
  arch: string;
  multiprocessors: number;
}

// ------------------------------------------------------------------------------ the backend

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  /** f32 GEMMs on TF32 tensor cores (opt-in, like torch.backends.cuda.matmul.allow_tf32). */
  allowTF32: boolean;
  /** Whether RMSNorm/LayerNorm use the fused kernels (RECUR_CUDA_FUSED_NORM=0 turns them off, for comparisons). */
  fusedNorm = process.env.RECUR_CUDA_FUSED_NORM !== '0';
  readonly device: DeviceInfo;
  private readonly drv: Driver;
  private readonly allocator: CachingAllocator;
  private readonly modules = new Map<ModuleName, unknown>();
  private readonly functions = new Map<string, unknown>();
  private cublas: { lib: Cublas; handle: unknown } | null = null;
  /** 8 bytes of device memory where kernels record the first bad index (all ones: none). */
  private readonly errWord: number;
  private readonly syncEachLaunch = process.env.RECUR_CUDA_SYNC === '1';

  constructor(opts: CudaOptions = {}) {
    const status = cudaStatus();
    if (!status.available) {
      throw new Error(`The CUDA backend is unavailable on this machine (${status.reason?.replace(/\.$/, '')}); use the 'cpu' backend.`);
    }
    this.drv = loadDriver();
    const ordinal = opts.device ?? Number(process.env.RECUR_CUDA_DEVICE ?? 0);
    this.allowTF32 = opts.allowTF32 ?? process.env.RECUR_CUDA_TF32 === '1';
    const dev = [0];
    check(this.drv.cuDeviceGet(dev, ordinal), `cuDeviceGet(${ordinal})`);
    const attr = (a: number) => { const v = [0]; check(this.drv.cuDeviceGetAttribute(v, a, dev[0]), 'cuDeviceGetAttribute'); return v[0]; };
    const major = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), minor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    const nameBytes = new Uint8Array(256);
    check(this.drv.cuDeviceGetName(nameBytes, 256, dev[0]), 'cuDeviceGetName');
    const ctx: unknown[] = [null];
    check(this.drv.cuDevicePrimaryCtxRetain(ctx, dev[0]), 'cuDevicePrimaryCtxRetain');
    check(this.drv.cuCtxSetCurrent(ctx[0]), 'cuCtxSetCurrent');
    this.device = {
      name: Buffer.from(nameBytes.subarray(0, nameBytes.indexOf(0))).toString('utf8'),
      ordinal,
      computeCapability: `${major}.${minor}`,
      arch: nvrtcArch(major, minor),
      multiprocessors: attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
    };
    const drv = this.drv;
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

  // ---------------------------------------------------------------------------- plumbing

  /** Waits for every queued kernel and copy; surfaces asynchronous kernel errors. */
  synchronize(): void {
    check(this.drv.cuCtxSynchronize(), 'cuCtxSynchronize (a kernel failed, or an earlier launch did)');
  }

  /** Returns cached device memory to the driver. */
  emptyCache(): void {
    this.allocator.emptyCache();
  }

  memoryStats(): AllocatorStats {
    return this.allocator.stats();
  }

  private fn(module: ModuleName, name: string): unknown {
    let f = this.functions.get(name);
    if (f) return f;
    let mod = this.modules.get(module);
    if (!mod) {
      const { cubin } = compile(MODULES[module], `recur-${module}`, { arch: this.device.arch });
      const m: unknown[] = [null];
      check(this.drv.cuModuleLoadData(m, cubin), `cuModuleLoadData(${module})`);
      mod = m[0];
      this.modules.set(module, mod);
    }
    const out: unknown[] = [null];
    check(this.drv.cuModuleGetFunction(out, mod, name), `cuModuleGetFunction(${name})`);
    f = out[0];
    this.functions.set(name, f);
    return f;
  }

  /** Compiles (or loads from the disk cache) every kernel module now rather than at first use. */
  warmup(): void {
    for (const m of Object.keys(MODULES) as ModuleName[]) {
      if (this.modules.has(m)) continue;
      const { cubin } = compile(MODULES[m], `recur-${m}`, { arch: this.device.arch });
      const out: unknown[] = [null];
      check(this.drv.cuModuleLoadData(out, cubin), `cuModuleLoadData(${m})`);
      this.modules.set(m, out[0]);
    }
  }

  private launch(module: ModuleName, name: string, grid: readonly [number, number?], block: number, args: ArrayBufferView[]): void {
    const f = this.fn(module, name);
    check(this.drv.cuLaunchKernel(f, grid[0], grid[1] ?? 1, 1, block, 1, 1, 0, null, args, null), `launch of ${name}`);
    if (this.syncEachLaunch) check(this.drv.cuCtxSynchronize(), `kernel ${name}`);
  }

  /** Blocks for a grid-stride loop over n items. */
  private blocks(n: number, perBlock = 256): number {
    return Math.max(1, Math.min(Math.ceil(n / perBlock), this.device.multiprocessors * 16));
  }

  /** Throws the first index error a kernel recorded (synchronizes); `describe` builds the message. */
  private checkIndexError(describe: (position: number) => Error): void {
    const word = new Uint32Array(2);
    check(this.drv.cuMemcpyDtoH(word, this.errWord, 8), 'reading the index-error word');
    if (word[0] === 0xffffffff && word[1] === 0xffffffff) return;
    check(this.drv.cuMemsetD8(this.errWord, 0xff, 8), 'cuMemsetD8');
    throw describe(word[1] * TWO32 + word[0]);
  }

  private readInt(b: CudaBuffer, index: number): number {
    const v = new Int32Array(1);
    check(this.drv.cuMemcpyDtoH(v, b.ptr + index * 4, 4), 'reading an index');
    return v[0];
  }

  private temp(length: number, dtype: DType): CudaBuffer {
    return this.alloc(length, dtype) as CudaBuffer;
  }

  // ---------------------------------------------------------------------------- memory

  alloc(length: number, dtype: DType): BackendBuffer {
    if (!Number.isInteger(length) || length < 0) throw new Error(`cuda: cannot allocate ${length} elements`);
    return new CudaBuffer(length, dtype, this.allocator.alloc(length * ELEM_BYTES[dtype]));
  }

  free(buffer: BackendBuffer): void {
    const b = buf(buffer);
    b.freed = true;
    this.allocator.free(b.block);
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

  read(buffer: BackendBuffer): Promise<HostArray> {
    try {
      return Promise.resolve(this.readSync(buffer));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  liveBuffers(): number {
    return this.allocator.liveBlocks();
  }

  // ---------------------------------------------------------------------------- elementwise

  fill(out: BackendBuffer, value: number): void {
    const o = buf(out);
    if (o.length === 0) return;
    this.launch('elementwise', `fill_${SUFFIX[o.dtype]}`, [this.blocks(o.length)], 256, [ptr(o), i64(o.length), f64(value)]);
  }

  cast(x: BackendBuffer, out: BackendBuffer): void {
    const a = buf(x), o = buf(out);
    if (o.length === 0) return;
    this.launch('elementwise', `cast_${SUFFIX[a.dtype]}_${SUFFIX[o.dtype]}`, [this.blocks(o.length)], 256, [ptr(a), ptr(o), i64(o.length)]);
  }

  copy(src: StridedView, dst: StridedView, shape: readonly number[]): void {
    const s = buf(src.buffer), d = buf(dst.buffer);
    if (s.dtype !== d.dtype) throw new Error(`cuda copy: ${s.dtype} into ${d.dtype}`);
    const { arg, total } = stridedArg(shape, [src, dst]);
    if (total === 0) return;
    this.launch('elementwise', `copy_${ELEM_BYTES[s.dtype]}`, [this.blocks(total)], 256, [ptr(s), ptr(d), arg]);
  }

  unary(op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void {
    const o = buf(out);
    if (o.length === 0) return;
    this.launch('elementwise', `unary_${floatSuffix(o.dtype, op)}`, [this.blocks(o.length)], 256, [i32(UNARY_OPS.indexOf(op)), ptr(x), ptr(o), i64(o.length)]);
  }

  unaryGrad(op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void {
    const o = buf(out);
    if (o.length === 0) return;
    this.launch('elementwise', `unary_grad_${floatSuffix(o.dtype, op)}`, [this.blocks(o.length)], 256,
      [i32(UNARY_OPS.indexOf(op)), ptr(x), ptr(y), ptr(dy), ptr(o), i64(o.length)]);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    const o = buf(out);
    const { arg, total } = stridedArg(shape, [a, b]);
    if (total === 0) return;
    this.launch('elementwise', `binary_${SUFFIX[o.dtype]}`, [this.blocks(total)], 256, [i32(BINARY_OPS.indexOf(op)), ptr(a.buffer), ptr(b.buffer), ptr(o), arg]);
  }

  where(cond: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    const o = buf(out);
    const { arg, total } = stridedArg(shape, [cond, a, b]);
    if (total === 0) return;
    this.launch('elementwise', `where_${SUFFIX[buf(cond.buffer).dtype]}_${SUFFIX[o.dtype]}`, [this.blocks(total)], 256,
      [ptr(cond.buffer), ptr(a.buffer), ptr(b.buffer), ptr(o), arg]);
  }

  dropoutMask(out: BackendBuffer, p: number, [k0, k1]: readonly [number, number]): void {
    const o = buf(out);
    if (o.length === 0) return;
    // u32 kernel arguments travel as their bit patterns in an Int32Array
    this.launch('elementwise', `dropout_mask_${floatSuffix(o.dtype, 'dropoutMask')}`, [this.blocks(o.length)], 256,
      [ptr(o), i64(o.length), i32(k0 | 0), i32(k1 | 0), i32(dropoutThreshold(p) | 0), f64(1 / (1 - p))]);
  }

  adamw(param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, h: AdamWHyper): void {
    const p = buf(param);
    if (p.length === 0) return;
    this.launch('elementwise', `adamw_${floatSuffix(p.dtype, 'adamw')}`, [this.blocks(p.length)], 256, [
      ptr(p), ptr(grad), ptr(m), ptr(v), i64(p.length), f64(h.beta1), f64(h.beta2), f64(h.eps),
      f64(1 - h.lr * h.weightDecay), f64(h.lr / h.correction1), f64(1 / Math.sqrt(h.correction2)),
    ]);
  }

  // ---------------------------------------------------------------------------- reductions

  reduce(op: ReduceOp, x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
    const xb = buf(x), ob = buf(out);
    if (outer * inner === 0) return;
    if (size === 0) { this.fill(ob, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity); return; }
    const code = REDUCE_OPS.indexOf(op);
    const sm = this.device.multiprocessors;
    let nsplit = inner === 1
      ? Math.min(Math.ceil((8 * sm) / outer), Math.ceil(size / 4096))
      : Math.min(Math.ceil((sm * 1024) / (outer * inner)), Math.ceil(size / 64));
    nsplit = Math.max(1, nsplit);
    const chunk = Math.ceil(size / nsplit);
    nsplit = Math.ceil(size / chunk);
    const partialType: DType = xb.dtype === 'f64' ? 'f64' : 'f32';
    const pass = (src: CudaBuffer, dst: CudaBuffer, sz: number, ns: number, ch: number) => {
      const name = `${SUFFIX[floatType(src.dtype, 'reduce')]}_${SUFFIX[dst.dtype]}`;
      if (inner === 1) {
        const rows = outer * ns;
        this.launch('reduce', `reduce_rows_${name}`, [Math.min(rows, sm * 32)], 256, [i32(code), ptr(src), ptr(dst), i64(outer), i64(sz), i64(ns), i64(ch)]);
      } else {
        this.launch('reduce', `reduce_cols_${name}`, [this.blocks(outer * ns * inner)], 256,
          [i32(code), ptr(src), ptr(dst), i64(outer), i64(sz), i64(inner), i64(ns), i64(ch)]);
      }
    };
    if (nsplit === 1) { pass(xb, ob, size, 1, size); return; }
    const partial = this.temp(outer * nsplit * inner, partialType);
    pass(xb, partial, size, nsplit, chunk);
    pass(partial, ob, nsplit, 1, nsplit);
    this.free(partial);
  }

  argmax(x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
    const xb = buf(x);
    const s = SUFFIX[floatType(xb.dtype, 'argmax')];
    if (outer * inner === 0) return;
    if (inner === 1) {
      this.launch('reduce', `argmax_rows_${s}`, [this.blocks(outer * 32)], 256, [ptr(xb), ptr(out), i64(outer), i64(size)]);
    } else {
      this.launch('reduce', `argmax_cols_${s}`, [this.blocks(outer * inner)], 256, [ptr(xb), ptr(out), i64(outer), i64(size), i64(inner)]);
    }
  }

  softmax(x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    if (rows * cols === 0) return;
    const s = SUFFIX[floatType(buf(x).dtype, 'softmax')];
    this.launch('reduce', `softmax_${s}`, [this.blocks(rows * 32)], 256, [ptr(x), ptr(out), i64(rows), i64(cols), i32(log ? 1 : 0)]);
  }

  softmaxGrad(y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    if (rows * cols === 0) return;
    const s = SUFFIX[floatType(buf(y).dtype, 'softmaxGrad')];
    this.launch('reduce', `softmax_grad_${s}`, [this.blocks(rows * 32)], 256, [ptr(y), ptr(dy), ptr(out), i64(rows), i64(cols), i32(log ? 1 : 0)]);
  }

  crossEntropy(logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    if (rows === 0) return;
    const s = SUFFIX[floatType(buf(logits).dtype, 'crossEntropy')];
    this.launch('reduce', `cross_entropy_${s}`, [this.blocks(rows * 32)], 256,
      [ptr(logits), ptr(targets), ptr(out), i64(rows), i64(cols), i32(ignoreIndex), i64(this.errWord)]);
    this.checkIndexError((r) => new RangeError(`crossEntropy: target ${this.readInt(buf(targets), r)} at row ${r} is outside [0, ${cols})`));
  }

  crossEntropyGrad(logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    if (rows * cols === 0) return;
    const s = SUFFIX[floatType(buf(logits).dtype, 'crossEntropyGrad')];
    this.launch('reduce', `cross_entropy_grad_${s}`, [this.blocks(rows * 32)], 256,
      [ptr(logits), ptr(targets), ptr(dloss), ptr(out), i64(rows), i64(cols), i32(ignoreIndex)]);
  }

  gather(x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
    const xb = buf(x);
    const n = outer * k * inner;
    if (n === 0) return;
    this.launch('reduce', `gather_${ELEM_BYTES[xb.dtype]}`, [this.blocks(n)], 256,
      [ptr(xb), ptr(index), ptr(out), i64(outer), i64(size), i64(inner), i64(k), i64(indexOuterStride), i64(this.errWord)]);
    this.checkIndexError((r) => new RangeError(`index ${this.indexAt(index, r, k, indexOuterStride)} is out of range [0, ${size})`));
  }

  scatterAdd(src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
    const ob = buf(out);
    const n = outer * k * inner;
    // bf16 accumulates in an f32 buffer (an embedding row may receive thousands of additions)
    const acc = ob.dtype === 'bf16' && n > 0 ? this.temp(ob.length, 'f32') : ob;
    this.fill(acc, 0);
    if (n === 0) return;
    const name = acc === ob ? `scatter_add_${SUFFIX[ob.dtype]}` : 'scatter_add_bf16_f32';
    this.launch('reduce', name, [this.blocks(n)], 256,
      [ptr(src), ptr(index), ptr(acc), i64(outer), i64(size), i64(inner), i64(k), i64(indexOuterStride), i64(this.errWord)]);
    if (acc !== ob) {
      this.cast(acc, ob);
      this.free(acc);
    }
    this.checkIndexError((r) => new RangeError(`index ${this.indexAt(index, r, k, indexOuterStride)} is out of range [0, ${size})`));
  }

  /** The index value at position r = o·k + j of a gather/scatter. */
  private indexAt(index: BackendBuffer, r: number, k: number, indexOuterStride: number): number {
    const o = Math.floor(r / k), j = r % k;
    return this.readInt(buf(index), o * indexOuterStride + j);
  }

  // ---------------------------------------------------------------------------- matmul

  matmul(a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void {
    const A = buf(a), B = buf(b), C = buf(out);
    const { batch, m, n, k } = spec;
    if (batch * m * n === 0) return;
    if (!spec.transB && batch === 1 && m >= 8 * Math.max(n, k) && k > 0) {
      // Tall·small without transposes (the input gradient of every Linear, g·W) runs at about
      // half the speed of the transposed-B form in cuBLAS on the H100 (TF32, [262144, 512]·[512, 512]:
      // 1.0 vs 0.55 ms); a k×n copy of B costs ~1% of the GEMM, so transpose it and take that form.
      const bt = this.temp(k * n, B.dtype);
      this.copy({ buffer: B, offset: spec.bOffset, strides: [1, n] }, { buffer: bt, offset: 0, strides: [k, 1] }, [n, k]);
      this.matmul(a, bt, out, { ...spec, transB: true, bOffset: 0, bBatchStride: 0 });
      this.free(bt);
      return;
    }
    if (k === 0) {
      if (!spec.accumulate) this.fillRange(C, spec.cOffset, batch * m * n, 0);
      return;
    }
    this.cublasLib();
    let type: number, compute: number, one: Float32Array | Float64Array, beta: Float32Array | Float64Array;
    switch (C.dtype) {
      case 'f32': type = CUDA_R_32F; compute = this.allowTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; break;
      case 'bf16': type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
      case 'f64': type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
      default: throw new Error(`cuda matmul: ${C.dtype} is not a matmul dtype`);
    }
    if (C.dtype === 'f64') { one = Float64Array.of(1); beta = Float64Array.of(spec.accumulate ? 1 : 0); }
    else { one = Float32Array.of(1); beta = Float32Array.of(spec.accumulate ? 1 : 0); }
    const es = ELEM_BYTES[C.dtype];
    // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
    checkCublas(this.cublas!.lib.cublasGemmStridedBatchedEx(this.cublas!.handle,
      spec.transB ? CUBLAS_OP_T : CUBLAS_OP_N, spec.transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, one,
      B.ptr + spec.bOffset * es, type, spec.transB ? k : n, spec.bBatchStride,
      A.ptr + spec.aOffset * es, type, spec.transA ? m : k, spec.aBatchStride,
      beta, C.ptr + spec.cOffset * es, type, n, m * n, batch, compute, CUBLAS_GEMM_DEFAULT), `GEMM ${batch}×[${m}×${k}]·[${k}×${n}] ${C.dtype}`);
    if (this.syncEachLaunch) this.synchronize();
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

  /**
   * Row-major strided-batched C[i] = op(A[i])·op(B[i]) (+ C[i] when accumulate) on raw device
   * addresses with explicit leading dimensions (elements) and batch strides, in `dtype`.
   */
  private gemmRaw(dtype: DType, transA: boolean, transB: boolean, m: number, n: number, k: number,
                  a: number, lda: number, sA: number, b: number, ldb: number, sB: number, c: number, ldc: number, sC: number,
                  batch: number, accumulate: boolean): void {
    const cb = this.cublasLib();
    let type: number, compute: number;
    switch (dtype) {
      case 'f32': type = CUDA_R_32F; compute = this.allowTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; break;
      case 'bf16': type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
      case 'f64': type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
      default: throw new Error(`cuda gemm: ${dtype} is not a matmul dtype`);
    }
    const one = dtype === 'f64' ? Float64Array.of(1) : Float32Array.of(1);
    const beta = dtype === 'f64' ? Float64Array.of(accumulate ? 1 : 0) : Float32Array.of(accumulate ? 1 : 0);
    checkCublas(cb.lib.cublasGemmStridedBatchedEx(cb.handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
      n, m, k, one, b, type, ldb, sB, a, type, lda, sA, beta, c, type, ldc, sC, batch, compute, CUBLAS_GEMM_DEFAULT),
    `rnn GEMM ${batch}×[${m}×${k}]·[${k}×${n}] ${dtype}`);
    if (this.syncEachLaunch) this.synchronize();
  }

  private fillRange(b: CudaBuffer, offset: number, length: number, value: number): void {
    this.launch('elementwise', `fill_${SUFFIX[b.dtype]}`, [this.blocks(length)], 256, [ptr(b, offset), i64(length), f64(value)]);
  }

  // ---------------------------------------------------------------------------- scans

  /**
   * Time chunks for `threads` threads (one per sequence, or per V sequences) over a time axis of
   * `size`: enough (thread, chunk) pairs to fill the GPU, chunks of at least 64 steps.
   * RECUR_CUDA_SCAN_CHUNKS forces a count (benchmarks, tests).
   */
  scanChunks(threads: number, size: number): { nChunks: number; chunkLen: number } {
    const forced = Number(process.env.RECUR_CUDA_SCAN_CHUNKS ?? 0);
    // 1024 resident threads per SM at the scan kernels' 64 registers. Each thread's chain is
    // latency-bound, so chunks win until phase 1's re-read costs more than the latency it hides;
    // on the H100 twice as many chunks gained nothing at T = 4096 and lost at T = 1024.
    let n = forced > 0 ? forced : Math.floor((this.device.multiprocessors * 1024) / Math.max(threads, 1));
    n = Math.max(1, Math.min(n, forced > 0 ? size : Math.floor(size / 64), 1024));
    const chunkLen = Math.max(1, Math.ceil(size / n));
    return { nChunks: Math.max(1, Math.ceil(size / chunkLen)), chunkLen };
  }

  /**
   * Runs phase 1 (when chunked) and phase 2 of a scan kernel over `channels` sequences, `vec` of
   * them per thread; `args(chunkLen, nChunks, aggA, aggB, phase)` builds the kernel's arguments.
   */
  private chunkedScan(name: string, channels: number, size: number, accType: DType,
                      args: (chunkLen: number, nChunks: number, aggA: CudaBuffer | null, aggB: CudaBuffer | null, phase: number) => ArrayBufferView[],
                      vec = 1): void {
    if (channels === 0 || size === 0) return;
    const threads = channels / vec;
    const { nChunks, chunkLen } = this.scanChunks(threads, size);
    const grid: [number, number] = [Math.ceil(threads / 256), nChunks];
    if (nChunks === 1) { this.launch('scan', name, grid, 256, args(chunkLen, 1, null, null, 2)); return; }
    const aggA = this.temp(nChunks * channels, accType), aggB = this.temp(nChunks * channels, accType);
    this.launch('scan', name, grid, 256, args(chunkLen, nChunks, aggA, aggB, 1));
    this.launch('scan', name, grid, 256, args(chunkLen, nChunks, aggA, aggB, 2));
    this.free(aggA);
    this.free(aggB);
  }

  private scanForward(a: BackendBuffer | null, aConst: number, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
                      { outer, size, inner }: AxisLayout, logSpace: boolean, reverse: boolean): void {
    const o = buf(out);
    const s = SUFFIX[floatType(o.dtype, 'scan')];
    this.chunkedScan(`scan_${logSpace ? 'log' : 'real'}_${s}`, outer * inner, size, accType(o.dtype), (len, nc, aggA, aggB, phase) => [
      ptr(a), f64(aConst), ptr(b), ptr(h0), ptr(o), i64(outer), i64(size), i64(inner), i32(reverse ? 1 : 0), i64(len), i32(nc),
      ptr(aggA), ptr(aggB), i32(phase),
    ]);
  }

  cumsum(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout, reverse: boolean): void {
    this.scanForward(null, 1, x, null, out, layout, false, reverse);
  }

  logcumsumexp(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void {
    this.scanForward(null, 0, x, null, out, layout, true, false);
  }

  scan(a: BackendBuffer, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, layout: AxisLayout, logSpace: boolean): void {
    this.scanForward(a, 0, b, h0, out, layout, logSpace, false);
  }

  scanGrad(a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
           da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null, { outer, size, inner }: AxisLayout, logSpace: boolean): void {
    const t = buf(da).dtype;
    if (size === 0) { if (dh0) this.fill(dh0, 0); return; }
    this.chunkedScan(`scan_grad_${logSpace ? 'log' : 'real'}_${SUFFIX[floatType(t, 'scanGrad')]}`, outer * inner, size, accType(t), (len, nc, aggP, aggQ, phase) => [
      ptr(a), ptr(b), ptr(h), ptr(h0), ptr(dh), ptr(da), ptr(db), ptr(dh0), i64(outer), i64(size), i64(inner), i64(len), i32(nc),
      ptr(aggP), ptr(aggQ), i32(phase),
    ]);
  }

  /**
   * The packed complex diagonal scan (kernels/complex-scan.ts): one thread per channel and time
   * chunk, chunks as the real scans' (scanChunks).
   */
  complexScan(lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer, { outer, time, channels: C }: ComplexScanDims): void {
    const o = buf(out), s = floatSuffix(o.dtype, 'complexScan');
    if (outer * C === 0 || time === 0) return;
    const { nChunks: P, chunkLen: L } = this.scanChunks(outer * C, time);
    const threads = (n: number): [[number], number] => [[Math.ceil(n / CSCAN_THREADS)], CSCAN_THREADS];
    let carry: CudaBuffer | null = null;
    if (P > 1) {
      carry = this.temp(outer * P * 2 * C, accType(o.dtype));
      this.launch('complexScan', `complex_scan_ends_${s}`, ...threads(outer * P * C), [ptr(lambda), ptr(u), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L)]);
      this.launch('complexScan', `complex_scan_carry_${s}`, ...threads(outer * C), [ptr(lambda), ptr(x0), ptr(carry), i64(outer), i64(C), i64(P), i64(L)]);
    }
    this.launch('complexScan', `complex_scan_${s}`, ...threads(outer * P * C), [
      ptr(lambda), ptr(u), ptr(x0), ptr(carry), ptr(o), i64(outer), i64(time), i64(C), i64(P), i64(L),
    ]);
    if (carry) this.free(carry);
  }

  /** The reverse-scan backward of complexScan: du, dλ (summed over sequences and steps) and dx0 (when given). */
  complexScanGrad(lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer, du: BackendBuffer,
                  dLambda: BackendBuffer, dx0: BackendBuffer | null, { outer, time, channels: C }: ComplexScanDims): void {
    const dt = buf(du).dtype, s = floatSuffix(dt, 'complexScanGrad');
    if (outer * C === 0 || time === 0) { this.fill(dLambda, 0); if (dx0) this.fill(dx0, 0); return; }
    const { nChunks: P, chunkLen: L } = this.scanChunks(outer * C, time);
    const threads = (n: number): [[number], number] => [[Math.ceil(n / CSCAN_THREADS)], CSCAN_THREADS];
    let carry: CudaBuffer | null = null;
    if (P > 1) {
      carry = this.temp(outer * P * 2 * C, accType(dt));
      this.launch('complexScan', `complex_scan_grad_ends_${s}`, ...threads(outer * P * C), [ptr(lambda), ptr(dx), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L)]);
      this.launch('complexScan', `complex_scan_grad_carry_${s}`, ...threads(outer * C), [ptr(lambda), ptr(carry), i64(outer), i64(C), i64(P), i64(L)]);
    }
    const partial = this.temp(outer * P * 2 * C, accType(dt));
    this.launch('complexScan', `complex_scan_grad_${s}`, ...threads(outer * P * C), [
      ptr(lambda), ptr(x), ptr(x0), ptr(dx), ptr(du), ptr(partial), ptr(dx0), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L),
    ]);
    this.launch('complexScan', `complex_scan_dlambda_${s}`, [Math.ceil(2 * C / 256)], 256, [ptr(partial), ptr(dLambda), i64(outer * P), i64(2 * C)]);
    this.free(partial);
    if (carry) this.free(carry);
  }

  /**
   * Fused minGRU/minLSTM: proj [batch, time, C·dim] (C = 2: hidden, gate; C = 3: hidden, f, i),
   * h0 [batch, dim] or null (zeros) → h [batch, time, dim]. See kernels/scan.ts.
   */
  cellScan(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, batch: number, time: number, dim: number): void {
    const o = buf(out);
    const s = SUFFIX[floatType(o.dtype, 'cellScan')], v = fusedVec(dim);
    this.chunkedScan(`${scanKernelPrefix(cell)}_fwd_${s}_v${v}`, batch * dim, time, accType(o.dtype), (len, nc, aggA, aggB, phase) => [
      ptr(proj), ptr(h0), ptr(o), i64(batch), i64(time), i64(dim), i64(len), i32(nc), ptr(aggA), ptr(aggB), i32(phase),
    ], v);
  }

  /** Gradients of cellScan: dproj (same layout as proj) and dh0 (when h0 and dh0 are given). */
  cellScanGrad(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
                 dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number): void {
    const t = buf(dproj).dtype;
    if (time === 0) { if (dh0) this.fill(dh0, 0); return; }
    const v = fusedVec(dim);
    this.chunkedScan(`${scanKernelPrefix(cell)}_bwd_${SUFFIX[floatType(t, 'cellScanGrad')]}_v${v}`, batch * dim, time, accType(t), (len, nc, aggP, aggQ, phase) => [
      ptr(proj), ptr(h0), ptr(h), ptr(dh), ptr(dproj), ptr(dh0), i64(batch), i64(time), i64(dim), i64(len), i32(nc),
      ptr(aggP), ptr(aggQ), i32(phase),
    ], v);
  }

  // ---------------------------------------------------------------------------- fused norms

  /**
   * Normalisation over the last axis of x [rows, cols] (see kernels/norm.ts): s = x (+ residual,
   * written to `sum`), out = (s − μ)·rstd·weight (+ bias), μ the row mean for 'layer' and 0 for 'rms'.
   */
  norm(kind: NormKind, x: BackendBuffer, residual: BackendBuffer | null, weight: BackendBuffer, bias: BackendBuffer | null,
       sum: BackendBuffer | null, out: BackendBuffer, rows: number, cols: number, eps: number): void {
    const o = buf(out);
    if (rows * cols === 0) return;
    if (residual && !sum) throw new Error('cuda norm: a residual needs a sum buffer');
    const name = `norm_fwd_${floatSuffix(o.dtype, 'norm')}_v${normVec(cols)}`;
    this.launch('norm', name, [this.blocks(rows * 32)], 256, [
      i32(kind === 'layer' ? 1 : 0), ptr(x), ptr(residual), ptr(residual ? sum : null), ptr(weight), ptr(bias), ptr(o),
      i64(rows), i64(cols), f64(eps),
    ]);
  }

  /** Gradients of norm w.r.t. its input s = x (+ residual) into dx, and weight / bias (dbias may be null). */
  normGrad(kind: NormKind, s: BackendBuffer, weight: BackendBuffer, dy: BackendBuffer, dx: BackendBuffer, dweight: BackendBuffer,
           dbias: BackendBuffer | null, rows: number, cols: number, eps: number): void {
    const t = buf(dx).dtype;
    if (cols === 0) return;
    if (rows === 0) { this.fill(dweight, 0); if (dbias) this.fill(dbias, 0); return; }
    const v = normVec(cols);
    const blocks = Math.max(1, Math.min(Math.ceil(rows / 8), this.device.multiprocessors * NORM_BWD_BLOCKS_PER_SM));
    const acc = accType(t);
    const pw = this.temp(blocks * cols, acc), pb = dbias ? this.temp(blocks * cols, acc) : null;
    if (v === 0) { this.fill(pw, 0); if (pb) this.fill(pb, 0); }
    this.launch('norm', `norm_bwd_${floatSuffix(t, 'normGrad')}_v${v}`, [blocks], 256, [
      i32(kind === 'layer' ? 1 : 0), ptr(s), ptr(weight), ptr(dy), ptr(dx), ptr(pw), ptr(pb), i64(rows), i64(cols), f64(eps),
    ]);
    const layout = { outer: 1, size: blocks, inner: cols };
    this.reduce('sum', pw, dweight, layout);
    this.free(pw);
    if (pb) { this.reduce('sum', pb, dbias!, layout); this.free(pb); }
  }

  // ---------------------------------------------------------------------------- fused recurrences

  /** Length of `saved`: the CPU kernel's layout (hist [S, N, T + 1, B, d], then gates [T, N, B, Gs, d]). */
  rnnSavedLength(cell: RnnCellDef, dims: RnnDims): number {
    return savedLength(cell, dims);
  }

  /**
   * Which kernels run rnnForward/rnnBackward: 'auto' (the fused persistent kernels where
   * rnnFusedPlan accepts the problem, else the grid kernels where rnnGridPlanFor does, else the
   * alternating path), or one of them forced ('fused' and 'grid' throw where they cannot run).
   * Default: RECUR_CUDA_RNN, else 'auto'.
   */
  rnnKernel: RnnKernelChoice = rnnKernelFromEnv(process.env.RECUR_CUDA_RNN);
  private rnnFusedModule: unknown = null;
  private rnnGridModule: unknown = null;
  private readonly rnnFusedFns = new Map<string, unknown>();
  private rnnSmemOptinBytes = 0;

  /**
   * The fused path's launch shape (grid N × ⌈B/4⌉ blocks of 4·d threads and their dynamic shared
   * memory), or why it cannot run: f64 storage, or R_n of all gates (in the storage type; GRU padded
   * to 4 gates) plus the partial sums not fitting the device's opt-in shared memory per block (on the
   * H100, 227 KiB: LSTM/sLSTM/GRU up to d = 116 in f32, 128 in bf16), or more than 512 threads
   * (4 per unit: d > 128).
   */
  rnnFusedPlan(def: RnnCellDef | RnnCellKind, dims: RnnDims, dtype: DType): { ks: number; threads: number; smem: number; tiles: number } | { reason: string } {
    const cell = kernelCell(def);
    if (dtype !== 'f32' && dtype !== 'bf16') return { reason: `${dtype} storage (the fused kernels take f32 and bf16)` };
    const d = dims.headDim, ks = rnnFusedSplit(d), threads = d * ks;
    const bytes = rnnFusedSmemBytes(cell, d, ks, dtype === 'bf16' ? 2 : 4), smem = Math.max(bytes.fwd, bytes.bwd);
    const optin = this.rnnSmemOptin();
    if (smem > optin) return { reason: `R of one head needs ${smem} bytes of shared memory, the device gives a block ${optin}` };
    if (threads > 512) return { reason: `head size ${d} needs ${threads} threads per block (at most 512)` };
    return { ks, threads, smem, tiles: Math.ceil(dims.batch / RNN_FUSED_ROWS) };
  }

  private rnnSmemOptin(): number {
    if (this.rnnSmemOptinBytes === 0) {
      const dev = [0], v = [0];
      check(this.drv.cuDeviceGet(dev, this.device.ordinal), 'cuDeviceGet');
      check(this.drv.cuDeviceGetAttribute(v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev[0]), 'cuDeviceGetAttribute');
      this.rnnSmemOptinBytes = v[0];
    }
    return this.rnnSmemOptinBytes;
  }

  /** The plan rnnForward/rnnBackward follow for this problem (null: alternating). */
  private rnnChoose(cell: RnnCellKind, dims: RnnDims, dtype: DType): { ks: number; threads: number; smem: number; tiles: number } | null {
    if (this.rnnKernel === 'alternating' || this.rnnKernel === 'grid') return null;
    const plan = this.rnnFusedPlan(cell, dims, dtype);
    if ('reason' in plan) {
      if (this.rnnKernel === 'fused') throw new Error(`cuda rnn: the fused kernel cannot run this problem: ${plan.reason}`);
      return null;
    }
    return plan;
  }

  /**
   * The grid path's shape (kernels/rnn-grid.ts: units per block, blocks, threads, shared memory)
   * or why it cannot run: f64 storage, more heads than multiprocessors, a block's slice of R plus
   * h of all rows (forward) or 4 rows of dRh (backward) over the opt-in shared memory, more than
   * 32 rows per warp of a unit (batch × units per block over the block's threads).
   */
  rnnGridPlanFor(def: RnnCellDef | RnnCellKind, dims: RnnDims, dtype: DType): RnnGridPlan | { reason: string } {
    const cell = kernelCell(def);
    if (dtype !== 'f32' && dtype !== 'bf16') return { reason: `${dtype} storage (the grid kernels take f32 and bf16)` };
    return rnnGridPlan(cell, dims.heads, dims.headDim, dims.batch, dtype === 'bf16', this.device.multiprocessors, this.rnnSmemOptin());
  }

  /** The grid plan when rnnChoose declined: forced 'grid' (throws where it cannot run), or 'auto' when RNN_GRID_AUTO. */
  private rnnGridChoose(cell: RnnCellKind, dims: RnnDims, dtype: DType): RnnGridPlan | null {
    if (this.rnnKernel !== 'grid' && !(this.rnnKernel === 'auto' && RNN_GRID_AUTO)) return null;
    const plan = this.rnnGridPlanFor(cell, dims, dtype);
    if ('reason' in plan) {
      if (this.rnnKernel === 'grid') throw new Error(`cuda rnn: the grid kernel cannot run this problem: ${plan.reason}`);
      return null;
    }
    return plan;
  }

  private rnnGridFn(name: string): unknown {
    let f = this.rnnFusedFns.get(name);
    if (!f) {
      if (!this.rnnGridModule) {
        const { cubin } = compile(RNN_GRID_SOURCE, 'recur-rnn-grid', { arch: this.device.arch });
        const m: unknown[] = [null];
        check(this.drv.cuModuleLoadData(m, cubin), 'cuModuleLoadData(rnn-grid)');
        this.rnnGridModule = m[0];
      }
      const out: unknown[] = [null];
      check(this.drv.cuModuleGetFunction(out, this.rnnGridModule, name), `cuModuleGetFunction(${name})`);
      f = out[0];
      check(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, this.rnnSmemOptin()), `cuFuncSetAttribute(${name})`);
      this.rnnFusedFns.set(name, f);
    }
    return f;
  }

  /** A cooperative launch of a grid kernel with a freshly zeroed barrier word pair (appended to args). */
  private rnnGridLaunch(name: string, blocks: number, threads: number, smem: number, args: ArrayBufferView[], tail: ArrayBufferView[]): void {
    const f = this.rnnGridFn(name);
    const bar = this.temp(2, 'i32');
    check(this.drv.cuMemsetD8(bar.ptr, 0, 8), 'cuMemsetD8(grid barrier)');
    check(cuLaunchCooperativeKernel(f, blocks, 1, 1, threads, 1, 1, smem, null, [...args, ptr(bar), ...tail]), `cooperative launch of ${name}`);
    if (this.syncEachLaunch) check(this.drv.cuCtxSynchronize(), `kernel ${name}`);
    this.free(bar);
  }

  /** The grid barrier alone: `steps` barriers of `blocks` × `threads` (bench/gpu-rnn.ts's barrier cost). */
  rnnGridBarrierTest(blocks: number, threads: number, steps: number): void {
    this.rnnGridLaunch('rnng_barrier', blocks, threads, 0, [], [i64(steps)]);
  }

  private rnnFusedLaunch(name: string, plan: { threads: number; smem: number; tiles: number }, heads: number, args: ArrayBufferView[]): void {
    let f = this.rnnFusedFns.get(name);
    if (!f) {
      if (!this.rnnFusedModule) {
        const { cubin } = compile(RNN_FUSED_SOURCE, 'recur-rnn-fused', { arch: this.device.arch });
        const m: unknown[] = [null];
        check(this.drv.cuModuleLoadData(m, cubin), 'cuModuleLoadData(rnn-fused)');
        this.rnnFusedModule = m[0];
      }
      const out: unknown[] = [null];
      check(this.drv.cuModuleGetFunction(out, this.rnnFusedModule, name), `cuModuleGetFunction(${name})`);
      f = out[0];
      check(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, this.rnnSmemOptin()), `cuFuncSetAttribute(${name})`);
      this.rnnFusedFns.set(name, f);
    }
    check(this.drv.cuLaunchKernel(f, heads, plan.tiles, 1, plan.threads, 1, 1, plan.smem, null, args, null), `launch of ${name}`);
    if (this.syncEachLaunch) check(this.drv.cuCtxSynchronize(), `kernel ${name}`);
  }

  /**
   * Fused path (kernels/rnn-fused.ts, chosen by rnnChoose): one persistent kernel for all T steps.
   * Alternating path (kernels/rnn.ts): per step one strided-batched GEMM over the heads,
   * rh[n] [B, G·d] = h_{t−1}[n] [B, d]·Rp[n]ᵀ, then one pointwise kernel for all heads.
   * Layouts and math as src/backend/cpu/rnn.ts.
   */
  rnnForward(def: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer, state0: BackendBuffer | null,
             out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims): void {
    const L = def, cell = kernelCell(def);
    const { batch: B, time: T, heads: N, headDim: d } = dims;
    const G = L.gates, S = L.states, H = N * d;
    const o = buf(out), dt = floatType(o.dtype, 'rnnForward'), s = SUFFIX[dt];
    rnnCheck('wx', wx, B * T * G * H, dt);
    rnnCheck('r', r, G * N * d * d, dt);
    rnnCheck('b', b, L.biases * H, dt);
    if (state0) rnnCheck('state0', state0, S * B * H, dt);
    rnnCheck('out', out, (T + S) * B * H, dt);
    if (saved) rnnCheck('saved', saved, savedLength(def, dims), dt);
    if (B * H === 0) return;
    const plan = this.rnnChoose(cell, dims, dt);
    if (plan) {
      this.rnnFusedLaunch(`rnnf_fwd_${cell}_${s}`, plan, N, [
        ptr(wx), ptr(r), ptr(b), ptr(state0), ptr(o), ptr(saved), i64(B), i64(T), i64(N), i32(d),
      ]);
      return;
    }
    const grid = this.rnnGridChoose(cell, dims, dt);
    if (grid) {
      const hx = this.temp(2 * N * grid.b4 * d, 'f32');
      this.rnnGridLaunch(`rnng_fwd_${cell}_${s}`, grid.blocks, grid.threads, grid.smemFwd,
        [ptr(wx), ptr(r), ptr(b), ptr(state0), ptr(o), ptr(saved), ptr(hx)],
        [i64(B), i64(T), i64(N), i32(d), i32(grid.units), i32(grid.slices), i32(grid.wpu)]);
      this.free(hx);
      return;
    }
    const es = ELEM_BYTES[dt];
    const slots = saved ? T + 1 : 2;
    const hist = saved ? buf(saved) : this.temp(S * N * slots * B * d, dt);
    const rp = this.temp(G * N * d * d, dt), rh = this.temp(N * B * G * d, dt);
    const NBd = N * B * d, sBlocks = this.blocks(S * NBd);
    this.launch('rnn', `rnn_init_hist_${s}`, [sBlocks], 256, [ptr(state0), ptr(hist), i64(S), i64(B), i64(N), i64(d), i64(slots)]);
    this.launch('rnn', `rnn_permute_r_${s}`, [this.blocks(rp.length)], 256, [ptr(r), ptr(rp), i64(G), i64(N), i64(d), i32(1)]);
    const gates = saved && L.saved > 0 ? saved : null;
    const gatesOff = S * N * slots * B * d;
    const name = `rnn_fwd_${cell}_${s}`, blocks = this.blocks(NBd);
    for (let t = 0; t < T; t++) {
      const prev = saved ? t : t & 1, next = saved ? t + 1 : (t + 1) & 1;
      this.gemmRaw(dt, false, true, B, G * d, d, hist.ptr + prev * B * d * es, d, slots * B * d, rp.ptr, d, G * d * d,
        rh.ptr, G * d, B * G * d, N, false);
      this.launch('rnn', name, [blocks], 256, [
        ptr(wx), ptr(b), ptr(rh), ptr(hist), ptr(o), ptr(gates), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(t), i64(prev), i64(next), i64(gatesOff),
      ]);
    }
    const last = saved ? T : T & 1;
    this.launch('rnn', `rnn_last_states_${s}`, [sBlocks], 256, [ptr(hist), ptr(o), i64(S), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(last)]);
    this.free(rp);
    this.free(rh);
    if (!saved) this.free(hist);
  }

  /**
   * BPTT: per step from the last, one pointwise kernel (gate gradients into dwx and dRh, the carry
   * of the states) and one GEMM dh_{t−1}[n] = dRh_t[n]·Rp[n]; at the end one GEMM over all steps
   * for dR and column sums (GEMMs with a ones vector) for db.
   */
  rnnBackward(def: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer, dwx: BackendBuffer,
              dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims): void {
    const L = def, cell = kernelCell(def);
    const { batch: B, time: T, heads: N, headDim: d } = dims;
    const G = L.gates, S = L.states, H = N * d, NBd = N * B * d;
    const w = buf(dwx), dt = floatType(w.dtype, 'rnnBackward'), s = SUFFIX[dt], acc = accType(dt);
    rnnCheck('r', r, G * N * d * d, dt);
    rnnCheck('saved', saved, savedLength(def, dims), dt);
    rnnCheck('dout', dout, (T + S) * B * H, dt);
    rnnCheck('dwx', dwx, B * T * G * H, dt);
    rnnCheck('dr', dr, G * N * d * d, dt);
    rnnCheck('db', db, L.biases * H, dt);
    if (dstate0) rnnCheck('dstate0', dstate0, S * B * H, dt);
    if (T * B === 0 || H === 0) {
      this.fill(dr, 0); this.fill(db, 0); if (w.length) this.fill(dwx, 0);
      if (dstate0 && buf(dstate0).length) this.fill(dstate0, 0); // T = 0 with states: dstate0 = dout's tail (rare; not exercised)
      return;
    }
    const es = ELEM_BYTES[dt];
    const slots = T + 1, hist = buf(saved);
    const rp = this.temp(G * N * d * d, dt);
    const dRh = this.temp(N * T * B * G * d, dt);
    const plan = this.rnnChoose(cell, dims, dt);
    const grid = plan ? null : this.rnnGridChoose(cell, dims, dt);
    if (plan) {
      this.rnnFusedLaunch(`rnnf_bwd_${cell}_${s}`, plan, N, [
        ptr(r), ptr(hist), ptr(dout), ptr(w), ptr(dRh), ptr(dstate0), i64(B), i64(T), i64(N), i32(d),
      ]);
    } else if (grid) {
      const ex = this.temp(2 * N * grid.b4 * d * (L.gates === 1 ? 1 : 4), 'f32');
      this.rnnGridLaunch(`rnng_bwd_${cell}_${s}`, grid.blocks, grid.threads, grid.smemBwd,
        [ptr(r), ptr(hist), ptr(dout), ptr(w), ptr(dRh), ptr(dstate0), ptr(ex)],
        [i64(B), i64(T), i64(N), i32(d), i32(grid.units), i32(grid.slices), i32(grid.wpu), i32(grid.cr)]);
      this.free(ex);
    } else {
      const carry = this.temp(S * NBd, acc), dhRec = this.temp(NBd, dt);
      this.launch('rnn', `rnn_permute_r_${s}`, [this.blocks(rp.length)], 256, [ptr(r), ptr(rp), i64(G), i64(N), i64(d), i32(1)]);
      const sBlocks = this.blocks(S * NBd);
      this.launch('rnn', `rnn_init_carry_${s}`, [sBlocks], 256, [ptr(dout), ptr(carry), i64(S), i64(B), i64(T), i64(N), i64(d)]);
      this.fill(dhRec, 0);
      const gatesOff = S * N * slots * B * d;
      const name = `rnn_bwd_${cell}_${s}`, blocks = this.blocks(NBd);
      for (let t = T - 1; t >= 0; t--) {
        this.launch('rnn', name, [blocks], 256, [
          ptr(hist), ptr(hist), ptr(dout), ptr(dhRec), ptr(carry), ptr(w), ptr(dRh), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(t), i64(gatesOff),
        ]);
        if (t > 0 || dstate0) {
          this.gemmRaw(dt, false, false, B, d, G * d, dRh.ptr + t * B * G * d * es, G * d, T * B * G * d, rp.ptr, d, G * d * d,
            dhRec.ptr, d, B * d, N, false);
        }
      }
      if (dstate0) {
        this.launch('rnn', `rnn_dstate0_${s}`, [sBlocks], 256, [ptr(carry), ptr(dhRec), ptr(dstate0), i64(S), i64(B), i64(N), i64(d)]);
      }
      this.free(carry);
      this.free(dhRec);
    }
    // dRp[n] [G·d, d] = dRh[n]ᵀ [G·d, T·B] · h[n] (hist slots 0..T−1) [T·B, d]; rp is reused for it
    this.gemmRaw(dt, true, false, G * d, d, T * B, dRh.ptr, G * d, T * B * G * d, hist.ptr, d, slots * B * d,
      rp.ptr, d, G * d * d, N, false);
    this.launch('rnn', `rnn_permute_r_${s}`, [this.blocks(rp.length)], 256, [ptr(rp), ptr(dr), i64(G), i64(N), i64(d), i32(0)]);
    // db rows 0..G−1 = column sums of dwx [B·T, G·N·d]; GRU's b_rn (row 3) = column sums of dRh's n part
    const ones = this.temp(T * B, dt);
    this.fill(ones, 1);
    const dbb = buf(db);
    this.gemmRaw(dt, false, false, 1, G * H, T * B, ones.ptr, T * B, 0, w.ptr, G * H, 0, dbb.ptr, G * H, 0, 1, false);
    if (cell === 'gru') {
      this.gemmRaw(dt, false, false, 1, d, T * B, ones.ptr, T * B, 0, dRh.ptr + 2 * d * es, G * d, T * B * G * d,
        dbb.ptr + 3 * H * es, d, d, N, false);
    }
    for (const t of [rp, dRh, ones]) this.free(t);
  }

}

export type RnnKernelChoice = 'auto' | 'fused' | 'grid' | 'alternating';

/** Whether 'auto' takes the grid path where the single-block fused one cannot run. */
const RNN_GRID_AUTO = true;

function rnnKernelFromEnv(v: string | undefined): RnnKernelChoice {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'fused' || v === 'grid' || v === 'alternating') return v;
  throw new Error(`RECUR_CUDA_RNN must be fused, grid, alternating or auto (got '${v}')`);
}

function rnnCheck(what: string, b: BackendBuffer, n: number, dtype: DType): void {
  const c = buf(b);
  if (c.length !== n) throw new Error(`cuda rnn: ${what} has ${c.length} elements, expected ${n}`);
  if (c.dtype !== dtype) throw new Error(`cuda rnn: ${what} is ${c.dtype}, expected ${dtype}`);
}

/** Blocks of the fused norm backward: each writes one partial row of the weight/bias gradients. */
const NORM_BWD_BLOCKS_PER_SM = 4;

function floatType(dtype: DType, what: string): DType {
  if (dtype === 'i32') throw new Error(`cuda ${what}: i32 is not a float dtype`);
  return dtype;
}
const floatSuffix = (dtype: DType, what: string): string => SUFFIX[floatType(dtype, what)];
/** Channels per thread in the fused kernels: 2 (one 4/8-byte access for two) when dim is even; RECUR_CUDA_FUSED_VEC=1 forces 1. */
const fusedVec = (dim: number): number => (dim % 2 === 0 && process.env.RECUR_CUDA_FUSED_VEC !== '1' ? 2 : 1);
/** The dtype of scan state and chunk aggregates. */
const accType = (dtype: DType): DType => (dtype === 'f64' ? 'f64' : 'f32');
/** Threads per block of the complex scan: 64 so that a few thousand threads still reach every SM. */
const CSCAN_THREADS = 64;

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

// ------------------------------------------------------------------------------ registration

/** Makes `setBackend('cuda')` (and `backend: 'cuda'` in creation options) available. */
export function registerCudaBackend(opts: CudaOptions = {}): void {
  registerBackend('cuda', () => new CudaBackend(opts));
}
