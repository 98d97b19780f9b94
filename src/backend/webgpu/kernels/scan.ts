/**
 * Scans along the axis of an (outer, size, inner) layout, one thread per channel (o, i) walking
 * the axis: cumsum, logcumsumexp and the real/log first-order linear scan share one kernel; the
 * scan's reverse-mode gradient; and the LRU's packed complex scan with its gradient. Channels are
 * the fast index (inner), so each step's loads are coalesced across threads.
 */
import { renderKernel, type Kernel } from '../wgsl.js';

/**
 * h_t = a_t·h_{t−1} + b_t, or log-space h_t = logaddexp(a_t + h_{t−1}, b_t); a is the constant
 * word 4 when word 3 is 0 (cumsum: 1; logcumsumexp: 0 in log space).
 * Words: 0 outer, 1 size, 2 inner, 3 hasA, 4 aConst, 5 hasH0, 6 reverse, 7 logSpace.
 */
export function scanKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'A', type: 'f32' }, { name: 'B', type: 'f32' }, { name: 'H0', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    body: `  let outer = pu(0u); let size = pu(1u); let inner = pu(2u);
  if (gid >= outer * inner) { return; }
  let i = gid % inner;
  let o = gid / inner;
  let hasA = pu(3u) != 0u; let aConst = pf(4u); let reverse = pu(6u) != 0u; let logSpace = pu(7u) != 0u;
  var h = select(0.0, -INF, logSpace);
  if (pu(5u) != 0u) { h = H0[gid]; }
  for (var j = 0u; j < size; j++) {
    let s = select(j, size - 1u - j, reverse);
    let p = (o * size + s) * inner + i;
    var a = aConst;
    if (hasA) { a = A[p]; }
    let b = B[p];
    if (logSpace) { h = logaddexp_(a + h, b); } else { h = a * h + b; }
    Out[p] = h;
  }`,
  });
}

/**
 * Real space: g_t = dh_t + a_{t+1} g_{t+1}; da_t = g_t h_{t−1}; db_t = g_t; dh0 = a_1 g_1.
 * Log space: w_t = e^{a_t + L_{t−1} − L_t}; da_t = g_t w_t; db_t = g_t e^{b_t − L_t}; g carries w.
 * Words: 0 outer, 1 size, 2 inner, 3 hasH0, 4 hasDH0, 5 logSpace.
 */
export function scanGradKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'A', type: 'f32' }, { name: 'B', type: 'f32' }, { name: 'H', type: 'f32' }, { name: 'H0', type: 'f32' },
      { name: 'DH', type: 'f32' }, { name: 'DA', type: 'f32', write: true }, { name: 'DB', type: 'f32', write: true },
      { name: 'DH0', type: 'f32', write: true }],
    body: `  let outer = pu(0u); let size = pu(1u); let inner = pu(2u);
  if (gid >= outer * inner) { return; }
  let i = gid % inner;
  let o = gid / inner;
  let logSpace = pu(5u) != 0u;
  let none = select(0.0, -INF, logSpace);
  var carry = 0.0;
  for (var j = 0u; j < size; j++) {
    let t = size - 1u - j;
    let p = (o * size + t) * inner + i;
    let g = DH[p] + carry;
    var prev = none;
    if (t > 0u) { prev = H[p - inner]; } else if (pu(3u) != 0u) { prev = H0[gid]; }
    if (logSpace) {
      let L = H[p];
      let w = select(exp(A[p] + prev - L), 0.0, prev == -INF || L == -INF);
      DA[p] = g * w;
      DB[p] = select(g * exp(B[p] - L), 0.0, B[p] == -INF || L == -INF);
      carry = g * w;
    } else {
      DA[p] = g * prev;
      DB[p] = g;
      carry = g * A[p];
    }
  }
  if (pu(4u) != 0u) { DH0[gid] = carry; }`,
  });
}

/**
 * x_t = λ·x_{t−1} + u_t per complex channel; packed u, x [outer, time, 2, C], λ [2, C].
 * Words: 0 outer, 1 time, 2 C, 3 hasX0.
 */
export function complexScanKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Lambda', type: 'f32' }, { name: 'U', type: 'f32' }, { name: 'X0', type: 'f32' }, { name: 'Out', type: 'f32', write: true }],
    body: `  let outer = pu(0u); let time = pu(1u); let C = pu(2u);
  if (gid >= outer * C) { return; }
  let c = gid % C;
  let o = gid / C;
  let ar = Lambda[c]; let ai = Lambda[C + c];
  var xr = 0.0; var xi = 0.0;
  if (pu(3u) != 0u) { xr = X0[o * 2u * C + c]; xi = X0[o * 2u * C + C + c]; }
  for (var t = 0u; t < time; t++) {
    let row = (o * time + t) * 2u * C;
    let nr = ar * xr - ai * xi + U[row + c];
    let ni = ar * xi + ai * xr + U[row + C + c];
    xr = nr; xi = ni;
    Out[row + c] = xr;
    Out[row + C + c] = xi;
  }`,
  });
}

/**
 * G_t = dx_t + conj(λ) G_{t+1}; du_t = G_t; partial dλ of the sequence = Σ_t G_t conj(x_{t−1})
 * into Partial [outer, 2, C] (summed over sequences by a column reduction); dx0 = conj(λ) G_1.
 * Words: 0 outer, 1 time, 2 C, 3 hasX0, 4 hasDX0.
 */
export function complexScanGradKernel(): Kernel {
  return renderKernel({
    bindings: [{ name: 'Lambda', type: 'f32' }, { name: 'X', type: 'f32' }, { name: 'X0', type: 'f32' }, { name: 'DX', type: 'f32' },
      { name: 'DU', type: 'f32', write: true }, { name: 'Partial', type: 'f32', write: true }, { name: 'DX0', type: 'f32', write: true }],
    body: `  let outer = pu(0u); let time = pu(1u); let C = pu(2u);
  if (gid >= outer * C) { return; }
  let c = gid % C;
  let o = gid / C;
  let ar = Lambda[c]; let ai = Lambda[C + c];
  let hasX0 = pu(3u) != 0u;
  var cr = 0.0; var ci = 0.0; var sr = 0.0; var si = 0.0;
  for (var j = 0u; j < time; j++) {
    let t = time - 1u - j;
    let row = (o * time + t) * 2u * C;
    let gr = DX[row + c] + cr;
    let gi = DX[row + C + c] + ci;
    DU[row + c] = gr;
    DU[row + C + c] = gi;
    var pr = 0.0; var pim = 0.0;
    if (t > 0u) { pr = X[row - 2u * C + c]; pim = X[row - 2u * C + C + c]; }
    else if (hasX0) { pr = X0[o * 2u * C + c]; pim = X0[o * 2u * C + C + c]; }
    sr += gr * pr + gi * pim;
    si += gi * pr - gr * pim;
    cr = ar * gr + ai * gi;
    ci = ar * gi - ai * gr;
  }
  Partial[o * 2u * C + c] = sr;
  Partial[o * 2u * C + C + c] = si;
  if (pu(4u) != 0u) { DX0[o * 2u * C + c] = cr; DX0[o * 2u * C + C + c] = ci; }`,
  });
}
