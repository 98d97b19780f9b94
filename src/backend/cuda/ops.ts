/**
 * The launchers of the elementwise, reduction, matmul and fused-norm ops: each checks what the
 * kernel cannot, picks the kernel by dtype and launches it (kernels/elementwise.ts, reduce.ts,
 * norm.ts; GEMMs on cuBLAS). Scans are in scans.ts, the recurrences in rnn.ts.
 */
import type { AdamWHyper, AxisLayout, BackendBuffer, BinaryOp, DType, MatmulSpec, NormKind, ReduceOp, StridedView, UnaryOp } from '../backend.js';
import { dropoutThreshold } from '../random.js';
import { buf, type CudaBuffer } from './device.js';
import { ELEM_BYTES, SUFFIX } from './kernels/common.js';
import { BINARY_OPS, UNARY_OPS } from './kernels/elementwise.js';
import { normVec } from './kernels/norm.js';
import { REDUCE_OPS } from './kernels/reduce.js';
import { f64, floatSuffix, floatType, accType, i32, i64, ptr, stridedArg, type Launcher } from './launch.js';

// ------------------------------------------------------------------------------ elementwise

export function fill(k: Launcher, out: BackendBuffer, value: number): void {
  const o = buf(out);
  if (o.length === 0) return;
  fillRange(k, o, 0, o.length, value);
}

export function fillRange(k: Launcher, b: CudaBuffer, offset: number, length: number, value: number): void {
  k.launch('elementwise', `fill_${SUFFIX[b.dtype]}`, [k.blocks(length)], 256, [ptr(b, offset), i64(length), f64(value)]);
}

export function cast(k: Launcher, x: BackendBuffer, out: BackendBuffer): void {
  const a = buf(x), o = buf(out);
  if (o.length === 0) return;
  k.launch('elementwise', `cast_${SUFFIX[a.dtype]}_${SUFFIX[o.dtype]}`, [k.blocks(o.length)], 256, [ptr(a), ptr(o), i64(o.length)]);
}

export function copy(k: Launcher, src: StridedView, dst: StridedView, shape: readonly number[]): void {
  const s = buf(src.buffer), d = buf(dst.buffer);
  if (s.dtype !== d.dtype) throw new Error(`cuda copy: ${s.dtype} into ${d.dtype}`);
  const { arg, total } = stridedArg(shape, [src, dst]);
  if (total === 0) return;
  k.launch('elementwise', `copy_${ELEM_BYTES[s.dtype]}`, [k.blocks(total)], 256, [ptr(s), ptr(d), arg]);
}

export function unary(k: Launcher, op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void {
  const o = buf(out);
  if (o.length === 0) return;
  k.launch('elementwise', `unary_${floatSuffix(o.dtype, op)}`, [k.blocks(o.length)], 256, [i32(UNARY_OPS.indexOf(op)), ptr(x), ptr(o), i64(o.length)]);
}

export function unaryGrad(k: Launcher, op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void {
  const o = buf(out);
  if (o.length === 0) return;
  k.launch('elementwise', `unary_grad_${floatSuffix(o.dtype, op)}`, [k.blocks(o.length)], 256,
    [i32(UNARY_OPS.indexOf(op)), ptr(x), ptr(y), ptr(dy), ptr(o), i64(o.length)]);
}

export function binary(k: Launcher, op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
  const o = buf(out);
  const { arg, total } = stridedArg(shape, [a, b]);
  if (total === 0) return;
  k.launch('elementwise', `binary_${SUFFIX[o.dtype]}`, [k.blocks(total)], 256, [i32(BINARY_OPS.indexOf(op)), ptr(a.buffer), ptr(b.buffer), ptr(o), arg]);
}

export function where(k: Launcher, cond: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void {
  const o = buf(out);
  const { arg, total } = stridedArg(shape, [cond, a, b]);
  if (total === 0) return;
  k.launch('elementwise', `where_${SUFFIX[buf(cond.buffer).dtype]}_${SUFFIX[o.dtype]}`, [k.blocks(total)], 256,
    [ptr(cond.buffer), ptr(a.buffer), ptr(b.buffer), ptr(o), arg]);
}

export function dropoutMask(k: Launcher, out: BackendBuffer, p: number, [k0, k1]: readonly [number, number]): void {
  const o = buf(out);
  if (o.length === 0) return;
  // u32 kernel arguments travel as their bit patterns in an Int32Array
  k.launch('elementwise', `dropout_mask_${floatSuffix(o.dtype, 'dropoutMask')}`, [k.blocks(o.length)], 256,
    [ptr(o), i64(o.length), i32(k0 | 0), i32(k1 | 0), i32(dropoutThreshold(p) | 0), f64(1 / (1 - p))]);
}

export function adamw(k: Launcher, param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, h: AdamWHyper): void {
  const p = buf(param);
  if (p.length === 0) return;
  k.launch('elementwise', `adamw_${floatSuffix(p.dtype, 'adamw')}`, [k.blocks(p.length)], 256, [
    ptr(p), ptr(grad), ptr(m), ptr(v), i64(p.length), f64(h.beta1), f64(h.beta2), f64(h.eps),
    f64(1 - h.lr * h.weightDecay), f64(h.lr / h.correction1), f64(1 / Math.sqrt(h.correction2)),
  ]);
}

// ------------------------------------------------------------------------------ reductions

export function reduce(k: Launcher, op: ReduceOp, x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
  const xb = buf(x), ob = buf(out);
  if (outer * inner === 0) return;
  if (size === 0) { fill(k, ob, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity); return; }
  const code = REDUCE_OPS.indexOf(op);
  const sm = k.device.info.multiprocessors;
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
      k.launch('reduce', `reduce_rows_${name}`, [Math.min(rows, sm * 32)], 256, [i32(code), ptr(src), ptr(dst), i64(outer), i64(sz), i64(ns), i64(ch)]);
    } else {
      k.launch('reduce', `reduce_cols_${name}`, [k.blocks(outer * ns * inner)], 256,
        [i32(code), ptr(src), ptr(dst), i64(outer), i64(sz), i64(inner), i64(ns), i64(ch)]);
    }
  };
  if (nsplit === 1) { pass(xb, ob, size, 1, size); return; }
  const partial = k.temp(outer * nsplit * inner, partialType);
  pass(xb, partial, size, nsplit, chunk);
  pass(partial, ob, nsplit, 1, nsplit);
  k.free(partial);
}

export function argmax(k: Launcher, x: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout): void {
  const xb = buf(x);
  const s = SUFFIX[floatType(xb.dtype, 'argmax')];
  if (outer * inner === 0) return;
  if (inner === 1) {
    k.launch('reduce', `argmax_rows_${s}`, [k.blocks(outer * 32)], 256, [ptr(xb), ptr(out), i64(outer), i64(size)]);
  } else {
    k.launch('reduce', `argmax_cols_${s}`, [k.blocks(outer * inner)], 256, [ptr(xb), ptr(out), i64(outer), i64(size), i64(inner)]);
  }
}

export function softmax(k: Launcher, x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
  if (rows * cols === 0) return;
  const s = SUFFIX[floatType(buf(x).dtype, 'softmax')];
  k.launch('reduce', `softmax_${s}`, [k.blocks(rows * 32)], 256, [ptr(x), ptr(out), i64(rows), i64(cols), i32(log ? 1 : 0)]);
}

export function softmaxGrad(k: Launcher, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void {
  if (rows * cols === 0) return;
  const s = SUFFIX[floatType(buf(y).dtype, 'softmaxGrad')];
  k.launch('reduce', `softmax_grad_${s}`, [k.blocks(rows * 32)], 256, [ptr(y), ptr(dy), ptr(out), i64(rows), i64(cols), i32(log ? 1 : 0)]);
}

export function crossEntropy(k: Launcher, logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer, rows: number, cols: number, ignoreIndex: number): void {
  if (rows === 0) return;
  const s = SUFFIX[floatType(buf(logits).dtype, 'crossEntropy')];
  k.launch('reduce', `cross_entropy_${s}`, [k.blocks(rows * 32)], 256,
    [ptr(logits), ptr(targets), ptr(out), i64(rows), i64(cols), i32(ignoreIndex), i64(k.device.errWord)]);
  k.device.checkIndexError((r) => new RangeError(`crossEntropy: target ${k.device.readInt(buf(targets), r)} at row ${r} is outside [0, ${cols})`));
}

export function crossEntropyGrad(k: Launcher, logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer,
                                 rows: number, cols: number, ignoreIndex: number): void {
  if (rows * cols === 0) return;
  const s = SUFFIX[floatType(buf(logits).dtype, 'crossEntropyGrad')];
  k.launch('reduce', `cross_entropy_grad_${s}`, [k.blocks(rows * 32)], 256,
    [ptr(logits), ptr(targets), ptr(dloss), ptr(out), i64(rows), i64(cols), i32(ignoreIndex)]);
}

export function gather(k: Launcher, x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout,
                       count: number, indexOuterStride: number): void {
  const xb = buf(x);
  const n = outer * count * inner;
  if (n === 0) return;
  k.launch('reduce', `gather_${ELEM_BYTES[xb.dtype]}`, [k.blocks(n)], 256,
    [ptr(xb), ptr(index), ptr(out), i64(outer), i64(size), i64(inner), i64(count), i64(indexOuterStride), i64(k.device.errWord)]);
  k.device.checkIndexError((r) => new RangeError(`index ${indexAt(k, index, r, count, indexOuterStride)} is out of range [0, ${size})`));
}

export function scatterAdd(k: Launcher, src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, { outer, size, inner }: AxisLayout,
                           count: number, indexOuterStride: number): void {
  const ob = buf(out);
  const n = outer * count * inner;
  // bf16 accumulates in an f32 buffer (an embedding row may receive thousands of additions)
  const acc = ob.dtype === 'bf16' && n > 0 ? k.temp(ob.length, 'f32') : ob;
  fill(k, acc, 0);
  if (n === 0) return;
  const name = acc === ob ? `scatter_add_${SUFFIX[ob.dtype]}` : 'scatter_add_bf16_f32';
  k.launch('reduce', name, [k.blocks(n)], 256,
    [ptr(src), ptr(index), ptr(acc), i64(outer), i64(size), i64(inner), i64(count), i64(indexOuterStride), i64(k.device.errWord)]);
  if (acc !== ob) {
    cast(k, acc, ob);
    k.free(acc);
  }
  k.device.checkIndexError((r) => new RangeError(`index ${indexAt(k, index, r, count, indexOuterStride)} is out of range [0, ${size})`));
}

/** The index value at position r = o·count + j of a gather/scatter. */
function indexAt(k: Launcher, index: BackendBuffer, r: number, count: number, indexOuterStride: number): number {
  const o = Math.floor(r / count), j = r % count;
  return k.device.readInt(buf(index), o * indexOuterStride + j);
}

// ------------------------------------------------------------------------------ matmul

export function matmul(k: Launcher, a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void {
  const A = buf(a), B = buf(b), C = buf(out);
  const { batch, m, n, k: inner } = spec;
  if (batch * m * n === 0) return;
  if (!spec.transB && batch === 1 && m >= 8 * Math.max(n, inner) && inner > 0) {
    // Tall·small without transposes (the input gradient of every Linear, g·W) runs at about
    // half the speed of the transposed-B form in cuBLAS on the H100 (TF32, [262144, 512]·[512, 512]:
    // 1.0 vs 0.55 ms); a k×n copy of B costs ~1% of the GEMM, so transpose it and take that form.
    const bt = k.temp(inner * n, B.dtype);
    copy(k, { buffer: B, offset: spec.bOffset, strides: [1, n] }, { buffer: bt, offset: 0, strides: [inner, 1] }, [n, inner]);
    matmul(k, a, bt, out, { ...spec, transB: true, bOffset: 0, bBatchStride: 0 });
    k.free(bt);
    return;
  }
  if (inner === 0) {
    if (!spec.accumulate) fillRange(k, C, spec.cOffset, batch * m * n, 0);
    return;
  }
  const es = ELEM_BYTES[C.dtype];
  k.gemm('matmul', C.dtype, spec.transA, spec.transB, m, n, inner,
    A.ptr + spec.aOffset * es, spec.transA ? m : inner, spec.aBatchStride,
    B.ptr + spec.bOffset * es, spec.transB ? inner : n, spec.bBatchStride,
    C.ptr + spec.cOffset * es, n, m * n, batch, spec.accumulate ?? false);
}

// ------------------------------------------------------------------------------ fused norms

/** Blocks of the fused norm backward: each writes one partial row of the weight/bias gradients. */
const NORM_BWD_BLOCKS_PER_SM = 4;

/**
 * Normalisation over the last axis of x [rows, cols] (see kernels/norm.ts): s = x (+ residual,
 * written to `sum`), out = (s − μ)·rstd·weight (+ bias), μ the row mean for 'layer' and 0 for 'rms'.
 */
export function norm(k: Launcher, kind: NormKind, x: BackendBuffer, residual: BackendBuffer | null, weight: BackendBuffer, bias: BackendBuffer | null,
                     sum: BackendBuffer | null, out: BackendBuffer, rows: number, cols: number, eps: number): void {
  const o = buf(out);
  if (rows * cols === 0) return;
  if (residual && !sum) throw new Error('cuda norm: a residual needs a sum buffer');
  const name = `norm_fwd_${floatSuffix(o.dtype, 'norm')}_v${normVec(cols)}`;
  k.launch('norm', name, [k.blocks(rows * 32)], 256, [
    i32(kind === 'layer' ? 1 : 0), ptr(x), ptr(residual), ptr(residual ? sum : null), ptr(weight), ptr(bias), ptr(o),
    i64(rows), i64(cols), f64(eps),
  ]);
}

/** Gradients of norm w.r.t. its input s = x (+ residual) into dx, and weight / bias (dbias may be null). */
export function normGrad(k: Launcher, kind: NormKind, s: BackendBuffer, weight: BackendBuffer, dy: BackendBuffer, dx: BackendBuffer,
                         dweight: BackendBuffer, dbias: BackendBuffer | null, rows: number, cols: number, eps: number): void {
  const t = buf(dx).dtype;
  if (cols === 0) return;
  if (rows === 0) { fill(k, dweight, 0); if (dbias) fill(k, dbias, 0); return; }
  const v = normVec(cols);
  const blocks = Math.max(1, Math.min(Math.ceil(rows / 8), k.device.info.multiprocessors * NORM_BWD_BLOCKS_PER_SM));
  const acc = accType(t);
  const pw = k.temp(blocks * cols, acc), pb = dbias ? k.temp(blocks * cols, acc) : null;
  if (v === 0) { fill(k, pw, 0); if (pb) fill(k, pb, 0); }
  k.launch('norm', `norm_bwd_${floatSuffix(t, 'normGrad')}_v${v}`, [blocks], 256, [
    i32(kind === 'layer' ? 1 : 0), ptr(s), ptr(weight), ptr(dy), ptr(dx), ptr(pw), ptr(pb), i64(rows), i64(cols), f64(eps),
  ]);
  const layout = { outer: 1, size: blocks, inner: cols };
  reduce(k, 'sum', pw, dweight, layout);
  k.free(pw);
  if (pb) { reduce(k, 'sum', pb, dbias!, layout); k.free(pb); }
}
