/**
 * Kernels along one axis of an (outer, size, inner) layout: reductions (rows: one workgroup per
 * row with a tree in workgroup memory; columns: one thread per column and chunk of the axis, run
 * twice for long axes), argmax, softmax and its gradient, cross-entropy, gather and scatterAdd.
 *
 * Index errors cannot throw where they happen on a GPU: the kernel records the first bad position
 * in the error words (ERR_BINDING), a one-thread kernel then fetches the offending value, and the
 * backend throws the CPU backend's RangeError at the next readback.
 */
import type { ReduceOp } from '../../backend.js';
import { renderKernel, type Kernel, type Binding, type WgslType } from '../wgsl.js';

/** Threads of the one-workgroup-per-row kernels. */
export const ROW_WG = 128;

export const ERR_BINDING: Binding = { name: 'Err', type: 'atomic<u32>', write: true };
/** Error words: 0 the tag of the op that claimed them, 1 the smallest bad position, 2 the bad value. */
export const ERR_NONE = Uint32Array.of(0, 0xffffffff, 0, 0);

const ERR_FN = /* wgsl */ `
fn reportBad(tag: u32, pos: u32) {
  loop {
    let r = atomicCompareExchangeWeak(&Err[0], 0u, tag);
    if (r.exchanged || r.old_value != 0u) { break; }
  }
  if (atomicLoad(&Err[0]) == tag) { atomicMin(&Err[1], pos); }
}`;

const COMBINE: Record<ReduceOp, string> = {
  sum: 'a + b',
  max: 'select(a, b, b > a || isnan_(b))',
  min: 'select(a, b, b < a || isnan_(b))',
};
export const REDUCE_INIT: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity };

/** Workgroup-wide reductions of one f32 per thread (called in uniform control flow). */
function wgReduceFns(wg: number): string {
  const fn = (name: string, combine: string) => /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w >> 1u) {
    if (lid < w) { let a = red[lid]; let b = red[lid + w]; red[lid] = ${combine}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
  return `var<workgroup> red: array<f32, ${wg}>;\n${fn('wgSum', 'a + b')}\n${fn('wgMax', COMBINE.max)}\n${fn('wgMin', COMBINE.min)}`;
}

const INIT_EXPR: Record<ReduceOp, string> = { sum: '0.0', max: '-INF', min: 'INF' };

/** One workgroup per row of length size (inner = 1). Words: 0 rows, 1 size. */
export function reduceRowsKernel(op: ReduceOp): Kernel {
  const fn = op === 'sum' ? 'wgSum' : op === 'max' ? 'wgMax' : 'wgMin';
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    decls: wgReduceFns(ROW_WG),
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let size = pu(1u);
  var acc = ${INIT_EXPR[op]};
  for (var s = lid; s < size; s += ${ROW_WG}u) { let a = acc; let b = X[row * size + s]; acc = ${COMBINE[op]}; }
  let r = ${fn}(acc, lid);
  if (lid == 0u) { Out[row] = r; }`,
  });
}

/**
 * One thread per (outer, chunk, inner): Out[(o·nsplit + c)·inner + i] = op over s in chunk c.
 * Words: 0 outer, 1 size, 2 inner, 3 nsplit, 4 chunk.
 */
export function reduceColsKernel(op: ReduceOp): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    body: `  let outer = pu(0u); let size = pu(1u); let inner = pu(2u); let nsplit = pu(3u); let chunk = pu(4u);
  if (gid >= outer * nsplit * inner) { return; }
  let i = gid % inner;
  let c = (gid / inner) % nsplit;
  let o = gid / (inner * nsplit);
  let s0 = c * chunk;
  let s1 = min(size, s0 + chunk);
  var acc = ${INIT_EXPR[op]};
  for (var s = s0; s < s1; s++) { let a = acc; let b = X[(o * size + s) * inner + i]; acc = ${COMBINE[op]}; }
  Out[gid] = acc;`,
  });
}

/** Index of the first maximum along the axis; NaN never wins (the CPU backend's rule). Words: 0 outer, 1 size, 2 inner. */
export function argmaxKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Out', type: 'i32', write: true }],
    body: `  let outer = pu(0u); let size = pu(1u); let inner = pu(2u);
  if (gid >= outer * inner) { return; }
  let i = gid % inner;
  let o = gid / inner;
  var best = -INF;
  var at = 0u;
  for (var s = 0u; s < size; s++) { let v = X[(o * size + s) * inner + i]; if (v > best) { best = v; at = s; } }
  Out[gid] = i32(at);`,
  });
}

/** The row's maximum and log Σ exp (x − max) for the softmax family; needs `red`, the row's base and cols. */
const ROW_LSE = `  var m = -INF;
  for (var c = lid; c < cols; c += ${ROW_WG}u) { m = max(m, X[base + c]); }
  m = wgMax(m, lid);
  var s = 0.0;
  for (var c = lid; c < cols; c += ${ROW_WG}u) { s += exp(X[base + c] - m); }
  s = wgSum(s, lid);`;

/** Softmax / log-softmax of rows. Words: 0 rows, 1 cols, 2 log. */
export function softmaxKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    decls: wgReduceFns(ROW_WG),
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
${ROW_LSE}
  let lse = m + log(s);
  let inv = 1.0 / s;
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    let x = X[base + c];
    Out[base + c] = select(exp(x - m) * inv, x - lse, pu(2u) != 0u);
  }`,
  });
}

/** Words: 0 rows, 1 cols, 2 log. */
export function softmaxGradKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'Y', type: 'f32' }, { name: 'DY', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    decls: wgReduceFns(ROW_WG),
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
  let isLog = pu(2u) != 0u;
  var dot = 0.0;
  for (var c = lid; c < cols; c += ${ROW_WG}u) { dot += select(DY[base + c] * Y[base + c], DY[base + c], isLog); }
  dot = wgSum(dot, lid);
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    let y = Y[base + c];
    let dy = DY[base + c];
    Out[base + c] = select(y * (dy - dot), dy - exp(y) * dot, isLog);
  }`,
  });
}

/** Per-row −log softmax[target] (0 for ignoreIndex). Words: 0 rows, 1 cols, 2 ignoreIndex, 3 error tag. */
export function crossEntropyKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Target', type: 'i32' }, { name: 'Out', type: 'f32', write: true }, ERR_BINDING],
    decls: `${wgReduceFns(ROW_WG)}\n${ERR_FN}`,
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
${ROW_LSE}
  if (lid != 0u) { return; }
  let t = Target[row];
  if (t == pi(2u)) { Out[row] = 0.0; return; }
  if (t < 0 || u32(t) >= cols) { reportBad(pu(3u), row); Out[row] = 0.0; return; }
  Out[row] = m + log(s) - X[base + u32(t)];`,
  });
}

/** dloss_row · (softmax − onehot). Words: 0 rows, 1 cols, 2 ignoreIndex. */
export function crossEntropyGradKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Target', type: 'i32' }, { name: 'DLoss', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    decls: wgReduceFns(ROW_WG),
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
${ROW_LSE}
  let t = Target[row];
  let ignored = t == pi(2u) || t < 0 || u32(t) >= cols;
  let g = select(DLoss[row], 0.0, ignored);
  let lse = m + log(s);
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    Out[base + c] = g * exp(X[base + c] - lse) - select(0.0, g, i32(c) == t);
  }`,
  });
}

/** Fetches the bad index value of the op `tag` into error word 2. Words: 0 tag, 1 k, 2 indexOuterStride. */
export function errorValueKernel(): Kernel {
  return renderKernel({
    workgroup: 1,
    bindings: [{ name: 'Index', type: 'i32' }, ERR_BINDING],
    body: `  if (atomicLoad(&Err[0]) != pu(0u)) { return; }
  let pos = atomicLoad(&Err[1]);
  if (pos == 0xffffffffu) { return; }
  let k = pu(1u);
  atomicStore(&Err[2], bitcast<u32>(Index[(pos / k) * pu(2u) + pos % k]));`,
  });
}

/**
 * The shared head of gather and scatterAdd: element (o, j, i) of the output, its row s of x from
 * the index, and the bad-index report (`onBad` runs before the early return).
 */
function indexedRow(onBad: string): string {
  return `  let outer = pu(0u); let size = pu(1u); let inner = pu(2u); let k = pu(3u);
  if (gid >= outer * k * inner) { return; }
  let i = gid % inner;
  let r = gid / inner;
  let j = r % k;
  let o = r / k;
  let s = Index[o * pu(4u) + j];
  if (s < 0 || u32(s) >= size) {
    if (i == 0u) { reportBad(pu(5u), r); }
${onBad}    return;
  }`;
}

/**
 * out[o, j, i] = x[o, index[o·stride + j], i] on raw 32-bit words (f32 and i32 alike).
 * Words: 0 outer, 1 size, 2 inner, 3 k, 4 indexOuterStride, 5 error tag.
 */
export function gatherKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'X', type: 'u32' }, { name: 'Index', type: 'i32' }, { name: 'Out', type: 'u32', write: true }, ERR_BINDING],
    decls: ERR_FN,
    body: `${indexedRow('    Out[gid] = 0u;\n')}
  Out[gid] = X[(o * size + u32(s)) * inner + i];`,
  });
}

/** out[o, index[..], i] += src[o, j, i] (out zeroed first); f32 adds by compare-and-swap. Words as gather. */
export function scatterAddKernel(t: WgslType): Kernel {
  const add = t === 'f32'
    ? `  loop {
    let old = atomicLoad(&Out[p]);
    let r = atomicCompareExchangeWeak(&Out[p], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
  }`
    : '  atomicAdd(&Out[p], v);';
  return renderKernel({
    bindings: [{ name: 'Src', type: t }, { name: 'Index', type: 'i32' }, { name: 'Out', type: t === 'f32' ? 'atomic<u32>' : 'atomic<i32>', write: true }, ERR_BINDING],
    decls: ERR_FN,
    body: `${indexedRow('')}
  let p = (o * size + u32(s)) * inner + i;
  let v = Src[gid];
${add}`,
  });
}
