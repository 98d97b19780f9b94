/**
 * ListOps, the synthetic task of Long Range Arena (Tay et al. 2021; google-research/long-range-arena,
 * lra_benchmarks/data/listops.py), as a faithful re-implementation of its generator:
 *
 *   generate_tree(depth): at depth < max_depth draw r ~ U[0, 1), else r = 1; if r > 0.25 the node
 *   is a digit 0–9 (uniform); otherwise an operator, uniform over [MIN, [MAX, [MED, [SM, with
 *   randint(2, max_args) arguments generated at depth + 1. The root is generated at depth 1.
 *   A tree's length counts its tokens: a digit is 1, an operator node 2 (operator and ']') plus
 *   its arguments. Trees are kept when min_length < length < max_length (strict, as the source)
 *   and duplicates (the same string) are dropped. Source defaults: max_depth 10, max_args 10,
 *   min_length 500, max_length 2000.
 *
 * Values: MIN, MAX; SM = sum mod 10; MED = int(np.median(args)): on an even count the mean of the
 * two middle values, truncated, i.e. floor((a + b)/2) for these non-negative digits.
 *
 * Strings are LRA's: the source nests (op, arg) pairs and prints each pair in parentheses, so
 * [MAX 2 9] is written "( ( ( [MAX 2 ) 9 ) ] )". The tokenizer drops the parentheses (they are not
 * tokens of the task's vocabulary in LRA's input pipeline, whose tokenizer keeps the reserved tokens
 * [MIN [MAX [MED [SM ] and the digits; an early version of that pipeline also lost the brackets, a
 * known bug fixed upstream in c209b2a4): a tree's token count is its length.
 *
 * Vocabulary: 0 = padding, 1–10 = digits 0–9, 11 [MIN, 12 [MAX, 13 [MED, 14 [SM, 15 ].
 */
import { globalRng, type Rng } from '../tensor/random.js';

/** The four ListOps operators: minimum, maximum, median, sum modulo 10. */
export type ListOp = '[MIN' | '[MAX' | '[MED' | '[SM';
/** The operators in vocabulary order. */
export const LISTOPS_OPERATORS: readonly ListOp[] = ['[MIN', '[MAX', '[MED', '[SM'];
export const LISTOPS_END = ']';
/** Probability that a node above max depth is an operator (1 − the source's VALUE_P threshold test). */
const VALUE_P = 0.25;

/** A ListOps expression: a digit, or an operator applied to sub-expressions. */
export type ListOpsTree = number | { op: ListOp; args: ListOpsTree[] };

/** The padding token id (also the id listOpsBatch pads with). */
export const LISTOPS_PAD = 0;
/** Token strings by id: padding, the digits 0–9, the four operators, the closing bracket. */
export const LISTOPS_VOCAB: readonly string[] = ['<pad>', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '[MIN', '[MAX', '[MED', '[SM', ']'];
/** Number of token ids (16). */
export const LISTOPS_VOCAB_SIZE = LISTOPS_VOCAB.length;
/** Answer classes: the values 0–9. */
export const LISTOPS_CLASSES = 10;

/** The tree distribution of {@link generateListOps} (LRA's generator). */
export interface ListOpsConfig {
  /** Maximum nesting depth (default 10). */
  maxDepth?: number;
  /** Maximum arguments of an operator, at least 2 (default 10). */
  maxArgs?: number;
  /** Kept trees have minLength < length < maxLength tokens (defaults 500 and 2000). */
  minLength?: number;
  maxLength?: number;
}

/** One expression: its text, its token ids and its value. */
export interface ListOpsExample {
  /** LRA's string, with parentheses. */
  source: string;
  /** Token ids (no padding), length = the tree's length. */
  tokens: Int32Array;
  /** The value, 0–9. */
  label: number;
}

function checkConfig(c: ListOpsConfig): Required<ListOpsConfig> {
  const r = { maxDepth: c.maxDepth ?? 10, maxArgs: c.maxArgs ?? 10, minLength: c.minLength ?? 500, maxLength: c.maxLength ?? 2000 };
  if (!Number.isInteger(r.maxDepth) || r.maxDepth < 1) throw new Error(`listops: maxDepth must be a positive integer, got ${r.maxDepth}`);
  if (!Number.isInteger(r.maxArgs) || r.maxArgs < 2) throw new Error(`listops: maxArgs must be an integer ≥ 2, got ${r.maxArgs}`);
  if (!(r.minLength >= 0 && r.maxLength > r.minLength + 1)) throw new Error(`listops: need 0 ≤ minLength < maxLength − 1, got ${r.minLength}, ${r.maxLength}`);
  return r;
}

/** One tree and its length, exactly the source's generate_tree (root at depth 1). */
export function generateTree(rng: Rng, maxDepth: number, maxArgs: number, depth = 1): { tree: ListOpsTree; length: number } {
  const r = depth < maxDepth ? rng.uniform() : 1;
  if (r > VALUE_P) return { tree: rng.int(10), length: 1 };
  const count = 2 + rng.int(maxArgs - 1); // randint(2, maxArgs), inclusive
  const args: ListOpsTree[] = [];
  let length = 2;
  for (let i = 0; i < count; i++) {
    const sub = generateTree(rng, maxDepth, maxArgs, depth + 1);
    args.push(sub.tree);
    length += sub.length;
  }
  return { tree: { op: LISTOPS_OPERATORS[rng.int(LISTOPS_OPERATORS.length)], args }, length };
}

/** The value of a tree. */
export function evaluateTree(t: ListOpsTree): number {
  if (typeof t === 'number') return t;
  return applyOp(t.op, t.args.map(evaluateTree));
}

function applyOp(op: ListOp, v: number[]): number {
  switch (op) {
    case '[MIN': return Math.min(...v);
    case '[MAX': return Math.max(...v);
    case '[SM': return v.reduce((a, b) => a + b, 0) % 10;
    case '[MED': {
      const s = [...v].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m] : Math.trunc((s[m - 1] + s[m]) / 2);
    }
  }
}

/** LRA's string of a tree: nested (op, arg) pairs, each in parentheses. */
export function treeToString(t: ListOpsTree): string {
  if (typeof t === 'number') return String(t);
  let s: string = t.op;
  for (const a of t.args) s = `( ${s} ${treeToString(a)} )`;
  return `( ${s} ${LISTOPS_END} )`;
}

/** Symbols → ids; parentheses are skipped, anything else is an error. */
export function tokenizeListOps(source: string): Int32Array {
  const ids: number[] = [];
  for (const sym of source.split(/\s+/)) {
    if (sym === '' || sym === '(' || sym === ')') continue;
    const id = LISTOPS_VOCAB.indexOf(sym);
    if (id <= 0) throw new Error(`listops: unknown symbol '${sym}'`);
    ids.push(id);
  }
  return Int32Array.from(ids);
}

/** Token ids back to text (padding dropped). */
export function detokenizeListOps(ids: ArrayLike<number>): string {
  return Array.from(ids, (i) => LISTOPS_VOCAB[i] ?? '?').filter((s) => s !== '<pad>').join(' ');
}

/**
 * The value of an expression given as a string ("[MAX 2 9 [MIN 4 7 ] 0 ]", parentheses allowed)
 * or token ids: a stack evaluator, independent of the tree code.
 */
export function evaluateListOps(expr: string | ArrayLike<number>): number {
  const ids = typeof expr === 'string' ? tokenizeListOps(expr) : Array.from(expr).filter((i) => i !== LISTOPS_PAD);
  const stack: { op: ListOp; args: number[] }[] = [];
  let result: number | null = null;
  const push = (v: number) => {
    if (stack.length) stack[stack.length - 1].args.push(v);
    else if (result === null) result = v;
    else throw new Error('listops: more than one top-level expression');
  };
  for (const id of Array.from(ids)) {
    const sym = LISTOPS_VOCAB[id];
    if (sym === undefined || id === LISTOPS_PAD) throw new Error(`listops: bad token id ${id}`);
    if (sym === LISTOPS_END) {
      const top = stack.pop();
      if (!top) throw new Error("listops: ']' without an operator");
      if (top.args.length === 0) throw new Error(`listops: ${top.op} without arguments`);
      push(applyOp(top.op, top.args));
    } else if ((LISTOPS_OPERATORS as readonly string[]).includes(sym)) {
      if (result !== null && stack.length === 0) throw new Error('listops: more than one top-level expression');
      stack.push({ op: sym as ListOp, args: [] });
    } else {
      push(Number(sym));
    }
  }
  if (stack.length) throw new Error(`listops: ${stack.length} unclosed operator(s)`);
  if (result === null) throw new Error('listops: empty expression');
  return result;
}

/**
 * `count` distinct examples (LRA's rejection sampling and de-duplication), none of whose strings
 * is in `exclude` (held-out sets). Throws when the configuration cannot produce enough distinct
 * trees within a generous number of attempts.
 */
export function generateListOps(count: number, config: ListOpsConfig = {}, rng: Rng = globalRng, exclude?: ReadonlySet<string>): ListOpsExample[] {
  const { maxDepth, maxArgs, minLength, maxLength } = checkConfig(config);
  const seen = new Set<string>();
  const out: ListOpsExample[] = [];
  const maxAttempts = 1000 * count + 100_000;
  for (let attempt = 0; out.length < count; attempt++) {
    if (attempt >= maxAttempts) {
      throw new Error(`listops: only ${out.length} of ${count} distinct trees with ${minLength} < length < ${maxLength} after ${attempt} draws`);
    }
    const { tree, length } = generateTree(rng, maxDepth, maxArgs);
    if (!(length > minLength && length < maxLength)) continue;
    const source = treeToString(tree);
    if (seen.has(source) || exclude?.has(source)) continue;
    seen.add(source);
    out.push({ source, tokens: tokenizeListOps(source), label: evaluateTree(tree) });
  }
  return out;
}

/** Examples padded to one length, with a mask, as {@link listOpsBatch} makes them. */
export interface ListOpsBatch {
  /** i32 [batch · length], right-padded with LISTOPS_PAD. */
  inputs: Int32Array;
  /** `[batch · length]`: 1 at tokens, 0 at padding. */
  mask: Float32Array;
  /** i32 [batch]: the answers. */
  labels: Int32Array;
  /** Tokens per example. */
  lengths: Int32Array;
  batch: number;
  /** The padded length: the longest example, or `padTo` when given. */
  length: number;
}

/** Right-pads examples into one batch (to the longest, or to padTo, which must fit every example). */
export function listOpsBatch(examples: readonly ListOpsExample[], padTo?: number): ListOpsBatch {
  if (examples.length === 0) throw new Error('listOpsBatch: no examples');
  const longest = Math.max(...examples.map((e) => e.tokens.length));
  const length = padTo ?? longest;
  if (length < longest) throw new Error(`listOpsBatch: padTo ${padTo} is shorter than an example of ${longest} tokens`);
  const batch = examples.length;
  const inputs = new Int32Array(batch * length), mask = new Float32Array(batch * length);
  const labels = new Int32Array(batch), lengths = new Int32Array(batch);
  examples.forEach((e, b) => {
    inputs.set(e.tokens, b * length);
    mask.fill(1, b * length, b * length + e.tokens.length);
    labels[b] = e.label;
    lengths[b] = e.tokens.length;
  });
  return { inputs, mask, labels, lengths, batch, length };
}

/**
 * The accuracy of answering from the root operator alone: for each operator, the answer most
 * frequent among these examples with that operator at the root (an expression that is a bare digit
 * is its own key). A classifier that has learned only the outermost operator sits here: on LRA's
 * distribution MAX is mostly 9 and MIN mostly 0, so this is about twice the majority class.
 */
export function listOpsRootOperatorBaseline(examples: readonly ListOpsExample[]): number {
  const byRoot = new Map<number, number[]>();
  for (const e of examples) {
    const root = e.tokens[0] ?? LISTOPS_PAD;
    let counts = byRoot.get(root);
    if (!counts) byRoot.set(root, (counts = new Array<number>(LISTOPS_CLASSES).fill(0)));
    counts[e.label]++;
  }
  let right = 0;
  for (const counts of byRoot.values()) right += Math.max(...counts);
  return right / Math.max(examples.length, 1);
}

/** Label counts (index = class) and the majority class's share: the baseline to beat. */
export function listOpsMajority(examples: readonly ListOpsExample[]): { counts: number[]; label: number; accuracy: number } {
  const counts = new Array<number>(LISTOPS_CLASSES).fill(0);
  for (const e of examples) counts[e.label]++;
  const label = counts.indexOf(Math.max(...counts));
  return { counts, label, accuracy: counts[label] / Math.max(examples.length, 1) };
}
