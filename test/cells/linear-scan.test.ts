/**
 * The fused linear-scan cells on the CPU (src/backend/cpu/cell-scan.ts, rendered from the
 * definitions in src/cells/definitions/min-rnn.ts) against the composite ops that evaluate the
 * same definitions with tensor ops and autograd: forward and gradients w.r.t. the projection and
 * h0 in f64 (within 1e-10 relative), f64 gradients against central differences, and the log-
 * and real-space composite paths against each other. Awkward sizes: B 1, T 1, D not a multiple of 4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { cellScan } from '../../src/cells/linear-scan.js';
import { minGruDefinition, minLstmDefinition } from '../../src/cells/definitions/index.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost } from '../../src/tensor/creation.js';
import { scope } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/random.js';
import { checkOp } from '../helpers/gradcheck.js';
import { assertClose } from '../helpers/assert.js';

const CELLS = [minGruDefinition, minLstmDefinition];
const SHAPES: Array<[number, number, number]> = [[1, 1, 1], [2, 5, 3], [3, 17, 6], [1, 64, 5]];

function values(n: number, rng: Rng, lo = -3, hi = 3): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

for (const cell of CELLS) {
  test(`${cell.name}: the fused CPU kernel equals the composite ops (log and real space), forward and gradients, with and without h0`, () => {
    const rng = new Rng(7);
    const before = getBackend().liveBuffers();
    for (const [B, T, D] of SHAPES) {
      for (const withH0 of [false, true]) {
        const p = values(B * T * cell.chunks * D, rng), h = values(B * D, rng, 0.1, 2), w = values(B * T * D, rng);
        const run = (fused: boolean, scan: 'log' | 'real') => scope(() => {
          const proj = fromHost(p, [B, T, cell.chunks * D], { dtype: 'f64', requiresGrad: true });
          const h0 = withH0 ? fromHost(h, [B, D], { dtype: 'f64', requiresGrad: true }) : null;
          const y = cellScan(cell, proj, { h0, fused, scan });
          y.backward(fromHost(w, [B, T, D], { dtype: 'f64' }));
          return [y.dataSync(), proj.grad!.dataSync(), ...(h0 ? [h0.grad!.dataSync()] : [])].map((a) => Array.from(a));
        });
        const fused = run(true, 'log');
        for (const scan of ['log', 'real'] as const) {
          const ref = run(false, scan);
          ref.forEach((want, i) => assertClose(fused[i], want, 1e-10, `${cell.name} [${B}, ${T}, ${D}] h0=${withH0} vs ${scan}: output ${i}`));
        }
      }
    }
    assert.equal(getBackend().liveBuffers(), before, 'no buffers leak');
  });

  test(`${cell.name}: fused CPU gradients match central differences (f64)`, () => {
    const [B, T, D] = [2, 7, 3];
    checkOp({
      name: `${cell.name} fused`, shapes: [[B, T, cell.chunks * D], [B, D]], range: (i) => (i === 0 ? [-3, 3] : [0.1, 2]), avoid: [0],
      fn: (proj, h0) => cellScan(cell, proj, { h0 }),
    });
  });
}
