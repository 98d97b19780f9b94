/**
 * LRU, the Linear Recurrent Unit (Orvieto et al. 2023; docs/models.md#lru): a diagonal complex linear
 * recurrence with an exponential parameterisation,
 *
 *   λ = exp(−exp(ν_log) + i·exp(θ_log))  (so |λ| < 1 always),  γ = exp(γ_log),
 *   x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t),      y_t = Re(C x_t) + D ⊙ u_t,
 *
 * x ∈ ℂ^N, B ∈ ℂ^{N×H}, C ∈ ℂ^{H×N}, D ∈ ℝ^H; complex numbers as real/imaginary pairs of tensors.
 * `forward` runs the recurrence with the complexScan primitive (src/tensor/complex-scan.ts) on
 * the packed layout [B, T, 2, N] (re and im rows per step), which makes the input and the read-out
 * one GEMM each: B u with the weight [γ⊙B_re; γ⊙B_im] [2N, H] (γ folded into the small weight, not
 * applied to the [B, T, N] activations) and Re(C x) = [C_re, −C_im]·[x_re; x_im]. λ stays [2, N]:
 * the scan broadcasts it over steps and sums its gradient in the kernel. `step` is one update of
 * the same function.
 *
 * Initialisation (exactly the paper's): ring init u1, u2 ~ U(0, 1), ν = −½ log(u1(r_max² − r_min²)
 * + r_min²), θ = max_phase·u2, ν_log = log ν, θ_log = log θ; γ_log = log √(1 − |λ|²);
 * B_re, B_im ~ N(0, 1/(2H)); C_re, C_im ~ N(0, 1/N); D ~ N(0, 1). (u1, u2 are drawn in the open
 * interval and ν is kept ≥ 1e-7, so that ν_log, θ_log are finite and |λ| < 1 holds in f32 too.)
 *
 * Parameter names: nu_log, theta_log, gamma_log [N]; B_re, B_im [N, H]; C_re, C_im [H, N]; D [H].
 * Bidirectional: a second recurrence (nu_log_bwd, theta_log_bwd, gamma_log_bwd, B_re_bwd, B_im_bwd,
 * C_re_bwd, C_im_bwd) runs over the reversed sequence and its Re(C x) is added to the output (the
 * paper's concatenation of both states before one C, written as two C blocks). A bidirectional
 * layer has no streaming `step`; its returned state is the forward direction's.
 *
 * State: [x_re, x_im], each [B, N], the complex state after the last step; none means zeros.
 */
import { fromHost, randn } from '../tensor/creation.js';
import { add, concat, cos, exp, flip, mul, neg, reshape, sin, slice, squeeze, stack, unsqueeze } from '../tensor/ops.js';
import { complexMul, complexScan } from '../tensor/complex-scan.js';
import { globalRng } from '../tensor/random.js';
import { describe, formatShape, type Tensor } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { Module, type LayerOptions } from '../nn/module.js';
import type { CellOutput, RecurrentCell } from './cell.js';

export interface LruOptions extends LayerOptions {
  /** Input/output width H. */
  dModel: number;
  /** Complex state width N. */
  dState: number;
  /** Ring of the initial eigenvalues: r_min ≤ |λ| ≤ r_max (defaults 0 and 1). */
  rMin?: number;
  rMax?: number;
  /** Initial phases in [0, maxPhase) (default 2π). */
  maxPhase?: number;
  bidirectional?: boolean;
  /** Set false to run the complex scan in composite ops (tests, debugging). */
  fused?: boolean;
}

/** LRU state: [x_re, x_im], each [B, N]. */
export type LruState = readonly [Tensor, Tensor];

/** The smallest ν of the ring init: |λ| ≤ exp(−1e-7) < 1 in f32 as in f64. */
const MIN_NU = 1e-7;

/** One direction's recurrent parameters. */
interface Direction {
  nuLog: Tensor; thetaLog: Tensor; gammaLog: Tensor;
  bRe: Tensor; bIm: Tensor; cRe: Tensor; cIm: Tensor;
}

/** Linear Recurrent Unit (Orvieto et al. 2023): a complex diagonal recurrence x_t = λ ⊙ x_{t−1} + γ ⊙ B u_t with λ = exp(−exp(ν) + i·exp(θ)), read out as Re(C x_t) + D ⊙ u_t. */
export class LRU extends Module implements RecurrentCell<LruState> {
  readonly dModel: number;
  readonly dState: number;
  readonly bidirectional: boolean;
  readonly fused: boolean;
  readonly D: Tensor;
  private readonly fwd: Direction;
  private readonly bwd: Direction | null;

  constructor(opts: LruOptions) {
    super();
    const { dModel: H, dState: N } = opts;
    const rMin = opts.rMin ?? 0, rMax = opts.rMax ?? 1, maxPhase = opts.maxPhase ?? 2 * Math.PI;
    if (!(H > 0 && N > 0 && Number.isInteger(H) && Number.isInteger(N))) throw new Error(`LRU: dModel ${H} and dState ${N} must be positive integers`);
    if (!(rMin >= 0 && rMin <= rMax && rMax <= 1)) throw new Error(`LRU: need 0 ≤ rMin ≤ rMax ≤ 1, got rMin ${rMin}, rMax ${rMax}`);
    if (!(maxPhase > 0)) throw new Error(`LRU: maxPhase must be positive, got ${maxPhase}`);
    this.dModel = H;
    this.dState = N;
    this.bidirectional = opts.bidirectional ?? false;
    this.fused = opts.fused ?? true;
    const rng = opts.rng ?? globalRng;
    const create = { dtype: opts.dtype ?? 'f32', backend: opts.backend };
    const make = (suffix: string): Direction => {
      const nuLog = new Float64Array(N), thetaLog = new Float64Array(N), gammaLog = new Float64Array(N);
      const open01 = () => (rng.nextU32() + 0.5) / 4294967296;
      for (let n = 0; n < N; n++) {
        const u1 = open01(), u2 = open01();
        const nu = Math.max(-0.5 * Math.log(u1 * (rMax * rMax - rMin * rMin) + rMin * rMin), MIN_NU);
        nuLog[n] = Math.log(nu);
        thetaLog[n] = Math.log(maxPhase * u2);
        // |λ|² = exp(−2ν)
        gammaLog[n] = Math.log(Math.sqrt(-Math.expm1(-2 * nu)));
      }
      const p = (name: string, t: Tensor) => this.param(name + suffix, t);
      return {
        nuLog: p('nu_log', fromHost(nuLog, [N], create)),
        thetaLog: p('theta_log', fromHost(thetaLog, [N], create)),
        gammaLog: p('gamma_log', fromHost(gammaLog, [N], create)),
        bRe: p('B_re', randn([N, H], { ...create, rng, std: 1 / Math.sqrt(2 * H) })),
        bIm: p('B_im', randn([N, H], { ...create, rng, std: 1 / Math.sqrt(2 * H) })),
        cRe: p('C_re', randn([H, N], { ...create, rng, std: 1 / Math.sqrt(N) })),
        cIm: p('C_im', randn([H, N], { ...create, rng, std: 1 / Math.sqrt(N) })),
      };
    };
    this.fwd = make('');
    this.D = this.param('D', randn([H], { ...create, rng }));
    this.bwd = this.bidirectional ? make('_bwd') : null;
  }

  /** λ as [re, im], each [N], for the forward (default) or backward direction. */
  lambda(direction: 'forward' | 'backward' = 'forward'): [Tensor, Tensor] {
    const p = direction === 'forward' ? this.fwd : this.bwd;
    if (!p) throw new Error('LRU.lambda: this layer is not bidirectional');
    return lambdaParts(p);
  }

  /** γ = exp(γ_log) [N] of the forward (default) or backward direction. */
  gamma(direction: 'forward' | 'backward' = 'forward'): Tensor {
    const p = direction === 'forward' ? this.fwd : this.bwd;
    if (!p) throw new Error('LRU.gamma: this layer is not bidirectional');
    return exp(p.gammaLog);
  }

  /** u [B, T, H] → y [B, T, H] and the last complex state [x_re, x_im] (each [B, N]). */
  forward(u: Tensor, state?: LruState | null): CellOutput<LruState> {
    if (u.rank !== 3 || u.shape[2] !== this.dModel) throw new Error(`LRU.forward: u ${describe(u)} must be [B, T, ${this.dModel}]`);
    const [batch, time] = u.shape;
    if (time === 0) throw new Error('LRU.forward: empty sequence');
    this.checkState(state, batch, 'forward');
    const run = (p: Direction, v: Tensor, x0: Tensor | null) =>
      complexScan(stack(lambdaParts(p), 0), reshape(linear(v, inputWeight(p)), [batch, time, 2, this.dState]), { x0, fused: this.fused });
    const x = run(this.fwd, u, state ? stack(state, 1) : null);
    const flat = (z: Tensor) => reshape(z, [batch, time, 2 * this.dState]);
    let y = add(readout(this.fwd, flat(x)), mul(u, this.D));
    if (this.bwd) {
      const z = run(this.bwd, flip(u, 1), null);
      y = add(y, flip(readout(this.bwd, flat(z)), 1));
    }
    const last = squeeze(slice(x, 1, time - 1, time), 1);
    return { output: y, state: [squeeze(slice(last, 1, 0, 1), 1), squeeze(slice(last, 1, 1, 2), 1)] };
  }

  /** u_t [B, H] → y_t [B, H] and the next state. Not available for a bidirectional layer. */
  step(u: Tensor, state?: LruState | null): CellOutput<LruState> {
    if (this.bwd) throw new Error('LRU.step: a bidirectional LRU reads the whole sequence; use forward');
    if (u.rank !== 2 || u.shape[1] !== this.dModel) throw new Error(`LRU.step: u ${describe(u)} must be [B, ${this.dModel}]`);
    this.checkState(state, u.shape[0], 'step');
    const N = this.dState;
    const bu = linear(u, inputWeight(this.fwd));
    let xr = slice(bu, 1, 0, N), xi = slice(bu, 1, N, 2 * N);
    if (state) {
      const [lr, li] = lambdaParts(this.fwd);
      const [pr, pi] = complexMul(lr, li, state[0], state[1]);
      xr = add(xr, pr); xi = add(xi, pi);
    }
    return { output: add(readout(this.fwd, concat([xr, xi], 1)), mul(u, this.D)), state: [xr, xi] };
  }

  private checkState(state: LruState | null | undefined, batch: number, what: string): void {
    if (!state) return;
    if (this.bwd) throw new Error(`LRU.${what}: a bidirectional LRU takes no initial state`);
    for (const s of state) {
      if (formatShape(s.shape) !== formatShape([batch, this.dState])) {
        throw new Error(`LRU.${what}: state ${describe(s)} must be [${batch}, ${this.dState}] (re and im)`);
      }
    }
  }
}

function lambdaParts(p: Direction): [Tensor, Tensor] {
  const mag = exp(neg(exp(p.nuLog)));
  const phase = exp(p.thetaLog);
  return [mul(mag, cos(phase)), mul(mag, sin(phase))];
}

/** [γ⊙B_re; γ⊙B_im] [2N, H]: B u for packed x in one GEMM. */
function inputWeight(p: Direction): Tensor {
  const g = unsqueeze(exp(p.gammaLog), 1);
  return concat([mul(p.bRe, g), mul(p.bIm, g)], 0);
}

/** Re(C x) = C_re x_re − C_im x_im for x [..., 2N] (re then im) → [..., H]. */
function readout(p: Direction, x: Tensor): Tensor {
  return linear(x, concat([p.cRe, neg(p.cIm)], 1));
}

// Registry entry: the imports stay here so that the entry is one appended block.
import type { CellEntry } from './registry.js';
import { EXPANSION_OPTION } from './options.js';

/** The LRU's recurrent parameters (ν, θ, γ, B, both directions): trainers may give them a smaller lr. */
export const LRU_RECURRENT_PARAMS = /(^|\.)(nu_log|theta_log|gamma_log|B_re|B_im)(_bwd)?$/;

/** N of the registry's options: dState, else round(expansion · dim). */
function lruStateSize(dim: number, o: Readonly<Record<string, unknown>>): number {
  return (o.dState as number | undefined) ?? Math.max(1, Math.round((o.expansion as number) * dim));
}

/**
 * Registry entry (cells/registry.ts): dModel = dim and a complex state of N = round(expansion ·
 * dim) (or `dState` when given), with the paper's ring and phase options.
 */
export const lruCell: CellEntry = {
  name: 'lru', summary: 'LRU (Orvieto et al. 2023)',
  options: [
    { ...EXPANSION_OPTION, help: 'expansion factor; lru: complex state N = round(expansion × dim)' },
    { name: 'dState', type: 'int', min: 1, max: 1 << 20, help: 'lru: complex state width N (overrides expansion)' },
    { name: 'rMin', type: 'number', default: 0, min: 0, max: 1, exclusive: 'max', help: 'lru: smallest initial |λ|' },
    { name: 'rMax', type: 'number', default: 0.99, min: 0, max: 1, exclusive: 'max', help: 'lru: largest initial |λ|, < 1' },
    { name: 'maxPhase', type: 'number', default: 2 * Math.PI, min: 0, max: 2 * Math.PI, exclusive: 'min', help: 'lru: initial phases in [0, maxPhase)' },
    { name: 'bidirectional', type: 'boolean', default: false, help: 'lru: a second recurrence over the reversed sequence (no streaming step)' },
  ],
  recurrentParams: LRU_RECURRENT_PARAMS,
  describe: (dim, o) => `N ${lruStateSize(dim, o)}, ring [${o.rMin}, ${o.rMax}]${o.bidirectional ? ', bidirectional' : ''}`,
  create: (dim, o, layer) => new LRU({
    ...layer, dModel: dim, dState: lruStateSize(dim, o),
    rMin: o.rMin as number, rMax: o.rMax as number, maxPhase: o.maxPhase as number, bidirectional: o.bidirectional as boolean,
  }),
};
