/**
 * Fused RMSNorm / LayerNorm over the last axis (+ the residual add of a pre-norm block): one
 * workgroup per row. The backward writes dx per row and per-workgroup partial rows of the weight
 * and bias gradients (each workgroup walks a band of rows), summed by a column reduction.
 */
import { renderKernel, type Kernel } from '../wgsl.js';
import { ROW_WG } from './reduce.js';

const RED = `var<workgroup> red: array<f32, ${ROW_WG}>;
fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = ${ROW_WG / 2}u; w > 0u; w = w >> 1u) {
    if (lid < w) { red[lid] = red[lid] + red[lid + w]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;

/** Words: 0 rows, 1 cols, 2 layer, 3 hasResidual, 4 hasBias, 5 eps (f32). */
export function normKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'X', type: 'f32' }, { name: 'Res', type: 'f32' }, { name: 'W', type: 'f32' }, { name: 'Bias', type: 'f32' },
      { name: 'Sum', type: 'f32', write: true }, { name: 'Out', type: 'f32', write: true }],
    decls: RED,
    body: `  let row = group;
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
  let layer = pu(2u) != 0u; let hasRes = pu(3u) != 0u; let hasBias = pu(4u) != 0u;
  var s1 = 0.0;
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    var s = X[base + c];
    if (hasRes) { s += Res[base + c]; Sum[base + c] = s; }
    s1 += s;
  }
  let mu = select(0.0, wgSum(s1, lid) / f32(cols), layer);
  var s2 = 0.0;
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    var s = X[base + c];
    if (hasRes) { s += Res[base + c]; }
    s2 += (s - mu) * (s - mu);
  }
  let rstd = 1.0 / sqrt(wgSum(s2, lid) / f32(cols) + pf(5u));
  for (var c = lid; c < cols; c += ${ROW_WG}u) {
    var s = X[base + c];
    if (hasRes) { s += Res[base + c]; }
    var y = (s - mu) * rstd * W[c];
    if (hasBias) { y += Bias[c]; }
    Out[base + c] = y;
  }`,
  });
}

/**
 * x̂ = (s − μ)·rstd, g = dy·w: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) (no mean(g) term for RMS);
 * PW[band, c] = Σ dy·x̂, PB[band, c] = Σ dy over the band's rows.
 * Words: 0 rows, 1 cols, 2 layer, 3 hasBias, 4 eps, 5 rows per band.
 */
export function normGradKernel(): Kernel {
  return renderKernel({
    workgroup: ROW_WG,
    bindings: [{ name: 'S', type: 'f32' }, { name: 'W', type: 'f32' }, { name: 'DY', type: 'f32' }, { name: 'DX', type: 'f32', write: true },
      { name: 'PW', type: 'f32', write: true }, { name: 'PB', type: 'f32', write: true }],
    decls: RED,
    body: `  let rows = pu(0u); let cols = pu(1u);
  let layer = pu(2u) != 0u; let hasBias = pu(3u) != 0u; let band = pu(5u);
  let r0 = group * band;
  if (r0 >= rows) { return; }
  let r1 = min(rows, r0 + band);
  for (var c = lid; c < cols; c += ${ROW_WG}u) { PW[group * cols + c] = 0.0; if (hasBias) { PB[group * cols + c] = 0.0; } }
  for (var row = r0; row < r1; row++) {
    let base = row * cols;
    var s1 = 0.0;
    for (var c = lid; c < cols; c += ${ROW_WG}u) { s1 += S[base + c]; }
    let mu = select(0.0, wgSum(s1, lid) / f32(cols), layer);
    var s2 = 0.0;
    for (var c = lid; c < cols; c += ${ROW_WG}u) { let d = S[base + c] - mu; s2 += d * d; }
    let rstd = 1.0 / sqrt(wgSum(s2, lid) / f32(cols) + pf(4u));
    var sg = 0.0; var sgx = 0.0;
    for (var c = lid; c < cols; c += ${ROW_WG}u) {
      let xh = (S[base + c] - mu) * rstd;
      let g = DY[base + c] * W[c];
      sg += g; sgx += g * xh;
    }
    let mg = select(0.0, wgSum(sg, lid) / f32(cols), layer);
    let mgx = wgSum(sgx, lid) / f32(cols);
    for (var c = lid; c < cols; c += ${ROW_WG}u) {
      let xh = (S[base + c] - mu) * rstd;
      let dy = DY[base + c];
      DX[base + c] = rstd * (dy * W[c] - mg - xh * mgx);
      PW[group * cols + c] += dy * xh;
      if (hasBias) { PB[group * cols + c] += dy; }
    }
  }`,
  });
}
