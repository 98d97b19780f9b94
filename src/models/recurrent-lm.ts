/**
 * RecurrentLM: a character/byte language model built from pre-norm residual blocks around any
 * recurrent cell (docs/models.md#recurrentlm, as minGRU-pytorch's minLM):
 *   [x = x + conv(x)] → x = x + drop(cell(norm1(x))) → x = x + ff(norm2(x)); final norm; logits.
 * (With residual 'mul' the cell sub-block is x = x ⊙ drop(cell(norm1(x))) instead.)
 * Parallel `forward` for training, `step` for streaming generation with constant memory.
 */
import { Module, ModuleList, type LayerOptions } from '../nn/module.js';
import { Dropout, Embedding, FeedForward, Linear } from '../nn/layers.js';
import { LayerNorm, RMSNorm } from '../nn/norm.js';
import { CausalConv1d } from '../nn/conv.js';
import { checkCellOptions, createCell } from '../cells/registry.js';
import type { OptionValue } from '../cells/options.js';
import type { CellState, RecurrentCell, ScanMode } from '../cells/cell.js';
import { add, crossEntropy, matmul, mul, reshape, slice } from '../tensor/ops.js';
import { Tensor, describe, scope } from '../tensor/tensor.js';
import { fromHost } from '../tensor/creation.js';
import { Rng, globalRng } from '../tensor/random.js';

/** Configuration of {@link RecurrentLM}; omitted fields take the defaults noted on each. */
export interface RecurrentLMConfig {
  vocabSize: number;
  dim: number;
  depth: number;
  /** Cell name from the registry: 'mingru' | 'minlstm' | … Default 'mingru'. */
  cell?: string;
  /** Cell expansion factor (inner width = dim · expansion), for cells that declare it. Default 1.5, as minLM. */
  expansion?: number;
  /**
   * Values of the cell's other declared options (cells/registry.ts: `heads` of lstm, `rMax` of
   * lru, …). Default none: the cell's defaults.
   */
  cellOptions?: Record<string, OptionValue>;
  /** Kernel of the causal depthwise conv before each block's cell; 0 = none. Default 0. */
  convKernel?: number;
  /** FeedForward hidden width multiplier. Default 4. */
  ffMult?: number;
  dropout?: number;
  norm?: 'rms' | 'layer';
  normEps?: number;
  /** Share the token embedding with the output head. Default false. */
  tieEmbeddings?: boolean;
  /** The linear-recurrence scan of the cells that declare it. Default 'log'. */
  scan?: ScanMode;
  /**
   * How the cell's sub-block joins the residual stream: 'add' (default) x = x + cell(norm1(x)),
   * or 'mul' x = x ⊙ cell(norm1(x)), the multiplicative residual of the SMR articles (docs/models.md#smr-msmr).
   */
  residual?: 'add' | 'mul';
  /**
   * The hybrid: every k-th block (k, 2k, …) holds causal self-attention (the 'transformer' cell,
   * its default options) instead of `cell`. 0 (default) = none.
   */
  attentionEvery?: number;
}

/** The config with every default filled in (what checkpoints store). */
export type ResolvedLMConfig = Required<RecurrentLMConfig>;

/** The config with every default filled in, checked (a one-line error for a bad field). */
export function resolveLMConfig(c: RecurrentLMConfig): ResolvedLMConfig {
  const r: ResolvedLMConfig = {
    vocabSize: c.vocabSize, dim: c.dim, depth: c.depth, cell: c.cell ?? 'mingru', expansion: c.expansion ?? 1.5,
    convKernel: c.convKernel ?? 0, ffMult: c.ffMult ?? 4, dropout: c.dropout ?? 0, norm: c.norm ?? 'rms',
    normEps: c.normEps ?? (c.norm === 'layer' ? 1e-5 : 1e-6), tieEmbeddings: c.tieEmbeddings ?? false, scan: c.scan ?? 'log',
    residual: c.residual ?? 'add', cellOptions: { ...c.cellOptions }, attentionEvery: c.attentionEvery ?? 0,
  };
  for (const key of ['vocabSize', 'dim', 'depth'] as const) {
    if (!Number.isInteger(r[key]) || r[key] <= 0) throw new Error(`RecurrentLM: ${key} must be a positive integer, got ${r[key]}`);
  }
  if (!Number.isInteger(r.attentionEvery) || r.attentionEvery < 0) throw new Error(`RecurrentLM: attentionEvery must be a non-negative integer, got ${r.attentionEvery}`);
  if (!Number.isInteger(r.convKernel) || r.convKernel < 0) throw new Error(`RecurrentLM: convKernel must be a non-negative integer, got ${r.convKernel}`);
  if (!(r.dropout >= 0 && r.dropout < 1)) throw new Error(`RecurrentLM: dropout must be in [0, 1), got ${r.dropout}`);
  if (r.norm !== 'rms' && r.norm !== 'layer') throw new Error(`RecurrentLM: norm must be 'rms' or 'layer', got ${r.norm}`);
  if (r.residual !== 'add' && r.residual !== 'mul') throw new Error(`RecurrentLM: residual must be 'add' or 'mul', got ${r.residual}`);
  checkCellOptions(r.cell, r.cellOptions, 'RecurrentLM');
  return r;
}

/** Per block: the conv's last k−1 inputs (or null) and the cell's state. */
export interface BlockState {
  conv: Tensor | null;
  cell: CellState;
}
/** A RecurrentLM's state: one {@link BlockState} per block. */
export type LMState = BlockState[];

function makeNorm(c: ResolvedLMConfig, o: LayerOptions): RMSNorm | LayerNorm {
  return c.norm === 'rms' ? new RMSNorm({ ...o, dim: c.dim, eps: c.normEps }) : new LayerNorm({ ...o, dim: c.dim, eps: c.normEps });
}

class Block extends Module {
  readonly conv: CausalConv1d | null;
  readonly norm1: RMSNorm | LayerNorm;
  readonly rnn: RecurrentCell;
  readonly norm2: RMSNorm | LayerNorm;
  readonly ff: FeedForward;
  readonly drop: Dropout;
  readonly residual: 'add' | 'mul';

  /** `attention`: this block mixes with the 'transformer' cell (a hybrid's every k-th block). */
  constructor(c: ResolvedLMConfig, o: LayerOptions, attention = false) {
    super();
    this.residual = c.residual;
    this.conv = c.convKernel > 0 ? this.module('conv', new CausalConv1d({ ...o, channels: c.dim, kernelSize: c.convKernel })) : null;
    this.norm1 = this.module('norm1', makeNorm(c, o));
    this.rnn = this.module('rnn', attention ? createCell(ATTENTION_CELL, { ...o, dim: c.dim })
      : createCell(c.cell, { ...o, dim: c.dim, expansion: c.expansion, scan: c.scan, ...c.cellOptions }));
    this.norm2 = this.module('norm2', makeNorm(c, o));
    this.ff = this.module('ff', new FeedForward({ ...o, dim: c.dim, mult: c.ffMult, dropout: c.dropout }));
    this.drop = this.module('drop', new Dropout({ p: c.dropout, rng: o.rng }));
  }

  run(x: Tensor, state: BlockState | null, mode: 'forward' | 'step'): { output: Tensor; state: BlockState } {
    // Each residual add is fused with the norm that reads its sum (one kernel where the backend can).
    let convState: Tensor | null = null;
    let normed: Tensor;
    if (this.conv) {
      const c = this.conv[mode](x, state?.conv ?? null);
      ({ sum: x, y: normed } = this.norm1.forwardAdd(x, c.output));
      convState = c.state;
    } else {
      normed = this.norm1.forward(x);
    }
    const r = this.rnn[mode](normed, state?.cell ?? null);
    if (this.residual === 'mul') {
      x = mul(x, this.drop.forward(r.output));
      normed = this.norm2.forward(x);
    } else {
      ({ sum: x, y: normed } = this.norm2.forwardAdd(x, this.drop.forward(r.output)));
    }
    x = add(x, this.ff.forward(normed));
    return { output: x, state: { conv: convState, cell: r.state } };
  }
}

/** The cell of a hybrid's attention blocks (src/cells/attention.ts). */
const ATTENTION_CELL = 'transformer';

/** A language model of pre-norm residual blocks around any registered cell (minGRU-pytorch's minLM layout): parallel `forward`/`loss` for training, `step` and `generate` for streaming. */
export class RecurrentLM extends Module {
  readonly config: ResolvedLMConfig;
  readonly tokenEmb: Embedding;
  readonly layers: ModuleList<Block>;
  readonly norm: RMSNorm | LayerNorm;
  readonly toLogits: Linear | null;

  constructor(config: RecurrentLMConfig, opts: LayerOptions = {}) {
    super();
    const c = (this.config = resolveLMConfig(config));
    const o: LayerOptions = { ...opts, rng: opts.rng ?? globalRng };
    this.tokenEmb = this.module('token_emb', new Embedding({ ...o, numEmbeddings: c.vocabSize, embeddingDim: c.dim }));
    this.layers = this.module('layers', new ModuleList(Array.from({ length: c.depth }, (_, i) => new Block(c, o, c.attentionEvery > 0 && (i + 1) % c.attentionEvery === 0))));
    this.norm = this.module('norm', makeNorm(c, o));
    this.toLogits = c.tieEmbeddings ? null : this.module('to_logits', new Linear({ ...o, inFeatures: c.dim, outFeatures: c.vocabSize, bias: false }));
  }

  private head(x: Tensor): Tensor {
    const h = this.norm.forward(x);
    return this.toLogits ? this.toLogits.forward(h) : matmul(h, this.tokenEmb.weight, { transB: true });
  }

  private checkTokens(tokens: Tensor, rank: number, what: string): void {
    if (tokens.dtype !== 'i32' || tokens.rank !== rank) {
      throw new Error(`RecurrentLM.${what}: tokens ${describe(tokens)} must be i32 ${rank === 2 ? '[B, T]' : '[B]'}`);
    }
  }

  /** tokens i32 [B, T] → logits [B, T, vocab] and the state after the last token. */
  forward(tokens: Tensor, state?: LMState | null): { logits: Tensor; state: LMState } {
    this.checkTokens(tokens, 2, 'forward');
    return this.run(tokens, state ?? null, 'forward');
  }

  /**
   * Next-token cross-entropy (nats per token, mean) of a batch of windows tokens i32 [B, T + 1]:
   * positions 0..T−1 are the inputs and 1..T the targets. Returns the state after position T−1.
   */
  loss(tokens: Tensor, state?: LMState | null): { loss: Tensor; state: LMState } {
    this.checkTokens(tokens, 2, 'loss');
    const [B, T1] = tokens.shape;
    if (T1 < 2) throw new Error(`RecurrentLM.loss: tokens ${describe(tokens)} need at least 2 positions (inputs and targets)`);
    const { logits, state: next } = this.forward(slice(tokens, 1, 0, T1 - 1), state);
    const targets = reshape(slice(tokens, 1, 1, T1), [B * (T1 - 1)]);
    return { loss: crossEntropy(reshape(logits, [B * (T1 - 1), this.config.vocabSize]), targets), state: next };
  }

  /** One token per sequence: tokens i32 [B] → logits [B, vocab] and the next state. */
  step(tokens: Tensor, state?: LMState | null): { logits: Tensor; state: LMState } {
    this.checkTokens(tokens, 1, 'step');
    return this.run(tokens, state ?? null, 'step');
  }

  private run(tokens: Tensor, state: LMState | null, mode: 'forward' | 'step'): { logits: Tensor; state: LMState } {
    let x = this.tokenEmb.forward(tokens);
    const next: LMState = [];
    [...this.layers].forEach((layer, i) => {
      const r = layer.run(x, state?.[i] ?? null, mode);
      x = r.output;
      next.push(r.state);
    });
    return { logits: this.head(x), state: next };
  }

  /**
   * Streams sampled tokens: the prompt runs through the parallel forward once, then each new
   * token through `step`, so memory stays constant however long the generation runs.
   */
  async *generate(prompt: ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<number> {
    if (prompt.length === 0) throw new Error('generate: the prompt must hold at least one token');
    const rng = new Rng(opts.seed ?? 0);
    const wasTraining = this.training;
    this.eval();
    const ids = Int32Array.from(prompt);
    for (const id of ids) if (!(id >= 0 && id < this.config.vocabSize)) throw new Error(`generate: prompt token ${id} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
    let { logits, state } = scope(() => {
      const r = this.forward(fromHost(ids, [1, ids.length], { backend: this.tokenEmb.weight.backend }), null);
      const T = ids.length;
      return { logits: reshape(slice(r.logits, 1, T - 1, T), [1, this.config.vocabSize]), state: r.state };
    });
    try {
      for (let n = 0; n < opts.maxTokens; n++) {
        const values = await logits.data();
        logits.dispose();
        const token = sampleToken(values, opts.temperature ?? 1, opts.topK ?? 0, rng);
        yield token;
        const prev = state;
        ({ logits, state } = scope(() => this.step(fromHost(Int32Array.of(token), [1], { backend: this.tokenEmb.weight.backend }), prev)));
        disposeState(prev);
      }
    } finally {
      logits.dispose();
      disposeState(state);
      this.train(wasTraining);
    }
  }
}

/** Options of {@link RecurrentLM.generate}. */
export interface GenerateOptions {
  maxTokens: number;
  /** 0 = greedy; default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens; 0 = all. */
  topK?: number;
  seed?: number;
}

/** Frees every tensor of a model state. */
export function disposeState(state: LMState | CellState | null | undefined): void {
  if (!state) return;
  if (state instanceof Tensor) { state.dispose(); return; }
  for (const s of state as ReadonlyArray<Tensor | BlockState>) {
    if (s instanceof Tensor) s.dispose();
    else { s.conv?.dispose(); disposeState(s.cell); }
  }
}

/** Draws a token from logits with temperature and top-k; temperature 0 is greedy. */
export function sampleToken(logits: ArrayLike<number>, temperature: number, topK: number, rng: Rng): number {
  const n = logits.length;
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  let candidates = Array.from({ length: n }, (_, i) => i);
  if (topK > 0 && topK < n) candidates = candidates.sort((a, b) => logits[b] - logits[a]).slice(0, topK);
  const weights = candidates.map((i) => Math.exp((logits[i] - logits[best]) / temperature));
  const total = weights.reduce((s, w) => s + w, 0);
  let u = rng.uniform() * total;
  for (let j = 0; j < candidates.length; j++) {
    u -= weights[j];
    if (u <= 0) return candidates[j];
  }
  return candidates[candidates.length - 1];
}
