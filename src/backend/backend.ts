/**
 * The backend seam. A backend owns device memory and runs a small, fixed set of kernels; every
 * op above this interface is written once in terms of these and never branches on the backend.
 *
 * Shapes arrive pre-digested: the op layer resolves broadcasting into strides and reshapes
 * reductions into (outer, size, inner) form, so a backend implements loops, not shape logic.
 * Every `out` buffer is freshly allocated by the caller and fully written by the kernel.
 */
import type { LinearScanCellDef } from './pointwise/linear-scan-cell.js';
import type { RnnCellDef, RnnDims } from './pointwise/rnn-cell.js';

/**
 * A device ran out of memory for an allocation (after giving back what its cache held). The CLI
 * reports it in one sentence: the run's settings, or other programs on the GPU, ask for too much.
 */
export class DeviceMemoryError extends Error {
  override name = 'DeviceMemoryError';
  constructor(readonly device: string, readonly requestedBytes: number, readonly heldBytes: number) {
    super(`the ${device} ran out of memory: ${formatBytes(requestedBytes)} more were needed while this process held ${formatBytes(heldBytes)} (other programs on the same device count too)`);
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
}

export type { LinearScanCellDef, RnnCellDef, RnnDims };

/** Element types: f32, f64 (gradient checks), i32 (ids, targets) and bf16 (storage on CUDA; computes in f32). */
export type DType = 'f32' | 'f64' | 'i32' | 'bf16';

/** An opaque handle to a buffer in a backend's memory. */
export interface BackendBuffer {
  readonly length: number;
  readonly dtype: DType;
}

/** Typed arrays that hold tensor data on the host: f32, f64 (also bf16's f32 view) and i32. */
export type HostArray = Float32Array | Float64Array | Int32Array;

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal'
  | 'sin' | 'cos' | 'sigmoid' | 'logSigmoid' | 'tanh' | 'relu' | 'gelu' | 'geluTanh' | 'silu'
  | 'softplus';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'gt' | 'ge' | 'lt' | 'le' | 'eq';

export type ReduceOp = 'sum' | 'max' | 'min';

/** Strided view of a buffer: element (i0..in) lives at offset + Σ i_k·strides[k]. */
export interface StridedView {
  buffer: BackendBuffer;
  offset: number;
  strides: readonly number[];
}

/** Per batch b: C[b] = op(A[b])·op(B[b]); see src/backend/cpu/matmul.ts for the layout. */
export interface MatmulSpec {
  batch: number; m: number; n: number; k: number;
  transA: boolean; transB: boolean;
  aOffset: number; bOffset: number; cOffset: number;
  aBatchStride: number; bBatchStride: number;
  accumulate: boolean;
}

/** 'rms': y = x·rstd·w, rstd = 1/√(mean(x²) + eps); 'layer': y = (x − μ)·rstd·w + b with the biased variance. */
export type NormKind = 'rms' | 'layer';

/** (outer, size, inner) layout: the axis of length `size` is reduced/scanned. */
export interface AxisLayout { outer: number; size: number; inner: number }

/** Sizes of a packed complex scan: `outer` independent sequences of `time` steps and `channels` complex channels. */
export interface ComplexScanDims { outer: number; time: number; channels: number }

/**
 * Sizes of a causal attention: q [batch, heads, queries, headDim], k and v [batch, kvHeads, keys,
 * headDim] (head h reads kv head ⌊h·kvHeads/heads⌋: groups of heads/kvHeads heads share one).
 * Query i sits at position keys − queries + i and sees keys 0..that position (a KV-cache step has
 * queries 1 and sees every key).
 */
export interface AttentionDims { batch: number; heads: number; kvHeads: number; queries: number; keys: number; headDim: number; scale: number }

export interface AdamWHyper {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  /** bias corrections 1 − β^t, precomputed by the optimizer */
  correction1: number; correction2: number;
}

/** Where tensors live and kernels run: the CPU backend, CUDA, WebGPU. Ops call these with buffers of the backend's own making; a backend is registered by name ({@link registerBackend}) and selected with {@link setBackend}. */
export interface Backend {
  readonly name: string;

  // memory
  /** A new buffer of `length` elements of `dtype` (contents undefined). */
  alloc(length: number, dtype: DType): BackendBuffer;
  /** Returns a buffer to the backend; using it afterwards is an error. */
  free(buffer: BackendBuffer): void;
  /** Copies host data into a buffer (same length). */
  write(buffer: BackendBuffer, data: HostArray): void;
  /** The buffer's contents on the host; asynchronous, as GPU readback is. */
  read(buffer: BackendBuffer): Promise<HostArray>;
  /** Synchronous readback where the backend can offer it (CPU); undefined elsewhere. */
  readSync?(buffer: BackendBuffer): HostArray;
  /** Buffers handed out and not yet freed (the leak check of the tests). */
  liveBuffers(): number;

  // kernels
  /** Sets every element of `out` to `value`. */
  fill(out: BackendBuffer, value: number): void;
  /** Converts x into out's dtype (same length). */
  cast(x: BackendBuffer, out: BackendBuffer): void;
  /** out[i] = x viewed through `src` strides, for the logical `shape`; out is written through `dst`. */
  copy(src: StridedView, dst: StridedView, shape: readonly number[]): void;
  /** out = op(x) elementwise. */
  unary(op: UnaryOp, x: BackendBuffer, out: BackendBuffer): void;
  /** out = dy · f'(x) (y = f(x) is passed for ops whose derivative is cheaper from it). */
  unaryGrad(op: UnaryOp, x: BackendBuffer, y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer): void;
  /** Elementwise with broadcasting: a and b are read through strides over `shape` (0 = broadcast). */
  binary(op: BinaryOp, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void;
  /** out = cond ≠ 0 ? a : b, all three read through strides over `shape`. */
  where(cond: StridedView, a: StridedView, b: StridedView, out: BackendBuffer, shape: readonly number[]): void;
  /** Reduces the middle axis of `layout` (outer × axis × inner) with `op`. */
  reduce(op: ReduceOp, x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void;
  /** Index of the maximum along the axis, written as i32. */
  argmax(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void;
  /** Batched C = op(A) · op(B) as described by `spec` (offsets, strides, transposes, accumulate). */
  matmul(a: BackendBuffer, b: BackendBuffer, out: BackendBuffer, spec: MatmulSpec): void;
  /** Cumulative sum along the layout's axis, from the end when `reverse`. */
  cumsum(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout, reverse: boolean): void;
  /** log of the cumulative sum of exp along the layout's axis, computed stably. */
  logcumsumexp(x: BackendBuffer, out: BackendBuffer, layout: AxisLayout): void;
  /**
   * First-order linear recurrence along the axis: h_t = a_t·h_{t−1} + b_t (real space), or
   * log h_t = logaddexp(a_t + log h_{t−1}, b_t) with a, b, h0 holding logs (log space).
   * h0 has shape (outer, inner); null means h_0 = 0 (−∞ in log space).
   */
  scan(a: BackendBuffer, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
       layout: AxisLayout, logSpace: boolean): void;
  /** Reverse scan: gradients of the scan w.r.t. a, b and h0 (gh0 may be null) given dL/dh. */
  scanGrad(a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
           da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null,
           layout: AxisLayout, logSpace: boolean): void;
  /** Softmax (or log-softmax) over the last axis of a [rows, cols] matrix. */
  softmax(x: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void;
  /** Gradient of softmax (or log-softmax) from its output y and dL/dy. */
  softmaxGrad(y: BackendBuffer, dy: BackendBuffer, out: BackendBuffer, rows: number, cols: number, log: boolean): void;
  /** Per-row −log softmax(logits)[target]; rows whose target is ignoreIndex get 0. */
  crossEntropy(logits: BackendBuffer, targets: BackendBuffer, out: BackendBuffer,
               rows: number, cols: number, ignoreIndex: number): void;
  /** d loss / d logits = dloss_row · (softmax − onehot). */
  crossEntropyGrad(logits: BackendBuffer, targets: BackendBuffer, dloss: BackendBuffer, out: BackendBuffer,
                   rows: number, cols: number, ignoreIndex: number): void;
  /**
   * out[o, j, i] = x[o, index[o·indexOuterStride + j], i]: x has layout (outer, size, inner), out
   * (outer, k, inner); index is i32 and shared by all `outer` rows when indexOuterStride is 0.
   * Covers embedding lookup (outer 1) and picking along the last axis (inner 1).
   */
  gather(x: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number,
         indexOuterStride: number): void;
  /** The transpose of gather: out = 0, then out[o, index[..], i] += src[o, j, i]. */
  scatterAdd(src: BackendBuffer, index: BackendBuffer, out: BackendBuffer, layout: AxisLayout, k: number,
             indexOuterStride: number): void;
  /**
   * Inverted-dropout mask: out[i] = keep ? 1/(1 − p) : 0, keep ⇔ dropoutHash(key, i) ≥ threshold
   * with threshold = ⌊p·2³²⌋ (see src/tensor/random.ts). The same integer hash on every backend,
   * so a seed gives the same mask everywhere, generated where the data lives.
   */
  dropoutMask(out: BackendBuffer, p: number, key: readonly [number, number]): void;
  /** Fused AdamW update, in place on param, m and v. */
  adamw(param: BackendBuffer, grad: BackendBuffer, m: BackendBuffer, v: BackendBuffer, hyper: AdamWHyper): void;

  // Optional fused recurrences. A cell reaches the backend as its definition (src/backend/pointwise:
  // the cell's pointwise math as expressions, and its layouts), never by name: the backend renders
  // the definition into its kernel language once and caches it by `cell.key`. A new cell needs no
  // new method here. The ops are in src/cells (linear-scan.ts, rnn.ts); without these methods they
  // run as composite ops.
  /**
   * The gated linear recurrence h_t = a_t·h_{t−1} + b_t with (a_t, b_t) = cell.coefficients of
   * the projection's C chunks: proj [batch, time, C·dim] (chunk c of unit k at c·dim + k), h0
   * [batch, dim] or null (zeros) → h [batch, time, dim]. Both or neither.
   */
  cellScan?(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
            batch: number, time: number, dim: number, lengths?: BackendBuffer | null): void;
  /** Gradients of cellScan w.r.t. proj (into dproj, through cell.backward) and h0 (into dh0, when both are given). */
  cellScanGrad?(cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
                dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number, lengths?: BackendBuffer | null): void;

  // The fused non-linear recurrence (layouts in src/backend/pointwise/rnn-cell.ts; the op is rnn()
  // in src/cells/rnn.ts). All three or none.
  /** Elements of the `saved` buffer rnnForward fills for rnnBackward (its layout is the backend's own). */
  rnnSavedLength?(cell: RnnCellDef, dims: RnnDims): number;
  /**
   * The whole time loop: wx [B, T, G, N, d], r [G, N, d, d], b [Gb, N, d], state0 [S, B, N·d] or
   * null (zeros) → out = h_1..h_T as [B, T, N·d], followed by the last states [S, B, N·d].
   * With `saved` (training) it also keeps what rnnBackward needs; null for inference.
   */
  rnnForward?(cell: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer, state0: BackendBuffer | null,
              out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims, lengths?: BackendBuffer | null): void;
  /** BPTT: from dout (out's layout) into dwx, dr, db and dstate0 (null: not wanted), all overwritten. */
  rnnBackward?(cell: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer, dwx: BackendBuffer,
               dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims, lengths?: BackendBuffer | null): void;
  /**
   * Whether cellScan/rnnForward and their gradients honour `lengths` (i32 [B], each in 1..T): a
   * padded batch in which steps t ≥ lengths[b] of row b are padding. A padded step keeps the
   * states as they are (its output is the last real step's h), takes no input and passes the
   * gradient of its states straight back. Without this flag the ops run their composite path for
   * padded batches.
   */
  readonly sequenceLengths?: boolean;

  // Optional fused norm over the last axis (both or neither; src/nn/fused-norm.ts falls back to
  // composite ops): rows of a contiguous x [rows, cols], weight and bias [cols].
  /** false turns the fused norm off on a backend that has it (before/after measurements). */
  fusedNorm?: boolean;
  /**
   * s = x, or s = x + residual written to `sum` when a residual is given; then
   * out = (s − μ)·rstd·weight (+ bias) with μ the row mean ('layer') or 0 ('rms'),
   * rstd = 1/√(mean((s − μ)²) + eps). Statistics in f32 (f64 for f64) whatever the storage.
   */
  norm?(kind: NormKind, x: BackendBuffer, residual: BackendBuffer | null, weight: BackendBuffer, bias: BackendBuffer | null,
        sum: BackendBuffer | null, out: BackendBuffer, rows: number, cols: number, eps: number): void;
  /** Gradients of norm w.r.t. s (into dx), weight (dweight) and bias (dbias, when given), from s and dy. */
  normGrad?(kind: NormKind, s: BackendBuffer, weight: BackendBuffer, dy: BackendBuffer, dx: BackendBuffer, dweight: BackendBuffer,
            dbias: BackendBuffer | null, rows: number, cols: number, eps: number): void;

  // Optional complex linear scan (both or neither; src/tensor/complex-scan.ts falls back to
  // composite ops): x_t = λ·x_{t−1} + u_t with one complex λ per channel, the same at every step
  // and in every sequence (the LRU's diagonal recurrence). Complex values are packed: u, x
  // [outer, time, 2, channels] (re row, then im row, per step), λ [2, channels], x0
  // [outer, 2, channels] or null (zeros).
  /** The complex scan x_t = λ·x_{t−1} + u_t in the packed layout above (optional: see the comment before it). */
  complexScan?(lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer, dims: ComplexScanDims): void;
  /**
   * From x (complexScan's out) and dx (same layout, ∂L/∂Re and ∂L/∂Im) into du, dλ (summed over
   * sequences and steps) and dx0 (when given), overwritten.
   */
  complexScanGrad?(lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer,
                   du: BackendBuffer, dLambda: BackendBuffer, dx0: BackendBuffer | null, dims: ComplexScanDims): void;

  // Optional causal attention (both or neither; src/nn/attention.ts falls back to composite ops:
  // matmul, a masked softmax, matmul). Layouts in AttentionDims, all contiguous.
  /**
   * out [batch, heads, queries, headDim] = softmax(scale·q·kᵀ, causal)·v, and lse [batch, heads,
   * queries] = the log-sum-exp of each row's scaled scores, which is all attentionGrad needs to
   * recompute the probabilities (no queries × keys matrix is kept).
   */
  attention?(q: BackendBuffer, k: BackendBuffer, v: BackendBuffer, out: BackendBuffer, lse: BackendBuffer, dims: AttentionDims): void;
  /** From dout (out's layout) into dq, dk and dv, overwritten (dk, dv summed over the heads of a group). */
  attentionGrad?(q: BackendBuffer, k: BackendBuffer, v: BackendBuffer, out: BackendBuffer, lse: BackendBuffer, dout: BackendBuffer,
                 dq: BackendBuffer, dk: BackendBuffer, dv: BackendBuffer, dims: AttentionDims): void;
}
