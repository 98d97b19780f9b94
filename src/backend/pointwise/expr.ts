/**
 * A tiny expression language for scalar pointwise math: the one place a cell's gate math is
 * written (see docs/architecture.md, "Adding a cell"). Every backend renders these expressions
 * into its own kernel language (WebAssembly on the CPU, CUDA C, WGSL), and the autograd reference
 * evaluates them with tensor ops, so a cell's forward and backward exist once as data.
 *
 * Nodes are hash-consed: building the same sub-expression twice returns the same node, so a
 * renderer that emits one statement per node (in `schedule` order) computes it once.
 * Comparisons produce 1 or 0 and are only meant as `select` conditions.
 */

export type UnaryFn = 'neg' | 'exp' | 'log' | 'log1p' | 'sigmoid' | 'tanh' | 'logSigmoid' | 'softplus' | 'sqrt' | 'abs';
/** Binary functions of expressions. */
export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';
/** Comparisons, which give 1 or 0 (conditions of `select`). */
export type CompareFn = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** A node of the expression language: a constant, a named input, or a function of other nodes. */
export type Expr =
  | { readonly id: number; readonly op: 'const'; readonly value: number }
  | { readonly id: number; readonly op: 'input'; readonly name: string }
  | { readonly id: number; readonly op: 'unary'; readonly fn: UnaryFn; readonly x: Expr }
  | { readonly id: number; readonly op: 'binary'; readonly fn: BinaryFn; readonly a: Expr; readonly b: Expr }
  | { readonly id: number; readonly op: 'compare'; readonly fn: CompareFn; readonly a: Expr; readonly b: Expr }
  | { readonly id: number; readonly op: 'select'; readonly cond: Expr; readonly a: Expr; readonly b: Expr };

/** An expression or a number (made a constant). */
export type Operand = Expr | number;

// Hash-consing table: one node per structure, shared by every program (nodes are immutable).
const nodes = new Map<string, Expr>();
let nextId = 0;

function intern(key: string, make: (id: number) => Expr): Expr {
  let e = nodes.get(key);
  if (!e) nodes.set(key, (e = make(nextId++)));
  return e;
}

function lift(x: Operand): Expr {
  return typeof x === 'number' ? constant(x) : x;
}

/** The constant `value` as an expression. */
export function constant(value: number): Expr {
  // Object.is keeps −0 apart from 0; NaN has one key.
  const key = Object.is(value, -0) ? 'c:-0' : `c:${value}`;
  return intern(key, (id) => ({ id, op: 'const', value }));
}

/** A named input of a program (for example a gate's pre-activation). */
export function input(name: string): Expr {
  return intern(`i:${name}`, (id) => ({ id, op: 'input', name }));
}

function unary(fn: UnaryFn, x: Operand): Expr {
  const e = lift(x);
  return intern(`u:${fn}:${e.id}`, (id) => ({ id, op: 'unary', fn, x: e }));
}

function binary(fn: BinaryFn, a: Operand, b: Operand): Expr {
  const ea = lift(a), eb = lift(b);
  // Algebraic identities that keep rendered code short (exact in IEEE arithmetic for finite x).
  if (fn === 'mul' && isConst(ea, 1)) return eb;
  if ((fn === 'mul' || fn === 'div') && isConst(eb, 1)) return ea;
  if (fn === 'add' && isConst(ea, 0)) return eb;
  if ((fn === 'add' || fn === 'sub') && isConst(eb, 0)) return ea;
  return intern(`b:${fn}:${ea.id}:${eb.id}`, (id) => ({ id, op: 'binary', fn, a: ea, b: eb }));
}

function compare(fn: CompareFn, a: Operand, b: Operand): Expr {
  const ea = lift(a), eb = lift(b);
  return intern(`k:${fn}:${ea.id}:${eb.id}`, (id) => ({ id, op: 'compare', fn, a: ea, b: eb }));
}

function isConst(e: Expr, v: number): boolean {
  return e.op === 'const' && e.value === v;
}

/** a + b. */
export const add = (a: Operand, b: Operand): Expr => binary('add', a, b);
/** a − b. */
export const sub = (a: Operand, b: Operand): Expr => binary('sub', a, b);
/** a · b. */
export const mul = (a: Operand, b: Operand): Expr => binary('mul', a, b);
/** a / b. */
export const div = (a: Operand, b: Operand): Expr => binary('div', a, b);
/** The larger of a and b. */
export const max = (a: Operand, b: Operand): Expr => binary('max', a, b);
/** The smaller of a and b. */
export const min = (a: Operand, b: Operand): Expr => binary('min', a, b);
/** −x. */
export const neg = (x: Operand): Expr => unary('neg', x);
/** eˣ. */
export const exp = (x: Operand): Expr => unary('exp', x);
/** Natural logarithm. */
export const log = (x: Operand): Expr => unary('log', x);
/** log(1 + x), accurate near 0. */
export const log1p = (x: Operand): Expr => unary('log1p', x);
/** Square root. */
export const sqrt = (x: Operand): Expr => unary('sqrt', x);
/** Absolute value. */
export const abs = (x: Operand): Expr => unary('abs', x);
/** σ(x) = 1 / (1 + e^−x). */
export const sigmoid = (x: Operand): Expr => unary('sigmoid', x);
/** Hyperbolic tangent. */
export const tanh = (x: Operand): Expr => unary('tanh', x);
/** log σ(x) = −softplus(−x), computed without overflow. */
export const logSigmoid = (x: Operand): Expr => unary('logSigmoid', x);
/** softplus(x) = log(1 + e^x), computed without overflow. */
export const softplus = (x: Operand): Expr => unary('softplus', x);
/** 1 where a = b, else 0. */
export const eq = (a: Operand, b: Operand): Expr => compare('eq', a, b);
/** 1 where a ≠ b, else 0. */
export const ne = (a: Operand, b: Operand): Expr => compare('ne', a, b);
/** 1 where a < b, else 0. */
export const lt = (a: Operand, b: Operand): Expr => compare('lt', a, b);
/** 1 where a ≤ b, else 0. */
export const le = (a: Operand, b: Operand): Expr => compare('le', a, b);
/** 1 where a > b, else 0. */
export const gt = (a: Operand, b: Operand): Expr => compare('gt', a, b);
/** 1 where a ≥ b, else 0. */
export const ge = (a: Operand, b: Operand): Expr => compare('ge', a, b);

/** cond ≠ 0 ? a : b (cond is a comparison or a stored 1/0 flag). */
export function select(cond: Operand, a: Operand, b: Operand): Expr {
  const c = lift(cond), ea = lift(a), eb = lift(b);
  if (ea === eb) return ea;
  return intern(`s:${c.id}:${ea.id}:${eb.id}`, (id) => ({ id, op: 'select', cond: c, a: ea, b: eb }));
}

/** 1 − x·x, the derivative of tanh written from its output. */
export const oneMinusSquare = (x: Operand): Expr => sub(1, mul(x, x));
/** x·(1 − x), the derivative of σ written from its output. */
export const sigmoidSlope = (x: Operand): Expr => mul(x, sub(1, x));

/** The operands of a node, in order. */
export function children(e: Expr): Expr[] {
  switch (e.op) {
    case 'const': case 'input': return [];
    case 'unary': return [e.x];
    case 'binary': case 'compare': return [e.a, e.b];
    case 'select': return [e.cond, e.a, e.b];
  }
}

/** Every node the outputs depend on, each once, operands before their users. */
export function schedule(outputs: readonly Expr[]): Expr[] {
  const order: Expr[] = [];
  const seen = new Set<number>();
  const visit = (root: Expr) => {
    // iterative post-order: programs are shallow, but a user's cell need not be
    const stack: Array<[Expr, boolean]> = [[root, false]];
    while (stack.length) {
      const [e, expanded] = stack.pop()!;
      if (seen.has(e.id)) continue;
      if (expanded) { seen.add(e.id); order.push(e); continue; }
      stack.push([e, true]);
      for (const c of children(e).reverse()) if (!seen.has(c.id)) stack.push([c, false]);
    }
  };
  outputs.forEach(visit);
  return order;
}

/** The names of the inputs the outputs read. */
export function inputsOf(outputs: readonly Expr[]): Set<string> {
  const names = new Set<string>();
  for (const e of schedule(outputs)) if (e.op === 'input') names.add(e.name);
  return names;
}

/** A stable text of the outputs' structure: the cache key of rendered kernels. */
export function fingerprint(outputs: readonly Expr[]): string {
  const order = schedule(outputs);
  const index = new Map(order.map((e, i) => [e.id, i]));
  const ref = (e: Expr) => `%${index.get(e.id)}`;
  const line = (e: Expr): string => {
    switch (e.op) {
      case 'const': return Object.is(e.value, -0) ? '-0' : String(e.value);
      case 'input': return `$${e.name}`;
      case 'unary': return `${e.fn}(${ref(e.x)})`;
      case 'binary': case 'compare': return `${e.fn}(${ref(e.a)},${ref(e.b)})`;
      case 'select': return `select(${ref(e.cond)},${ref(e.a)},${ref(e.b)})`;
    }
  };
  return `${order.map(line).join(';')}|${outputs.map(ref).join(',')}`;
}

/**
 * The scalar meaning of every function, in doubles: the specification renderers follow, and the
 * evaluator of the tests. σ, tanh, log σ and softplus are written to be exact at the extremes.
 */
export const SCALAR_UNARY: Readonly<Record<UnaryFn, (x: number) => number>> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  log1p: Math.log1p,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: (x) => 1 - 2 / (Math.exp(2 * x) + 1),
  logSigmoid: (x) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x))),
  softplus: (x) => (x >= 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))),
};

/** The scalar meaning of every binary function, in doubles. */
export const SCALAR_BINARY: Readonly<Record<BinaryFn, (a: number, b: number) => number>> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
  max: Math.max, min: Math.min,
};

/** The scalar meaning of every comparison, in doubles. */
export const SCALAR_COMPARE: Readonly<Record<CompareFn, (a: number, b: number) => boolean>> = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
};

/** Evaluates the outputs in doubles for one set of input values (tests and small references). */
export function evaluate(outputs: readonly Expr[], inputs: Readonly<Record<string, number>>): number[] {
  const value = new Map<number, number>();
  const get = (e: Expr) => value.get(e.id)!;
  for (const e of schedule(outputs)) {
    let v: number;
    switch (e.op) {
      case 'const': v = e.value; break;
      case 'input':
        if (!(e.name in inputs)) throw new Error(`evaluate: no value for input '${e.name}'`);
        v = inputs[e.name]; break;
      case 'unary': v = SCALAR_UNARY[e.fn](get(e.x)); break;
      case 'binary': v = SCALAR_BINARY[e.fn](get(e.a), get(e.b)); break;
      case 'compare': v = SCALAR_COMPARE[e.fn](get(e.a), get(e.b)) ? 1 : 0; break;
      case 'select': v = get(e.cond) !== 0 ? get(e.a) : get(e.b); break;
    }
    value.set(e.id, v);
  }
  return outputs.map(get);
}

/** The expression with the named inputs replaced by other expressions (composes programs). */
export function substitute(e: Expr, values: Readonly<Record<string, Operand>>): Expr {
  const memo = new Map<number, Expr>();
  const go = (x: Expr): Expr => {
    let y = memo.get(x.id);
    if (y) return y;
    switch (x.op) {
      case 'const': y = x; break;
      case 'input': y = x.name in values ? lift(values[x.name]) : x; break;
      case 'unary': y = unary(x.fn, go(x.x)); break;
      case 'binary': y = binary(x.fn, go(x.a), go(x.b)); break;
      case 'compare': y = compare(x.fn, go(x.a), go(x.b)); break;
      case 'select': y = select(go(x.cond), go(x.a), go(x.b)); break;
    }
    memo.set(x.id, y);
    return y;
  };
  return go(e);
}
