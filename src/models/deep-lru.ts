/**
 * Deep LRU (Orvieto et al. 2023; REFERENCE.md §3): a sequence classifier of stacked LRU blocks,
 *
 *   encoder (Embedding for token ids — a linear map of one-hot inputs — or Linear for features)
 *   → depth × [ x = x + GLU(dropout(LRU(norm(x)))) ]
 *   → mean over time (over the mask's tokens when a mask is given) → Linear head → logits.
 *
 * `lruParamGroups` builds AdamW parameter groups in which the recurrent parameters (ν, θ, γ, B of
 * every LRU, both directions) get a smaller learning rate and no weight decay.
 *
 * Padding: with a right-padded batch and a causal LRU, padding never reaches the real tokens and
 * the masked mean ignores it, so a padded example gets the logits it gets alone. A bidirectional
 * LRU's backward direction reads the padding before the tokens (the classifier still sees only
 * masked positions in the pooling); pad to a common length for training, as LRA does.
 */
import { LRU } from '../cells/lru.js';
import { Module, ModuleList, type LayerOptions } from '../nn/module.js';
import { Dropout, Embedding, GLU, Linear } from '../nn/layers.js';
import { LayerNorm, RMSNorm } from '../nn/norm.js';
import { add, div, mean, mul, sum, unsqueeze } from '../tensor/ops.js';
import { describe, type Tensor } from '../tensor/tensor.js';
import { globalRng } from '../tensor/random.js';
import type { ParamGroup } from '../optim/optimizer.js';

export interface DeepLruConfig {
  /** Token inputs: ids in [0, vocabSize) through an Embedding. Give this or inputDim. */
  vocabSize?: number;
  /** Feature inputs [B, T, inputDim] through a Linear. */
  inputDim?: number;
  /** Residual width H. */
  dModel: number;
  /** Complex state width N of every LRU. */
  dState: number;
  /** Blocks (default 6, as the paper). */
  depth?: number;
  numClasses: number;
  /** Dropout after each LRU (default 0.1). */
  dropout?: number;
  /** 'layer' (default) or 'rms'. */
  norm?: 'layer' | 'rms';
  rMin?: number;
  rMax?: number;
  maxPhase?: number;
  bidirectional?: boolean;
}

class DeepLruBlock extends Module {
  readonly norm: LayerNorm | RMSNorm;
  readonly lru: LRU;
  readonly drop: Dropout;
  readonly glu: GLU;

  constructor(c: DeepLruConfig, opts: LayerOptions) {
    super();
    const dim = c.dModel;
    this.norm = this.module('norm', c.norm === 'rms' ? new RMSNorm({ ...opts, dim }) : new LayerNorm({ ...opts, dim }));
    this.lru = this.module('lru', new LRU({
      ...opts, dModel: dim, dState: c.dState, rMin: c.rMin, rMax: c.rMax, maxPhase: c.maxPhase, bidirectional: c.bidirectional,
    }));
    this.drop = this.module('drop', new Dropout({ p: c.dropout ?? 0.1, rng: opts.rng }));
    this.glu = this.module('glu', new GLU({ ...opts, inFeatures: dim, outFeatures: dim }));
  }

  forward(x: Tensor): Tensor {
    return add(x, this.glu.forward(this.drop.forward(this.lru.forward(this.norm.forward(x)).output)));
  }
}

export class DeepLRU extends Module {
  readonly config: Required<Omit<DeepLruConfig, 'vocabSize' | 'inputDim' | 'rMin' | 'rMax' | 'maxPhase'>> & DeepLruConfig;
  readonly encoder: Embedding | Linear;
  readonly blocks: ModuleList<DeepLruBlock>;
  readonly head: Linear;

  constructor(config: DeepLruConfig, opts: LayerOptions = {}) {
    super();
    if ((config.vocabSize === undefined) === (config.inputDim === undefined)) {
      throw new Error('DeepLRU: give exactly one of vocabSize (token ids) and inputDim (features)');
    }
    const c = { depth: 6, dropout: 0.1, norm: 'layer' as const, bidirectional: false, ...config };
    this.config = c;
    const layer = { ...opts, rng: opts.rng ?? globalRng };
    this.encoder = this.module('encoder', c.vocabSize !== undefined
      ? new Embedding({ ...layer, numEmbeddings: c.vocabSize, embeddingDim: c.dModel })
      : new Linear({ ...layer, inFeatures: c.inputDim!, outFeatures: c.dModel }));
    this.blocks = this.module('blocks', new ModuleList(Array.from({ length: c.depth }, () => new DeepLruBlock(c, layer))));
    this.head = this.module('head', new Linear({ ...layer, inFeatures: c.dModel, outFeatures: c.numClasses }));
  }

  /**
   * x: ids i32 [B, T] (vocabSize) or features [B, T, inputDim]; mask [B, T] (1 = token, 0 =
   * padding; none = all tokens) → logits [B, numClasses].
   */
  forward(x: Tensor, mask?: Tensor | null): Tensor {
    const tokens = this.config.vocabSize !== undefined;
    if (tokens ? x.rank !== 2 || x.dtype !== 'i32' : x.rank !== 3) {
      throw new Error(`DeepLRU.forward: x ${describe(x)} must be ${tokens ? 'i32 ids [B, T]' : `[B, T, ${this.config.inputDim}]`}`);
    }
    let h = this.encoder.forward(x);
    for (const block of this.blocks) h = block.forward(h);
    let pooled: Tensor;
    if (mask) {
      if (mask.rank !== 2 || mask.shape[0] !== x.shape[0] || mask.shape[1] !== x.shape[1]) {
        throw new Error(`DeepLRU.forward: mask ${describe(mask)} must be [${x.shape[0]}, ${x.shape[1]}]`);
      }
      pooled = div(sum(mul(h, unsqueeze(mask, 2)), 1), unsqueeze(sum(mask, 1), 1));
    } else {
      pooled = mean(h, 1);
    }
    return this.head.forward(pooled);
  }
}

/** Parameter names of an LRU that count as recurrent: ν, θ, γ and B (both directions). */
export const LRU_RECURRENT_PARAMS = /(^|\.)(nu_log|theta_log|gamma_log|B_re|B_im)(_bwd)?$/;

export interface LruParamGroupOptions {
  /** Learning rate of the other parameters (their weight decay is the optimizer's). */
  lr: number;
  /** Recurrent learning rate = lr · recurrentLrFactor (default 0.5). */
  recurrentLrFactor?: number;
}

/**
 * Two AdamW groups: every parameter but the LRUs' ν, θ, γ, B at `lr` (with the optimizer's weight
 * decay), and those at lr · recurrentLrFactor with weight decay 0.
 */
export function lruParamGroups(model: Module, opts: LruParamGroupOptions): ParamGroup[] {
  const recurrent: Tensor[] = [], other: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) (LRU_RECURRENT_PARAMS.test(name) ? recurrent : other).push(p);
  return [
    { params: other, lr: opts.lr },
    { params: recurrent, lr: opts.lr * (opts.recurrentLrFactor ?? 0.5), weightDecay: 0 },
  ];
}
