/**
 * Cell definitions (src/backend/pointwise) rendered into CUDA C: the pointwise forward and backward
 * of a recurrent cell become the device functions every RNN kernel (kernels/rnn.ts, rnn-fused.ts,
 * rnn-grid.ts) calls, so the kernels are written once and hold no cell's math.
 *
 * One statement per expression node in schedule order (hash-consed nodes: a shared sub-expression
 * is computed once), in a compute type A, with the math functions taken from a policy M: the
 * fused and grid kernels use FastMath (branch-free f32 activations), the alternating kernels
 * PreciseMath<A> (the prelude's functions, f64 too). Comparisons yield 1 or 0 and `select` tests
 * its condition against 0, as the expression language defines them.
 *
 * What one rendering defines (the contract with the kernels):
 *   struct Cell { G, GB (biases), S, GS (saved), GP (G padded for vector loads), PV (values the
 *                 backward loads per step) }
 *   cellFwd<A, M>(x[GB], rh[G], st[S], sv[GS]): x = Wx_t + input bias (x[G..GB) the recurrent-only
 *                 biases), rh = R·h; states updated in place, sv the values saved for the backward
 *   loadBwd<T, A>(saved, dout, pv, t, bb, n, u, B, T, N, d): pv[0] = dout of step t, then the saved
 *                 values and the states before / after the step that the backward reads
 *   cellBwd<A, M>(pv, dhRec, carry[S], dw[G], dr[G]): d0 = dout + carry[0] + dhRec, d_s = carry[s];
 *                 carry becomes dp (the gradients of the states before the step)
 */
import { createHash } from 'node:crypto';
import { schedule, type Expr } from '../pointwise/expr.js';
import type { RnnCellDef } from '../pointwise/rnn-cell.js';

/** The math policies the rendered functions call through (M::sigmoid(x), …). */
export const CELL_MATH = String.raw`
// Branch-free activations for the persistent kernels: the prelude's sigm and tanhf branch on the
// sign or size of x, and a warp whose lanes straddle the branch runs both sides every step (these
// took the H100 12 × 64 LSTM from 4.7 to 4.2 ms fwd+bwd). expf/logf rather than __expf/__logf: the
// intrinsics' error grows with |x| (~70 ulp for sLSTM's e^{ĩ − m} at ±30 gates). tanh and log σ:
// ~1e-7 absolute near 0 (the CPU kernel's tanh is the same formula).
struct FastMath {
  static __device__ __forceinline__ float sigmoid(float x) { return __frcp_rn(1.f + expf(-x)); }
  static __device__ __forceinline__ float tanh(float x) { return 1.f - 2.f * __frcp_rn(expf(2.f * x) + 1.f); }
  static __device__ __forceinline__ float logSigmoid(float x) { return fminf(x, 0.f) - logf(1.f + expf(-fabsf(x))); }
  static __device__ __forceinline__ float softplus(float x) { return fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))); }
  static __device__ __forceinline__ float exp(float x) { return expf(x); }
  static __device__ __forceinline__ float log(float x) { return logf(x); }
  static __device__ __forceinline__ float log1p(float x) { return log1pf(x); }
  static __device__ __forceinline__ float sqrt(float x) { return sqrtf(x); }
  static __device__ __forceinline__ float abs(float x) { return fabsf(x); }
  static __device__ __forceinline__ float max(float a, float b) { return fmaxf(a, b); }
  static __device__ __forceinline__ float min(float a, float b) { return fminf(a, b); }
};
/** The prelude's functions in the compute type A (float or double), as the elementwise kernels. */
template <class A> struct PreciseMath {
  static __device__ __forceinline__ A sigmoid(A x) { return sigm(x); }
  static __device__ __forceinline__ A tanh(A x) { return xtanh(x); }
  static __device__ __forceinline__ A logSigmoid(A x) { return x >= 0 ? -xlog1p(xexp(-x)) : x - xlog1p(xexp(x)); }
  static __device__ __forceinline__ A softplus(A x) { return softplus_(x); }
  static __device__ __forceinline__ A exp(A x) { return xexp(x); }
  static __device__ __forceinline__ A log(A x) { return xlog(x); }
  static __device__ __forceinline__ A log1p(A x) { return xlog1p(x); }
  static __device__ __forceinline__ A sqrt(A x) { return xsqrt(x); }
  static __device__ __forceinline__ A abs(A x) { return xabs(x); }
  static __device__ __forceinline__ A max(A a, A b) { return a > b ? a : b; }
  static __device__ __forceinline__ A min(A a, A b) { return a < b ? a : b; }
};
`;

const BINARY_C: Record<string, string> = { add: '+', sub: '-', mul: '*', div: '/' };
const COMPARE_C: Record<string, string> = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' };

/** A number as a compute-type literal. */
function literal(v: number): string {
  if (Number.isNaN(v)) return 'A(F_NAN)';
  if (v === Infinity) return 'A(F_INF)';
  if (v === -Infinity) return 'A(-F_INF)';
  if (Object.is(v, -0)) return 'A(-0.0)';
  const s = String(v);
  return `A(${/[.e]/.test(s) ? s : `${s}.0`})`;
}

/**
 * Statements computing `outputs` into the given targets (`target = value;`), reading the program's
 * inputs from the C expressions in `inputs`. Every input the program reads must be named there.
 */
export function renderProgram(outputs: readonly { target: string; expr: Expr }[], inputs: ReadonlyMap<string, string>, indent = '  '): string {
  const names = new Map<number, string>();
  const lines: string[] = [];
  for (const e of schedule(outputs.map((o) => o.expr))) {
    let value: string;
    switch (e.op) {
      case 'const': names.set(e.id, literal(e.value)); continue;
      case 'input': {
        const src = inputs.get(e.name);
        if (src === undefined) throw new Error(`cuda render: the program reads '${e.name}', which the kernel does not provide`);
        value = src;
        break;
      }
      case 'unary': value = e.fn === 'neg' ? `-${names.get(e.x.id)}` : `M::${e.fn}(${names.get(e.x.id)})`; break;
      case 'binary': {
        const a = names.get(e.a.id), b = names.get(e.b.id);
        value = e.fn in BINARY_C ? `${a} ${BINARY_C[e.fn]} ${b}` : `M::${e.fn}(${a}, ${b})`;
        break;
      }
      case 'compare': value = `${names.get(e.a.id)} ${COMPARE_C[e.fn]} ${names.get(e.b.id)} ? A(1) : A(0)`; break;
      case 'select': value = `${names.get(e.cond.id)} != A(0) ? ${names.get(e.a.id)} : ${names.get(e.b.id)}`; break;
    }
    const name = `v${lines.length}`;
    lines.push(`${indent}const A ${name} = ${value};`);
    names.set(e.id, name);
  }
  for (const o of outputs) lines.push(`${indent}${o.target} = ${names.get(o.expr.id)};`);
  return lines.join('\n');
}

/** G padded for the kernels' vector loads of a unit's gates: 1, 2, then multiples of 4. */
export function paddedGates(gates: number): number {
  return gates <= 2 ? gates : Math.ceil(gates / 4) * 4;
}

/** What the backward loads per step, in pv order after pv[0] = dout: saved values, states before, states after. */
export function backwardLoads(cell: RnnCellDef): { kind: 'g' | 's' | 'n'; index: number }[] {
  const read = new Set(schedule([...cell.backward.dx, ...cell.backward.dr, ...cell.backward.drb, ...cell.backward.dp])
    .flatMap((e) => (e.op === 'input' ? [e.name] : [])));
  const loads: { kind: 'g' | 's' | 'n'; index: number }[] = [];
  for (const kind of ['g', 's', 'n'] as const) {
    const count = kind === 'g' ? cell.saved : cell.states;
    for (let i = 0; i < count; i++) if (read.has(`${kind}${i}`)) loads.push({ kind, index: i });
  }
  return loads;
}

/**
 * For each recurrent-only bias, the gate whose dRh column sums are its gradient (GRU's b_rn: the
 * candidate's gate, since ∂L/∂b_rn = ∂L/∂(R_n h)). The kernels write dRh, not drb, so a cell whose
 * drb is not one of its dr expressions is refused here in one sentence.
 */
export function recurrentBiasGates(cell: RnnCellDef): number[] {
  return cell.backward.drb.map((e, i) => {
    const g = cell.backward.dr.indexOf(e);
    if (g < 0) throw new Error(`cuda rnn: the cell '${cell.name}' has a recurrent-only bias (${i}) whose gradient is not one of its dr outputs; the CUDA kernels cannot run it yet (run it with fused: false)`);
    return g;
  });
}

/** The device functions of one cell (see the file comment for the contract). */
export function renderRnnCell(cell: RnnCellDef): string {
  const { gates: G, biases: GB, states: S, saved: GS } = cell;
  const loads = backwardLoads(cell);
  const fwdInputs = new Map<string, string>();
  for (let g = 0; g < G; g++) { fwdInputs.set(`x${g}`, `x[${g}]`); fwdInputs.set(`r${g}`, `rh[${g}]`); }
  for (let i = 0; i < GB - G; i++) fwdInputs.set(`rb${i}`, `x[${G + i}]`);
  for (let s = 0; s < S; s++) fwdInputs.set(`s${s}`, `st[${s}]`);
  const fwd = renderProgram([
    ...cell.forward.states.map((expr, s) => ({ target: `st[${s}]`, expr })),
    ...cell.forward.saved.map((expr, g) => ({ target: `sv[${g}]`, expr })),
  ], fwdInputs, '    ');
  const bwdInputs = new Map<string, string>([['d0', 'pv[0] + carry[0] + dhRec']]);
  for (let s = 1; s < S; s++) bwdInputs.set(`d${s}`, `carry[${s}]`);
  loads.forEach((l, i) => bwdInputs.set(`${l.kind}${l.index}`, `pv[${1 + i}]`));
  const bwd = renderProgram([
    ...cell.backward.dx.map((expr, g) => ({ target: `dw[${g}]`, expr })),
    ...cell.backward.dr.map((expr, g) => ({ target: `dr[${g}]`, expr })),
    ...cell.backward.dp.map((expr, s) => ({ target: `carry[${s}]`, expr })),
  ], bwdInputs, '    ');
  const loadLines = loads.map((l, i) => {
    const at = l.kind === 'g' ? `gatesOff + ((t * N + n) * B + bb) * ${GS} * d + ${l.index} * d + u` : `${l.index} * ss + ${l.kind === 's' ? 'hp' : 'hn'}`;
    return `    pv[${1 + i}] = TT<T>::ld(saved, ${at});`;
  });
  return String.raw`
// ---- cell '${cell.name}', rendered from its definition (src/backend/cuda/render.ts)
struct Cell { enum { G = ${G}, GB = ${GB}, S = ${S}, GS = ${GS}, GP = ${paddedGates(G)}, PV = ${1 + loads.length} }; };

template <class A, class M> __device__ __forceinline__ void cellFwd(const A* x, const A* rh, A* st, A* sv) {
  {
${fwd}
  }
}

/** The values the backward of step t reads for one (row, unit); pv[0] is dout. */
template <class T, class A> __device__ __forceinline__ void loadBwd(const T* saved, const T* dout, A* pv,
    i64 t, i64 bb, int n, int u, i64 B, i64 Tn, i64 N, int d) {
  const i64 slots = Tn + 1, ss = N * slots * B * d, gatesOff = ${S} * ss;
  const i64 hp = ((n * slots + t) * B + bb) * d + u, hn = hp + B * d;
  (void)hp; (void)hn; (void)gatesOff;
  pv[0] = TT<T>::ld(dout, (bb * Tn + t) * N * d + n * d + u);
${loadLines.join('\n')}
}

template <class A, class M> __device__ __forceinline__ void cellBwd(const A* pv, A dhRec, A* carry, A* dw, A* dr) {
  {
${bwd}
  }
}
`;
}

/** A short stable tag of a definition for module names (the compile cache hashes the source itself). */
export function cellTag(cell: { name: string; key: string }): string {
  return `${cell.name}-${createHash('sha256').update(cell.key).digest('hex').slice(0, 10)}`;
}
