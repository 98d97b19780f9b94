/**
 * Every cell of the registry on the WebGPU backend: forward and backward against the same cell on
 * the CPU in f64 with the same parameters (outputs, last states, the input gradient and every
 * parameter gradient); parallel = step on the device; the fused norm and complex scan kernels
 * against the CPU; and a short training run of a minGRU language model on the device whose
 * losses match the CPU run's and whose live buffer count stays flat.
 *
 * Tolerances (stated once): cells |dev − ref| ≤ 2e-4·|ref| + 2e-5·max|ref| (f32 GEMMs and f32
 * scans against f64; MesaNet's conjugate-gradient solves 1e-3 / 1e-4, as its early exit is tested
 * on residuals of f32 sums); parallel vs step on the device 1e-4 / 1e-5; training losses of the
 * device and the CPU (both f32) within 2e-3 relative at every step of the run.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import type { RecurrentCell, CellState } from '../../../src/cells/cell.js';
import { cellNames, createCell } from '../../../src/cells/registry.js';
import { RecurrentLM } from '../../../src/models/recurrent-lm.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { complexScan, hasComplexScan } from '../../../src/tensor/complex-scan.js';
import { fromHost } from '../../../src/tensor/creation.js';
import { addNorm, hasFusedNorm, norm, type NormKind } from '../../../src/nn/fused-norm.js';
import * as ops from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { trainStep } from '../../../src/train/step.js';
import type { Backend, DType } from '../../../src/backend/backend.js';
import { assertNear, compareOp, cpu, gpu, skipReason, type Tolerance } from './compare.js';

const CELL_TOL: Tolerance = { rtol: 2e-4, atol: 2e-5 };
const MESA_TOL: Tolerance = { rtol: 1e-3, atol: 1e-4 };
const STEP_TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };
const LOSS_RTOL = 2e-3;

const DIM = 8, B = 2, T = 7;

const statesOf = (s: CellState): Tensor[] => (Array.isArray(s) ? [...s] : [s as Tensor]);

function makeCell(name: string, backend: Backend, dtype: DType): RecurrentCell {
  return createCell(name, { dim: DIM, expansion: 1.5, scan: 'log', heads: ['lstm', 'gru', 'elman', 'slstm'].includes(name) ? 2 : undefined, backend, dtype, rng: new Rng(3) });
}

/** Forward + backward of L = Σ output ⊙ w + Σ states on backend be; the values read back. */
async function runCell(cell: RecurrentCell, be: Backend, dtype: DType, x: Float64Array, w: Float64Array): Promise<[string, ArrayLike<number>][]> {
  const kept = scope(() => {
    const xt = fromHost(x, [B, T, DIM], { backend: be, dtype });
    xt.requiresGrad = true;
    const { output, state } = cell.forward(xt);
    let loss = ops.sum(ops.mul(output, fromHost(w, [B, T, DIM], { backend: be, dtype })));
    for (const s of statesOf(state)) loss = ops.add(loss, ops.mul(ops.sum(s), 0.5));
    loss.backward();
    const named: [string, Tensor][] = [['output', output], ...statesOf(state).map((s, i): [string, Tensor] => [`state ${i}`, s]), ['dx', xt.grad!.detach()]];
    for (const [name, p] of cell.namedParameters()) named.push([`d${name}`, p.grad!.detach()]);
    return named;
  });
  const out: [string, ArrayLike<number>][] = [];
  for (const [name, t] of kept) { out.push([name, await t.data()]); t.dispose(); }
  cell.zeroGrad();
  return out;
}

describe('WebGPU: every cell, norms, complex scan, training', { skip: skipReason }, () => {
  test('the optional fused kernels are offered', () => {
    assert.ok(hasFusedNorm(gpu()));
    assert.ok(hasComplexScan(gpu()));
  });

  for (const name of cellNames()) {
    test(`${name}: forward and backward on the device match the CPU (f64), parameters and input`, async () => {
      const g = gpu(), c = cpu();
      const before = g.liveBuffers();
      const ref = makeCell(name, c, 'f64');
      const dev = makeCell(name, g, 'f32');
      const sd = ref.stateDict();
      dev.loadStateDict(sd);
      for (const t of Object.values(sd)) t.dispose();
      const rng = new Rng(4);
      const x = new Float64Array(B * T * DIM);
      rng.fillNormal(x);
      x.set(Float32Array.from(x));
      const w = Float64Array.from(Float32Array.from({ length: B * T * DIM }, () => 2 * rng.uniform() - 1));
      const want = await runCell(ref, c, 'f64', x, w);
      const got = await runCell(dev, g, 'f32', x, w);
      const tol = name === 'mesa' ? MESA_TOL : CELL_TOL;
      assert.deepEqual(got.map(([n]) => n), want.map(([n]) => n));
      want.forEach(([n, v], i) => assertNear(got[i][1], v, tol, `${name} ${n}`));
      ref.dispose();
      dev.dispose();
      assert.equal(g.liveBuffers(), before, `${name}: device buffers leaked`);
    });
  }

  test('parallel forward = step by step on the device, for every cell', async () => {
    const g = gpu();
    for (const name of cellNames()) {
      const cell = makeCell(name, g, 'f32');
      const rng = new Rng(6);
      const x = new Float32Array(B * T * DIM);
      rng.fillNormal(x);
      const [par, steps] = scope(() => {
        const xt = fromHost(x, [B, T, DIM], { backend: g });
        const full = cell.forward(xt).output;
        let state: CellState | null = null;
        const outs: Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const r = cell.step(ops.reshape(ops.slice(xt, 1, t, t + 1), [B, DIM]), state);
          outs.push(r.output);
          state = r.state;
        }
        return [full, ops.stack(outs, 1)];
      });
      assertNear(await steps.data(), await par.data(), STEP_TOL, `${name} step vs parallel`);
      par.dispose();
      steps.dispose();
      cell.dispose();
    }
  });

  test('fused norm and addNorm (rms, layer) forward and gradients', async () => {
    const kinds: NormKind[] = ['rms', 'layer'];
    for (const kind of kinds) {
      for (const shape of [[3, 5], [37, 128], [2, 3, 200], [3, 1500]]) {
        const cols = shape[shape.length - 1];
        const specs = [{ shape }, { shape: [cols] }, ...(kind === 'layer' ? [{ shape: [cols] }] : [])];
        await compareOp(`norm(${kind}) ${JSON.stringify(shape)}`, specs, (x, w, b) => norm(kind, x, w, 1e-5, { bias: b ?? null }));
      }
      await compareOp(`addNorm(${kind})`, [{ shape: [4, 6, 48] }, { shape: [4, 6, 48] }, { shape: [48] }, { shape: [48] }], (x, d, w, b) => {
        const r = addNorm(kind, x, d, w, 1e-6, { bias: kind === 'layer' ? b : null });
        return [r.sum, r.y];
      });
    }
  });

  test('complexScan forward and gradients of λ, u, x0', async () => {
    const rng = new Rng(11);
    for (const shape of [[3, 13, 2, 5], [2, 1, 2, 7], [1, 300, 2, 9], [2, 9, 3, 2, 4]]) {
      const C = shape[shape.length - 1];
      const lam = new Float64Array(2 * C);
      for (let c = 0; c < C; c++) {
        const r = 0.3 + 0.65 * rng.uniform(), th = 2 * Math.PI * rng.uniform();
        lam[c] = r * Math.cos(th); lam[C + c] = r * Math.sin(th);
      }
      const specs = [{ shape: [2, C], values: [...lam] }, { shape, kind: 'uniform' as const }];
      const state = [...shape.slice(0, shape.length - 3), 2, C];
      await compareOp(`complexScan ${JSON.stringify(shape)}`, specs, (l, u) => complexScan(l, u));
      await compareOp(`complexScan x0 ${JSON.stringify(shape)}`, [...specs, { shape: state, kind: 'uniform' }], (l, u, x0) => complexScan(l, u, { x0 }));
    }
  });

  test('a minGRU language model trains on the device with the CPU run\'s losses; live buffers stay flat', async () => {
    const g = gpu(), c = cpu();
    const vocab = 12, steps = 30, batch = 4, time = 16;
    const rng = new Rng(21);
    const windows = Array.from({ length: steps }, () => Int32Array.from({ length: batch * (time + 1) }, (_, i) => (i * 7 + rng.int(3)) % vocab));
    const run = async (be: Backend): Promise<{ losses: number[]; live: number[] }> => {
      const model = new RecurrentLM({ vocabSize: vocab, dim: 16, depth: 2, cell: 'mingru' }, { backend: be, rng: new Rng(5) });
      const opt = new AdamW(model.parameters(), { lr: 1e-2 });
      const losses: number[] = [], live: number[] = [];
      for (let s = 0; s < steps; s++) {
        const { loss } = await trainStep(model, opt, () => model.loss(fromHost(windows[s], [batch, time + 1], { backend: be })).loss, { clip: 1 });
        losses.push(loss);
        live.push(be.liveBuffers());
      }
      opt.dispose();
      model.dispose();
      return { losses, live };
    };
    const want = await run(c);
    const got = await run(g);
    got.losses.forEach((l, i) => {
      assert.ok(Math.abs(l - want.losses[i]) <= LOSS_RTOL * Math.abs(want.losses[i]), `step ${i}: device loss ${l}, CPU ${want.losses[i]}`);
    });
    assert.ok(got.losses[steps - 1] < 0.8 * got.losses[0], `the loss did not fall: ${got.losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.deepEqual(got.live.slice(3), got.live.slice(3).map(() => got.live[3]), `live buffers drifted: ${got.live.join(' ')}`);
  });
});
