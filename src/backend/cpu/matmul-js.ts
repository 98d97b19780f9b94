/**
 * Portable pure-TypeScript matmul: the fallback of the CPU backend (f64 inputs, tiny sizes, and
 * engines without WebAssembly SIMD). Same contract as `matmul` in matmul.ts.
 *
 * Blocked i-k-j order: op(B) rows are read contiguously (transposed B is first repacked into a
 * scratch buffer), four rows of C are updated per pass over a row of op(B), and the j/k loops are
 * tiled so that the touched part of op(B) stays in cache. Accumulation happens in the element type
 * of C (each partial sum is rounded to f32 for Float32Array outputs).
 */
import type { FloatArray, MatmulSpec } from './matmul.js';

const NB = 256; // columns of C per tile
const KB = 128; // k-steps per tile

let scratch32: Float32Array | null = null;
let scratch64: Float64Array | null = null;

function scratchLike(c: FloatArray, size: number): FloatArray {
  if (c instanceof Float64Array) {
    if (!scratch64 || scratch64.length < size) scratch64 = new Float64Array(size);
    return scratch64;
  }
  if (!scratch32 || scratch32.length < size) scratch32 = new Float32Array(size);
  return scratch32;
}

export function matmulJs(a: FloatArray, b: FloatArray, c: FloatArray, spec: MatmulSpec): void {
  const { batch, m, n, k, transA, transB, accumulate } = spec;
  let packedFrom = -1; // source offset of the transposed B currently in scratch
  for (let bi = 0; bi < batch; bi++) {
    const ao = spec.aOffset + bi * spec.aBatchStride;
    let bo = spec.bOffset + bi * spec.bBatchStride;
    const co = spec.cOffset + bi * m * n;
    if (!accumulate) c.fill(0, co, co + m * n);
    if (k === 0) continue;
    let bm: FloatArray = b;
    if (transB) {
      // Repack op(B) = B^T ([n, k] stored) into a row-major [k, n] scratch (once per distinct B).
      const tmp = scratchLike(c, k * n);
      if (packedFrom !== bo) {
        for (let j = 0; j < n; j++) {
          const src = bo + j * k;
          for (let p = 0; p < k; p++) tmp[p * n + j] = b[src + p]!;
        }
        packedFrom = bo;
      }
      bm = tmp;
      bo = 0;
    }
    // op(A)(i, p) = a[ao + i*ars + p*acs]
    const ars = transA ? 1 : k;
    const acs = transA ? m : 1;
    gemmBlocked(a, ao, ars, acs, bm, bo, c, co, m, n, k);
  }
}

function gemmBlocked(
  a: FloatArray, ao: number, ars: number, acs: number,
  b: FloatArray, bo: number,
  c: FloatArray, co: number,
  m: number, n: number, k: number,
): void {
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(n, j0 + NB);
    for (let p0 = 0; p0 < k; p0 += KB) {
      const p1 = Math.min(k, p0 + KB);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = co + i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
        const r0 = ao + i * ars, r1 = r0 + ars, r2 = r1 + ars, r3 = r2 + ars;
        for (let p = p0; p < p1; p++) {
          const pa = p * acs;
          const a0 = a[r0 + pa]!, a1 = a[r1 + pa]!, a2 = a[r2 + pa]!, a3 = a[r3 + pa]!;
          const bRow = bo + p * n;
          for (let j = j0; j < j1; j++) {
            const bj = b[bRow + j]!;
            c[c0 + j] += a0 * bj;
            c[c1 + j] += a1 * bj;
            c[c2 + j] += a2 * bj;
            c[c3 + j] += a3 * bj;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = co + i * n;
        const r0 = ao + i * ars;
        for (let p = p0; p < p1; p++) {
          const a0 = a[r0 + p * acs]!;
          const bRow = bo + p * n;
          for (let j = j0; j < j1; j++) c[c0 + j] += a0 * b[bRow + j]!;
        }
      }
    }
  }
}
