/**
 * Kernels rendered from cell definitions (src/backend/pointwise): the gated linear recurrence of a
 * LinearScanCellDef (minGRU, minLSTM, a user's) fused with its gate math, forward and backward,
 * one thread per (batch row, unit) walking the time axis; and the per-step pointwise kernels of a
 * RnnCellDef's time loop (LSTM, GRU, Elman, sLSTM, a user's), one thread per (head, batch row,
 * unit), between which the backend runs the recurrent GEMMs (see WebGPUBackend.rnnForward).
 */
import { scanBackwardStep, type LinearScanCellDef } from '../../pointwise/linear-scan-cell.js';
import type { RnnCellDef } from '../../pointwise/rnn-cell.js';
import { renderExprs, renderKernel, type Kernel } from '../wgsl.js';

const indexOf = (name: string): number => Number(name.replace(/^[a-z]+/, ''));
const indent = (code: string, n: number): string => code.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

/**
 * h_t = a_t·h_{t−1} + b_t with (a_t, b_t) from the projection's chunks: proj [B, T, C·D],
 * h0 [B, D] (word 3), h [B, T, D]. Words: 0 B, 1 T, 2 D, 3 hasH0.
 */
export function cellScanKernel(cell: LinearScanCellDef): Kernel {
  const C = cell.chunks;
  const { code, results: [a, b] } = renderExprs([cell.coefficients.a, cell.coefficients.b], (n) => `Proj[base + ${indexOf(n)}u * D]`);
  return renderKernel({
    bindings: [{ name: 'Proj', type: 'f32' }, { name: 'H0', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    body: `  let B = pu(0u); let T = pu(1u); let D = pu(2u);
  if (gid >= B * D) { return; }
  let k = gid % D;
  let row = gid / D;
  var h = 0.0;
  if (pu(3u) != 0u) { h = H0[gid]; }
  for (var t = 0u; t < T; t++) {
    let base = (row * T + t) * ${C}u * D + k;
${indent(code, 4)}
    h = ${a} * h + ${b};
    Out[(row * T + t) * D + k] = h;
  }`,
  });
}

/**
 * The reverse scan with the cell's backward: g_t = dh_t + a_{t+1}·g_{t+1}, dp from
 * scanBackwardStep; dh0 = a_1·g_1. Words: 0 B, 1 T, 2 D, 3 hasH0, 4 hasDH0.
 */
export function cellScanGradKernel(cell: LinearScanCellDef): Kernel {
  const C = cell.chunks;
  const outs = scanBackwardStep(cell);
  const { code, results } = renderExprs(outs, (n) => {
    if (n === 'dh') return 'DH[hp]';
    if (n === 'carry') return 'carry';
    if (n === 'hprev') return 'hprev';
    return `Proj[base + ${indexOf(n)}u * D]`;
  });
  const writes = results.slice(0, C).map((r, c) => `    DP[base + ${c}u * D] = ${r};`).join('\n');
  return renderKernel({
    bindings: [{ name: 'Proj', type: 'f32' }, { name: 'H0', type: 'f32' }, { name: 'H', type: 'f32' }, { name: 'DH', type: 'f32' },
      { name: 'DP', type: 'f32', write: true }, { name: 'DH0', type: 'f32', write: true }],
    body: `  let B = pu(0u); let T = pu(1u); let D = pu(2u);
  if (gid >= B * D) { return; }
  let k = gid % D;
  let row = gid / D;
  var carry = 0.0;
  for (var j = 0u; j < T; j++) {
    let t = T - 1u - j;
    let base = (row * T + t) * ${C}u * D + k;
    let hp = (row * T + t) * D + k;
    var hprev = 0.0;
    if (t > 0u) { hprev = H[hp - D]; } else if (pu(3u) != 0u) { hprev = H0[gid]; }
${indent(code, 4)}
${writes}
    carry = ${results[C]};
  }
  if (pu(4u) != 0u) { DH0[gid] = carry; }`,
  });
}

/**
 * One step of the forward time loop for all heads, batch rows and units (thread (n, b, j)):
 * x_g = wx + input bias, r_g = the step's recurrent product, rb = recurrent-only biases, s = the
 * states in hist slot `prev` → the states in slot `next`, h to out and (keep) the saved values.
 * Layouts as src/backend/cpu/rnn.ts: wx [B, T, G, N, d], bias [Gb, N, d], rh [N, B, G·d],
 * hist [S, N, slots, B, d] then gates [T, N, B, Gs, d] in the same buffer (Hist), out [B, T, N·d].
 * Words: 0 B, 1 T, 2 N, 3 d, 4 slots, 5 t, 6 prev, 7 next, 8 keep, 9 gates offset.
 */
export function rnnForwardStepKernel(cell: RnnCellDef): Kernel {
  const G = cell.gates, S = cell.states, Gs = cell.saved;
  const outputs = [...cell.forward.states, ...cell.forward.saved];
  const { code, results } = renderExprs(outputs, (n) => {
    const k = indexOf(n);
    if (n.startsWith('x')) return `(Wx[((b * T + t) * ${G}u + ${k}u) * H + n * d + j] + Bias[${k}u * H + n * d + j])`;
    if (n.startsWith('rb')) return `Bias[${G + k}u * H + n * d + j]`;
    if (n.startsWith('r')) return `Rh[(n * B + b) * ${G}u * d + ${k}u * d + j]`;
    return `Hist[state(${k}u, prev)]`;
  });
  const stores = [
    ...Array.from({ length: S }, (_, s) => `  Hist[state(${s}u, next)] = ${results[s]};`),
    `  Out[(b * T + t) * H + n * d + j] = ${results[0]};`,
    ...(Gs > 0 ? [`  if (pu(8u) != 0u) {`, ...Array.from({ length: Gs }, (_, k) =>
      `    Hist[pu(9u) + (((t * N + n) * B + b) * ${Gs}u + ${k}u) * d + j] = ${results[S + k]};`), '  }'] : []),
  ];
  return renderKernel({
    bindings: [{ name: 'Wx', type: 'f32' }, { name: 'Bias', type: 'f32' }, { name: 'Rh', type: 'f32' },
      { name: 'Hist', type: 'f32', write: true }, { name: 'Out', type: 'f32', write: true }],
    decls: RNN_INDEX,
    body: `${RNN_UNIT}
  let prev = pu(6u); let next = pu(7u);
${indent(code, 2)}
${stores.join('\n')}`,
  });
}

/**
 * One step of BPTT for all units: from the saved values, the states before (slot t) and after
 * (slot t + 1), d0 = dout_t + carry_0 + dhRec and d_s = carry_s → dwx (dx), dRh (dr), the
 * recurrent-only bias gradients (drb, into Drb [T, B, Gb − G, N, d] for a column sum) and the new
 * carry (dp). Carry [S, N, B, d], dhRec [N, B, d], dRh [N, T, B, G·d].
 * Words: 0 B, 1 T, 2 N, 3 d, 4 slots, 5 t, 9 gates offset.
 */
export function rnnBackwardStepKernel(cell: RnnCellDef): Kernel {
  const G = cell.gates, S = cell.states, Gs = cell.saved, R = cell.biases - G;
  const { dx, dr, drb, dp } = cell.backward;
  const { code, results } = renderExprs([...dx, ...dr, ...drb, ...dp], (n) => {
    const k = indexOf(n);
    if (n.startsWith('g')) return `Saved[pu(9u) + (((t * N + n) * B + b) * ${Gs}u + ${k}u) * d + j]`;
    if (n.startsWith('s')) return `Saved[state(${k}u, t)]`;
    if (n.startsWith('n')) return `Saved[state(${k}u, t + 1u)]`;
    if (k === 0) return `(Dout[(b * T + t) * H + n * d + j] + Carry[unit] + DhRec[unit])`;
    return `Carry[${k}u * N * B * d + unit]`;
  });
  const stores = [
    ...Array.from({ length: G }, (_, g) => `  Dwx[((b * T + t) * ${G}u + ${g}u) * H + n * d + j] = ${results[g]};`),
    ...Array.from({ length: G }, (_, g) => `  DRh[((n * T + t) * B + b) * ${G}u * d + ${g}u * d + j] = ${results[G + g]};`),
    ...Array.from({ length: R }, (_, k) => `  Drb[((t * B + b) * ${R}u + ${k}u) * H + n * d + j] = ${results[2 * G + k]};`),
    ...Array.from({ length: S }, (_, s) => `  Carry[${s}u * N * B * d + unit] = ${results[2 * G + R + s]};`),
  ];
  return renderKernel({
    bindings: [{ name: 'Saved', type: 'f32' }, { name: 'Dout', type: 'f32' }, { name: 'DhRec', type: 'f32' },
      { name: 'Carry', type: 'f32', write: true }, { name: 'Dwx', type: 'f32', write: true }, { name: 'DRh', type: 'f32', write: true },
      { name: 'Drb', type: 'f32', write: true }],
    decls: RNN_INDEX,
    body: `${RNN_UNIT}
  let unit = (n * B + b) * d + j;
${indent(code, 2)}
${stores.join('\n')}`,
  });
}

/** hist index of state s in slot `slot` for the thread's (n, b, j). */
const RNN_INDEX = `var<private> n: u32; var<private> b: u32; var<private> j: u32;
fn state(s: u32, slot: u32) -> u32 {
  let N = pu(2u); let B = pu(0u); let d = pu(3u); let slots = pu(4u);
  return (((s * N + n) * slots + slot) * B + b) * d + j;
}`;

/** The thread's head n, batch row b and unit j, and the sizes. */
const RNN_UNIT = `  let B = pu(0u); let T = pu(1u); let N = pu(2u); let d = pu(3u);
  let H = N * d;
  if (gid >= N * B * d) { return; }
  j = gid % d;
  b = (gid / d) % B;
  n = gid / (d * B);
  let t = pu(5u);`;
