/**
 * Renders pointwise programs (src/backend/pointwise/expr.ts) into f32x4 WebAssembly: one v128
 * local per node, in schedule order, transcendental functions inlined from math.ts. Four lanes
 * carry four independent units (channels), so the program runs unchanged per lane.
 *
 * Comparisons become lane masks (all ones / all zeros), which is what `select` consumes; a
 * comparison used as a number is turned into 1 or 0, and a `select` whose condition is a number
 * (a stored flag) tests it against 0, as the scalar meaning says.
 */
import type { Code } from './emitter.js';
import { V128 } from './emitter.js';
import * as m from './math.js';
import { schedule, type Expr } from '../../pointwise/expr.js';

const UNARY: Record<string, (c: Code) => void> = {
  neg: (c) => c.f32x4Neg(),
  abs: (c) => c.f32x4Abs(),
  sqrt: (c) => c.f32x4Sqrt(),
  exp: m.exp,
  log: m.log,
  log1p: m.log1p,
  sigmoid: m.sigmoid,
  tanh: m.tanh,
  logSigmoid: m.logSigmoid,
  softplus: m.softplus,
};

const BINARY: Record<string, (c: Code) => void> = {
  add: (c) => c.f32x4Add(),
  sub: (c) => c.f32x4Sub(),
  mul: (c) => c.f32x4Mul(),
  div: (c) => c.f32x4Div(),
  max: (c) => c.f32x4Max(),
  min: (c) => c.f32x4Min(),
};

const COMPARE: Record<string, (c: Code) => void> = {
  eq: (c) => c.f32x4Eq(),
  ne: (c) => c.f32x4Ne(),
  lt: (c) => c.f32x4Lt(),
  le: (c) => c.f32x4Le(),
  gt: (c) => c.f32x4Gt(),
  ge: (c) => c.f32x4Ge(),
};

/**
 * Emits the nodes the outputs need, reading inputs from the given locals; returns the local that
 * holds each output. Constants are emitted where used (v128.const), not kept in locals.
 */
export function renderSimd(c: Code, outputs: readonly Expr[], inputs: Readonly<Record<string, number>>): number[] {
  const local = new Map<number, number>();
  const usedAsNumber = new Set<number>();
  const order = schedule(outputs);
  for (const e of order) {
    if (e.op === 'unary') usedAsNumber.add(e.x.id);
    if (e.op === 'binary' || e.op === 'compare') { usedAsNumber.add(e.a.id); usedAsNumber.add(e.b.id); }
    if (e.op === 'select') { usedAsNumber.add(e.a.id); usedAsNumber.add(e.b.id); }
  }
  for (const o of outputs) usedAsNumber.add(o.id);
  const push = (e: Expr): void => {
    if (e.op === 'const') { c.f32x4Const(e.value); return; }
    c.get(local.get(e.id)!);
  };
  // a compare node's local holds its mask; its numeric value is mask & 1.0
  const pushNumber = (e: Expr): void => {
    push(e);
    if (e.op === 'compare') c.f32x4Const(1).v128And();
  };
  for (const e of order) {
    if (e.op === 'const') continue;
    if (e.op === 'input') {
      const l = inputs[e.name];
      if (l === undefined) throw new Error(`renderSimd: no local for input '${e.name}'`);
      local.set(e.id, l);
      continue;
    }
    switch (e.op) {
      case 'unary': pushNumber(e.x); UNARY[e.fn]!(c); break;
      case 'binary': pushNumber(e.a); pushNumber(e.b); BINARY[e.fn]!(c); break;
      case 'compare': pushNumber(e.a); pushNumber(e.b); COMPARE[e.fn]!(c); break;
      case 'select':
        pushNumber(e.a); pushNumber(e.b);
        if (e.cond.op === 'compare') push(e.cond);
        else { pushNumber(e.cond); c.f32x4Const(0).f32x4Ne(); }
        c.v128Bitselect();
        break;
    }
    const l = c.local(V128);
    c.set(l);
    local.set(e.id, l);
  }
  return outputs.map((o) => {
    if (o.op === 'const') { const l = c.local(V128); c.f32x4Const(o.value).set(l); return l; }
    if (o.op === 'compare') { const l = c.local(V128); pushNumber(o); c.set(l); return l; }
    return local.get(o.id)!;
  });
}
