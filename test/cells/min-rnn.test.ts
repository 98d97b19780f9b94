import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { MinGRU, MinLSTM } from '../../src/cells/min-rnn.js';
import type { ScanMode } from '../../src/cells/cell.js';
import { readSafetensors } from '../../src/io/files.js';
import { Rng } from '../../src/tensor/random.js';
import { randn, rand, fromHost } from '../../src/tensor/creation.js';
import { concat, mul, reshape, slice, stack, sum } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertTensorClose } from '../helpers/assert.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}.safetensors`, import.meta.url));

const cases = [
  { file: 'mingru', make: (dim: number, e: number, scan: ScanMode) => new MinGRU({ dim, expansionFactor: e, scan }), expansion: 1 },
  { file: 'mingru_expand', make: (dim: number, e: number, scan: ScanMode) => new MinGRU({ dim, expansionFactor: e, scan }), expansion: 2 },
  { file: 'minlstm', make: (dim: number, e: number, scan: ScanMode) => new MinLSTM({ dim, expansionFactor: e, scan }), expansion: 1 },
  { file: 'minlstm_expand', make: (dim: number, e: number, scan: ScanMode) => new MinLSTM({ dim, expansionFactor: e, scan }), expansion: 2 },
];

// Tolerance 1e-5 (relative to max(1, |ref|)) against the float64 PyTorch reference rounded to f32.
const TOL = 1e-5;

for (const c of cases) {
  for (const scan of ['log', 'real'] as const) {
    test(`${c.file} (${scan} scan) reproduces the PyTorch reference: outputs, state, gradients`, async () => {
      const f = await readSafetensors(fixture(c.file));
      const [B, T, D] = f.x.shape;
      const layer = c.make(D, c.expansion, scan);
      const weights = Object.fromEntries(Object.entries(f).filter(([k]) => k.endsWith('.weight') && !k.startsWith('grad.')));
      layer.loadStateDict(weights);
      const inner = layer.innerDim;
      scope(() => {
        const free = layer.forward(f.x);
        assertTensorClose(free.output, f.out_no_state, TOL, 'out_no_state');
        assertTensorClose(free.state, reshape(f.next_state_no_state, [B, inner]), TOL, 'next_state_no_state');

        const x = f.x.detach();
        x.requiresGrad = true;
        const h0 = reshape(f.h0, [B, inner]).detach();
        h0.requiresGrad = true;
        const withState = layer.forward(x, h0);
        assertTensorClose(withState.output, f.out_with_state, TOL, 'out_with_state');
        assertTensorClose(withState.state, reshape(f.next_state_with_state, [B, inner]), TOL, 'next_state_with_state');

        layer.zeroGrad();
        sum(mul(withState.output, f.r)).backward();
        assertTensorClose(x.grad!, f['grad.x'], TOL, 'grad.x');
        assertTensorClose(h0.grad!, reshape(f['grad.h0'], [B, inner]), TOL, 'grad.h0');
        for (const [name, p] of layer.namedParameters()) assertTensorClose(p.grad!, f[`grad.${name}`], TOL, `grad.${name}`);
        assert.equal(T, 7);
      });
      layer.dispose();
    });
  }
}

/** Runs `step` over the time axis and stacks the outputs. */
function runSteps(layer: MinGRU | MinLSTM, x: Tensor, state: Tensor | null): { output: Tensor; state: Tensor } {
  const outs: Tensor[] = [];
  let s = state;
  for (let t = 0; t < x.shape[1]; t++) {
    const r = layer.step(reshape(slice(x, 1, t, t + 1), [x.shape[0], x.shape[2]]), s);
    outs.push(r.output);
    s = r.state;
  }
  return { output: stack(outs, 1), state: s! };
}

for (const Cell of [MinGRU, MinLSTM]) {
  for (const scan of ['log', 'real'] as const) {
    test(`${Cell.name} (${scan}): parallel and step modes agree over T = 2048, with and without a state`, () => {
      const rng = new Rng(7);
      const layer = new Cell({ dim: 6, expansionFactor: 1.5, scan, rng });
      scope(() => {
        const x = randn([2, 2048, 6], { rng });
        const h0 = rand([2, 9], { rng, low: 0.1, high: 2 });
        for (const state of [null, h0]) {
          const par = layer.forward(x, state);
          const seq = runSteps(layer, x, state);
          assertTensorClose(par.output, seq.output, 1e-5, 'output');
          assertTensorClose(par.state, seq.state, 1e-5, 'state');
        }
      });
      layer.dispose();
    });
  }

  test(`${Cell.name}: chunked parallel calls with the state carried equal one long call; log and real scans agree`, () => {
    const rng = new Rng(11);
    const layer = new Cell({ dim: 5, expansionFactor: 2, rng });
    scope(() => {
      const x = randn([3, 100, 5], { rng });
      const whole = layer.forward(x);
      let state: Tensor | null = null;
      const pieces: Tensor[] = [];
      for (const [s, e] of [[0, 1], [1, 37], [37, 64], [64, 100]]) {
        const r = layer.forward(slice(x, 1, s, e), state);
        pieces.push(r.output);
        state = r.state;
      }
      assertTensorClose(concat(pieces, 1), whole.output, 1e-5, 'chunked output');
      assertTensorClose(state!, whole.state, 1e-5, 'chunked state');
      layer.scanMode = 'real';
      assertTensorClose(layer.forward(x).output, whole.output, 1e-5, 'real vs log scan');
    });
    layer.dispose();
  });
}

test('MinGRU gradients match finite differences in f64 (log and real scan)', () => {
  for (const scan of ['log', 'real'] as const) {
    const rng = new Rng(3);
    const layer = new MinGRU({ dim: 3, expansionFactor: 2, scan, rng, dtype: 'f64' });
    scope(() => {
      const x = randn([2, 5, 3], { rng, dtype: 'f64' });
      const r = randn([2, 5, 3], { rng, dtype: 'f64' });
      const loss = () => sum(mul(layer.forward(x).output, r));
      layer.zeroGrad();
      loss().backward();
      for (const [name, p] of layer.namedParameters()) {
        const analytic = p.grad!.dataSync();
        const values = p.dataSync();
        const eps = 1e-6;
        for (let i = 0; i < values.length; i += 3) {
          const probe = (delta: number) => {
            const v = Float64Array.from(values);
            v[i] += delta;
            p.assign(fromHost(v, p.shape));
            return loss().dataSync()[0];
          };
          const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
          p.assign(fromHost(Float64Array.from(values), p.shape));
          assert.ok(Math.abs(numeric - analytic[i]) <= 1e-6 * Math.max(1, Math.abs(numeric)), `${scan} ${name}[${i}]: ${analytic[i]} vs ${numeric}`);
        }
      }
    });
    layer.dispose();
  }
});

test('cells reject inputs and states of the wrong shape with a message naming them', () => {
  const layer = new MinGRU({ dim: 4 });
  scope(() => {
    assert.throws(() => layer.forward(randn([2, 3, 5])), /MinGRU\.forward: input tensor \[2, 3, 5\] f32 must be \[B, T, 4\]/);
    assert.throws(() => layer.forward(randn([2, 3, 4]), randn([3, 4])), /state tensor \[3, 4\] f32 must be \[2, 4\]/);
    assert.throws(() => layer.step(randn([2, 3, 4])), /MinGRU\.step: input/);
  });
  layer.dispose();
});
