/**
 * The f32x4 fused linear-scan kernels (cell-scan-simd.ts, rendered from each LinearScanCellDef by
 * wasm/linear-scan.ts) against the scalar kernels of cell-scan.ts run in doubles on the same
 * (f32) inputs: forward h, dproj and dh0, with and without h0, at awkward sizes (B 1, T 1, D 1,
 * D not a multiple of 4, T not a power of 2, D spanning several 16-channel blocks) on 1 and 2
 * threads. Tolerance 2e-5 relative to 1 + |value|: the f32 math functions (≤ 3 ulp) accumulated
 * through the recurrence.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cellScanSimd, cellScanGradSimd, CELL_SCAN_THREAD_MIN } from '../../../src/backend/cpu/cell-scan-simd.js';
import { cellScan, cellScanGrad } from '../../../src/backend/cpu/cell-scan.js';
import { minGruDefinition, minLstmDefinition } from '../../../src/cells/definitions/min-rnn.js';
import { _setMatmulThreadBackoff, kernelCounters } from '../../../src/backend/cpu/matmul.js';
import { cpuThreadsReady, disableCpuThreads, enableCpuThreads } from '../../../src/backend/cpu/threads-node.js';
import { hasWasmSimd } from '../../../src/backend/cpu/wasm/emitter.js';
import { Rng } from '../../../src/tensor/random.js';

const rng = new Rng(5);
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 7, 5], [3, 1, 4], [2, 13, 37], [4, 33, 64], [2, 300, 130]];
const TOL = 2e-5;

function check(got: Float32Array, want: Float64Array, what: string): void {
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= TOL * (1 + Math.abs(want[i]!)))) assert.fail(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
}

const uniform = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());

function runAll(threads: number): void {
  for (const cell of [minGruDefinition, minLstmDefinition]) {
    for (const [B, T, D] of SHAPES) {
      for (const withH0 of [false, true]) {
        const C = cell.chunks, what = `${cell.name} [${B}, ${T}, ${D}] h0=${withH0} threads=${threads}`;
        const proj = uniform(B * T * C * D, -4, 4);
        const h0 = withH0 ? uniform(B * D, 0.1, 2) : null;
        const dh = uniform(B * T * D, -1, 1);
        const out = new Float32Array(B * T * D).fill(NaN);
        assert.ok(cellScanSimd(cell, proj, h0, out, B, T, D), `${what}: SIMD path ran`);
        const want = new Float64Array(B * T * D);
        cellScan(cell, Float64Array.from(proj), h0 && Float64Array.from(h0), want, B, T, D);
        check(out, want, `${what} h`);
        const dproj = new Float32Array(B * T * C * D).fill(NaN), dh0 = withH0 ? new Float32Array(B * D).fill(NaN) : null;
        assert.ok(cellScanGradSimd(cell, proj, h0, out, dh, dproj, dh0, B, T, D));
        const wantDp = new Float64Array(B * T * C * D), wantDh0 = withH0 ? new Float64Array(B * D) : null;
        cellScanGrad(cell, Float64Array.from(proj), h0 && Float64Array.from(h0), Float64Array.from(out), Float64Array.from(dh), wantDp, wantDh0, B, T, D);
        check(dproj, wantDp, `${what} dproj`);
        if (dh0) check(dh0, wantDh0!, `${what} dh0`);
      }
    }
  }
}

test('f32x4 fused minGRU / minLSTM scans equal the scalar kernels (1 thread)', (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD'); return; }
  disableCpuThreads();
  const before = kernelCounters.threaded;
  runAll(1);
  assert.equal(kernelCounters.threaded, before, 'no helper jobs on one thread');
});

test('f32x4 fused minGRU / minLSTM scans equal the scalar kernels (2 threads)', async (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD'); return; }
  _setMatmulThreadBackoff(false);
  enableCpuThreads(2);
  assert.equal(await cpuThreadsReady(), 2);
  const before = kernelCounters.threaded;
  runAll(2);
  assert.ok(2 * 300 * 132 >= CELL_SCAN_THREAD_MIN && kernelCounters.threaded > before, 'the large shapes were offered to the helper');
});

after(() => {
  disableCpuThreads();
  _setMatmulThreadBackoff(true);
});
