/**
 * The CUDA backend: the Backend interface (src/backend/backend.ts) on an NVIDIA GPU, driven from
 * TypeScript through koffi (ffi.ts, every native binding). This class only wires the parts
 * together; each concern has its own file:
 * - device.ts: availability, the device's context and limits, buffers from the stream-ordered
 *   caching allocator (allocator.ts) and host transfers;
 * - modules.ts: the kernel modules (CUDA C templates, kernels/*.ts) and their one loader, compiled
 *   by NVRTC at first use for the device's architecture and cached on disk (compiler.ts);
 * - launch.ts: kernel arguments, launches and cuBLAS GEMMs;
 * - ops.ts: the elementwise, reduction, matmul and fused-norm launchers;
 * - scans.ts: scan chunking and the real, minGRU/minLSTM and complex scan launchers;
 * - rnn-plan.ts and rnn.ts: the fused recurrences' path (fused → grid → alternating) and launchers.
 * Everything runs on the legacy default stream, so launches are ordered and a freed block can be
 * reused at once.
 *
 * dtypes: f32, f64, i32 and bf16 storage (bf16 computes in f32; its GEMMs take bf16 and accumulate
 * in f32). TF32 GEMMs for f32 are opt-in: `allowTF32` (or RECUR_CUDA_TF32=1), like PyTorch's
 * allow_tf32. Debugging: RECUR_CUDA_SYNC=1 synchronizes and checks after every launch.
 *
 * Beyond the required methods: `cellScan`/`cellScanGrad`, the fused minGRU/minLSTM gate math + scan,
 * and `norm`/`normGrad`, the fused RMSNorm/LayerNorm (+ residual add); the optional fused recurrences rnnSavedLength/rnnForward/rnnBackward
 * (LSTM, GRU, Elman, sLSTM) on the path rnn-plan.ts picks (RECUR_CUDA_RNN=fused|grid|alternating,
 * or the rnnKernel field, forces one); and synchronize(), emptyCache(), memoryStats().
 */
import type {
  AdamWHyper, AxisLayout, Backend, BackendBuffer, BinaryOp, ComplexScanDims, DType, HostArray, LinearScanCellDef, MatmulSpec,
  NormKind, ReduceOp, RnnCellDef, RnnDims, StridedView, UnaryOp,
} from '../backend.js';
import type { AllocatorStats } from './allocator.js';
import { CudaDevice, type CudaOptions, type DeviceInfo } from './device.js';
import { Launcher } from './launch.js';
import { ModuleLoader } from './modules.js';
import * as ops from './ops.js';
import * as rnn from './rnn.js';
import { rnnFusedPlan, rnnGridPlanFor, rnnKernelFromEnv, type RnnFusedPlan, type RnnKernelChoice } from './rnn-plan.js';
import type { RnnGridPlan } from './kernels/rnn-grid.js';
import * as scans from './scans.js';
import { rnnSavedLength } from '../pointwise/rnn-cell.js';

export { cudaStatus, fromBf16, roundToBf16, toBf16, type CudaOptions, type CudaStatus, type DeviceInfo } from './device.js';
export type { RnnKernelChoice } from './rnn-plan.js';

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  /** Whether RMSNorm/LayerNorm use the fused kernels (RECUR_CUDA_FUSED_NORM=0 turns them off, for comparisons). */
  fusedNorm = process.env.RECUR_CUDA_FUSED_NORM !== '0';
  /**
   * Which kernels run rnnForward/rnnBackward: 'auto' (the fused persistent kernels where
   * rnnFusedPlan accepts the problem, else the grid kernels where rnnGridPlanFor does, else the
   * alternating path), or one of them forced ('fused' and 'grid' throw where they cannot run).
   * Default: RECUR_CUDA_RNN, else 'auto'.
   */
  rnnKernel: RnnKernelChoice = rnnKernelFromEnv(process.env.RECUR_CUDA_RNN);
  readonly device: DeviceInfo;
  private readonly gpu: CudaDevice;
  private readonly modules: ModuleLoader;
  private readonly k: Launcher;

  constructor(opts: CudaOptions = {}) {
    this.gpu = new CudaDevice(opts.device ?? Number(process.env.RECUR_CUDA_DEVICE ?? 0));
    this.device = this.gpu.info;
    this.modules = new ModuleLoader(this.gpu.drv, this.device.arch, () => this.gpu.sharedMemoryOptin());
    this.k = new Launcher(this.gpu, this.modules, opts.allowTF32 ?? process.env.RECUR_CUDA_TF32 === '1');
  }

  /** f32 GEMMs on TF32 tensor cores (opt-in, like torch.backends.cuda.matmul.allow_tf32). */
  get allowTF32(): boolean { return this.k.allowTF32; }
  set allowTF32(on: boolean) { this.k.allowTF32 = on; }

  // ---------------------------------------------------------------------------- device and memory

  /** Waits for every queued kernel and copy; surfaces asynchronous kernel errors. */
  synchronize(): void { this.gpu.synchronize(); }
  /** Returns cached device memory to the driver. */
  emptyCache(): void { this.gpu.emptyCache(); }
  /** Bytes in use and cached by the caching allocator, and its live block count. */
  memoryStats(): AllocatorStats { return this.gpu.memoryStats(); }
  /** Compiles (or loads from the disk cache) every kernel module now rather than at first use. */
  warmup(): void { this.modules.warmup(); }

  alloc(length: number, dtype: DType): BackendBuffer { return this.gpu.alloc(length, dtype); }
  free(buffer: BackendBuffer): void { this.gpu.free(buffer); }
  write(buffer: BackendBuffer, data: HostArray): void { this.gpu.write(buffer, data); }
  readSync(buffer: BackendBuffer): HostArray { return this.gpu.readSync(buffer); }
  read(buffer: BackendBuffer): Promise<HostArray> {
    try {
      return Promise.resolve(this.readSync(buffer));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  liveBuffers(): number { return this.gpu.liveBuffers(); }

  // ---------------------------------------------------------------------------- elementwise, reductions, matmul (ops.ts)

  fill(out: BackendBuffer, value: number): void { ops.fill(this.k, out, value); }
  cast(x: BackendBuffer, out: BackendBuffer): void { ops.cast(this.k, x, out); }
  copy(src: StridedView, dst: StridedView, shape: readonly number[]): void { ops.copy(this.k, src, dst, shape); }
  unary(op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void { ops.unary(this.k, op, x, out); }
  unaryGrad(op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void { ops.unaryGrad(this.k, op, x, y, dy, out); }
  binary(op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void { ops.binary(this.k, op, a, b, out, shape); }
  where(cond: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void { ops.where(this.k, cond, a, b, out, shape); }
  dropoutMask(out: BackendBuffer, p: number, key: readonly [number, number]): void { ops.dropoutMask(this.k, out, p, key); }
  adamw(param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, h: AdamWHyper): void { ops.adamw(this.k, param, grad, m, v, h); }

  reduce(op: ReduceOp, x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void { ops.reduce(this.k, op, x, out, layout); }
  argmax(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void { ops.argmax(this.k, x, out, layout); }
  softmax(x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void { ops.softmax(this.k, x, out, rows, cols, log); }
  softmaxGrad(y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    ops.softmaxGrad(this.k, y, dy, out, rows, cols, log);
  }
  crossEntropy(logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    ops.crossEntropy(this.k, logits, targets, out, rows, cols, ignoreIndex);
  }
  crossEntropyGrad(logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    ops.crossEntropyGrad(this.k, logits, targets, dloss, out, rows, cols, ignoreIndex);
  }
  gather(x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number, indexOuterStride: number): void {
    ops.gather(this.k, x, index, out, layout, k, indexOuterStride);
  }
  scatterAdd(src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number, indexOuterStride: number): void {
    ops.scatterAdd(this.k, src, index, out, layout, k, indexOuterStride);
  }

  matmul(a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void { ops.matmul(this.k, a, b, out, spec); }

  /** Fused RMSNorm/LayerNorm (+ residual add) over the last axis; see ops.norm. */
  norm(kind: NormKind, x: BackendBuffer, residual: BackendBuffer | null, weight: BackendBuffer, bias: BackendBuffer | null,
       sum: BackendBuffer | null, out: BackendBuffer, rows: number, cols: number, eps: number): void {
    ops.norm(this.k, kind, x, residual, weight, bias, sum, out, rows, cols, eps);
  }
  normGrad(kind: NormKind, s: BackendBuffer, weight: BackendBuffer, dy: BackendBuffer, dx: BackendBuffer, dweight: BackendBuffer,
           dbias: BackendBuffer | null, rows: number, cols: number, eps: number): void {
    ops.normGrad(this.k, kind, s, weight, dy, dx, dweight, dbias, rows, cols, eps);
  }

  // ---------------------------------------------------------------------------- scans (scans.ts)

  /** Time chunks of the scan kernels for `threads` threads over a time axis of `size` (see scans.scanChunks). */
  scanChunks(threads: number, size: number): { nChunks: number; chunkLen: number } {
    return scans.scanChunks(this.device.multiprocessors, threads, size);
  }
  cumsum(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout, reverse: boolean): void {
    scans.scanForward(this.k, null, 1, x, null, out, layout, false, reverse);
  }
  logcumsumexp(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void {
    scans.scanForward(this.k, null, 0, x, null, out, layout, true, false);
  }
  scan(a: BackendBuffer, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, layout: AxisLayout, logSpace: boolean): void {
    scans.scanForward(this.k, a, 0, b, h0, out, layout, logSpace, false);
  }
  scanGrad(a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
           da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null, layout: AxisLayout, logSpace: boolean): void {
    scans.scanGrad(this.k, a, b, h, h0, dh, da, db, dh0, layout, logSpace);
  }
  complexScan(lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer, dims: ComplexScanDims): void {
    scans.complexScan(this.k, lambda, u, x0, out, dims);
  }
  complexScanGrad(lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer, du: BackendBuffer,
                  dLambda: BackendBuffer, dx0: BackendBuffer | null, dims: ComplexScanDims): void {
    scans.complexScanGrad(this.k, lambda, x, x0, dx, du, dLambda, dx0, dims);
  }
  cellScan(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, batch: number, time: number, dim: number): void {
    scans.cellScan(this.k, cell, proj, h0, out, batch, time, dim);
  }
  cellScanGrad(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
               dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number): void {
    scans.cellScanGrad(this.k, cell, proj, h0, h, dh, dproj, dh0, batch, time, dim);
  }

  // ---------------------------------------------------------------------------- fused recurrences (rnn-plan.ts, rnn.ts)

  /** Length of `saved`: the cell contract's layout (hist [S, N, T + 1, B, d], then gates [T, N, B, Gs, d]). */
  rnnSavedLength(cell: RnnCellDef, dims: RnnDims): number { return rnnSavedLength(cell, dims); }
  /** The fused path's launch shape on this device, or why it cannot run (rnn-plan.ts). */
  rnnFusedPlan(cell: RnnCellDef, dims: RnnDims, dtype: DType): RnnFusedPlan | { reason: string } {
    return rnnFusedPlan(cell, dims, dtype, rnn.rnnDeviceLimits(this.k));
  }
  /** The grid path's shape on this device, or why it cannot run (rnn-plan.ts). */
  rnnGridPlanFor(cell: RnnCellDef, dims: RnnDims, dtype: DType): RnnGridPlan | { reason: string } {
    return rnnGridPlanFor(cell, dims, dtype, rnn.rnnDeviceLimits(this.k));
  }
  rnnForward(cell: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer, state0: BackendBuffer | null,
             out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims): void {
    rnn.rnnForward(this.k, this.rnnKernel, cell, wx, r, b, state0, out, saved, dims);
  }
  rnnBackward(cell: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer, dwx: BackendBuffer,
              dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims): void {
    rnn.rnnBackward(this.k, this.rnnKernel, cell, r, saved, dout, dwx, dr, db, dstate0, dims);
  }
  /** The grid barrier alone (from `cell`'s grid module): `steps` barriers of `blocks` × `threads` (bench/gpu-rnn.ts's barrier cost). */
  rnnGridBarrierTest(cell: RnnCellDef, blocks: number, threads: number, steps: number): void { rnn.rnnGridBarrierTest(this.k, cell, blocks, threads, steps); }
}
