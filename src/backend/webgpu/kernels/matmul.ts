/**
 * Tiled f32 GEMM: C[b] (+)= op(A[b])·op(B[b]) with either operand transposed, element offsets and
 * batch strides (0 broadcasts) from the uniform block. A workgroup computes a BM×BN tile of C,
 * staging BK-deep slices of A and B in workgroup memory; each thread accumulates a TM×TN block in
 * registers. The grid is (tiles along n, tiles along m, batch).
 */
import { renderKernel, type Kernel } from '../wgsl.js';

export interface MatmulTile { bm: number; bn: number; bk: number; tm: number; tn: number }

/** Small problems: 64×64 tiles (less waste at the edges); large ones: 128×128, 8×8 per thread. */
export const TILE_SMALL: MatmulTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
export const TILE_LARGE: MatmulTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };

export const tileThreads = (t: MatmulTile): number => (t.bm / t.tm) * (t.bn / t.tn);
/** Workgroup memory of a tile configuration, in bytes. */
export const tileBytes = (t: MatmulTile): number => 4 * t.bk * (t.bm + t.bn);

/** Words: 0 m, 1 n, 2 k, 3 transA, 4 transB, 5 aOffset, 6 bOffset, 7 cOffset, 8 aBatchStride, 9 bBatchStride, 10 accumulate. */
export function matmulKernel(t: MatmulTile): Kernel {
  const threads = tileThreads(t), tx = t.bn / t.tn;
  const loadsA = (t.bm * t.bk) / threads, loadsB = (t.bn * t.bk) / threads;
  return renderKernel({
    workgroup: threads,
    bindings: [{ name: 'A', type: 'f32' }, { name: 'B', type: 'f32' }, { name: 'C', type: 'f32', write: true }],
    decls: `var<workgroup> As: array<f32, ${t.bk * t.bm}>;\nvar<workgroup> Bs: array<f32, ${t.bk * t.bn}>;`,
    body: `  let m = pu(0u); let n = pu(1u); let k = pu(2u);
  let transA = pu(3u) != 0u; let transB = pu(4u) != 0u;
  let batch = wid.z;
  let aBase = pu(5u) + batch * pu(8u);
  let bBase = pu(6u) + batch * pu(9u);
  let cBase = pu(7u) + batch * m * n;
  let row0 = wid.y * ${t.bm}u;
  let col0 = wid.x * ${t.bn}u;
  let ty = lid / ${tx}u;
  let tx = lid % ${tx}u;
  var acc: array<f32, ${t.tm * t.tn}>;
  for (var k0 = 0u; k0 < k; k0 += ${t.bk}u) {
    for (var l = 0u; l < ${loadsA}u; l++) {
      let idx = lid + l * ${threads}u;
      // along the contiguous axis of A's storage, so that neighbouring threads read neighbouring words
      var r = idx / ${t.bk}u; var c = idx % ${t.bk}u;
      if (transA) { r = idx % ${t.bm}u; c = idx / ${t.bm}u; }
      let gr = row0 + r; let gc = k0 + c;
      var v = 0.0;
      if (gr < m && gc < k) { v = A[aBase + select(gr * k + gc, gc * m + gr, transA)]; }
      As[c * ${t.bm}u + r] = v;
    }
    for (var l = 0u; l < ${loadsB}u; l++) {
      let idx = lid + l * ${threads}u;
      var r = idx / ${t.bn}u; var c = idx % ${t.bn}u;
      if (transB) { r = idx % ${t.bk}u; c = idx / ${t.bk}u; }
      let gr = k0 + r; let gc = col0 + c;
      var v = 0.0;
      if (gr < k && gc < n) { v = B[bBase + select(gr * n + gc, gc * k + gr, transB)]; }
      Bs[r * ${t.bn}u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.bk}u; kk++) {
      var a: array<f32, ${t.tm}>;
      var b: array<f32, ${t.tn}>;
      for (var i = 0u; i < ${t.tm}u; i++) { a[i] = As[kk * ${t.bm}u + ty * ${t.tm}u + i]; }
      for (var j = 0u; j < ${t.tn}u; j++) { b[j] = Bs[kk * ${t.bn}u + tx * ${t.tn}u + j]; }
      for (var i = 0u; i < ${t.tm}u; i++) {
        for (var j = 0u; j < ${t.tn}u; j++) { acc[i * ${t.tn}u + j] = fma(a[i], b[j], acc[i * ${t.tn}u + j]); }
      }
    }
    workgroupBarrier();
  }
  let accumulate = pu(10u) != 0u;
  for (var i = 0u; i < ${t.tm}u; i++) {
    let gr = row0 + ty * ${t.tm}u + i;
    if (gr >= m) { break; }
    for (var j = 0u; j < ${t.tn}u; j++) {
      let gc = col0 + tx * ${t.tn}u + j;
      if (gc >= n) { break; }
      let p = cBase + gr * n + gc;
      var v = acc[i * ${t.tn}u + j];
      if (accumulate) { v += C[p]; }
      C[p] = v;
    }
  }`,
  });
}
