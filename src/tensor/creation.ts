/** Creating tensors: from host data, constants, ranges and the seeded PRNG. */
import type { Backend, DType, HostArray } from '../backend/backend.js';
import { backend as namedBackend, getBackend } from './engine.js';
import { globalRng, type Rng } from './random.js';
import { Tensor, formatShape, sizeOf, type NestedArray, type Shape } from './tensor.js';

/** Where a new tensor goes and what it holds: dtype (default f32) and backend (default the current one). */
export interface CreateOptions {
  dtype?: DType;
  /** Backend name or instance; defaults to the current backend (setBackend). */
  backend?: string | Backend;
  requiresGrad?: boolean;
}

function resolveBackend(b: string | Backend | undefined): Backend {
  if (b === undefined) return getBackend();
  return typeof b === 'string' ? namedBackend(b) : b;
}

function hostArray(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'f64': return new Float64Array(n);
    case 'i32': return new Int32Array(n);
    default: return new Float32Array(n); // bf16 is stored from f32 values by the backend
  }
}

function flatten(data: NestedArray, shape: number[], depth = 0, out: number[] = []): number[] {
  if (typeof data === 'number') {
    if (depth !== shape.length && shape.length) throw new Error('tensor(): ragged nested array');
    out.push(data);
    return out;
  }
  if (shape.length === depth) {
    // The first leaf fixes every dim before any value is taken: a new dim after that is ragged.
    if (out.length) throw new Error('tensor(): ragged nested array');
    shape.push(data.length);
  }
  else if (shape[depth] !== data.length) throw new Error(`tensor(): ragged nested array (length ${data.length} where ${shape[depth]} expected)`);
  for (const d of data) flatten(d, shape, depth + 1, out);
  return out;
}

/** Makes a tensor from a host buffer of exactly the shape's size (copied). */
export function fromHost(values: HostArray, shape: Shape, opts: CreateOptions = {}): Tensor {
  const b = resolveBackend(opts.backend);
  const dtype = opts.dtype ?? (values instanceof Int32Array ? 'i32' : values instanceof Float64Array ? 'f64' : 'f32');
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`invalid shape ${formatShape(shape)}`);
  if (values.length !== sizeOf(shape)) {
    throw new Error(`tensor(): ${values.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} needed)`);
  }
  let host = values;
  const wanted = hostArray(dtype, 0).constructor;
  if (host.constructor !== wanted) {
    host = hostArray(dtype, values.length);
    host.set(values);
  }
  const buffer = b.alloc(host.length, dtype);
  b.write(buffer, host);
  const t = Tensor.fromBuffer(b, buffer, shape, dtype);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor from numbers: `tensor([[1, 2], [3, 4]])`, or flat data with a shape:
 * `tensor([1, 2, 3, 4], [2, 2])`. f32 unless `dtype` says otherwise.
 */
export function tensor(data: NestedArray | HostArray | readonly number[], shape?: Shape, opts: CreateOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) return fromHost(data as HostArray, shape ?? [(data as HostArray).length], opts);
  const inferred: number[] = [];
  const flat = flatten(data as NestedArray, inferred);
  const dtype = opts.dtype ?? 'f32';
  const host = hostArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) host[i] = flat[i];
  return fromHost(host, shape ?? inferred, { ...opts, dtype });
}

/** A tensor of one value. */
export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const b = resolveBackend(opts.backend);
  const dtype = opts.dtype ?? 'f32';
  const buffer = b.alloc(sizeOf(shape), dtype);
  b.fill(buffer, value);
  const t = Tensor.fromBuffer(b, buffer, shape, dtype);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor of `shape` filled with 0. */
export const zeros = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
/** A tensor of `shape` filled with 1. */
export const ones = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

/** 0, 1, …, n−1 (or start..end by step). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) { end = start; start = 0; }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const host = hostArray(opts.dtype ?? 'f32', n);
  for (let i = 0; i < n; i++) host[i] = start + i * step;
  return fromHost(host, [n], opts);
}

/** {@link CreateOptions} plus the generator to draw from (default the global one, see {@link manualSeed}). */
export interface RandomOptions extends CreateOptions {
  rng?: Rng;
}

/** Normal samples (mean 0, std 1 unless given) from the seeded PRNG. */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const host = new Float64Array(sizeOf(shape));
  (opts.rng ?? globalRng).fillNormal(host, opts.mean ?? 0, opts.std ?? 1);
  return fromHost(host, shape, { ...opts, dtype: opts.dtype ?? 'f32' });
}

/** Uniform samples in [low, high) from the seeded PRNG. */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const host = new Float64Array(sizeOf(shape));
  (opts.rng ?? globalRng).fillUniform(host, opts.low ?? 0, opts.high ?? 1);
  return fromHost(host, shape, { ...opts, dtype: opts.dtype ?? 'f32' });
}

/** Zeros of t's shape, dtype and backend. */
export const zerosLike = (t: Tensor): Tensor => full(t.shape, 0, { dtype: t.dtype, backend: t.backend });
/** Ones of t's shape, dtype and backend. */
export const onesLike = (t: Tensor): Tensor => full(t.shape, 1, { dtype: t.dtype, backend: t.backend });
