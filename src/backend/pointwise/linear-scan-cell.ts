/**
 * The data a backend needs to run a gated linear recurrence (minGRU, minLSTM, or a user's) as one
 * fused op: per unit, the C chunks p0..p{C−1} of the input projection give the coefficients of
 *   h_t = a_t · h_{t−1} + b_t
 * (docs/models.md#mingru-minlstm). The backward program turns the scan's gradients
 * (da_t = g_t·h_{t−1}, db_t = g_t with g_t = dh_t + a_{t+1}·g_{t+1}) into dp0..dp{C−1}.
 * `log` states the logs of the same coefficients, for the log-space scan of the composite path.
 */
import { add, constant, fingerprint, input, inputsOf, mul, substitute, type Expr, type Operand } from './expr.js';

/** A cell whose recurrence is h_t = a_t h_{t−1} + b_t (minGRU, minLSTM), defined by expressions for a and b, their logs and their gradients; what {@link defineLinearScanCell} returns and the backends render. */
export interface LinearScanCellDef {
  /** A short name, for messages and kernel names ([a-z0-9_] only). */
  readonly name: string;
  /** C: chunks of the projection per unit ([B, T, C·D]). */
  readonly chunks: number;
  /** Real-space coefficients from inputs p0..p{C−1}. */
  readonly coefficients: { readonly a: Expr; readonly b: Expr };
  /** Their logs, computed without forming a and b (from the same inputs). */
  readonly log: { readonly a: Expr; readonly b: Expr };
  /** dp0..dp{C−1} from inputs p0.., da, db. */
  readonly backward: readonly Expr[];
  readonly key: string;
}

/** What a linear-scan cell's author writes: the coefficients, their logs and the backward, as functions of the projection's chunks p0..p{C−1}. */
export interface LinearScanCellSpec {
  name: string;
  chunks: number;
  /** a and b of the recurrence from the chunks. */
  coefficients(p: Expr[]): { a: Operand; b: Operand };
  /** log a and log b, computed without forming a and b. */
  log(p: Expr[]): { a: Operand; b: Operand };
  /** dL/dp for each chunk from dL/da and dL/db. */
  backward(p: Expr[], grads: { da: Expr; db: Expr }): Operand[];
}

const lift = (x: Operand): Expr => (typeof x === 'number' ? constant(x) : x);

/** Checks a spec and builds its definition (expressions for every backend; a one-line error for a malformed spec). */
export function defineLinearScanCell(spec: LinearScanCellSpec): LinearScanCellDef {
  const { name, chunks: C } = spec;
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`defineLinearScanCell: name '${name}' must be lower-case letters, digits and _`);
  if (!Number.isInteger(C) || C < 1) throw new Error(`defineLinearScanCell(${name}): chunks must be a positive integer, got ${C}`);
  const p = Array.from({ length: C }, (_, i) => input(`p${i}`));
  const co = spec.coefficients(p), lg = spec.log(p);
  const coefficients = { a: lift(co.a), b: lift(co.b) };
  const log = { a: lift(lg.a), b: lift(lg.b) };
  const backward = spec.backward(p, { da: input('da'), db: input('db') }).map(lift);
  if (backward.length !== C) throw new Error(`defineLinearScanCell(${name}): backward gives ${backward.length} gradients, expected ${C}`);
  const allowed = new Set([...p.map((_, i) => `p${i}`), 'da', 'db']);
  for (const [which, outs] of [['coefficients', [coefficients.a, coefficients.b]], ['log', [log.a, log.b]], ['backward', backward]] as const) {
    for (const n of inputsOf(outs)) {
      if (!allowed.has(n) || (which !== 'backward' && (n === 'da' || n === 'db'))) {
        throw new Error(`defineLinearScanCell(${name}): the ${which} program reads '${n}', which it is not given`);
      }
    }
  }
  const key = `${name}:${C}|${fingerprint([coefficients.a, coefficients.b])}|${fingerprint(backward)}`;
  return { name, chunks: C, coefficients, log, backward, key };
}

/**
 * One step of the reverse scan as a program, for renderers: from p0.., dh (dL/dh_t), carry
 * (a_{t+1}·g_{t+1}) and hprev (h_{t−1}) → [dp0.., a_t·g_t] with g_t = dh + carry, da = g_t·h_{t−1},
 * db = g_t. The last output is the next step's carry (and, after step 0, dL/dh_0).
 */
export function scanBackwardStep(cell: LinearScanCellDef): Expr[] {
  const g = add(input('dh'), input('carry'));
  const dp = cell.backward.map((e) => substitute(e, { da: mul(g, input('hprev')), db: g }));
  return [...dp, mul(cell.coefficients.a, g)];
}
