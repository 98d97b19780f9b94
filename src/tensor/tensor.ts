/**
 * Tensor: an immutable, contiguous, row-major array on a backend, with an optional autograd node.
 *
 * Ownership: every tensor holds a reference to a refcounted storage; `dispose()` drops it and the
 * buffer returns to the backend's caching allocator when the last reference goes. `scope(fn)`
 * disposes every tensor made inside fn except those it returns, so a training step frees its
 * intermediates deterministically. Parameters and optimizer state are `keep()`-ed: owned by code.
 */
import type { Backend, BackendBuffer, DType, HostArray } from '../backend/backend.js';
import { getBackend, isGradEnabled, scopeStack, track, untrack, type Disposable } from './engine.js';
import * as ops from './ops.js';
import { backward as runBackward } from './autograd.js';

/** A tensor's sizes per axis, outermost first ([] for a scalar). */
export type Shape = readonly number[];

/** How a tensor was made: the inputs and the function that maps its gradient to theirs. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where the input needs none). Runs with grad mode off. */
  readonly backward: (grad: Tensor) => (Tensor | null)[];
}

interface Storage {
  readonly backend: Backend;
  readonly buffer: BackendBuffer;
  refs: number;
}

/** Number of elements of a shape (1 for []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** '[2, 3]': how messages print a shape. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

let nextId = 0;

/** An n-dimensional array on a backend, with optional autograd. Make tensors with {@link tensor}, {@link fromHost}, {@link zeros}, {@link randn}…; read them with `await t.data()` / `t.toArray()` / `t.item()` (or `dataSync()` on the CPU); free them with `dispose()` or let a {@link scope} do it. */
export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Set for tensors whose gradient is wanted: parameters, and results of ops on them. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. Owned by this tensor. */
  grad: Tensor | null = null;
  /** Optional name used in error messages (parameters carry their state-dict key). */
  name: string | undefined;
  /** @internal the op that produced this tensor, when recorded for autograd */
  node: GradNode | null = null;
  private storage: Storage | null;

  /** @internal use the creation functions (tensor, zeros, randn...) instead. */
  constructor(storage: { backend: Backend; buffer: BackendBuffer; refs: number }, shape: Shape, dtype: DType) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    track(this);
  }

  /** @internal wraps a freshly allocated buffer (refcount 1). */
  static fromBuffer(backend: Backend, buffer: BackendBuffer, shape: Shape, dtype: DType = buffer.dtype): Tensor {
    return new Tensor({ backend, buffer, refs: 1 }, shape, dtype);
  }

  /** @internal a new tensor sharing this one's storage, with another shape of the same size. */
  shareWithShape(shape: Shape): Tensor {
    const s = this.liveStorage();
    s.refs++;
    return new Tensor(s, shape, this.dtype);
  }

  get rank(): number { return this.shape.length; }
  get backend(): Backend { return this.liveStorage().backend; }
  /** @internal */
  get buffer(): BackendBuffer { return this.liveStorage().buffer; }
  get isDisposed(): boolean { return this.storage === null; }

  private liveStorage(): Storage {
    if (!this.storage) throw new Error(`${describe(this)} was used after dispose() (freed explicitly or by the scope that made it)`);
    return this.storage;
  }

  /** Frees this tensor's reference to its buffer (and its gradient). Safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    untrack(this);
    const s = this.storage;
    this.storage = null;
    if (--s.refs === 0) s.backend.free(s.buffer);
    this.grad?.dispose();
    this.grad = null;
    // The autograd node stays: tensors made from this one may still backpropagate through it
    // (its buffer is free, and backward functions only read the buffers they saved).
  }

  /** Takes this tensor out of every scope: the caller now owns it and disposes it. */
  keep(): this {
    untrack(this);
    return this;
  }

  /**
   * Replaces this tensor's values with a copy of `source`'s (same shape, dtype and backend): this
   * tensor gets a fresh buffer and drops its old one, so tensors that shared the old storage
   * (detached views, values saved for a backward) keep the old values. Autograd does not record
   * it; it is for optimizers and loadStateDict, outside any recorded computation. Returns this.
   */
  assign(source: Tensor): this {
    const s = this.liveStorage();
    if (source === this) return this;
    if (formatShape(source.shape) !== formatShape(this.shape) || source.dtype !== this.dtype) {
      throw new Error(`assign: ${describe(source)} does not match ${describe(this)} (shape and dtype must agree)`);
    }
    if (source.backend !== s.backend) {
      throw new Error(`assign: ${describe(source)} is on ${source.backend.name}, ${describe(this)} on ${s.backend.name}`);
    }
    const buffer = s.backend.alloc(this.size, this.dtype);
    if (this.size > 0) {
      const flat = { offset: 0, strides: [1] };
      s.backend.copy({ buffer: source.buffer, ...flat }, { buffer, ...flat }, [this.size]);
    }
    if (--s.refs === 0) s.backend.free(s.buffer);
    this.storage = { backend: s.backend, buffer, refs: 1 };
    return this;
  }

  /** The values, read back from the backend (a copy). */
  data(): Promise<HostArray> { return this.backend.read(this.buffer); }

  /** Synchronous readback, where the backend supports it (the CPU backend does). */
  dataSync(): HostArray {
    const b = this.backend;
    if (!b.readSync) throw new Error(`dataSync() is not available on the ${b.name} backend; use await t.data()`);
    return b.readSync(this.buffer);
  }

  /** Nested JavaScript arrays (a number for a 0-d tensor). */
  async toArray(): Promise<NestedArray> { return nest(await this.data(), this.shape); }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got ${describe(this)}`);
    return (await this.data())[0];
  }

  /** Reverse-mode differentiation from this scalar (or with an explicit output gradient). */
  backward(grad?: Tensor): void { runBackward(this, grad); }

  /** A tensor with the same values and no autograd history (shares storage). */
  detach(): Tensor { return this.shareWithShape(this.shape); }

  toString(): string { return `Tensor(${describe(this)})`; }

  // Fluent spellings of the ops in ops.ts (one implementation each, there).
  /** `add(this, b)` as a method. */
  add(b: Tensor | number): Tensor { return ops.add(this, b); }
  /** `sub(this, b)` as a method. */
  sub(b: Tensor | number): Tensor { return ops.sub(this, b); }
  /** `mul(this, b)` as a method. */
  mul(b: Tensor | number): Tensor { return ops.mul(this, b); }
  /** `div(this, b)` as a method. */
  div(b: Tensor | number): Tensor { return ops.div(this, b); }
  /** `pow(this, b)` as a method. */
  pow(b: Tensor | number): Tensor { return ops.pow(this, b); }
  /** `neg(this)` as a method. */
  neg(): Tensor { return ops.neg(this); }
  /** `exp(this)` as a method. */
  exp(): Tensor { return ops.exp(this); }
  /** `log(this)` as a method. */
  log(): Tensor { return ops.log(this); }
  /** `sqrt(this)` as a method. */
  sqrt(): Tensor { return ops.sqrt(this); }
  /** `square(this)` as a method. */
  square(): Tensor { return ops.square(this); }
  /** `abs(this)` as a method. */
  abs(): Tensor { return ops.abs(this); }
  /** `sigmoid(this)` as a method. */
  sigmoid(): Tensor { return ops.sigmoid(this); }
  /** `tanh(this)` as a method. */
  tanh(): Tensor { return ops.tanh(this); }
  /** `relu(this)` as a method. */
  relu(): Tensor { return ops.relu(this); }
  /** `gelu(this)` as a method. */
  gelu(): Tensor { return ops.gelu(this); }
  /** `silu(this)` as a method. */
  silu(): Tensor { return ops.silu(this); }
  /** `softplus(this)` as a method. */
  softplus(): Tensor { return ops.softplus(this); }
  /** `matmul(this, b, opts)` as a method. */
  matmul(b: Tensor, opts?: ops.MatmulOptions): Tensor { return ops.matmul(this, b, opts); }
  /** `sum(this, axes, keepDims)` as a method. */
  sum(axes?: number | readonly number[], keepDims = false): Tensor { return ops.sum(this, axes, keepDims); }
  /** `mean(this, axes, keepDims)` as a method. */
  mean(axes?: number | readonly number[], keepDims = false): Tensor { return ops.mean(this, axes, keepDims); }
  /** `max(this, axes, keepDims)` as a method. */
  max(axes?: number | readonly number[], keepDims = false): Tensor { return ops.max(this, axes, keepDims); }
  /** `reshape(this, shape)` as a method. */
  reshape(shape: Shape): Tensor { return ops.reshape(this, shape); }
  /** `transpose(this, axis0, axis1)` as a method. */
  transpose(axis0 = -2, axis1 = -1): Tensor { return ops.transpose(this, axis0, axis1); }
  /** `permute(this, order)` as a method. */
  permute(order: readonly number[]): Tensor { return ops.permute(this, order); }
  /** `slice(this, axis, start, end)` as a method. */
  slice(axis: number, start: number, end?: number): Tensor { return ops.slice(this, axis, start, end); }
  /** `cast(this, dtype)` as a method. */
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
}

/** Nested arrays of numbers, as {@link Tensor.toArray} returns and {@link tensor} accepts. */
export type NestedArray = number | NestedArray[];

function nest(data: HostArray, shape: Shape): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (offset: number, dim: number): NestedArray[] => {
    const n = shape[dim];
    if (dim === shape.length - 1) return Array.from(data.subarray(offset, offset + n));
    const stride = sizeOf(shape.slice(dim + 1));
    return Array.from({ length: n }, (_, i) => build(offset + i * stride, dim + 1));
  };
  return build(0, 0);
}

/** `name [2, 3] f32` — how errors refer to a tensor. */
export function describe(t: Tensor): string {
  return `${t.name ? `'${t.name}' ` : 'tensor '}${formatShape(t.shape)} ${t.dtype}`;
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors found in its result
 * (a tensor, or arrays / plain objects containing tensors), which move to the enclosing scope.
 * fn must be synchronous: awaiting inside would let other work's tensors into this scope.
 */
export function scope<T>(fn: () => T): T {
  const tracked = new Set<Disposable>();
  scopeStack.push(tracked);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopeStack.pop();
    for (const t of tracked) t.dispose();
    throw e;
  }
  scopeStack.pop();
  if (result instanceof Promise) throw new Error('scope(fn): fn returned a Promise; scopes are synchronous');
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of tracked) if (!survivors.has(t as Tensor)) t.dispose();
  for (const t of survivors) if (tracked.has(t)) track(t);
  return result;
}

function collectTensors(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, into);
  } else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into);
  }
}

/** @internal Creates an op's output and records its autograd node when an input needs a gradient. */
export function result(
  backend: Backend, buffer: BackendBuffer, shape: Shape, op: string, inputs: readonly Tensor[],
  backward: ((grad: Tensor) => (Tensor | null)[]) | null,
): Tensor {
  const out = Tensor.fromBuffer(backend, buffer, shape);
  return backward ? withGrad(out, op, inputs, backward) : out;
}

/** @internal Records an autograd node on an op's freshly made output, when an input needs a gradient. */
export function withGrad(out: Tensor, op: string, inputs: readonly Tensor[], backward: (grad: Tensor) => (Tensor | null)[]): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** @internal */
export function defaultBackend(): Backend {
  return getBackend();
}
