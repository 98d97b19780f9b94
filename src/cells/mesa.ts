/**
 * MesaNet (von Oswald et al. 2025; docs/models.md#mesanet): per head, a gated least-squares memory
 *
 *   G_t = γ_t G_{t−1} + β_t v_t k_tᵀ,   H_t = γ_t H_{t−1} + β_t k_t k_tᵀ,
 *   o_t = G_t (H_t + Λ)^{−1} q_t,        Λ = diag(lowerBound + softplus(λ)),
 *
 * with β_t = σ(w_β·e_t + b_β), γ_t = σ(w_γ·e_t + b_γ) scalars per head and e_t the layer input.
 * Around it: input RMSNorm → q/k/v projections → one causal depthwise conv over [q; k; v] → SiLU →
 * L2-normalised q, k; after it a per-head RMSNorm (weight shared by the heads) → output projection.
 *
 * Everything is composed from tensor ops (batched matmul, linearScan, cumsum, elementwise), so the
 * layer runs unchanged on every backend; on CUDA the batched matmuls are cuBLAS GEMMs and the CG
 * below is a batched CG over all (batch, head, token) systems at once.
 *
 * Modes. `forward` defaults to the chunkwise-parallel form: T is cut into chunks of C tokens
 * (padded at the end with β = 0, γ = 1, which leaves the states untouched). With b_t the cumulative
 * log-forget-gate inside a chunk and S_c the state at the chunk's start, every token's operators are
 *   H_t p = e^{b_t} H_c p + Σ_{s≤t} e^{b_t−b_s} β_s k_s (k_s·p)   (and G_t z alike, with v_s),
 * i.e. one GEMM against the chunk-start state plus a masked (P Kᵀ ⊙ D) K product. The chunk-start
 * states come from one linearScan over the N = T/C chunk increments (states only at boundaries:
 * memory N·d² per head, not T·d²). Materialising every H_t instead would make a CG iteration one
 * matvec (d² rather than d² + 2Cd per token) but cost T·d² memory, which is what chunking avoids.
 * The solve runs on columns (Pᵀ [.., d, C]) so that the per-token scalars broadcast along
 * contiguous rows (1.7× faster on the CPU backend than rows). `mode: 'sequential'` runs the same function token by token with
 * full states (the reference the tests hold the chunkwise form to); `step` is one such token.
 *
 * The solve. Conjugate gradient on (H_t + Λ) z = q_t for every token at once, run under noGrad:
 * fixed `cgSteps` iterations in `forward`; `step` also stops early once ‖r‖ ≤ cgTol·‖r_0‖ for every
 * (batch, head) (one scalar read back per iteration, so only where the backend reads synchronously).
 * The start is Jacobi's, q / diag(H_t + Λ) (diag H_t is cheap: the decayed diagonal of the chunk
 * state plus a masked Σ β_s k_s²), or q itself with `cgInit: 'query'`. With 0 steps the start is
 * the answer and is differentiated directly: 'query' gives exactly gated linear attention
 * o_t = G_t q_t, 'jacobi' the same with the query rescaled by diag(H_t + Λ)^{−1}.
 *
 * The gradient through the solve follows the paper: not through the CG iterations, but by the
 * implicit-function theorem. With z* the CG answer (no history), z = z* + S(q − A(θ) z*) where S is
 * an op whose value is zero (so z = z*) and whose backward is a second CG solve with the same
 * operator, dr = A^{−1} dz (A = H_t + Λ is symmetric). Autograd then gives dq = dr and
 * dθ = −∂(drᵀ A(θ) z*)/∂θ through the ordinary ops of one extra operator application; the CG
 * iterates are never recorded. (This is the exact gradient of the exact solve; with too few steps
 * it is the paper's approximation.)
 *
 * Initialisation: Λ = I (λ = softplus^{−1}(1 − lowerBound)); the forget-gate biases put γ at
 * 1 − γ log-spaced over [0.01, 0.1] across heads (one head: 1 − γ ≈ 0.03), so the heads start with
 * memories of ~10 to ~100 tokens: a γ near 1 is what lets H_t accumulate enough keys for the solve
 * to matter (with γ ≈ 0 it would only normalise the last key). Input-gate biases 0 (β ≈ ½); all
 * projections, the conv and the norms use the modules' own defaults.
 *
 * Parameter names: norm.weight, q_proj/k_proj/v_proj.weight [heads·headDim, dim],
 * conv.weight [3·heads·headDim, 1, K], conv.bias, beta_proj/gamma_proj.weight [heads, dim] and .bias,
 * lambda [heads, headDim], out_norm.weight [headDim], out_proj.weight [dim, heads·headDim].
 *
 * State: [G, H] (each [B, heads, headDim, headDim]) plus, with a conv, its tail [B, K−1, 3·heads·headDim].
 */
import { fromHost, zeros, zerosLike } from '../tensor/creation.js';
import { isGradEnabled, noGrad } from '../tensor/engine.js';
import {
  add, concat, cumsum, div, exp, expand, linearScan, logSigmoid, matmul, max, minimum, mul, pad,
  permute, reshape, rsqrt, sigmoid, silu, slice, softplus, split, square, squeeze, stack, sub, sum, transpose, unsqueeze,
} from '../tensor/ops.js';
import { describe, formatShape, scope, withGrad, type Tensor } from '../tensor/tensor.js';
import type { DType } from '../backend/backend.js';
import { CausalConv1d } from '../nn/conv.js';
import { Linear } from '../nn/layers.js';
import { Module, type LayerOptions } from '../nn/module.js';
import { RMSNorm } from '../nn/norm.js';
import type { CellOutput, RecurrentCell } from './cell.js';

/** How conjugate gradient starts each solve: from the Jacobi (diagonal) solution or from the query. */
export type MesaCgInit = 'jacobi' | 'query';
/** Chunkwise parallel (training) or the per-token reference. */
export type MesaMode = 'chunked' | 'sequential';

export interface MesaOptions extends LayerOptions {
  dim: number;
  heads: number;
  /** Width of one head (default dim / heads, which must then divide). */
  headDim?: number;
  /** CG iterations per solve (default 30). 0: the start is the answer (see the header). */
  cgSteps?: number;
  /** `step` stops CG once ‖r‖ ≤ cgTol·‖r_0‖ everywhere (default 1e-4; 0 = always cgSteps). */
  cgTol?: number;
  /** Λ = diag(lambdaLowerBound + softplus(λ)) (default 0.25). */
  lambdaLowerBound?: number;
  /** Kernel of the causal depthwise conv on q, k, v (default 4; 0 = none). */
  conv?: number;
  /** Chunk length of the chunkwise form (default 64, clipped to T). */
  chunkSize?: number;
  /** CG start (default 'jacobi'). */
  cgInit?: MesaCgInit;
  /** How `forward` runs (default 'chunked'). */
  mode?: MesaMode;
}

/** [G, H] or [G, H, conv tail]. */
export type MesaState = readonly [Tensor, Tensor] | readonly [Tensor, Tensor, Tensor];

/** How one solve runs. */
interface SolveConfig {
  steps: number;
  init: MesaCgInit;
  /** Early-stop tolerance (0: fixed steps). */
  tol: number;
  /** Filled with the iterations the forward solve ran. */
  stats?: { iterations: number };
}

/** A symmetric positive definite operator on rows (last axis d) and its diagonal. */
interface SpdOperator {
  apply(p: Tensor): Tensor;
  diag(): Tensor;
  /** The axis a system's vector lies along (−1: rows; −2: columns). */
  axis: number;
}

/** The projected, gated inputs of the core, heads first: q, k, v [B, h, T, d]; beta, logGamma [B, h, T]. */
interface Features {
  q: Tensor; k: Tensor; v: Tensor;
  beta: Tensor; logGamma: Tensor;
  convState: Tensor | null;
}

const L2_EPS = 1e-6;

/** MesaNet's layer (von Oswald et al. 2025): multi-head Mesa attention, whose state is a least-squares memory of the keys seen, solved by conjugate gradient per query. */
export class MesaLayer extends Module implements RecurrentCell<MesaState> {
  readonly dim: number;
  readonly heads: number;
  readonly headDim: number;
  readonly innerDim: number;
  readonly convKernel: number;
  readonly lambdaLowerBound: number;
  cgSteps: number;
  cgTol: number;
  /** CG iterations of the last `step` (≤ cgSteps; fewer when cgTol stopped it). */
  lastStepCgIterations = 0;
  cgInit: MesaCgInit;
  chunkSize: number;
  mode: MesaMode;
  readonly norm: RMSNorm;
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly conv: CausalConv1d | null;
  readonly betaProj: Linear;
  readonly gammaProj: Linear;
  readonly lambda: Tensor;
  readonly outNorm: RMSNorm;
  readonly outProj: Linear;

  constructor(opts: MesaOptions) {
    super();
    const { dim, heads } = opts;
    const posInt = (v: number) => Number.isInteger(v) && v > 0;
    if (!posInt(dim) || !posInt(heads)) throw new Error(`MesaLayer: dim ${dim} and heads ${heads} must be positive integers`);
    if (opts.headDim === undefined && dim % heads !== 0) throw new Error(`MesaLayer: heads ${heads} does not divide dim ${dim}; pass headDim`);
    const headDim = opts.headDim ?? dim / heads;
    if (!posInt(headDim)) throw new Error(`MesaLayer: headDim must be a positive integer, got ${headDim}`);
    this.dim = dim;
    this.heads = heads;
    this.headDim = headDim;
    this.innerDim = heads * headDim;
    this.cgSteps = opts.cgSteps ?? 30;
    this.cgTol = opts.cgTol ?? 1e-4;
    this.cgInit = opts.cgInit ?? 'jacobi';
    this.chunkSize = opts.chunkSize ?? 64;
    this.mode = opts.mode ?? 'chunked';
    this.convKernel = opts.conv ?? 4;
    this.lambdaLowerBound = opts.lambdaLowerBound ?? 0.25;
    this.checkSettings();
    if (!(Number.isInteger(this.convKernel) && this.convKernel >= 0)) throw new Error(`MesaLayer: conv must be a non-negative integer, got ${this.convKernel}`);
    if (!(this.lambdaLowerBound >= 0 && this.lambdaLowerBound < 1)) {
      throw new Error(`MesaLayer: lambdaLowerBound must be in [0, 1) (Λ starts at I), got ${this.lambdaLowerBound}`);
    }

    const layer: LayerOptions = { rng: opts.rng, dtype: opts.dtype, backend: opts.backend };
    const where = { dtype: opts.dtype ?? 'f32', backend: opts.backend };
    const I = this.innerDim;
    this.norm = this.module('norm', new RMSNorm({ ...layer, dim }));
    this.qProj = this.module('q_proj', new Linear({ ...layer, inFeatures: dim, outFeatures: I, bias: false }));
    this.kProj = this.module('k_proj', new Linear({ ...layer, inFeatures: dim, outFeatures: I, bias: false }));
    this.vProj = this.module('v_proj', new Linear({ ...layer, inFeatures: dim, outFeatures: I, bias: false }));
    this.conv = this.convKernel > 0 ? this.module('conv', new CausalConv1d({ ...layer, channels: 3 * I, kernelSize: this.convKernel })) : null;
    this.betaProj = this.module('beta_proj', new Linear({ ...layer, inFeatures: dim, outFeatures: heads }));
    this.gammaProj = this.module('gamma_proj', new Linear({ ...layer, inFeatures: dim, outFeatures: heads }));
    setValues(this.betaProj.bias!, new Float64Array(heads));
    setValues(this.gammaProj.bias!, forgetBiasInit(heads));
    const lam0 = Math.log(Math.expm1(1 - this.lambdaLowerBound));
    this.lambda = this.param('lambda', fromHost(new Float64Array(heads * headDim).fill(lam0), [heads, headDim], where));
    this.outNorm = this.module('out_norm', new RMSNorm({ ...layer, dim: headDim }));
    this.outProj = this.module('out_proj', new Linear({ ...layer, inFeatures: I, outFeatures: dim, bias: false }));
  }

  /** Λ's diagonal [heads, headDim]: lowerBound + softplus(λ). */
  lambdaDiag(): Tensor {
    return add(softplus(this.lambda), this.lambdaLowerBound);
  }

  /** x [B, T, dim] → output [B, T, dim] and the state after the last token. */
  forward(x: Tensor, state?: MesaState | null): CellOutput<MesaState> {
    this.checkSettings();
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new Error(`MesaLayer.forward: input ${describe(x)} must be [B, T, ${this.dim}]`);
    const [B, T] = x.shape;
    if (T === 0) throw new Error('MesaLayer.forward: empty sequence');
    this.checkState(state, B, 'forward');
    const f = this.features(x, state?.[2] ?? null);
    const core = mesaAttention(f.q, f.k, f.v, f.beta, f.logGamma, this.lambdaDiag(), {
      cgSteps: this.cgSteps, cgInit: this.cgInit, mode: this.mode, chunkSize: this.chunkSize, state: state ? [state[0], state[1]] : null,
    });
    return { output: this.readout(core.out), state: this.packState(core.G, core.H, f.convState) };
  }

  /** x_t [B, dim] → output [B, dim] and the next state; CG may stop early (cgTol). */
  step(x: Tensor, state?: MesaState | null): CellOutput<MesaState> {
    this.checkSettings();
    if (x.rank !== 2 || x.shape[1] !== this.dim) throw new Error(`MesaLayer.step: input ${describe(x)} must be [B, ${this.dim}]`);
    const B = x.shape[0];
    this.checkState(state, B, 'step');
    const f = this.features(reshape(x, [B, 1, this.dim]), state?.[2] ?? null);
    const at0 = (t: Tensor) => squeeze(t, 2);
    const stats = { iterations: 0 };
    const r = tokenStep(at0(f.q), at0(f.k), at0(f.v), at0(f.beta), at0(f.logGamma), this.lambdaDiag(),
      state ? [state[0], state[1]] : null, { steps: this.cgSteps, init: this.cgInit, tol: this.cgTol, stats });
    this.lastStepCgIterations = stats.iterations;
    const out = this.readout(unsqueeze(r.o, 2));
    return { output: reshape(out, [B, this.dim]), state: this.packState(r.G, r.H, f.convState) };
  }

  /** Options a user may change between calls are checked where they are used. */
  private checkSettings(): void {
    if (!(Number.isInteger(this.cgSteps) && this.cgSteps >= 0)) throw new Error(`MesaLayer: cgSteps must be a non-negative integer, got ${this.cgSteps}`);
    if (!(this.cgTol >= 0)) throw new Error(`MesaLayer: cgTol must be ≥ 0, got ${this.cgTol}`);
    if (this.cgInit !== 'jacobi' && this.cgInit !== 'query') throw new Error(`MesaLayer: cgInit must be 'jacobi' or 'query', got '${String(this.cgInit)}'`);
    if (!(Number.isInteger(this.chunkSize) && this.chunkSize > 0)) throw new Error(`MesaLayer: chunkSize must be a positive integer, got ${this.chunkSize}`);
    if (this.mode !== 'chunked' && this.mode !== 'sequential') throw new Error(`MesaLayer: mode must be 'chunked' or 'sequential', got '${String(this.mode)}'`);
  }

  private checkState(state: MesaState | null | undefined, batch: number, what: string): void {
    if (!state) return;
    const want = this.conv ? 3 : 2;
    if (state.length !== want) {
      throw new Error(`MesaLayer.${what}: state has ${state.length} tensors, expected ${want} (${this.conv ? '[G, H, conv tail]' : '[G, H]'})`);
    }
    const dd = [batch, this.heads, this.headDim, this.headDim];
    const shapes = [dd, dd, [batch, this.convKernel - 1, 3 * this.innerDim]];
    state.forEach((s, i) => {
      if (formatShape(s.shape) !== formatShape(shapes[i])) {
        throw new Error(`MesaLayer.${what}: state ${['G', 'H', 'conv tail'][i]} ${describe(s)} must be ${formatShape(shapes[i])}`);
      }
    });
  }

  private packState(G: Tensor, H: Tensor, convState: Tensor | null): MesaState {
    return convState ? [G, H, convState] : [G, H];
  }

  /** x [B, T, dim] → heads-first q, k, v, gates, and the conv tail. */
  private features(x: Tensor, convState: Tensor | null): Features {
    const [B, T] = x.shape;
    const { heads: h, headDim: d, innerDim: I } = this;
    const xn = this.norm.forward(x);
    let qkv = concat([this.qProj.forward(xn), this.kProj.forward(xn), this.vProj.forward(xn)], -1);
    let nextConv: Tensor | null = null;
    if (this.conv) {
      const c = this.conv.forward(qkv, convState);
      qkv = c.output;
      nextConv = c.state;
    }
    const headsFirst = (t: Tensor) => permute(reshape(t, [B, T, h, d]), [0, 2, 1, 3]);
    const [q, k, v] = split(silu(qkv), [I, I, I], -1).map(headsFirst);
    const gate = (proj: Linear) => permute(proj.forward(x), [0, 2, 1]);
    return {
      q: l2Normalize(q), k: l2Normalize(k), v,
      beta: sigmoid(gate(this.betaProj)), logGamma: logSigmoid(gate(this.gammaProj)),
      convState: nextConv,
    };
  }

  /** o [B, h, T, d] → per-head RMSNorm → [B, T, h·d] → out_proj. */
  private readout(o: Tensor): Tensor {
    const [B, , T] = o.shape;
    const normed = this.outNorm.forward(permute(o, [0, 2, 1, 3]));
    return this.outProj.forward(reshape(normed, [B, T, this.innerDim]));
  }
}

// ---------------------------------------------------------------------------------------------
// the core: chunkwise, sequential, one token

/** The operator's output o [B, h, T, d] and the last states G, H [B, h, d, d]. */
export interface MesaAttentionResult { out: Tensor; G: Tensor; H: Tensor }

/** Options of {@link mesaAttention}. */
export interface MesaAttentionOptions {
  /** CG iterations (default 30). */
  cgSteps?: number;
  cgInit?: MesaCgInit;
  /** 'chunked' (default) or 'sequential'. */
  mode?: MesaMode;
  chunkSize?: number;
  /** Initial [G, H], each [B, h, d, d]; none means zeros. */
  state?: readonly [Tensor, Tensor] | null;
}

/**
 * The Mesa operator alone (what MesaLayer runs between its projections and its read-out):
 * q, k, v [B, h, T, d] (q, k L2-normalised by the caller), beta (input gate, in (0, 1)) and
 * logGamma (log forget gate, ≤ 0) [B, h, T], lambda = Λ's diagonal [h, d] → o [B, h, T, d] with
 * o_t = G_t (H_t + Λ)^{−1} q_t, and the last G, H. Differentiable in every input, through the
 * implicit gradient of the solve.
 */
export function mesaAttention(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, logGamma: Tensor, lambda: Tensor,
                              opts: MesaAttentionOptions = {}): MesaAttentionResult {
  if (q.rank !== 4) throw new Error(`mesaAttention: q ${describe(q)} must be [B, h, T, d]`);
  const [B, h, T, d] = q.shape;
  const want: [string, Tensor, number[]][] = [['k', k, [B, h, T, d]], ['v', v, [B, h, T, d]], ['beta', beta, [B, h, T]],
    ['logGamma', logGamma, [B, h, T]], ['lambda', lambda, [h, d]]];
  for (const [name, t, shape] of want) {
    if (formatShape(t.shape) !== formatShape(shape)) throw new Error(`mesaAttention: ${name} ${describe(t)} must be ${formatShape(shape)} for q ${describe(q)}`);
  }
  if (T === 0) throw new Error('mesaAttention: empty sequence');
  const cfg: SolveConfig = { steps: opts.cgSteps ?? 30, init: opts.cgInit ?? 'jacobi', tol: 0 };
  if (!(Number.isInteger(cfg.steps) && cfg.steps >= 0)) throw new Error(`mesaAttention: cgSteps must be a non-negative integer, got ${cfg.steps}`);
  const f: Features = { q, k, v, beta, logGamma, convState: null };
  const state = opts.state ?? null;
  return (opts.mode ?? 'chunked') === 'chunked'
    ? chunkwise(f, lambda, state ? concat([state[0], state[1]], -2) : null, cfg, opts.chunkSize ?? 64)
    : sequential(f, lambda, state ? [state[0], state[1]] : null, cfg);
}

/**
 * Chunkwise-parallel core. f's tensors are [B, h, T, ...]; s0 = [G0; H0] stacked on the row axis
 * [B, h, 2d, d] or null (zeros). Returns o [B, h, T, d] and the final G, H.
 */
function chunkwise(f: Features, lam: Tensor, s0: Tensor | null, cfg: SolveConfig, chunkSize: number): MesaAttentionResult {
  const [B, h, T, d] = f.q.shape;
  const C = Math.min(chunkSize, T), N = Math.ceil(T / C), padT = N * C - T;
  const chunks = (t: Tensor) => {
    const padded = padT ? pad(t, t.shape.map((_, a) => (a === 2 ? [0, padT] as const : [0, 0] as const))) : t;
    return reshape(padded, [B, h, N, C, ...t.shape.slice(3)]);
  };
  const [Q, K, V] = [f.q, f.k, f.v].map(chunks);
  const beta = chunks(f.beta), b = cumsum(chunks(f.logGamma), -1); // [B, h, N, C]
  const diff = sub(unsqueeze(b, -1), unsqueeze(b, -2));
  // e^{b_t − b_s} β_s for s ≤ t (clamped at 0 first, so masked entries cannot overflow)
  const Dbeta = mul(mul(exp(minimum(diff, 0)), causalMask(C, f.q)), unsqueeze(beta, -2)); // [B, h, N, C, C]
  // The solve works on columns (Qᵀ [B, h, N, d, C]): per-token scalars (e^{b_t}, CG's α and β)
  // then broadcast along contiguous rows, which the CPU backend's elementwise kernels run fast.
  const expB = unsqueeze(exp(b), -2); // [B, h, N, 1, C]
  const DbetaT = transpose(Dbeta); // [s, t]
  const bLast = slice(b, -1, C - 1, C); // [B, h, N, 1]
  const w = unsqueeze(mul(exp(sub(bLast, b)), beta), -1);
  const increments = matmul(mul(concat([V, K], -1), w), K, { transA: true }); // [B, h, N, 2d, d]
  const decay = expand(reshape(exp(bLast), [B, h, N, 1, 1]), increments.shape);
  const after = linearScan(decay, increments, { h0: s0, axis: 2 });
  const first = s0 ? unsqueeze(s0, 2) : zeros([B, h, 1, 2 * d, d], { dtype: f.q.dtype, backend: f.q.backend });
  const starts = N === 1 ? first : concat([first, slice(after, 2, 0, N - 1)], 2);
  const [G0, H0] = split(starts, [d, d], -2);
  const lamCol = expand(reshape(lam, [h, 1, d, 1]), [h, 1, d, C]); // materialised: no stride-0 inner axis
  // The token's history inside its chunk, read with query columns P: Σ_{s≤t} e^{b_t−b_s} β_s (k_s·p_t) x_s.
  const intra = (P: Tensor, X: Tensor) => matmul(X, mul(matmul(K, P), DbetaT), { transA: true });
  const op: SpdOperator = {
    apply: (P) => add(add(mul(matmul(H0, P), expB), intra(P, K)), mul(P, lamCol)),
    diag: () => add(add(mul(unsqueeze(diagonal(H0), -1), expB), matmul(square(K), DbetaT, { transA: true })), lamCol),
    axis: -2,
  };
  const Z = solve(transpose(Q), op, cfg);
  const O = transpose(add(mul(matmul(G0, Z), expB), intra(Z, V))); // [B, h, N, C, d]
  const out = slice(reshape(O, [B, h, N * C, d]), 2, 0, T);
  const [G, H] = split(squeeze(slice(after, 2, N - 1, N), 2), [d, d], -2);
  return { out, G, H };
}

/** The same function token by token with full states: the reference for the chunkwise form. */
function sequential(f: Features, lam: Tensor, state: [Tensor, Tensor] | null, cfg: SolveConfig): MesaAttentionResult {
  const T = f.q.shape[2];
  const at = (x: Tensor, t: number) => squeeze(slice(x, 2, t, t + 1), 2);
  const outs: Tensor[] = [];
  let s = state;
  for (let t = 0; t < T; t++) {
    const r = tokenStep(at(f.q, t), at(f.k, t), at(f.v, t), at(f.beta, t), at(f.logGamma, t), lam, s, cfg);
    outs.push(r.o);
    s = [r.G, r.H];
  }
  return { out: stack(outs, 2), G: s![0], H: s![1] };
}

/** One token: q, k, v [B, h, d]; beta, logGamma [B, h]; state [G, H] [B, h, d, d] or null. */
function tokenStep(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, logGamma: Tensor, lam: Tensor,
                   state: [Tensor, Tensor] | null, cfg: SolveConfig): { o: Tensor; G: Tensor; H: Tensor } {
  const [B, h] = q.shape;
  const scalar = (t: Tensor) => reshape(t, [B, h, 1, 1]);
  const outer = (a: Tensor) => mul(matmul(unsqueeze(a, -1), unsqueeze(k, -2)), scalar(beta));
  const gamma = scalar(exp(logGamma));
  const G = state ? add(mul(state[0], gamma), outer(v)) : outer(v);
  const H = state ? add(mul(state[1], gamma), outer(k)) : outer(k);
  const matvec = (M: Tensor, p: Tensor) => squeeze(matmul(M, unsqueeze(p, -1)), -1);
  const op: SpdOperator = {
    apply: (p) => add(matvec(H, p), mul(p, lam)),
    diag: () => add(diagonal(H), lam),
    axis: -1,
  };
  const z = solve(q, op, cfg);
  return { o: matvec(G, z), G, H };
}

// ---------------------------------------------------------------------------------------------
// the solve and its implicit gradient

/** z = A^{−1} q for every system of q (along op.axis): CG under noGrad, differentiable by the implicit gradient. */
function solve(q: Tensor, op: SpdOperator, cfg: SolveConfig): Tensor {
  if (cfg.steps === 0) return cfg.init === 'query' ? q : div(q, op.diag());
  const run = (rhs: Tensor, tol: number, stats?: { iterations: number }) => noGrad(() => conjugateGradient(op, rhs, cfg, tol, stats));
  const zStar = run(q, cfg.tol, cfg.stats);
  if (!isGradEnabled()) return zStar;
  const residual = sub(q, op.apply(zStar));
  if (!residual.requiresGrad) return zStar;
  // dz ↦ A^{−1} dz, with A symmetric: the second CG solve of the backward pass (fixed steps).
  const correction = withGrad(zerosLike(residual), 'mesaSolve', [residual], (g) => [run(g, 0)]);
  return add(zStar, correction);
}

/** Batched CG on every system of b (vectors along op.axis), from the configured start. Call under noGrad. */
function conjugateGradient(op: SpdOperator, b: Tensor, cfg: SolveConfig, tol: number, stats?: { iterations: number }): Tensor {
  return scope(() => {
    const tiny = tinyFor(b.dtype);
    const dot = (x: Tensor, y: Tensor) => sum(mul(x, y), op.axis, true);
    const earlyStop = tol > 0 && typeof b.backend.readSync === 'function';
    let x = cfg.init === 'query' ? b : div(b, op.diag());
    let r = sub(b, op.apply(x));
    let p = r;
    let rr = dot(r, r);
    const rr0 = rr;
    let i = 0;
    for (; i < cfg.steps; i++) {
      if (earlyStop && max(div(rr, add(rr0, tiny))).dataSync()[0] <= tol * tol) break;
      const next = scope(() => {
        const Ap = op.apply(p);
        const alpha = div(rr, add(dot(p, Ap), tiny));
        const r2 = sub(r, mul(alpha, Ap));
        const rr2 = dot(r2, r2);
        return { x: add(x, mul(alpha, p)), r: r2, p: add(r2, mul(div(rr2, add(rr, tiny)), p)), rr: rr2 };
      });
      // Free the previous iterate now (the scope would only at the end): CG runs on every token.
      for (const t of [x, r, p]) if (t !== b) t.dispose();
      if (rr !== rr0) rr.dispose();
      ({ x, r, p, rr } = next);
    }
    if (stats) stats.iterations = i;
    return x;
  });
}

/** Added to CG's denominators: guards 0/0 once a row has converged exactly (padding rows have q = 0). */
function tinyFor(dtype: DType): number {
  return dtype === 'f64' ? 1e-200 : 1e-30;
}

// ---------------------------------------------------------------------------------------------
// helpers

function l2Normalize(x: Tensor): Tensor {
  return mul(x, rsqrt(add(sum(square(x), -1, true), L2_EPS)));
}

/** The diagonal of square matrices [..., d, d] → [..., d]. */
function diagonal(M: Tensor): Tensor {
  const d = M.shape[M.rank - 1];
  const eye = new Float64Array(d * d);
  for (let i = 0; i < d; i++) eye[i * d + i] = 1;
  return sum(mul(M, fromHost(eye, [d, d], { dtype: M.dtype, backend: M.backend })), -1);
}

/** M[t, s] = 1 for s ≤ t, like `like`. */
function causalMask(C: number, like: Tensor): Tensor {
  const m = new Float64Array(C * C);
  for (let t = 0; t < C; t++) for (let s = 0; s <= t; s++) m[t * C + s] = 1;
  return fromHost(m, [C, C], { dtype: like.dtype, backend: like.backend });
}

/** Forget-gate biases: 1 − γ log-spaced over [0.1, 0.01] across heads (0.1^1.5 for one head). */
function forgetBiasInit(heads: number): Float64Array {
  const out = new Float64Array(heads);
  for (let i = 0; i < heads; i++) {
    const frac = heads === 1 ? 0.5 : i / (heads - 1);
    const oneMinus = Math.pow(10, -1 - frac);
    out[i] = Math.log((1 - oneMinus) / oneMinus);
  }
  return out;
}

/** Overwrites a parameter's values (construction only). */
function setValues(p: Tensor, values: Float64Array): void {
  const src = fromHost(values, p.shape, { dtype: p.dtype, backend: p.backend });
  p.assign(src);
  src.dispose();
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { HEADS_OPTION } from './options.js';

/**
 * Registry entry (cells/registry.ts): heads · headDim = dim. One head by default: the only count
 * that divides every width (the comparison study solves widths by parameter count).
 */
export const mesaCell: CellEntry = {
  name: 'mesa', summary: 'MesaNet (von Oswald et al. 2025)',
  options: [HEADS_OPTION, { name: 'cgSteps', type: 'int', default: 30, min: 0, max: 1000, help: 'mesa: conjugate-gradient iterations per solve' }],
  create: (dim, o, layer) => new MesaLayer({ ...layer, dim, heads: o.heads as number, cgSteps: o.cgSteps as number }),
};
