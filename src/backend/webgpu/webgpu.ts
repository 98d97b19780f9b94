/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: the Backend interface (src/backend/backend.ts) in WGSL compute shaders, in
 * a browser through navigator.gpu and in Node through the optional `webgpu` package (Dawn), see
 * device.ts. Storage dtypes: f32 and i32 (WGSL has no f64; bf16 storage is the CUDA backend's).
 *
 * Execution: kernels are rendered by kernels/*.ts through wgsl.ts, compiled once per variant and
 * cached. Dispatches are recorded into one command encoder and submitted in batches; each
 * dispatch's sizes and scalars (64 words) go into a ring of uniform slots bound with a dynamic
 * offset, uploaded just before the batch is submitted (queue order makes the reuse of the ring
 * and of pooled buffers safe). Readback is asynchronous (mapAsync; no waiting on the main
 * thread), and is also where faults surface: index errors recorded by kernels (the CPU backend's
 * RangeError), validation errors, and a lost device.
 *
 * Memory: buffers come from a pool of size classes; free() returns a buffer to the pool at once
 * (deterministic: the live count drops immediately), and cached buffers beyond poolLimitBytes are
 * destroyed after the batch that might still use them is submitted.
 *
 * Optional fused kernels offered: norm/normGrad, complexScan/complexScanGrad, and the cells'
 * fused recurrences rendered from their definitions (kernels/cells.ts): cellScan/cellScanGrad
 * (minGRU, minLSTM, any LinearScanCellDef) and rnnForward/rnnBackward (LSTM, GRU, Elman, sLSTM,
 * any RnnCellDef; per step one batched GEMM and one pointwise kernel). Nothing falls back to the
 * CPU.
 */
import type {
  AdamWHyper, AxisLayout, Backend, BackendBuffer, BinaryOp, ComplexScanDims, DType, HostArray, LinearScanCellDef, MatmulSpec, NormKind,
  ReduceOp, RnnCellDef, RnnDims, StridedView, UnaryOp,
} from '../backend.js';
import { rnnSavedLength } from '../pointwise/rnn-cell.js';
import { dropoutThreshold } from '../random.js';
import { collapseAxes } from '../strided.js';
import { acquireDevice, type AdapterDescription, type WebGPUOptions } from './device.js';
import { PARAM_WORDS, WG, grid, type Kernel, type WgslType } from './wgsl.js';
import {
  MAX_DIMS, STRIDED, adamwKernel, binaryKernel, castKernel, copyKernel, dropoutKernel, fillKernel, unaryGradKernel, unaryKernel,
  whereKernel,
} from './kernels/elementwise.js';
import {
  ERR_NONE, REDUCE_INIT, argmaxKernel, crossEntropyGradKernel, crossEntropyKernel, errorValueKernel, gatherKernel, reduceColsKernel,
  reduceRowsKernel, scatterAddKernel, softmaxGradKernel, softmaxKernel,
} from './kernels/reduce.js';
import { complexScanGradKernel, complexScanKernel, scanGradKernel, scanKernel } from './kernels/scan.js';
import { TILE_LARGE, TILE_SMALL, matmulKernel, tileBytes, tileThreads, type MatmulTile } from './kernels/matmul.js';
import { normGradKernel, normKernel } from './kernels/norm.js';
import { cellScanGradKernel, cellScanKernel, rnnBackwardStepKernel, rnnForwardStepKernel } from './kernels/cells.js';

export type { WebGPUOptions, AdapterDescription } from './device.js';

class GpuBuffer implements BackendBuffer {
  freed = false;
  constructor(readonly length: number, readonly dtype: DType, readonly gpu: GPUBuffer, readonly bytes: number) {}
}

const buf = (b: BackendBuffer): GpuBuffer => {
  if (!(b instanceof GpuBuffer)) throw new Error('webgpu: a buffer from another backend was passed to the WebGPU backend');
  if (b.freed) throw new Error('webgpu: use of a freed buffer');
  return b;
};

/** Uniform slots per submitted batch (each PARAM_WORDS words = 256 bytes). */
const SLOTS = 256;
const SLOT_BYTES = PARAM_WORDS * 4;
const STAGE_COMPUTE = 4; // GPUShaderStage.COMPUTE

/** The 64 uniform words of one dispatch, written by name-free index (each kernel documents its words). */
class Params {
  readonly u = new Uint32Array(PARAM_WORDS);
  readonly i = new Int32Array(this.u.buffer);
  readonly f = new Float32Array(this.u.buffer);
  static of(...words: number[]): Params {
    const p = new Params();
    words.forEach((w, k) => { p.u[k] = w >>> 0; });
    return p;
  }
  float(k: number, v: number): this { this.f[k] = v; return this; }
}

interface Pipeline { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; writes: boolean[] }

/** Pool size class of a byte count: multiples of 256 up to 64 KiB, then eighths of a power of two. */
function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.ceil(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

const wgslType = (dtype: DType, what: string): WgslType => {
  if (dtype === 'f32' || dtype === 'i32') return dtype;
  throw new Error(`webgpu ${what}: ${dtype} is not a webgpu dtype (f32 and i32; WGSL has no f64)`);
};

const needF32 = (b: BackendBuffer, what: string): void => {
  if (b.dtype !== 'f32') throw new Error(`webgpu ${what}: takes f32 tensors (got ${b.dtype})`);
};

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  /** Whether RMSNorm/LayerNorm use the fused kernels (false: composite ops, for comparisons). */
  fusedNorm = true;
  readonly adapter: AdapterDescription;
  readonly device: GPUDevice;
  /** Cached (freed) bytes kept for reuse; beyond this, freed buffers are destroyed. */
  poolLimitBytes = 1 << 30;

  private readonly usage: { STORAGE: number; UNIFORM: number; COPY_SRC: number; COPY_DST: number; MAP_READ: number };
  private readonly mapRead: number;
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private live = 0;
  private toDestroy: GPUBuffer[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private slot = 0;
  private readonly ring: GPUBuffer;
  private readonly ringHost = new Uint32Array(SLOTS * PARAM_WORDS);
  /** Stand-ins for absent optional operands, one per binding slot (never two writable aliases). */
  private readonly dummies: GPUBuffer[] = [];
  private readonly errWords: GPUBuffer;
  private errTag = 0;
  private readonly errDescribe = new Map<number, (pos: number, value: number) => Error>();
  private firstError: string | null = null;
  private lost: string | null = null;
  private readonly keepAlive: readonly unknown[];

  private constructor(acq: Awaited<ReturnType<typeof acquireDevice>>) {
    this.device = acq.device;
    this.adapter = acq.adapter;
    this.usage = acq.usage;
    this.mapRead = acq.mapRead;
    this.keepAlive = acq.keepAlive;
    const u = this.usage;
    this.ring = this.device.createBuffer({ size: SLOTS * SLOT_BYTES, usage: u.UNIFORM | u.COPY_DST });
    this.errWords = this.device.createBuffer({ size: 16, usage: u.STORAGE | u.COPY_SRC | u.COPY_DST });
    this.device.queue.writeBuffer(this.errWords, 0, ERR_NONE);
    this.device.addEventListener('uncapturederror', (e) => {
      this.firstError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
    void this.device.lost.then((info) => { this.lost = info.message || info.reason || 'unknown reason'; });
  }

  /** Acquires an adapter and a device (asynchronous in WebGPU; see initWebGPU). */
  static async create(opts: WebGPUOptions = {}): Promise<WebGPUBackend> {
    return new WebGPUBackend(await acquireDevice(opts));
  }

  get limits(): GPUSupportedLimits { return this.device.limits; }

  // ---------------------------------------------------------------------------- plumbing

  private checkUsable(): void {
    if (this.lost !== null) throw new Error(`the WebGPU device was lost (${this.lost}); the run stops here`);
  }

  private pipelineFor(key: string, build: () => Kernel): Pipeline {
    let p = this.pipelines.get(key);
    if (p) return p;
    const kernel = build();
    const layout = this.device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: SLOT_BYTES } },
        ...kernel.writes.map((w, k) => ({ binding: k + 1, visibility: STAGE_COMPUTE, buffer: { type: (w ? 'storage' : 'read-only-storage') as GPUBufferBindingType } })),
      ],
    });
    const module = this.device.createShaderModule({ code: kernel.source, label: key });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    p = { pipeline, layout, writes: kernel.writes };
    this.pipelines.set(key, p);
    return p;
  }

  private dummy(k: number): GPUBuffer {
    while (this.dummies.length <= k) {
      this.dummies.push(this.device.createBuffer({ size: 16, usage: this.usage.STORAGE }));
    }
    return this.dummies[k];
  }

  private ensurePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (this.pass) { this.pass.end(); this.pass = null; }
    return this.encoder;
  }

  /** Submits everything recorded (uniforms first), then destroys buffers that left the pool. */
  flush(): void {
    if (!this.encoder) return;
    const enc = this.endPass();
    if (this.slot > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringHost, 0, this.slot * PARAM_WORDS);
    this.device.queue.submit([enc.finish()]);
    this.encoder = null;
    this.slot = 0;
    for (const b of this.toDestroy) b.destroy();
    this.toDestroy = [];
  }

  /** Resolves when every submitted kernel has finished (benchmarks). */
  async synchronize(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkUsable();
  }

  /**
   * Records one dispatch of the kernel `key` (rendered by `build` on first use) over `buffers`
   * (null: absent optional operand) with the uniform words `params` and `groups` workgroups.
   */
  private dispatch(key: string, build: () => Kernel, buffers: readonly (BackendBuffer | GPUBuffer | null)[], params: Params,
                   groups: readonly [number, number?, number?]): void {
    this.checkUsable();
    const p = this.pipelineFor(key, build);
    if (buffers.length !== p.writes.length) throw new Error(`webgpu ${key}: ${buffers.length} buffers for ${p.writes.length} bindings`);
    if (this.slot === SLOTS) this.flush();
    const gpuBuffers = buffers.map((b, k) => (b === null ? this.dummy(k) : b instanceof GpuBuffer ? buf(b).gpu : (b as GPUBuffer)));
    // A buffer both read and written by one dispatch is a WebGPU validation error: read a copy.
    const temps: GpuBuffer[] = [];
    gpuBuffers.forEach((g, k) => {
      if (!p.writes[k] && gpuBuffers.some((h, j) => j !== k && p.writes[j] && h === g)) {
        const src = buffers[k] as GpuBuffer;
        const t = this.alloc(src.length, src.dtype) as GpuBuffer;
        this.endPass().copyBufferToBuffer(g, 0, t.gpu, 0, src.length * 4);
        gpuBuffers[k] = t.gpu;
        temps.push(t);
      }
    });
    const slot = this.slot++;
    this.ringHost.set(params.u, slot * PARAM_WORDS);
    const bindGroup = this.device.createBindGroup({
      layout: p.layout,
      entries: [
        { binding: 0, resource: { buffer: this.ring, offset: 0, size: SLOT_BYTES } },
        ...gpuBuffers.map((g, k) => ({ binding: k + 1, resource: { buffer: g } })),
      ],
    });
    const pass = this.ensurePass();
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, bindGroup, [slot * SLOT_BYTES]);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    for (const t of temps) this.free(t);
  }

  /** A dispatch of one thread per item over n items (kernels that index with `gid`). */
  private linear(key: string, build: () => Kernel, buffers: readonly (BackendBuffer | GPUBuffer | null)[], params: Params, n: number, wg = WG): void {
    this.dispatch(key, build, buffers, params, grid(Math.ceil(n / wg)));
  }

  /** The tag under which an indexing kernel records a bad index, and the error it becomes. */
  private errorTag(describe: (pos: number, value: number) => Error): number {
    this.errTag = (this.errTag % 0x7fffffff) + 1;
    this.errDescribe.set(this.errTag, describe);
    if (this.errDescribe.size > 4096) this.errDescribe.delete(this.errDescribe.keys().next().value!);
    return this.errTag;
  }

  private fetchBadIndex(tag: number, index: BackendBuffer, k: number, indexOuterStride: number): void {
    this.dispatch('errorValue', errorValueKernel, [index, this.errWords], Params.of(tag, Math.max(k, 1), indexOuterStride), [1]);
  }

  // ---------------------------------------------------------------------------- memory

  alloc(length: number, dtype: DType): BackendBuffer {
    if (!Number.isInteger(length) || length < 0) throw new Error(`webgpu: cannot allocate ${length} elements`);
    wgslType(dtype, 'alloc');
    this.checkUsable();
    const bytes = length * 4;
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (bytes > limit) {
      throw new Error(`webgpu: a tensor of ${length} ${dtype} values (${bytes} bytes) exceeds this adapter's maxStorageBufferBindingSize of ${limit} bytes`);
    }
    const cls = sizeClass(bytes);
    let g = this.pool.get(cls)?.pop();
    if (g) this.pooledBytes -= cls;
    else g = this.device.createBuffer({ size: cls, usage: this.usage.STORAGE | this.usage.COPY_SRC | this.usage.COPY_DST });
    this.live++;
    return new GpuBuffer(length, dtype, g, cls);
  }

  free(buffer: BackendBuffer): void {
    const b = buf(buffer);
    b.freed = true;
    this.live--;
    if (this.pooledBytes + b.bytes > this.poolLimitBytes) {
      this.toDestroy.push(b.gpu);
      if (!this.encoder) this.flush();
      return;
    }
    let list = this.pool.get(b.bytes);
    if (!list) this.pool.set(b.bytes, (list = []));
    list.push(b.gpu);
    this.pooledBytes += b.bytes;
  }

  /** Destroys every pooled (free) buffer. */
  emptyCache(): void {
    for (const list of this.pool.values()) this.toDestroy.push(...list);
    this.pool.clear();
    this.pooledBytes = 0;
    this.flush();
    if (!this.encoder) { for (const b of this.toDestroy) b.destroy(); this.toDestroy = []; }
  }

  liveBuffers(): number {
    return this.live;
  }

  write(buffer: BackendBuffer, data: HostArray): void {
    const b = buf(buffer);
    if (data.length !== b.length) throw new Error(`write: ${data.length} values into a buffer of ${b.length}`);
    if (b.length === 0) return;
    this.checkUsable();
    const host = b.dtype === 'i32'
      ? (data instanceof Int32Array ? data : Int32Array.from(data))
      : (data instanceof Float32Array ? data : Float32Array.from(data));
    // queue writes run before recorded-but-unsubmitted kernels: submit those first (they may read
    // this buffer's previous life in the pool)
    this.flush();
    this.device.queue.writeBuffer(b.gpu, 0, host.buffer, host.byteOffset, host.byteLength);
  }

  async read(buffer: BackendBuffer): Promise<HostArray> {
    const b = buf(buffer);
    this.checkUsable();
    const bytes = b.length * 4, errAt = Math.ceil(bytes / 16) * 16;
    const staging = this.device.createBuffer({ size: errAt + 16, usage: this.mapRead | this.usage.COPY_DST });
    const enc = this.endPass();
    if (bytes > 0) enc.copyBufferToBuffer(b.gpu, 0, staging, 0, bytes);
    enc.copyBufferToBuffer(this.errWords, 0, staging, errAt, 16);
    this.flush();
    try {
      await staging.mapAsync(this.mapRead);
    } catch (e) {
      staging.destroy();
      this.checkUsable();
      throw new Error(`webgpu: reading a buffer back failed (${(e as Error).message})`);
    }
    const raw = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.raiseRecordedErrors(new Uint32Array(raw, errAt, 4));
    return b.dtype === 'i32' ? new Int32Array(raw, 0, b.length) : new Float32Array(raw, 0, b.length);
  }

  /** Throws what kernels recorded since the last readback (index errors), or a WebGPU error. */
  private raiseRecordedErrors(err: Uint32Array): void {
    this.checkUsable();
    if (this.firstError !== null) {
      const msg = this.firstError;
      this.firstError = null;
      throw new Error(`webgpu: ${msg}`);
    }
    if (err[0] === 0) { this.errDescribe.clear(); return; }
    this.device.queue.writeBuffer(this.errWords, 0, ERR_NONE);
    const describe = this.errDescribe.get(err[0]);
    this.errDescribe.clear();
    const value = new Int32Array(err.buffer, err.byteOffset + 8, 1)[0];
    throw describe ? describe(err[1], value) : new RangeError(`index ${value} is out of range`);
  }

  // ---------------------------------------------------------------------------- elementwise

  fill(out: BackendBuffer, value: number): void {
    this.fillRange(buf(out), 0, out.length, value);
  }

  private fillRange(o: GpuBuffer, offset: number, length: number, value: number): void {
    if (length === 0) return;
    const p = Params.of(length, offset);
    if (o.dtype === 'i32') p.i[2] = value; else p.f[2] = value;
    this.linear('fill', fillKernel, [o], p, length);
  }

  cast(x: BackendBuffer, out: BackendBuffer): void {
    const from = wgslType(x.dtype, 'cast'), to = wgslType(out.dtype, 'cast');
    if (out.length === 0) return;
    if (from === to) { this.copy({ buffer: x, offset: 0, strides: [1] }, { buffer: out, offset: 0, strides: [1] }, [out.length]); return; }
    this.linear(`cast:${from}:${to}`, () => castKernel(from, to), [x, out], Params.of(out.length), out.length);
  }

  /** The uniform words of a strided kernel over `shape` with these operand views. */
  private strided(shape: readonly number[], views: readonly { offset: number; strides: readonly number[] }[]): { params: Params; total: number } {
    const total = shape.reduce((n, s) => n * s, 1);
    const c = collapseAxes(shape, views.map((v) => v.strides));
    if (c.shape.length > MAX_DIMS) throw new Error(`webgpu: a strided operation over ${c.shape.length} non-mergeable axes (at most ${MAX_DIMS})`);
    const p = Params.of(total, c.shape.length, ...c.shape);
    views.forEach((v, k) => {
      const base = STRIDED.operand(k);
      p.i[base] = v.offset;
      c.strides[k].forEach((s, d) => { p.i[base + 1 + d] = s; });
    });
    return { params: p, total };
  }

  copy(src: StridedView, dst: StridedView, shape: readonly number[]): void {
    if (src.buffer.dtype !== dst.buffer.dtype) throw new Error(`webgpu copy: ${src.buffer.dtype} into ${dst.buffer.dtype}`);
    const { params, total } = this.strided(shape, [src, dst]);
    if (total === 0) return;
    this.linear('copy', copyKernel, [src.buffer, dst.buffer], params, total);
  }

  unary(op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void {
    needF32(out, op);
    if (out.length === 0) return;
    this.linear(`unary:${op}`, () => unaryKernel(op), [x, out], Params.of(out.length), out.length);
  }

  unaryGrad(op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void {
    needF32(out, `${op} gradient`);
    if (out.length === 0) return;
    this.linear(`unaryGrad:${op}`, () => unaryGradKernel(op), [x, y, dy, out], Params.of(out.length), out.length);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    const ta = wgslType(a.buffer.dtype, op), tb = wgslType(b.buffer.dtype, op), to = wgslType(out.dtype, op);
    const { params, total } = this.strided(shape, [a, b]);
    if (total === 0) return;
    this.linear(`binary:${op}:${ta}:${tb}:${to}`, () => binaryKernel(op, ta, tb, to), [a.buffer, b.buffer, out], params, total);
  }

  where(cond: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    const tc = wgslType(cond.buffer.dtype, 'where'), t = wgslType(out.dtype, 'where');
    const { params, total } = this.strided(shape, [cond, a, b]);
    if (total === 0) return;
    this.linear(`where:${tc}:${t}`, () => whereKernel(tc, t), [cond.buffer, a.buffer, b.buffer, out], params, total);
  }

  dropoutMask(out: BackendBuffer, p: number, [k0, k1]: readonly [number, number]): void {
    needF32(out, 'dropout');
    if (out.length === 0) return;
    const params = Params.of(out.length, k0, k1, dropoutThreshold(p)).float(4, 1 / (1 - p));
    this.linear('dropout', dropoutKernel, [out], params, out.length);
  }

  adamw(param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, h: AdamWHyper): void {
    needF32(param, 'adamw');
    if (param.length === 0) return;
    const p = Params.of(param.length).float(1, h.beta1).float(2, h.beta2).float(3, h.eps).float(4, 1 - h.lr * h.weightDecay)
      .float(5, h.lr / h.correction1).float(6, 1 / Math.sqrt(h.correction2));
    this.linear('adamw', adamwKernel, [param, grad, m, v], p, param.length);
  }

  // ---------------------------------------------------------------------------- reductions

  reduce(op: ReduceOp, x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
    needF32(x, `reduce ${op}`);
    if (outer * inner === 0) return;
    if (size === 0) { this.fill(out, REDUCE_INIT[op]); return; }
    if (inner === 1) {
      this.dispatch(`reduceRows:${op}`, () => reduceRowsKernel(op), [x, out], Params.of(outer, size), grid(outer));
      return;
    }
    // one thread per column and chunk of the axis: enough threads to fill a GPU, chunks ≥ 64
    const columns = outer * inner;
    let nsplit = Math.max(1, Math.min(Math.ceil(65536 / columns), Math.ceil(size / 64)));
    const chunk = Math.ceil(size / nsplit);
    nsplit = Math.ceil(size / chunk);
    const key = `reduceCols:${op}`, build = () => reduceColsKernel(op);
    if (nsplit === 1) { this.linear(key, build, [x, out], Params.of(outer, size, inner, 1, size), columns); return; }
    const partial = this.alloc(outer * nsplit * inner, 'f32');
    this.linear(key, build, [x, partial], Params.of(outer, size, inner, nsplit, chunk), outer * nsplit * inner);
    this.linear(key, build, [partial, out], Params.of(outer, nsplit, inner, 1, nsplit), columns);
    this.free(partial);
  }

  argmax(x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
    needF32(x, 'argmax');
    if (outer * inner === 0) return;
    this.linear('argmax', argmaxKernel, [x, out], Params.of(outer, size, inner), outer * inner);
  }

  softmax(x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    needF32(x, 'softmax');
    if (rows * cols === 0) return;
    this.dispatch('softmax', softmaxKernel, [x, out], Params.of(rows, cols, log ? 1 : 0), grid(rows));
  }

  softmaxGrad(y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    if (rows * cols === 0) return;
    this.dispatch('softmaxGrad', softmaxGradKernel, [y, dy, out], Params.of(rows, cols, log ? 1 : 0), grid(rows));
  }

  crossEntropy(logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    needF32(logits, 'crossEntropy');
    if (rows === 0) return;
    const tag = this.errorTag((r, t) => new RangeError(`crossEntropy: target ${t} at row ${r} is outside [0, ${cols})`));
    const p = Params.of(rows, cols, 0, tag);
    p.i[2] = ignoreIndex;
    this.dispatch('crossEntropy', crossEntropyKernel, [logits, targets, out, this.errWords], p, grid(rows));
    this.fetchBadIndex(tag, targets, rows, 0);
  }

  crossEntropyGrad(logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    if (rows * cols === 0) return;
    const p = Params.of(rows, cols);
    p.i[2] = ignoreIndex;
    this.dispatch('crossEntropyGrad', crossEntropyGradKernel, [logits, targets, dloss, out], p, grid(rows));
  }

  gather(x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
    const n = outer * k * inner;
    if (n === 0) return;
    const tag = this.errorTag((_r, v) => new RangeError(`index ${v} is out of range [0, ${size})`));
    this.linear('gather', gatherKernel, [x, index, out, this.errWords], Params.of(outer, size, inner, k, indexOuterStride, tag), n);
    this.fetchBadIndex(tag, index, k, indexOuterStride);
  }

  scatterAdd(src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
    const t = wgslType(out.dtype, 'scatterAdd');
    this.fill(out, 0);
    const n = outer * k * inner;
    if (n === 0) return;
    const tag = this.errorTag((_r, v) => new RangeError(`index ${v} is out of range [0, ${size})`));
    this.linear(`scatterAdd:${t}`, () => scatterAddKernel(t), [src, index, out, this.errWords], Params.of(outer, size, inner, k, indexOuterStride, tag), n);
    this.fetchBadIndex(tag, index, k, indexOuterStride);
  }

  // ---------------------------------------------------------------------------- matmul

  /** The tile configuration for a problem (large tiles once a batch has ≥ 64 of them). */
  matmulTile(m: number, n: number): MatmulTile {
    return Math.ceil(m / TILE_LARGE.bm) * Math.ceil(n / TILE_LARGE.bn) >= 64 ? TILE_LARGE : TILE_SMALL;
  }

  matmul(a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void {
    for (const [t, name] of [[a, 'A'], [b, 'B'], [out, 'C']] as const) needF32(t, `matmul ${name}`);
    const { batch, m, n, k } = spec;
    if (batch * m * n === 0) return;
    if (k === 0) {
      if (!spec.accumulate) this.fillRange(buf(out), spec.cOffset, batch * m * n, 0);
      return;
    }
    const tile = this.matmulTile(m, n);
    const wgBytes = tileBytes(tile);
    if (wgBytes > this.device.limits.maxComputeWorkgroupStorageSize || tileThreads(tile) > this.device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`webgpu matmul: a ${tile.bm}×${tile.bn} tile needs ${wgBytes} bytes of workgroup memory and ${tileThreads(tile)} threads; this adapter's limits are ${this.device.limits.maxComputeWorkgroupStorageSize} bytes and ${this.device.limits.maxComputeInvocationsPerWorkgroup} threads`);
    }
    const key = `matmul:${tile.bm}x${tile.bn}x${tile.bk}`;
    const gx = Math.ceil(n / tile.bn), gy = Math.ceil(m / tile.bm);
    if (gx > 65535 || gy > 65535) throw new Error(`webgpu matmul: C [${m}×${n}] needs more than 65535 tiles along an axis`);
    for (let b0 = 0; b0 < batch; b0 += 65535) {
      const nb = Math.min(65535, batch - b0);
      const p = Params.of(m, n, k, spec.transA ? 1 : 0, spec.transB ? 1 : 0, spec.aOffset + b0 * spec.aBatchStride,
        spec.bOffset + b0 * spec.bBatchStride, spec.cOffset + b0 * m * n, spec.aBatchStride, spec.bBatchStride, spec.accumulate ? 1 : 0);
      this.dispatch(key, () => matmulKernel(tile), [a, b, out], p, [gx, gy, nb]);
    }
  }

  // ---------------------------------------------------------------------------- scans

  private scanRun(a: BackendBuffer | null, aConst: number, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
                  { outer, size, inner }: AxisLayout, logSpace: boolean, reverse: boolean): void {
    needF32(out, 'scan');
    if (outer * inner * size === 0) return;
    const p = Params.of(outer, size, inner, a ? 1 : 0, 0, h0 ? 1 : 0, reverse ? 1 : 0, logSpace ? 1 : 0).float(4, aConst);
    this.linear('scan', scanKernel, [a, b, h0, out], p, outer * inner);
  }

  cumsum(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout, reverse: boolean): void {
    this.scanRun(null, 1, x, null, out, layout, false, reverse);
  }

  logcumsumexp(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void {
    this.scanRun(null, 0, x, null, out, layout, true, false);
  }

  scan(a: BackendBuffer, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, layout: AxisLayout, logSpace: boolean): void {
    this.scanRun(a, 0, b, h0, out, layout, logSpace, false);
  }

  scanGrad(a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
           da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null, { outer, size, inner }: AxisLayout, logSpace: boolean): void {
    needF32(da, 'scanGrad');
    if (outer * inner === 0) return;
    if (size === 0) { if (dh0) this.fill(dh0, 0); return; }
    const p = Params.of(outer, size, inner, h0 ? 1 : 0, dh0 ? 1 : 0, logSpace ? 1 : 0);
    this.linear('scanGrad', scanGradKernel, [a, b, h, h0, dh, da, db, dh0], p, outer * inner);
  }

  complexScan(lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer, { outer, time, channels: C }: ComplexScanDims): void {
    needF32(out, 'complexScan');
    if (outer * C * time === 0) return;
    this.linear('complexScan', complexScanKernel, [lambda, u, x0, out], Params.of(outer, time, C, x0 ? 1 : 0), outer * C);
  }

  complexScanGrad(lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer, du: BackendBuffer,
                  dLambda: BackendBuffer, dx0: BackendBuffer | null, { outer, time, channels: C }: ComplexScanDims): void {
    needF32(du, 'complexScanGrad');
    if (outer * C === 0 || time === 0) { this.fill(dLambda, 0); if (dx0) this.fill(dx0, 0); return; }
    const partial = this.alloc(outer * 2 * C, 'f32');
    this.linear('complexScanGrad', complexScanGradKernel, [lambda, x, x0, dx, du, partial, dx0], Params.of(outer, time, C, x0 ? 1 : 0, dx0 ? 1 : 0), outer * C);
    this.reduce('sum', partial, dLambda, { outer: 1, size: outer, inner: 2 * C });
    this.free(partial);
  }

  // ---------------------------------------------------------------------------- fused norms

  norm(kind: NormKind, x: BackendBuffer, residual: BackendBuffer | null, weight: BackendBuffer, bias: BackendBuffer | null,
       sum: BackendBuffer | null, out: BackendBuffer, rows: number, cols: number, eps: number): void {
    needF32(out, 'norm');
    if (rows * cols === 0) return;
    if (residual && !sum) throw new Error('webgpu norm: a residual needs a sum buffer');
    const p = Params.of(rows, cols, kind === 'layer' ? 1 : 0, residual ? 1 : 0, bias ? 1 : 0).float(5, eps);
    this.dispatch('norm', normKernel, [x, residual, weight, bias, residual ? sum : null, out], p, grid(rows));
  }

  normGrad(kind: NormKind, s: BackendBuffer, weight: BackendBuffer, dy: BackendBuffer, dx: BackendBuffer, dweight: BackendBuffer,
           dbias: BackendBuffer | null, rows: number, cols: number, eps: number): void {
    needF32(dx, 'normGrad');
    if (cols === 0) return;
    if (rows === 0) { this.fill(dweight, 0); if (dbias) this.fill(dbias, 0); return; }
    const bands = Math.min(rows, 512), band = Math.ceil(rows / bands), used = Math.ceil(rows / band);
    const pw = this.alloc(used * cols, 'f32'), pb = dbias ? this.alloc(used * cols, 'f32') : null;
    const p = Params.of(rows, cols, kind === 'layer' ? 1 : 0, dbias ? 1 : 0, 0, band).float(4, eps);
    this.dispatch('normGrad', normGradKernel, [s, weight, dy, dx, pw, pb], p, grid(used));
    const layout = { outer: 1, size: used, inner: cols };
    this.reduce('sum', pw, dweight, layout);
    this.free(pw);
    if (pb) { this.reduce('sum', pb, dbias!, layout); this.free(pb); }
  }

  // ---------------------------------------------------------------------------- fused recurrences

  cellScan(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, batch: number, time: number, dim: number): void {
    needF32(out, `cellScan(${cell.name})`);
    if (batch * time * dim === 0) return;
    this.linear(`cellScan:${cell.key}`, () => cellScanKernel(cell), [proj, h0, out], Params.of(batch, time, dim, h0 ? 1 : 0), batch * dim);
  }

  cellScanGrad(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
               dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number): void {
    needF32(dproj, `cellScanGrad(${cell.name})`);
    if (batch * dim === 0) return;
    if (time === 0) { if (dh0) this.fill(dh0, 0); return; }
    this.linear(`cellScanGrad:${cell.key}`, () => cellScanGradKernel(cell), [proj, h0, h, dh, dproj, dh0],
      Params.of(batch, time, dim, h0 ? 1 : 0, dh0 ? 1 : 0), batch * dim);
  }

  rnnSavedLength(cell: RnnCellDef, dims: RnnDims): number {
    return rnnSavedLength(cell, dims);
  }

  /** r [G, N, d, d] → Rp [N, G·d, d] (toHeads) or back: one GEMM operand per head. */
  private permuteR(src: BackendBuffer, dst: BackendBuffer, G: number, N: number, d: number, toHeads: boolean): void {
    const dd = d * d;
    const rStrides = [dd, N * dd, 1], pStrides = [G * dd, dd, 1];
    this.copy({ buffer: src, offset: 0, strides: toHeads ? rStrides : pStrides }, { buffer: dst, offset: 0, strides: toHeads ? pStrides : rStrides }, [N, G, dd]);
  }

  /**
   * The time loop: per step one GEMM batched over the heads, rh[n] [B, G·d] = h_{t−1}[n]·Rp[n]ᵀ,
   * then the cell's rendered pointwise step (kernels/cells.ts). Layouts as the CPU backend's
   * (src/backend/cpu/rnn.ts); `saved` holds hist [S, N, T + 1, B, d] then gates [T, N, B, Gs, d].
   */
  rnnForward(cell: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer, state0: BackendBuffer | null,
             out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims): void {
    const { batch: B, time: T, heads: N, headDim: d } = dims;
    const G = cell.gates, S = cell.states, H = N * d;
    rnnCheck(cell, 'wx', wx, B * T * G * H);
    rnnCheck(cell, 'r', r, G * N * d * d);
    rnnCheck(cell, 'b', b, cell.biases * H);
    if (state0) rnnCheck(cell, 'state0', state0, S * B * H);
    rnnCheck(cell, 'out', out, (T + S) * B * H);
    if (saved) rnnCheck(cell, 'saved', saved, rnnSavedLength(cell, dims));
    if (B * H === 0) return;
    const slots = saved ? T + 1 : 2;
    const histLength = S * N * slots * B * d;
    const hist = saved ?? this.alloc(histLength, 'f32');
    const rp = this.alloc(G * N * d * d, 'f32'), rh = this.alloc(N * B * G * d, 'f32');
    this.permuteR(r, rp, G, N, d, true);
    // slot 0 ← the initial states (zeros when none)
    if (state0) {
      this.copy({ buffer: state0, offset: 0, strides: [B * H, d, H, 1] }, { buffer: hist, offset: 0, strides: [N * slots * B * d, slots * B * d, d, 1] }, [S, N, B, d]);
    } else {
      this.fillRange(buf(hist), 0, histLength, 0);
    }
    const key = `rnnForward:${cell.key}`, build = () => rnnForwardStepKernel(cell);
    for (let t = 0; t < T; t++) {
      const prev = saved ? t : t & 1, next = saved ? t + 1 : (t + 1) & 1;
      this.matmul(hist, rp, rh, {
        batch: N, m: B, n: G * d, k: d, transA: false, transB: true, aOffset: prev * B * d, bOffset: 0, cOffset: 0,
        aBatchStride: slots * B * d, bBatchStride: G * d * d, accumulate: false,
      });
      this.linear(key, build, [wx, b, rh, hist, out], Params.of(B, T, N, d, slots, t, prev, next, saved ? 1 : 0, histLength), N * B * d);
    }
    const last = saved ? T : T & 1;
    this.copy({ buffer: hist, offset: last * B * d, strides: [N * slots * B * d, slots * B * d, d, 1] },
      { buffer: out, offset: T * B * H, strides: [B * H, d, H, 1] }, [S, N, B, d]);
    this.free(rp);
    this.free(rh);
    if (!saved) this.free(hist);
  }

  /**
   * BPTT: per step from the last, the cell's rendered backward step (gate gradients into dwx and
   * dRh, the carry of the states) and one GEMM dh_{t−1}[n] = dRh_t[n]·Rp[n]; then one GEMM over
   * all steps for dR and column sums for db.
   */
  rnnBackward(cell: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer, dwx: BackendBuffer,
              dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims): void {
    const { batch: B, time: T, heads: N, headDim: d } = dims;
    const G = cell.gates, S = cell.states, H = N * d, NBd = N * B * d, R = cell.biases - G;
    rnnCheck(cell, 'r', r, G * N * d * d);
    rnnCheck(cell, 'saved', saved, rnnSavedLength(cell, dims));
    rnnCheck(cell, 'dout', dout, (T + S) * B * H);
    rnnCheck(cell, 'dwx', dwx, B * T * G * H);
    rnnCheck(cell, 'dr', dr, G * N * d * d);
    rnnCheck(cell, 'db', db, cell.biases * H);
    if (dstate0) rnnCheck(cell, 'dstate0', dstate0, S * B * H);
    if (T * B === 0 || H === 0) {
      this.fill(dr, 0); this.fill(db, 0); this.fill(dwx, 0);
      if (dstate0) this.copy({ buffer: dout, offset: T * B * H, strides: [1] }, { buffer: dstate0, offset: 0, strides: [1] }, [S * B * H]);
      return;
    }
    const slots = T + 1, histLength = S * N * slots * B * d;
    const rp = this.alloc(G * N * d * d, 'f32'), dRh = this.alloc(N * T * B * G * d, 'f32');
    const carry = this.alloc(S * NBd, 'f32'), dhRec = this.alloc(NBd, 'f32');
    const drb = R > 0 ? this.alloc(T * B * R * H, 'f32') : null;
    this.permuteR(r, rp, G, N, d, true);
    // the gradients of the last states start the carry
    this.copy({ buffer: dout, offset: T * B * H, strides: [B * H, d, H, 1] }, { buffer: carry, offset: 0, strides: [NBd, B * d, d, 1] }, [S, N, B, d]);
    this.fill(dhRec, 0);
    const key = `rnnBackward:${cell.key}`, build = () => rnnBackwardStepKernel(cell);
    for (let t = T - 1; t >= 0; t--) {
      this.linear(key, build, [saved, dout, dhRec, carry, dwx, dRh, drb], Params.of(B, T, N, d, slots, t, 0, 0, 0, histLength), NBd);
      if (t > 0 || dstate0) {
        this.matmul(dRh, rp, dhRec, {
          batch: N, m: B, n: d, k: G * d, transA: false, transB: false, aOffset: t * B * G * d, bOffset: 0, cOffset: 0,
          aBatchStride: T * B * G * d, bBatchStride: G * d * d, accumulate: false,
        });
      }
    }
    if (dstate0) {
      // dstate0 = carry, plus dhRec for h
      const h0grad = this.alloc(NBd, 'f32');
      const flat = { offset: 0, strides: [1] };
      this.binary('add', { buffer: carry, ...flat }, { buffer: dhRec, ...flat }, h0grad, [NBd]);
      this.copy({ buffer: h0grad, ...flat }, { buffer: carry, ...flat }, [NBd]);
      this.free(h0grad);
      this.copy({ buffer: carry, offset: 0, strides: [NBd, B * d, d, 1] }, { buffer: dstate0, offset: 0, strides: [B * H, d, H, 1] }, [S, N, B, d]);
    }
    // dRp[n] [G·d, d] = dRh[n]ᵀ [G·d, T·B] · h[n] (hist slots 0..T−1) [T·B, d]; rp is reused for it
    this.matmul(dRh, saved, rp, {
      batch: N, m: G * d, n: d, k: T * B, transA: true, transB: false, aOffset: 0, bOffset: 0, cOffset: 0,
      aBatchStride: T * B * G * d, bBatchStride: slots * B * d, accumulate: false,
    });
    this.permuteR(rp, dr, G, N, d, false);
    // db: the input-side rows are column sums of dwx [B·T, G·N·d], the recurrent-only ones of drb
    const dbIn = this.alloc(G * H, 'f32');
    this.reduce('sum', dwx, dbIn, { outer: 1, size: B * T, inner: G * H });
    this.copy({ buffer: dbIn, offset: 0, strides: [1] }, { buffer: db, offset: 0, strides: [1] }, [G * H]);
    this.free(dbIn);
    if (drb) {
      const dbRec = this.alloc(R * H, 'f32');
      this.reduce('sum', drb, dbRec, { outer: 1, size: T * B, inner: R * H });
      this.copy({ buffer: dbRec, offset: 0, strides: [1] }, { buffer: db, offset: G * H, strides: [1] }, [R * H]);
      this.free(dbRec);
      this.free(drb);
    }
    for (const x of [rp, dRh, carry, dhRec]) this.free(x);
  }
}

function rnnCheck(cell: RnnCellDef, what: string, b: BackendBuffer, n: number): void {
  if (b.length !== n) throw new Error(`webgpu rnn(${cell.name}): ${what} has ${b.length} elements, expected ${n}`);
  if (b.dtype !== 'f32') throw new Error(`webgpu rnn(${cell.name}): ${what} is ${b.dtype}, expected f32`);
}
