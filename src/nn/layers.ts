/**
 * Basic layers with PyTorch's parameter names, shapes and default initialisation: Linear,
 * Embedding, Dropout, FeedForward and GLU. Inputs are [..., features] (any leading dims).
 */
import { rand, randn } from '../tensor/creation.js';
import { dropout, embedding, gelu, reshape } from '../tensor/ops.js';
import { globalRng, type Rng } from '../tensor/random.js';
import { describe, type Tensor } from '../tensor/tensor.js';
import { glu, linear } from './functional.js';
import { Module, type LayerOptions } from './module.js';

/** @internal U(−bound, bound) parameter values, drawn from the layer's generator. */
export function uniformInit(shape: readonly number[], bound: number, opts: LayerOptions): Tensor {
  return rand(shape, { low: -bound, high: bound, rng: opts.rng, dtype: opts.dtype, backend: opts.backend });
}

export interface LinearOptions extends LayerOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
}

/**
 * y = x Wᵀ + b, W [out, in], b [out] (torch.nn.Linear); both initialised U(±1/√in). Works on
 * any leading dims as one GEMM over the flattened rows.
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(opts: LinearOptions) {
    super();
    this.inFeatures = opts.inFeatures;
    this.outFeatures = opts.outFeatures;
    const bound = 1 / Math.sqrt(opts.inFeatures);
    this.weight = this.param('weight', uniformInit([opts.outFeatures, opts.inFeatures], bound, opts));
    this.bias = (opts.bias ?? true) ? this.param('bias', uniformInit([opts.outFeatures], bound, opts)) : null;
  }

  /** y = x Wᵀ + b over the last axis of x. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface EmbeddingOptions extends LayerOptions {
  numEmbeddings: number;
  embeddingDim: number;
}

/** Lookup table: ids i32 [...] → [..., embeddingDim]; weight [num, dim] initialised N(0, 1). */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(opts: EmbeddingOptions) {
    super();
    this.weight = this.param('weight', randn([opts.numEmbeddings, opts.embeddingDim], { rng: opts.rng, dtype: opts.dtype, backend: opts.backend }));
  }

  /** Rows of the table for i32 ids of any shape: [..., embeddingDim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'i32') throw new Error(`Embedding: ids ${describe(ids)} must be i32`);
    return embedding(this.weight, ids);
  }
}

/** Options of {@link Dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
  /** Generator for the masks (default: the global one). */
  rng?: Rng;
}

/** Inverted dropout in training mode; the identity in eval mode (and when p = 0). */
export class Dropout extends Module {
  readonly p: number;
  private readonly rng: Rng;

  constructor(opts: DropoutOptions) {
    super();
    if (!(opts.p >= 0 && opts.p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${opts.p}`);
    this.p = opts.p;
    this.rng = opts.rng ?? globalRng;
  }

  /** In eval mode returns a view of x (same storage and autograd path), not x itself. */
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropout(x, this.p, this.rng) : reshape(x, x.shape);
  }
}

export interface FeedForwardOptions extends LayerOptions {
  dim: number;
  /** Hidden width = trunc(dim · mult). */
  mult?: number;
  /** Dropout after the GELU (training mode only). */
  dropout?: number;
}

/**
 * Linear(dim → dim·mult) → GELU (exact, erf) → Dropout → Linear(dim·mult → dim), both Linears
 * with bias. The Linears are children `0` and `2` (keys `0.weight`, `2.bias`), as in minLM's
 * nn.Sequential(Linear, GELU, Linear); the dropout is a parameter-free child named `dropout`,
 * so the keys stay the same whatever the dropout.
 */
export class FeedForward extends Module {
  readonly up: Linear;
  readonly drop: Dropout;
  readonly down: Linear;

  constructor(opts: FeedForwardOptions) {
    super();
    const { dim, mult = 4, dropout: p = 0, ...layer } = opts;
    const hidden = Math.trunc(dim * mult);
    this.up = this.module('0', new Linear({ ...layer, inFeatures: dim, outFeatures: hidden }));
    this.drop = this.module('dropout', new Dropout({ p, rng: layer.rng }));
    this.down = this.module('2', new Linear({ ...layer, inFeatures: hidden, outFeatures: dim }));
  }

  /** down(dropout(gelu(up(x)))): [..., dim] in and out. */
  forward(x: Tensor): Tensor {
    return this.down.forward(this.drop.forward(gelu(this.up.forward(x))));
  }
}

export interface GLUOptions extends LayerOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
}

/**
 * Gated linear unit: one Linear `proj` (in → 2·out); with [a, g] its output split in halves
 * along the last axis (a first), y = a ⊙ σ(g). The same convention as torch.nn.functional.glu.
 */
export class GLU extends Module {
  readonly proj: Linear;

  constructor(opts: GLUOptions) {
    super();
    const { inFeatures, outFeatures, bias, ...layer } = opts;
    this.proj = this.module('proj', new Linear({ ...layer, inFeatures, outFeatures: 2 * outFeatures, bias }));
  }

  /** GLU of the projection: a ⊙ σ(b) where proj(x) = [a, b], [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    return glu(this.proj.forward(x));
  }
}
