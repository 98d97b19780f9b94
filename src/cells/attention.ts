/**
 * Causal multi-head self-attention as a cell, so the pre-norm block of RecurrentLM (norm → mixer →
 * residual → norm → FFN) holds it unchanged: a RecurrentLM of these blocks is a pre-norm
 * Transformer, and one attention block every k of them is the hybrid (docs/models.md#transformer).
 * The "state" is the KV cache: `forward` appends the sequence's keys and values to it and `step`
 * one position's, so streaming generation equals the parallel forward (it grows with the
 * sequence, unlike a recurrent state).
 *
 * Position codes: 'rope' rotates q and k (no parameters); 'learned' and 'sinusoidal' add a code
 * to the block's input before the q/k/v projection; 'linear' (the SMR seed's) appends the scalar
 * t/context to it; 'none' has none. Positions count from the start of the cache.
 */
import { Module, type LayerOptions } from '../nn/module.js';
import { Embedding, Linear } from '../nn/layers.js';
import { appendLinearCode, causalAttention, rope, sinusoidalCode } from '../nn/attention.js';
import { add, concat, embedding, permute, reshape, slice, squeeze, unsqueeze } from '../tensor/ops.js';
import { arange } from '../tensor/creation.js';
import { describe, type Tensor } from '../tensor/tensor.js';
import type { CellOutput, RecurrentCell } from './cell.js';

export type PositionCode = 'rope' | 'learned' | 'sinusoidal' | 'linear' | 'none';
export const POSITION_CODES: readonly PositionCode[] = ['rope', 'learned', 'sinusoidal', 'linear', 'none'];

export interface AttentionCellOptions extends LayerOptions {
  dim: number;
  /** Query heads; dim must divide by it. Default 1. */
  heads?: number;
  /** Key/value heads (grouped keys); must divide heads. Default heads. */
  kvHeads?: number;
  position?: PositionCode;
  /** Positions the learned code covers, and the T of the linear code t/T. Default 1024. */
  context?: number;
  /** false runs the composite attention (the reference) instead of the kernel. Default true. */
  fused?: boolean;
}

/** The KV cache: keys and values [B, kvHeads, positions so far, headDim]. */
export type KVCache = readonly [Tensor, Tensor];

export class AttentionCell extends Module implements RecurrentCell<KVCache> {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly position: PositionCode;
  readonly context: number;
  readonly fused: boolean;
  readonly qkv: Linear;
  readonly out: Linear;
  readonly posEmb: Embedding | null;

  constructor(o: AttentionCellOptions) {
    super();
    const heads = (this.heads = o.heads ?? 1);
    const kvHeads = (this.kvHeads = o.kvHeads ?? heads);
    if (!(Number.isInteger(heads) && heads > 0 && o.dim % heads === 0)) throw new Error(`AttentionCell: heads ${heads} must divide dim ${o.dim}`);
    if (!(Number.isInteger(kvHeads) && kvHeads > 0 && heads % kvHeads === 0)) throw new Error(`AttentionCell: kvHeads ${kvHeads} must divide heads ${heads}`);
    this.headDim = o.dim / heads;
    this.position = o.position ?? 'rope';
    this.context = o.context ?? 1024;
    this.fused = o.fused ?? true;
    const inFeatures = o.dim + (this.position === 'linear' ? 1 : 0);
    this.qkv = this.module('qkv', new Linear({ ...o, inFeatures, outFeatures: (heads + 2 * kvHeads) * this.headDim, bias: false }));
    this.out = this.module('out', new Linear({ ...o, inFeatures: o.dim, outFeatures: o.dim, bias: false }));
    this.posEmb = this.position === 'learned' ? this.module('pos_emb', new Embedding({ ...o, numEmbeddings: this.context, embeddingDim: o.dim })) : null;
  }

  /** x [B, T, D] with the cache of the positions before (or null) → output [B, T, D] and the cache with these appended. */
  forward(x: Tensor, state?: KVCache | null): CellOutput<KVCache> {
    if (x.rank !== 3) throw new Error(`AttentionCell.forward: x ${describe(x)} must be [B, T, D]`);
    const [B, T, D] = x.shape;
    const offset = state ? state[0].shape[2] : 0;
    const { heads: H, kvHeads: G, headDim: hd } = this;
    const qkv = permute(reshape(this.qkv.forward(this.withPosition(x, offset)), [B, T, H + 2 * G, hd]), [0, 2, 1, 3]);
    let q = slice(qkv, 1, 0, H), k = slice(qkv, 1, H, H + G);
    const v = slice(qkv, 1, H + G, H + 2 * G);
    if (this.position === 'rope') { q = rope(q, offset); k = rope(k, offset); }
    const keys = state ? concat([state[0], k], 2) : k, values = state ? concat([state[1], v], 2) : v;
    const y = causalAttention(q, keys, values, { fused: this.fused });
    return { output: this.out.forward(reshape(permute(y, [0, 2, 1, 3]), [B, T, D])), state: [keys, values] };
  }

  /** x_t [B, D] → output [B, D] and the cache with this position appended. */
  step(x: Tensor, state?: KVCache | null): CellOutput<KVCache> {
    if (x.rank !== 2) throw new Error(`AttentionCell.step: x ${describe(x)} must be [B, D]`);
    const r = this.forward(unsqueeze(x, 1), state);
    return { output: squeeze(r.output, 1), state: r.state };
  }

  private withPosition(x: Tensor, offset: number): Tensor {
    const T = x.shape[1];
    switch (this.position) {
      case 'learned': {
        if (offset + T > this.context) throw new Error(`AttentionCell: the learned position code covers ${this.context} positions (context), but position ${offset + T - 1} was asked for`);
        return add(x, embedding(this.posEmb!.weight, arange(offset, offset + T, 1, { dtype: 'i32', backend: x.backend })));
      }
      case 'sinusoidal': return add(x, sinusoidalCode(T, x.shape[2], offset, x));
      case 'linear': return appendLinearCode(x, offset, this.context);
      default: return x;
    }
  }
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/** Registry entry (cells/registry.ts): `--model transformer` is a RecurrentLM of attention blocks. */
export const attentionCell: CellEntry = {
  name: 'transformer',
  summary: 'causal multi-head self-attention (a RecurrentLM of these blocks is a pre-norm Transformer)',
  options: [
    HEADS_OPTION,
    { name: 'kvHeads', type: 'int', min: 1, max: 4096, help: 'transformer: key/value heads (grouped keys; must divide heads), default heads' },
    { name: 'position', type: 'choice', choices: POSITION_CODES, default: 'rope', help: 'transformer: position code (rope, learned, sinusoidal, linear t/T as in the SMR seed, none)' },
    { name: 'context', type: 'int', min: 1, max: 1 << 20, default: 1024, help: 'transformer: positions of the learned code, and T of the linear code t/T' },
  ],
  create: (dim, o, layer) => new AttentionCell({
    ...layer, dim, heads: o.heads as number, kvHeads: o.kvHeads as number | undefined, position: o.position as PositionCode, context: o.context as number,
  }),
};
