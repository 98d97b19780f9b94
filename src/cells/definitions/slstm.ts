/**
 * sLSTM (xLSTM, docs/models.md#slstm-stabiliser), states [h, c, n, m], pre-activations
 * ĩ, f̃, z̃, õ = x + R h:
 *   a = log σ(f̃) + m;  m' = ĩ where n = 0, else max(ĩ, a) (ties: ĩ)
 *   i = e^{ĩ − m'}, f = e^{a − m'};  c' = f c + i tanh(z̃);  n' = f n + i;  h' = σ(õ) c'/n'
 * The xLSTM reference's stabiliser with the exact gradient through m (why not FlashRNN's clamped
 * variant: see the docs). Saved: i, f, tanh(z̃), σ(õ), σ(−f̃) and the branch (1: m' = ĩ).
 *
 * Backward, with y = c'/n': dõ = dh y σ'(õ); dc' += dh σ(õ)/n'; dn' −= dh σ(õ) y/n'; the
 * gradients of log i and log f are di·i and df·f; m' takes −(both) plus its own gradient, which
 * goes to ĩ or to a by the forward's branch; a passes its gradient to f̃ (times σ(−f̃)) and to m.
 */
import { add, div, eq, exp, ge, logSigmoid, mul, neg, oneMinusSquare, select, sigmoid, sub, tanh } from '../../backend/pointwise/expr.js';
import { defineRnnCell } from '../../backend/pointwise/rnn-cell.js';

/** The sLSTM step as expressions (exponential gates with a stabiliser state; states h, c, n, m). */
export const slstmDefinition = defineRnnCell({
  name: 'slstm',
  gates: 4,
  states: 4,
  forward: ({ x, r, s: [, c, n, m] }) => {
    const pi = add(x[0], r[0]), pf = add(x[1], r[1]);
    const z = tanh(add(x[2], r[2])), o = sigmoid(add(x[3], r[3]));
    const a = add(logSigmoid(pf), m);
    const branchI = select(eq(n, 0), 1, ge(pi, a));
    const mNext = select(branchI, pi, a);
    const i = exp(sub(pi, mNext)), f = exp(sub(a, mNext));
    const cNext = add(mul(f, c), mul(i, z)), nNext = add(mul(f, n), i);
    return { states: [mul(o, div(cNext, nNext)), cNext, nNext, mNext], saved: [i, f, z, o, sigmoid(neg(pf)), branchI] };
  },
  backward: ({ g: [i, f, z, o, sigmoidNegF, branchI], s: [, c, n], n: [, cNext, nNext], d: [dh, dcNext, dnNext, dmNext] }) => {
    const y = div(cNext, nNext);
    const dc = add(dcNext, div(mul(dh, o), nNext));
    const dn = sub(dnNext, div(mul(mul(dh, o), y), nNext));
    const dout = mul(mul(mul(dh, y), o), sub(1, o));
    const dz = mul(mul(dc, i), oneMinusSquare(z));
    const dLogI = mul(add(mul(dc, z), dn), i);
    const dF = add(mul(dc, c), mul(dn, n));
    const dLogF = select(eq(dF, 0), 0, mul(dF, f)); // f may overflow on a first step (n = 0), where dF = 0
    const dm = sub(sub(dmNext, dLogI), dLogF);
    const di = select(branchI, add(dLogI, dm), dLogI);
    const da = select(branchI, dLogF, add(dLogF, dm));
    return { dx: [di, mul(da, sigmoidNegF), dz, dout], dp: [0, mul(dc, f), mul(dn, f), da] };
  },
});
