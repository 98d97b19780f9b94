/**
 * minGRU and minLSTM (Feng et al. 2024, docs/models.md#mingru-minlstm) as linear recurrences
 * h_t = a_t h_{t−1} + b_t over the projection's chunks, in minGRU-pytorch's chunk order:
 *   minGRU  (hidden h̃, gate k):           a = σ(−k), b = σ(k)·g(h̃)
 *   minLSTM (hidden h̃, forget f, input i): d = softplus(−f) − softplus(−i) = log(σ(i)/σ(f)),
 *                                          a = σ(−d), b = σ(d)·g(h̃)
 * with g(x) = x + ½ for x ≥ 0, σ(x) below (positive, continuous, so log-space scans work).
 */
import {
  add, ge, log, logSigmoid, max, mul, neg, select, sigmoid, sigmoidSlope, softplus, sub, type Expr,
} from '../../backend/pointwise/expr.js';
import { defineLinearScanCell } from '../../backend/pointwise/linear-scan-cell.js';

/** minGRU's g(x): x + ½ for x ≥ 0, σ(x) below. */
export const minGruG = (x: Expr): Expr => select(ge(x, 0), add(x, 0.5), sigmoid(x));
/** log g(x) without forming g(x); log(max(x, 0) + ½) keeps the unselected branch finite for autograd through `where`. */
export const minGruLogG = (x: Expr): Expr => select(ge(x, 0), log(add(max(x, 0), 0.5)), neg(softplus(neg(x))));
const gSlope = (x: Expr) => select(ge(x, 0), 1, sigmoidSlope(sigmoid(x)));

/** The gradient of the gate logit k of a = σ(−k), b = σ(k)·g: σ'(k)·(db·g − da). */
const gateGrad = (k: Expr, hidden: Expr, da: Expr, db: Expr) => mul(sigmoidSlope(sigmoid(k)), sub(mul(db, minGruG(hidden)), da));
const hiddenGrad = (k: Expr, hidden: Expr, db: Expr) => mul(mul(db, sigmoid(k)), gSlope(hidden));

/** minGRU as a linear scan: a = σ(−k), b = σ(k)·g(hidden). */
export const minGruDefinition = defineLinearScanCell({
  name: 'mingru',
  chunks: 2,
  coefficients: ([hidden, k]) => ({ a: sigmoid(neg(k)), b: mul(sigmoid(k), minGruG(hidden)) }),
  log: ([hidden, k]) => ({ a: logSigmoid(neg(k)), b: add(logSigmoid(k), minGruLogG(hidden)) }),
  backward: ([hidden, k], { da, db }) => [hiddenGrad(k, hidden, db), gateGrad(k, hidden, da, db)],
});

const minLstmGate = (f: Expr, i: Expr) => sub(softplus(neg(f)), softplus(neg(i)));

/** minLSTM as a linear scan with normalised forget and input gates. */
export const minLstmDefinition = defineLinearScanCell({
  name: 'minlstm',
  chunks: 3,
  coefficients: ([hidden, f, i]) => {
    const d = minLstmGate(f, i);
    return { a: sigmoid(neg(d)), b: mul(sigmoid(d), minGruG(hidden)) };
  },
  log: ([hidden, f, i]) => {
    const d = minLstmGate(f, i);
    return { a: logSigmoid(neg(d)), b: add(logSigmoid(d), minGruLogG(hidden)) };
  },
  backward: ([hidden, f, i], { da, db }) => {
    const d = minLstmGate(f, i);
    const dd = gateGrad(d, hidden, da, db);
    // ∂d/∂f = −σ(−f), ∂d/∂i = σ(−i)
    return [hiddenGrad(d, hidden, db), neg(mul(dd, sigmoid(neg(f)))), mul(dd, sigmoid(neg(i)))];
  },
});
