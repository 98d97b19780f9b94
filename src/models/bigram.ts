/**
 * BigramLM: the baseline of the comparison study (docs/models.md#bigram-baseline: the SMR articles report ~0.27 next-character
 * accuracy for it). One parameter, `table` [V, V]: table[a, b] is the logit of token b following
 * token a. Initialised to zeros, so the untrained model predicts uniformly (loss = log V) and
 * training is a convex problem whose optimum is the empirical bigram distribution.
 *
 * Design: a small Module of its own with RecurrentLM's public shape — `config.vocabSize`,
 * `forward(tokens [B, T], state?) → { logits, state }`, `step(tokens [B], state?)`,
 * `loss(tokens [B, T + 1], state?) → { loss, state }`, `generate(prompt, opts)` and
 * `numParameters()` — rather than a RecurrentLM with a special cell: a bigram has no embedding,
 * blocks, norm or head to share, and forcing it through them would add parameters the baseline
 * must not have. Its state is the empty LMState `[]` (the logits depend on the current token
 * only), so code that carries states across batches or steps works unchanged.
 */
import { Module, type LayerOptions } from '../nn/module.js';
import { zeros, fromHost } from '../tensor/creation.js';
import { crossEntropy, embedding, reshape, slice } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import { describe, scope, type Tensor } from '../tensor/tensor.js';
import { sampleToken, type GenerateOptions, type LMState } from './recurrent-lm.js';

/** Size of the bigram table. */
export interface BigramConfig {
  vocabSize: number;
}

/** The bigram baseline: a learned table of next-token logits per token (no context beyond one token). */
export class BigramLM extends Module {
  readonly config: Readonly<BigramConfig>;
  readonly table: Tensor;

  constructor(config: BigramConfig, opts: LayerOptions = {}) {
    super();
    if (!Number.isInteger(config.vocabSize) || config.vocabSize <= 0) {
      throw new Error(`BigramLM: vocabSize must be a positive integer, got ${config.vocabSize}`);
    }
    this.config = Object.freeze({ vocabSize: config.vocabSize });
    const V = config.vocabSize;
    this.table = this.param('table', zeros([V, V], { dtype: opts.dtype, backend: opts.backend }));
  }

  private checkTokens(tokens: Tensor, rank: number, what: string): void {
    if (tokens.dtype !== 'i32' || tokens.rank !== rank) {
      throw new Error(`BigramLM.${what}: tokens ${describe(tokens)} must be i32 ${rank === 2 ? '[B, T]' : '[B]'}`);
    }
  }

  /** tokens i32 [B, T] → logits [B, T, vocab]; the state is always [] (nothing is carried). */
  forward(tokens: Tensor, _state?: LMState | null): { logits: Tensor; state: LMState } {
    this.checkTokens(tokens, 2, 'forward');
    return { logits: embedding(this.table, tokens), state: [] };
  }

  /** One token per sequence: tokens i32 [B] → logits [B, vocab]. */
  step(tokens: Tensor, _state?: LMState | null): { logits: Tensor; state: LMState } {
    this.checkTokens(tokens, 1, 'step');
    return { logits: embedding(this.table, tokens), state: [] };
  }

  /** Mean next-token cross-entropy (nats) of windows tokens i32 [B, T + 1], as RecurrentLM.loss. */
  loss(tokens: Tensor, state?: LMState | null): { loss: Tensor; state: LMState } {
    this.checkTokens(tokens, 2, 'loss');
    const [B, T1] = tokens.shape;
    if (T1 < 2) throw new Error(`BigramLM.loss: tokens ${describe(tokens)} need at least 2 positions (inputs and targets)`);
    const { logits } = this.forward(slice(tokens, 1, 0, T1 - 1), state);
    const targets = reshape(slice(tokens, 1, 1, T1), [B * (T1 - 1)]);
    return { loss: crossEntropy(reshape(logits, [B * (T1 - 1), this.config.vocabSize]), targets), state: [] };
  }

  /** Streams sampled tokens after the prompt, with RecurrentLM.generate's options and sampling. */
  async *generate(prompt: ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<number> {
    if (prompt.length === 0) throw new Error('generate: the prompt must hold at least one token');
    const V = this.config.vocabSize;
    for (let i = 0; i < prompt.length; i++) {
      const id = prompt[i];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`generate: prompt token ${id} is outside the vocabulary (0..${V - 1})`);
    }
    const rng = new Rng(opts.seed ?? 0);
    let token = prompt[prompt.length - 1];
    for (let n = 0; n < opts.maxTokens; n++) {
      const logits = scope(() => this.step(fromHost(Int32Array.of(token), [1], { backend: this.table.backend })).logits);
      const values = await logits.data();
      logits.dispose();
      token = sampleToken(values, opts.temperature ?? 1, opts.topK ?? 0, rng);
      yield token;
    }
  }
}
