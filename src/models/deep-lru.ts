/**
 * Sequence classifiers of stacked recurrent blocks; with the LRU cell this is the deep LRU of
 * Orvieto et al. 2023 (docs/models.md#sequence-classifier-deep-lru):
 *
 *   encoder (Embedding for token ids — a linear map of one-hot inputs — or Linear for features)
 *   → depth × [ x = x + GLU(dropout(cell(norm(x)))) ]
 *   → mean over time (over the mask's tokens when a mask is given) → Linear head → logits.
 *
 * `cell` is any registry cell (cells/registry.ts); 'lru' (the default, and `DeepLRU`) builds the
 * LRU with the paper's options (dState, ring, phase, bidirectional). Every other cell sits in the
 * same block at the residual width, so cells are compared with everything else equal.
 *
 * `classifierParamGroups` gives the LRU's recurrent parameters (ν, θ, γ, B of every LRU, both
 * directions) a smaller learning rate and no weight decay (`lruParamGroups`); other cells get
 * ordinary groups (weight decay on matrices only).
 *
 * Padding: with a right-padded batch, every block's cell reads zeros at the padded positions (the
 * mask multiplies the normalised input) and the masked mean ignores them. A causal cell never sees
 * the padding anyway; a bidirectional LRU's backward direction reads it first, and zero input keeps
 * its state at exactly zero (B u has no bias), so it starts at each row's last token. Either way a
 * padded example gets the logits it gets alone.
 */
import type { RecurrentCell, ScanMode } from '../cells/cell.js';
import { LRU_RECURRENT_PARAMS } from '../cells/lru.js';
import { cellEntry, checkCellOptions, createCell } from '../cells/registry.js';
import { Module, ModuleList, type LayerOptions } from '../nn/module.js';
import { Dropout, Embedding, GLU, Linear } from '../nn/layers.js';
import { LayerNorm, RMSNorm } from '../nn/norm.js';
import { add, div, mean, mul, sum, unsqueeze } from '../tensor/ops.js';
import { describe, type Tensor } from '../tensor/tensor.js';
import { globalRng } from '../tensor/random.js';
import type { ParamGroup } from '../optim/optimizer.js';

/** The classifier's own settings; every other key of a SequenceClassifierConfig is a cell option. */
export interface ClassifierSettings {
  /** A registry cell (default 'lru'). */
  cell?: string;
  /** Token inputs: ids in [0, vocabSize) through an Embedding. Give this or inputDim. */
  vocabSize?: number;
  /** Feature inputs [B, T, inputDim] through a Linear. */
  inputDim?: number;
  /** Residual width H (the cell's `dim`). */
  dModel: number;
  /** Blocks (default 6, as the paper). */
  depth?: number;
  numClasses: number;
  /** Dropout after each cell (default 0.1). */
  dropout?: number;
  /** 'layer' (default) or 'rms'. */
  norm?: 'layer' | 'rms';
}

const SETTINGS: readonly (keyof ClassifierSettings)[] = ['cell', 'vocabSize', 'inputDim', 'dModel', 'depth', 'numClasses', 'dropout', 'norm'];

/**
 * The settings plus the options the cell declares (cells/registry.ts), by name: `dState`
 * (default dModel), `rMin`, `rMax`, `maxPhase`, `bidirectional` of lru; `heads` of lstm; … An
 * option the cell does not declare is an error, except `expansion` and `scan`, which every cell
 * is offered (as in RecurrentLM) and those that declare them use.
 */
export interface SequenceClassifierConfig extends ClassifierSettings {
  expansion?: number;
  scan?: ScanMode;
  [cellOption: string]: unknown;
}

/** The deep LRU's config: the classifier's settings and the LRU's options. */
export interface DeepLruConfig extends Omit<ClassifierSettings, 'cell'> {
  /** Complex state width N. */
  dState: number;
  rMin?: number;
  rMax?: number;
  maxPhase?: number;
  bidirectional?: boolean;
}

type ResolvedConfig = SequenceClassifierConfig & Required<Pick<ClassifierSettings, 'cell' | 'depth' | 'dropout' | 'norm'>>;

/** Options every cell is offered (RecurrentLM does the same): used by the cells that declare them. */
const SHARED_CELL_OPTIONS = ['expansion', 'scan'];

/** The cell options of a config: every key that is not a classifier setting (`shared`: with expansion and scan). */
function cellOptionsOf(c: SequenceClassifierConfig, shared: boolean): Record<string, unknown> {
  return Object.fromEntries(Object.entries(c).filter(([k, v]) => !(SETTINGS as readonly string[]).includes(k) && v !== undefined && (shared || !SHARED_CELL_OPTIONS.includes(k))));
}

function resolveConfig(config: SequenceClassifierConfig): ResolvedConfig {
  const c = { cell: 'lru', depth: 6, dropout: 0.1, norm: 'layer' as const, ...config };
  if ((c.vocabSize === undefined) === (c.inputDim === undefined)) {
    throw new Error('SequenceClassifier: give exactly one of vocabSize (token ids) and inputDim (features)');
  }
  checkCellOptions(c.cell, cellOptionsOf(c, false), 'SequenceClassifier');
  return c;
}

function makeCell(c: ResolvedConfig, opts: LayerOptions): RecurrentCell {
  return createCell(c.cell, { ...opts, ...cellOptionsOf(c, true), dim: c.dModel });
}

class ClassifierBlock extends Module {
  readonly norm: LayerNorm | RMSNorm;
  readonly cell: RecurrentCell;
  readonly drop: Dropout;
  readonly glu: GLU;

  constructor(c: ResolvedConfig, opts: LayerOptions) {
    super();
    const dim = c.dModel;
    this.norm = this.module('norm', c.norm === 'rms' ? new RMSNorm({ ...opts, dim }) : new LayerNorm({ ...opts, dim }));
    this.cell = this.module('cell', makeCell(c, opts));
    this.drop = this.module('drop', new Dropout({ p: c.dropout, rng: opts.rng }));
    this.glu = this.module('glu', new GLU({ ...opts, inFeatures: dim, outFeatures: dim }));
  }

  /**
   * x [B, T, H]; tokenMask [B, T, 1] (1 = token, 0 = padding) zeroes the cell's input at padding, so
   * that a bidirectional LRU's backward direction starts from a zero state at each row's last token
   * (no bias in B u: zero input keeps a zero state) instead of reading the padding first.
   */
  forward(x: Tensor, tokenMask?: Tensor | null): Tensor {
    const normed = this.norm.forward(x);
    const input = tokenMask ? mul(normed, tokenMask) : normed;
    return add(x, this.glu.forward(this.drop.forward(this.cell.forward(input).output)));
  }
}

/** A sequence classifier: token embedding or input projection, blocks of norm → cell → dropout → GLU + skip, masked mean pooling over time, linear head. */
export class SequenceClassifier extends Module {
  readonly config: ResolvedConfig;
  readonly encoder: Embedding | Linear;
  readonly blocks: ModuleList<ClassifierBlock>;
  readonly head: Linear;

  constructor(config: SequenceClassifierConfig, opts: LayerOptions = {}) {
    super();
    const c = resolveConfig(config);
    this.config = c;
    const layer = { ...opts, rng: opts.rng ?? globalRng };
    this.encoder = this.module('encoder', c.vocabSize !== undefined
      ? new Embedding({ ...layer, numEmbeddings: c.vocabSize, embeddingDim: c.dModel })
      : new Linear({ ...layer, inFeatures: c.inputDim!, outFeatures: c.dModel }));
    this.blocks = this.module('blocks', new ModuleList(Array.from({ length: c.depth }, () => new ClassifierBlock(c, layer))));
    this.head = this.module('head', new Linear({ ...layer, inFeatures: c.dModel, outFeatures: c.numClasses }));
  }

  /**
   * x: ids i32 [B, T] (vocabSize) or features [B, T, inputDim]; mask [B, T] (1 = token, 0 =
   * padding; none = all tokens) → logits [B, numClasses].
   */
  forward(x: Tensor, mask?: Tensor | null): Tensor {
    const name = this.constructor.name;
    const tokens = this.config.vocabSize !== undefined;
    if (tokens ? x.rank !== 2 || x.dtype !== 'i32' : x.rank !== 3) {
      throw new Error(`${name}.forward: x ${describe(x)} must be ${tokens ? 'i32 ids [B, T]' : `[B, T, ${this.config.inputDim}]`}`);
    }
    if (mask && (mask.rank !== 2 || mask.shape[0] !== x.shape[0] || mask.shape[1] !== x.shape[1])) {
      throw new Error(`${name}.forward: mask ${describe(mask)} must be [${x.shape[0]}, ${x.shape[1]}]`);
    }
    const tokenMask = mask ? unsqueeze(mask, 2) : null;
    let h = this.encoder.forward(x);
    for (const block of this.blocks) h = block.forward(h, tokenMask);
    if (!tokenMask) return this.head.forward(mean(h, 1));
    return this.head.forward(div(sum(mul(h, tokenMask), 1), unsqueeze(sum(mask!, 1), 1)));
  }
}

/** The paper's deep LRU: a SequenceClassifier whose cell is the LRU. */
export class DeepLRU extends SequenceClassifier {
  constructor(config: DeepLruConfig, opts: LayerOptions = {}) {
    super({ ...config, cell: 'lru' }, opts);
  }
}

export { LRU_RECURRENT_PARAMS };

/** Options of {@link lruParamGroups}. */
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
  return recurrentParamGroups(model, LRU_RECURRENT_PARAMS, opts);
}

/** lruParamGroups for any cell's `recurrentParams` pattern (cells/registry.ts). */
function recurrentParamGroups(model: Module, pattern: RegExp, opts: LruParamGroupOptions): ParamGroup[] {
  const recurrent: Tensor[] = [], other: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) (pattern.test(name) ? recurrent : other).push(p);
  return [
    { params: other, lr: opts.lr },
    { params: recurrent, lr: opts.lr * (opts.recurrentLrFactor ?? 0.5), weightDecay: 0 },
  ];
}

/** Options of {@link classifierParamGroups}. */
export interface ClassifierParamGroupOptions extends LruParamGroupOptions {
  weightDecay: number;
}

/**
 * The AdamW groups a classifier trains with: the LRU's (lruParamGroups, the other parameters at
 * `weightDecay`), or for any other cell weight decay on matrices and none on gains and biases (as
 * the LM trainer); recurrentLrFactor applies to the LRU only.
 */
export function classifierParamGroups(model: SequenceClassifier, opts: ClassifierParamGroupOptions): ParamGroup[] {
  const pattern = cellEntry(model.config.cell).recurrentParams;
  if (pattern) {
    const [other, recurrent] = recurrentParamGroups(model, pattern, opts);
    return [{ ...other, weightDecay: opts.weightDecay }, recurrent];
  }
  const params = model.parameters();
  return [
    { params: params.filter((p) => p.rank >= 2), lr: opts.lr, weightDecay: opts.weightDecay },
    { params: params.filter((p) => p.rank < 2), lr: opts.lr, weightDecay: 0 },
  ];
}
