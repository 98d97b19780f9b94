/**
 * MesaNet on the GPU: the same layer (same seed, f32) forward and backward on CUDA against the CPU
 * backend, chunked and step, and a short training run of a RecurrentLM with cell 'mesa'. The layer
 * is tensor ops only (batched cuBLAS GEMMs, linearScan, elementwise), so this checks that every op
 * it composes behaves the same on both backends. Skipped (with the reason) where no CUDA device is.
 *
 * Tolerance: both sides run f32 and CG amplifies rounding by up to the condition number of
 * H_t + Λ, so outputs and gradients are compared norm-wise (‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-4).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { MesaLayer, type MesaState } from '../../../src/cells/mesa.js';
import { RecurrentLM } from '../../../src/models/recurrent-lm.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { fromHost, randn } from '../../../src/tensor/creation.js';
import * as ops from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope, type Tensor } from '../../../src/tensor/tensor.js';
import { assertNear, gpu, skipReason } from './compare.js';

const NORM = { rtol: Infinity, atol: Infinity, norm: 1e-4 };

describe('CUDA MesaNet layer', { skip: skipReason }, () => {
  test('forward, state, every parameter gradient and step on the GPU match the CPU (f32)', () => {
    gpu();
    const [B, T, D] = [3, 150, 32];
    const layers = (['cpu', 'cuda'] as const).map((be) => new MesaLayer({ dim: D, heads: 2, chunkSize: 64, rng: new Rng(7), backend: be }));
    const results = layers.map((layer, i) => scope(() => {
      const be = i === 0 ? 'cpu' : 'cuda';
      const x = randn([B, T, D], { backend: be, rng: new Rng(8) });
      const { output, state } = layer.forward(x);
      ops.sum(ops.mul(output, output)).backward();
      const grads = layer.parameters().map((p) => p.grad!.dataSync());
      layer.zeroGrad();
      // three streaming steps after the prompt
      let s: MesaState = state;
      const steps: Tensor[] = [];
      for (let t = 0; t < 3; t++) {
        const r = layer.step(randn([B, D], { backend: be, rng: new Rng(20 + t) }), s);
        steps.push(r.output);
        s = r.state;
      }
      return { out: output.dataSync(), state: state.map((t) => t.dataSync()), grads, steps: steps.map((t) => t.dataSync()) };
    }));
    assertNear(results[1].out, results[0].out, NORM, 'output');
    results[0].state.forEach((st, i) => assertNear(results[1].state[i], st, NORM, `state ${i}`));
    results[0].grads.forEach((g, i) => assertNear(results[1].grads[i], g, { ...NORM, norm: 1e-3 }, `grad ${layers[0].namedParameters()[i][0]}`));
    results[0].steps.forEach((o, i) => assertNear(results[1].steps[i], o, { ...NORM, norm: 1e-3 }, `step ${i}`));
    for (const l of layers) l.dispose();
  });

  test("RecurrentLM with cell 'mesa' trains on the GPU (loss falls), live buffers stay flat", async () => {
    const g = gpu();
    const model = new RecurrentLM({ vocabSize: 8, dim: 32, depth: 2, cell: 'mesa' }, { rng: new Rng(1), backend: g });
    const opt = new AdamW(model.parameters(), { lr: 3e-3 });
    const rng = new Rng(2);
    const [B, T] = [8, 64];
    const losses: number[] = [];
    let liveAt5 = 0;
    for (let step = 1; step <= 30; step++) {
      const ids = new Int32Array(B * (T + 1));
      // a period-3 pattern with a random phase: learnable from context alone
      for (let b = 0; b < B; b++) { const o = rng.int(3); for (let t = 0; t <= T; t++) ids[b * (T + 1) + t] = (t + o) % 3 + (b % 2) * 3; }
      const loss = scope(() => {
        model.zeroGrad();
        const l = model.loss(fromHost(ids, [B, T + 1], { backend: g })).loss;
        l.backward();
        opt.step();
        return l;
      });
      losses.push(await loss.item());
      loss.dispose();
      if (step === 5) liveAt5 = g.liveBuffers();
    }
    assert.equal(g.liveBuffers(), liveAt5, 'live buffers grew');
    assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    opt.dispose();
    model.dispose();
  });
});
