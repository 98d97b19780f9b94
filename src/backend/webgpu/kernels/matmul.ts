/**
 * Tiled f32 GEMM: C[b] (+)= op(A[b])·op(B[b]) with either operand transposed, element offsets and
 * batch strides (0 broadcasts) from the uniform block. A workgroup computes a BM×BN tile of C,
 * staging BK-deep slices of A and B in workgroup memory (B as vec4 rows); each thread accumulates
 * a TM×TN block in vec4 registers. The inner loops are unrolled by the renderer (no private arrays
 * indexed at run time, which some compilers keep in memory). The grid is (tiles along n, tiles
 * along m, batch).
 */
import { renderKernel, type Kernel } from '../wgsl.js';

export interface MatmulTile { bm: number; bn: number; bk: number; tm: number; tn: number }

/** Small problems: 64×64 tiles (less waste at the edges); large ones: 128×128, 8×8 per thread. */
export const TILE_SMALL: MatmulTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
export const TILE_LARGE: MatmulTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };

export const tileThreads = (t: MatmulTile): number => (t.bm / t.tm) * (t.bn / t.tn);
/** Workgroup memory of a tile configuration, in bytes. */
export const tileBytes = (t: MatmulTile): number => 4 * t.bk * (t.bm + t.bn);

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Words: 0 m, 1 n, 2 k, 3 transA, 4 transB, 5 aOffset, 6 bOffset, 7 cOffset, 8 aBatchStride, 9 bBatchStride, 10 accumulate. */
export function matmulKernel(t: MatmulTile): Kernel {
  const threads = tileThreads(t), tx = t.bn / t.tn, tn4 = t.tn / 4, bn4 = t.bn / 4;
  const loadsA = (t.bm * t.bk) / threads, loadsB = (t.bn * t.bk) / threads;
  const acc = (i: number, j: number) => `c${i}_${j}`;
  const decl = range(t.tm).flatMap((i) => range(tn4).map((j) => `  var ${acc(i, j)} = vec4<f32>(0.0);`)).join('\n');
  const inner = range(t.bk).map((kk) => ['    {',
    ...range(t.tm).map((i) => `    let a${i} = As[${kk * t.bm}u + ty * ${t.tm}u + ${i}u];`),
    ...range(tn4).map((j) => `    let b${j} = Bs[${kk * bn4}u + tx * ${tn4}u + ${j}u];`),
    ...range(t.tm).flatMap((i) => range(tn4).map((j) => `    ${acc(i, j)} = fma(vec4<f32>(a${i}), b${j}, ${acc(i, j)});`)),
    '    }',
  ].join('\n')).join('\n');
  const store = range(t.tm).flatMap((i) => range(tn4).flatMap((j) => range(4).map((e) =>
    `  store(row0 + ty * ${t.tm}u + ${i}u, col0 + tx * ${t.tn}u + ${4 * j + e}u, ${acc(i, j)}[${e}]);`))).join('\n');
  return renderKernel({
    workgroup: threads,
    bindings: [{ name: 'A', type: 'f32' }, { name: 'B', type: 'f32' }, { name: 'C', type: 'f32', write: true }],
    decls: `var<workgroup> As: array<f32, ${t.bk * t.bm}>;
var<workgroup> Bs: array<vec4<f32>, ${t.bk * bn4}>;
var<private> cBase: u32;
fn store(r: u32, c: u32, v: f32) {
  if (r >= pu(0u) || c >= pu(1u)) { return; }
  let p = cBase + r * pu(1u) + c;
  if (pu(10u) != 0u) { C[p] = C[p] + v; } else { C[p] = v; }
}
fn loadB(bBase: u32, r: u32, c: u32) -> f32 {
  if (r >= pu(2u) || c >= pu(1u)) { return 0.0; }
  return B[bBase + select(r * pu(1u) + c, c * pu(2u) + r, pu(4u) != 0u)];
}`,
    body: `  let m = pu(0u); let n = pu(1u); let k = pu(2u);
  let transA = pu(3u) != 0u; let transB = pu(4u) != 0u;
  let batch = wid.z;
  let aBase = pu(5u) + batch * pu(8u);
  let bBase = pu(6u) + batch * pu(9u);
  cBase = pu(7u) + batch * m * n;
  let row0 = wid.y * ${t.bm}u;
  let col0 = wid.x * ${t.bn}u;
  let ty = lid / ${tx}u;
  let tx = lid % ${tx}u;
${decl}
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
    for (var l = 0u; l < ${loadsB / 4}u; l++) {
      // four consecutive columns of one row of op(B) per load
      let idx = lid + l * ${threads}u;
      let r = idx / ${bn4}u; let c4 = idx % ${bn4}u;
      let gr = k0 + r; let gc = col0 + 4u * c4;
      Bs[r * ${bn4}u + c4] = vec4<f32>(loadB(bBase, gr, gc), loadB(bBase, gr, gc + 1u), loadB(bBase, gr, gc + 2u), loadB(bBase, gr, gc + 3u));
    }
    workgroupBarrier();
${inner}
    workgroupBarrier();
  }
${store}`,
  });
}
