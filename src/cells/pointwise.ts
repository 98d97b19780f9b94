/**
 * Evaluates cell expressions (src/backend/pointwise/expr.ts) with tensor ops: the autograd
 * reference of every fused kernel, and the composite path of backends without one. Gradients
 * come from autograd, independently of the cell's hand-written backward program, which is what
 * makes it a reference for the kernels rendered from that program.
 */
import type { Expr } from '../backend/pointwise/expr.js';
import { SCALAR_UNARY, schedule } from '../backend/pointwise/expr.js';
import {
  abs, add, div, eq, exp, ge, gt, le, log, logSigmoid, lt, maximum, minimum, mul, neg, sigmoid, softplus, sqrt, sub, tanh, where,
} from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

type Value = Tensor | number;

const UNARY = {
  neg, exp, log, sqrt, abs, sigmoid, tanh, logSigmoid, softplus,
  log1p: (x: Tensor) => log(add(x, 1)),
} as const;

const BINARY = { add, sub, mul, div, max: maximum, min: minimum } as const;

const COMPARE = {
  eq, lt, le, gt, ge,
  ne: (a: Tensor | number, b: Tensor | number) => sub(1, eq(a, b)),
} as const;

function tensorOf(v: Value, like: Tensor): Tensor {
  return typeof v === 'number' ? add(mul(like, 0), v) : v;
}

/**
 * The outputs' values for tensor (or number) inputs by name; inputs broadcast as the ops do.
 * Constant-only sub-expressions stay numbers; an output that is a constant comes back as a
 * tensor shaped like the first tensor input.
 */
export function evaluateTensors(outputs: readonly Expr[], inputs: Readonly<Record<string, Value>>): Tensor[] {
  const value = new Map<number, Value>();
  const get = (e: Expr) => value.get(e.id)!;
  let like: Tensor | null = null;
  for (const e of schedule(outputs)) {
    let v: Value;
    switch (e.op) {
      case 'const': v = e.value; break;
      case 'input': {
        if (!(e.name in inputs)) throw new Error(`evaluateTensors: no value for input '${e.name}'`);
        v = inputs[e.name];
        if (typeof v !== 'number') like ??= v;
        break;
      }
      case 'unary': {
        const x = get(e.x);
        v = typeof x === 'number' ? SCALAR_UNARY[e.fn](x) : UNARY[e.fn](x);
        break;
      }
      case 'binary': v = both(get(e.a), get(e.b), BINARY[e.fn]); break;
      case 'compare': v = both(get(e.a), get(e.b), COMPARE[e.fn]); break;
      case 'select': {
        const c = get(e.cond), a = get(e.a), b = get(e.b);
        if (typeof c === 'number') v = c !== 0 ? a : b;
        else v = where(c, a, b);
        break;
      }
    }
    value.set(e.id, v);
  }
  return outputs.map((e) => {
    const v = get(e);
    if (typeof v !== 'number') return v;
    if (!like) throw new Error('evaluateTensors: a constant output needs at least one tensor input');
    return tensorOf(v, like);
  });
}

function both(a: Value, b: Value, f: (a: Tensor | number, b: Tensor | number) => Tensor): Value {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('evaluateTensors: constant folding of two numbers is not needed by any cell');
  return f(a, b);
}
