/**
 * The portable CPU backend: host typed arrays, a size-keyed caching allocator, and kernels in
 * plain TypeScript, with WebAssembly SIMD (f32x4) where it pays: matmul, the transcendental
 * element-wise ops and their derivatives, the AdamW update (simd.ts). Runs in Node and in browsers.
 * bf16 is not a CPU dtype: compute in f32 here.
 */
import type {
  AdamWHyper, AttentionDims, AxisLayout, Backend, ComplexScanDims, BackendBuffer, BinaryOp, DType, HostArray, MatmulSpec, ReduceOp,
  LinearScanCellDef, RnnCellDef, RnnDims, StridedView, UnaryOp,
} from '../backend.js';
import * as ew from './elementwise.js';
import * as red from './reduce.js';
import { scan, scanGrad } from './scan.js';
import { complexScan, complexScanGrad } from './complex-scan.js';
import { attention, attentionGrad } from './attention.js';
import { matmul } from './matmul.js';
import * as rnn from './rnn.js';
import { cellScan, cellScanGrad } from './cell-scan.js';
import { cellScanGradSimd, cellScanSimd } from './cell-scan-simd.js';
import { adamwSimd, unaryGradSimd, unarySimd } from './simd.js';
import { dropoutHash, dropoutThreshold } from '../random.js';

class CpuBuffer implements BackendBuffer {
  constructor(readonly data: HostArray, readonly dtype: DType) {}
  get length(): number { return this.data.length; }
}

function newArray(length: number, dtype: DType): HostArray {
  switch (dtype) {
    case 'f32': return new Float32Array(length);
    case 'f64': return new Float64Array(length);
    case 'i32': return new Int32Array(length);
    default: throw new Error(`the CPU backend has no ${dtype} storage; use f32 (bf16 is for the CUDA backend)`);
  }
}

const d = (b: BackendBuffer): HostArray => (b as CpuBuffer).data;
const f = (b: BackendBuffer): Float32Array | Float64Array => (b as CpuBuffer).data as Float32Array | Float64Array;
const i = (b: BackendBuffer): Int32Array => (b as CpuBuffer).data as Int32Array;

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private pool = new Map<string, HostArray[]>();
  private live = 0;
  /** Cached bytes are kept up to this bound; beyond it freed arrays are left to the GC. */
  private poolLimitBytes = 256 * 1024 * 1024;
  private pooledBytes = 0;

  alloc(length: number, dtype: DType): BackendBuffer {
    const free = this.pool.get(`${dtype}:${length}`);
    const data = free?.pop();
    if (data) this.pooledBytes -= data.byteLength;
    this.live++;
    return new CpuBuffer(data ?? newArray(length, dtype), dtype);
  }

  free(buffer: BackendBuffer): void {
    const data = d(buffer);
    this.live--;
    if (this.pooledBytes + data.byteLength > this.poolLimitBytes) return;
    const key = `${buffer.dtype}:${data.length}`;
    let list = this.pool.get(key);
    if (!list) this.pool.set(key, (list = []));
    list.push(data);
    this.pooledBytes += data.byteLength;
  }

  write(buffer: BackendBuffer, data: HostArray): void {
    if (data.length !== buffer.length) throw new Error(`write: ${data.length} values into a buffer of ${buffer.length}`);
    d(buffer).set(data);
  }
  read(buffer: BackendBuffer): Promise<HostArray> { return Promise.resolve(this.readSync(buffer)); }
  readSync(buffer: BackendBuffer): HostArray { return d(buffer).slice(); }
  liveBuffers(): number { return this.live; }

  fill(out: BackendBuffer, value: number): void { d(out).fill(value); }
  cast(x: BackendBuffer, out: BackendBuffer): void {
    const src = d(x), dst = d(out);
    if (out.dtype === 'i32') for (let i = 0; i < src.length; i++) dst[i] = Math.trunc(src[i]);
    else dst.set(src);
  }
  copy(src: StridedView, dst: StridedView, shape: readonly number[]): void {
    ew.copy(d(src.buffer), src.offset, src.strides, d(dst.buffer), dst.offset, dst.strides, shape);
  }
  unary(op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void {
    const xs = d(x), o = d(out);
    if (o instanceof Float32Array && xs instanceof Float32Array && unarySimd(op, xs, o)) return;
    ew.unary(op, xs, o);
  }
  unaryGrad(op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void {
    const xs = d(x), ys = d(y), dys = d(dy), o = d(out);
    if (o instanceof Float32Array && xs instanceof Float32Array && ys instanceof Float32Array && dys instanceof Float32Array &&
        unaryGradSimd(op, xs, ys, dys, o)) return;
    ew.unaryGrad(op, xs, ys, dys, o);
  }
  binary(op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    ew.binary(op, d(a.buffer), a.offset, a.strides, d(b.buffer), b.offset, b.strides, d(out), shape);
  }
  where(c: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
    ew.where(d(c.buffer), c.offset, c.strides, d(a.buffer), a.offset, a.strides, d(b.buffer), b.offset, b.strides, d(out), shape);
  }
  reduce(op: ReduceOp, x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void { red.reduce(op, d(x), d(out), layout); }
  argmax(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void { red.argmax(d(x), d(out), layout); }
  matmul(a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void { matmul(f(a), f(b), f(out), spec); }
  cumsum(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout, reverse: boolean): void { red.cumsum(d(x), d(out), layout, reverse); }
  logcumsumexp(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void { red.logcumsumexp(d(x), d(out), layout); }
  scan(a: BackendBuffer, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, layout: AxisLayout, logSpace: boolean): void {
    scan(d(a), d(b), h0 && d(h0), d(out), layout, logSpace);
  }
  scanGrad(a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
           da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null, layout: AxisLayout, logSpace: boolean): void {
    scanGrad(d(a), d(b), d(h), h0 && d(h0), d(dh), d(da), d(db), dh0 && d(dh0), layout, logSpace);
  }
  softmax(x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void { red.softmax(d(x), d(out), rows, cols, log); }
  softmaxGrad(y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
    red.softmaxGrad(d(y), d(dy), d(out), rows, cols, log);
  }
  crossEntropy(logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    red.crossEntropy(d(logits), d(targets), d(out), rows, cols, ignoreIndex);
  }
  crossEntropyGrad(logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
    red.crossEntropyGrad(d(logits), d(targets), d(dloss), d(out), rows, cols, ignoreIndex);
  }
  gather(x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number, indexOuterStride: number): void {
    red.gather(d(x), d(index), d(out), layout, k, indexOuterStride);
  }
  scatterAdd(src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number, indexOuterStride: number): void {
    red.scatterAdd(d(src), d(index), d(out), layout, k, indexOuterStride);
  }
  complexScan(lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer, dims: ComplexScanDims): void {
    complexScan(d(lambda), d(u), x0 && d(x0), d(out), dims);
  }
  complexScanGrad(lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer, du: BackendBuffer,
                  dLambda: BackendBuffer, dx0: BackendBuffer | null, dims: ComplexScanDims): void {
    complexScanGrad(d(lambda), d(x), x0 && d(x0), d(dx), d(du), d(dLambda), dx0 && d(dx0), dims);
  }
  attention(q: BackendBuffer, k: BackendBuffer, v: BackendBuffer, out: BackendBuffer, lse: BackendBuffer, dims: AttentionDims): void {
    attention(d(q), d(k), d(v), d(out), d(lse), dims);
  }
  attentionGrad(q: BackendBuffer, k: BackendBuffer, v: BackendBuffer, out: BackendBuffer, lse: BackendBuffer, dout: BackendBuffer,
                dq: BackendBuffer, dk: BackendBuffer, dv: BackendBuffer, dims: AttentionDims): void {
    attentionGrad(d(q), d(k), d(v), d(out), d(lse), d(dout), d(dq), d(dk), d(dv), dims);
  }
  dropoutMask(out: BackendBuffer, p: number, [k0, k1]: readonly [number, number]): void {
    const o = d(out);
    const threshold = dropoutThreshold(p), scale = 1 / (1 - p);
    for (let i = 0; i < o.length; i++) o[i] = dropoutHash(k0, k1, i) >= threshold ? scale : 0;
  }
  adamw(param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, h: AdamWHyper): void {
    const p = d(param), g = d(grad), mm = d(m), vv = d(v);
    if (p instanceof Float32Array && g instanceof Float32Array && mm instanceof Float32Array && vv instanceof Float32Array &&
        adamwSimd(p, g, mm, vv, h)) return;
    const decay = 1 - h.lr * h.weightDecay;
    const step = h.lr / h.correction1;
    const c2 = 1 / Math.sqrt(h.correction2);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      mm[i] = h.beta1 * mm[i] + (1 - h.beta1) * gi;
      vv[i] = h.beta2 * vv[i] + (1 - h.beta2) * gi * gi;
      p[i] = p[i] * decay - step * mm[i] / (Math.sqrt(vv[i]) * c2 + h.eps);
    }
  }

  // the fused linear recurrence, its gate math rendered from the cell's definition (cell-scan.ts)
  readonly sequenceLengths = true;
  // f32 without padding: the f32x4 kernels rendered from the definition (cell-scan-simd.ts); f64,
  // padded batches (lengths) and engines without wasm SIMD: the scalar kernels (cell-scan.ts)
  cellScan(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer, batch: number, time: number, dim: number,
           lengths: BackendBuffer | null = null): void {
    const p = f(proj), s = h0 && f(h0), o = f(out);
    if (!lengths && o instanceof Float32Array && cellScanSimd(cell, p as Float32Array, s as Float32Array | null, o, batch, time, dim)) return;
    cellScan(cell, p, s, o, batch, time, dim, lengths && i(lengths));
  }
  cellScanGrad(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
               dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number, lengths: BackendBuffer | null = null): void {
    const p = f(proj), s = h0 && f(h0), hs = f(h), dhs = f(dh), dp = f(dproj), ds = dh0 && f(dh0);
    if (!lengths && dp instanceof Float32Array &&
        cellScanGradSimd(cell, p as Float32Array, s as Float32Array | null, hs as Float32Array, dhs as Float32Array, dp, ds as Float32Array | null, batch, time, dim)) return;
    cellScanGrad(cell, p, s, hs, dhs, dp, ds, batch, time, dim, lengths && i(lengths));
  }

  // the fused non-linear recurrence, its pointwise math rendered from the cell's definition (rnn.ts)
  rnnSavedLength(cell: RnnCellDef, dims: RnnDims): number { return rnn.rnnSavedLength(cell, dims); }
  rnnForward(cell: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer, state0: BackendBuffer | null,
             out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims, lengths: BackendBuffer | null = null): void {
    rnn.rnnForward(cell, f(wx), f(r), f(b), state0 && f(state0), f(out), saved && f(saved), dims, lengths && i(lengths));
  }
  rnnBackward(cell: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer, dwx: BackendBuffer,
              dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims, lengths: BackendBuffer | null = null): void {
    rnn.rnnBackward(cell, f(r), f(saved), f(dout), f(dwx), f(dr), f(db), dstate0 && f(dstate0), dims, lengths && i(lengths));
  }
}
