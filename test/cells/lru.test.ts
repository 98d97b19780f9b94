import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { LRU, type LruState } from '../../src/cells/lru.js';
import { complexScan } from '../../src/tensor/complex-scan.js';
import { getBackend } from '../../src/tensor/engine.js';
import { Rng } from '../../src/tensor/random.js';
import { fromHost } from '../../src/tensor/creation.js';
import { concat, mul, stack, sum, unsqueeze } from '../../src/tensor/ops.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, checkOp } from '../helpers/gradcheck.js';

/** Plain complex loop over packed host arrays: λ [2, N], u [B, T, 2, N], x0 [B, 2, N]; x_t = λ x_{t−1} + u_t. */
function loopScan(lam: ArrayLike<number>, u: ArrayLike<number>, [B, T, N]: number[], x0?: ArrayLike<number>): Float64Array {
  const x = new Float64Array(B * T * 2 * N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      let pr = x0 ? x0[b * 2 * N + n] : 0, pi = x0 ? x0[b * 2 * N + N + n] : 0;
      for (let t = 0; t < T; t++) {
        const k = (b * T + t) * 2 * N + n;
        const r = lam[n] * pr - lam[N + n] * pi + u[k];
        const i = lam[n] * pi + lam[N + n] * pr + u[k + N];
        x[k] = r; x[k + N] = i; pr = r; pi = i;
      }
    }
  }
  return x;
}

/** Random λ [2, n] inside the unit disc (|λ| ∈ [0.5, 1)) and u of `size` elements in [−1, 1). */
function scanInputs(rng: Rng, n: number, size: number): [Float64Array, Float64Array] {
  const lam = new Float64Array(2 * n), u = new Float64Array(size);
  for (let k = 0; k < n; k++) {
    const r = 0.5 + 0.499 * rng.uniform(), th = 2 * Math.PI * rng.uniform();
    lam[k] = r * Math.cos(th); lam[n + k] = r * Math.sin(th);
  }
  for (let k = 0; k < size; k++) u[k] = 2 * rng.uniform() - 1;
  return [lam, u];
}

for (const fused of [true, false]) {
  const mode = fused ? 'kernel' : 'composite';
  test(`complexScan (${mode}) matches a plain complex loop, T = 1 … 4096, with and without x0`, () => {
    const rng = new Rng(7);
    const [B, N] = [2, 3];
    for (const T of [1, 2, 5, 64, 1000, 4096]) {
      const [lam, u] = scanInputs(rng, N, B * T * 2 * N);
      const x0 = Float64Array.from({ length: B * 2 * N }, () => rng.uniform() - 0.5);
      for (const withX0 of [false, true]) {
        scope(() => {
          const x0t = withX0 ? fromHost(x0, [B, 2, N], { dtype: 'f64' }) : null;
          const x = complexScan(fromHost(lam, [2, N], { dtype: 'f64' }), fromHost(u, [B, T, 2, N], { dtype: 'f64' }), { x0: x0t, fused });
          assertClose(x.dataSync(), loopScan(lam, u, [B, T, N], withX0 ? x0 : undefined), 1e-10, `T=${T}`);
        });
      }
    }
  });

  test(`complexScan (${mode}) gradients by finite differences (f64), with x0 and extra leading axes`, () => {
    const rng = new Rng(3);
    const [lam, u] = scanInputs(rng, 3, 2 * 6 * 2 * 3);
    checkOp({
      name: `complexScan ${mode}`,
      shapes: [[2, 3], [2, 6, 2, 3], [2, 2, 3]],
      values: [lam, u],
      fn: (l, v, x0) => complexScan(l, v, { x0, fused }),
    });
    const [lam2, u2] = scanInputs(rng, 2, 2 * 2 * 4 * 2 * 2);
    checkOp({
      name: `complexScan ${mode} [2, 2, T, 2, C]`,
      shapes: [[2, 2], [2, 2, 4, 2, 2]],
      values: [lam2, u2],
      fn: (l, v) => complexScan(l, v, { fused }),
    });
  });
}

test('complexScan rejects mismatched shapes with the tensors named', () => {
  scope(() => {
    const u = fromHost(new Float64Array(2 * 3 * 2 * 4), [2, 3, 2, 4], { dtype: 'f64' });
    assert.throws(() => complexScan(fromHost(new Float64Array(6), [2, 3], { dtype: 'f64' }), u), /λ .*must be \[2, 4\]/);
    assert.throws(() => complexScan(fromHost(new Float64Array(8), [2, 4], { dtype: 'f64' }), fromHost(new Float64Array(24), [2, 3, 4], { dtype: 'f64' })), /must be \[\.\.\., T, 2, C\]/);
    assert.throws(() => complexScan(fromHost(new Float64Array(8), [2, 4], { dtype: 'f64' }), u, { x0: fromHost(new Float64Array(8), [2, 4], { dtype: 'f64' }) }), /x0 .*must be \[2, 2, 4\]/);
  });
});

/** The LRU's function by plain loops over host copies of its parameters: u [B, T, H] → y. */
function loopLru(layer: LRU, u: Float64Array, [B, T, H]: number[], x0?: [ArrayLike<number>, ArrayLike<number>]): { y: Float64Array; last: [Float64Array, Float64Array] } {
  const p = Object.fromEntries([...layer.namedParameters()].map(([k, v]) => [k, Float64Array.from(v.dataSync())]));
  const N = layer.dState;
  const y = new Float64Array(B * T * H);
  const dirs = layer.bidirectional ? ['', '_bwd'] : [''];
  const last: [Float64Array, Float64Array] = [new Float64Array(B * N), new Float64Array(B * N)];
  for (const s of dirs) {
    for (let b = 0; b < B; b++) {
      const xr = new Float64Array(N), xi = new Float64Array(N);
      if (x0 && s === '') for (let n = 0; n < N; n++) { xr[n] = x0[0][b * N + n]; xi[n] = x0[1][b * N + n]; }
      for (let step = 0; step < T; step++) {
        const t = s === '' ? step : T - 1 - step;
        for (let n = 0; n < N; n++) {
          const mag = Math.exp(-Math.exp(p['nu_log' + s][n])), ph = Math.exp(p['theta_log' + s][n]);
          const lr = mag * Math.cos(ph), li = mag * Math.sin(ph), g = Math.exp(p['gamma_log' + s][n]);
          let bur = 0, bui = 0;
          for (let h = 0; h < H; h++) { bur += p['B_re' + s][n * H + h] * u[(b * T + t) * H + h]; bui += p['B_im' + s][n * H + h] * u[(b * T + t) * H + h]; }
          const r = lr * xr[n] - li * xi[n] + g * bur, i = lr * xi[n] + li * xr[n] + g * bui;
          xr[n] = r; xi[n] = i;
        }
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let n = 0; n < N; n++) acc += p['C_re' + s][h * N + n] * xr[n] - p['C_im' + s][h * N + n] * xi[n];
          y[(b * T + t) * H + h] += acc;
        }
      }
      if (s === '') { last[0].set(xr, b * N); last[1].set(xi, b * N); }
    }
  }
  for (let k = 0; k < B * T * H; k++) y[k] += p.D[k % H] * u[k];
  return { y, last };
}

for (const bidirectional of [false, true]) {
  for (const fused of [true, false]) {
    test(`LRU (${bidirectional ? 'bidirectional' : 'causal'}, ${fused ? 'kernel' : 'composite'} scan): parallel ${bidirectional ? '' : 'vs step '}vs a plain complex loop, state in and out`, () => {
      const [B, T, H, N] = [2, 7, 3, 5];
      const layer = new LRU({ dModel: H, dState: N, rMin: 0.5, rMax: 0.99, dtype: 'f64', rng: new Rng(11), bidirectional, fused });
      const rng = new Rng(5);
      const u = Float64Array.from({ length: B * T * H }, () => 2 * rng.uniform() - 1);
      const x0: [Float64Array, Float64Array] = [Float64Array.from({ length: B * N }, () => rng.uniform() - 0.5), Float64Array.from({ length: B * N }, () => rng.uniform() - 0.5)];
      scope(() => {
        const ut = fromHost(u, [B, T, H], { dtype: 'f64' });
        const useState = !bidirectional;
        const state: LruState | null = useState ? [fromHost(x0[0], [B, N], { dtype: 'f64' }), fromHost(x0[1], [B, N], { dtype: 'f64' })] : null;
        const ref = loopLru(layer, u, [B, T, H], useState ? x0 : undefined);
        const par = layer.forward(ut, state);
        assert.deepEqual(par.output.shape, [B, T, H]);
        assertClose(par.output.dataSync(), ref.y, 1e-10, 'parallel output');
        assertClose(par.state[0].dataSync(), ref.last[0], 1e-10, 'parallel state re');
        assertClose(par.state[1].dataSync(), ref.last[1], 1e-10, 'parallel state im');
        if (bidirectional) {
          assert.throws(() => layer.step(fromHost(u.slice(0, B * H), [B, H], { dtype: 'f64' })), /bidirectional/);
          return;
        }
        let s: LruState | null = state;
        const outs: Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const ut1 = fromHost(Float64Array.from({ length: B * H }, (_, k) => u[(Math.floor(k / H) * T + t) * H + (k % H)]), [B, H], { dtype: 'f64' });
          const r = layer.step(ut1, s);
          outs.push(unsqueeze(r.output, 1));
          s = r.state;
        }
        assertClose(concat(outs, 1).dataSync(), ref.y, 1e-10, 'step output');
        assertClose(s![0].dataSync(), ref.last[0], 1e-10, 'step state re');
        assertClose(s![1].dataSync(), ref.last[1], 1e-10, 'step state im');
      });
    });
  }
}

test('LRU gradients w.r.t. every parameter, the input and the initial state match finite differences (f64)', () => {
  const [B, T, H, N] = [2, 5, 3, 4];
  for (const bidirectional of [false, true]) {
    const layer = new LRU({ dModel: H, dState: N, rMin: 0.4, rMax: 0.95, maxPhase: Math.PI, dtype: 'f64', rng: new Rng(2), bidirectional });
    const rng = new Rng(9);
    const be = getBackend();
    scope(() => {
      const u = fromHost(Float64Array.from({ length: B * T * H }, () => 2 * rng.uniform() - 1), [B, T, H], { dtype: 'f64', requiresGrad: true });
      const x0 = bidirectional ? null : [0, 1].map(() => fromHost(Float64Array.from({ length: B * N }, () => rng.uniform() - 0.5), [B, N], { dtype: 'f64', requiresGrad: true })) as unknown as LruState;
      const w = fromHost(Float64Array.from({ length: B * T * H }, () => (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + rng.uniform())), [B, T, H], { dtype: 'f64' });
      const wr = fromHost(Float64Array.from({ length: B * N }, () => rng.uniform() - 0.5), [B, N], { dtype: 'f64' });
      const loss = () => {
        const r = layer.forward(u, x0);
        return add3(sum(mul(r.output, w)), sum(mul(r.state[0], wr)), sum(mul(r.state[1], wr)));
      };
      layer.zeroGrad();
      loss().backward();
      const targets: [string, Tensor][] = [...layer.namedParameters(), ['u', u]];
      if (x0) targets.push(['x0_re', x0[0]], ['x0_im', x0[1]]);
      const eps = 1e-6;
      for (const [name, p] of targets) {
        const analytic = Float64Array.from(p.grad!.dataSync());
        const base = Float64Array.from(p.dataSync());
        for (let k = 0; k < base.length; k++) {
          const at = (v: number) => { const d = base.slice(); d[k] = v; be.write(p.buffer, d); return scope(() => loss().dataSync()[0]); };
          const numeric = (at(base[k] + eps) - at(base[k] - eps)) / (2 * eps);
          be.write(p.buffer, base);
          const err = Math.abs(analytic[k] - numeric) / Math.max(Math.abs(analytic[k]), Math.abs(numeric), 1e-2);
          assert.ok(err < 1e-6, `${bidirectional ? 'bidirectional ' : ''}${name}[${k}]: analytic ${analytic[k]}, numeric ${numeric} (rel err ${err.toExponential(2)})`);
        }
      }
    });
    layer.zeroGrad();
  }
});

function add3(a: Tensor, b: Tensor, c: Tensor): Tensor {
  return sum(stack([a, b, c], 0));
}

test('a fresh LRU: eigenvalues inside the requested ring, |λ| < 1, phases in [0, maxPhase), γ = √(1 − |λ|²)', () => {
  const rings: [number, number, number][] = [[0, 1, 2 * Math.PI], [0.9, 0.999, 2 * Math.PI], [0.5, 0.6, Math.PI / 10], [0.999, 1, 0.1]];
  for (const dtype of ['f64', 'f32'] as const) {
    for (const [rMin, rMax, maxPhase] of rings) {
      const layer = new LRU({ dModel: 4, dState: 2048, rMin, rMax, maxPhase, dtype, rng: new Rng(1) });
      scope(() => {
        const [lr, li] = layer.lambda().map((t) => t.dataSync());
        const g = layer.gamma().dataSync();
        const tol = dtype === 'f64' ? 1e-12 : 1e-6;
        for (let n = 0; n < lr.length; n++) {
          const mag = Math.hypot(lr[n], li[n]);
          assert.ok(mag < 1, `${dtype} |λ_${n}| = ${mag} ≥ 1`);
          assert.ok(mag >= rMin - tol && mag <= rMax + tol, `${dtype} |λ_${n}| = ${mag} outside [${rMin}, ${rMax}]`);
          const phase = Math.atan2(li[n], lr[n]);
          const p = phase < -tol ? phase + 2 * Math.PI : phase;
          if (maxPhase < 2 * Math.PI) assert.ok(p >= -tol && p <= maxPhase + tol, `phase ${p} outside [0, ${maxPhase})`);
          if (dtype === 'f64') assertClose([g[n]], [Math.sqrt(1 - mag * mag)], 1e-12, `γ_${n}`);
        }
        if (dtype === 'f64') {
          // The ring is filled, not just respected: |λ|² is uniform on [rMin², rMax²].
          const sq = Array.from({ length: lr.length }, (_, n) => lr[n] ** 2 + li[n] ** 2);
          const meanSq = sq.reduce((a, b) => a + b, 0) / sq.length;
          assert.ok(Math.abs(meanSq - (rMin ** 2 + rMax ** 2) / 2) < 0.05 * (rMax ** 2 - rMin ** 2) + 1e-9, `mean |λ|² ${meanSq}`);
        }
      });
    }
  }
  // B, C, D have the paper's scales.
  const H = 64, N = 128;
  const layer = new LRU({ dModel: H, dState: N, dtype: 'f64', rng: new Rng(4) });
  const std = (name: string) => {
    const v = new Map(layer.namedParameters()).get(name)!.dataSync();
    return Math.sqrt(Array.from(v).reduce((a, b) => a + b * b, 0) / v.length);
  };
  assert.ok(Math.abs(std('B_re') - 1 / Math.sqrt(2 * H)) < 0.1 / Math.sqrt(2 * H));
  assert.ok(Math.abs(std('B_im') - 1 / Math.sqrt(2 * H)) < 0.1 / Math.sqrt(2 * H));
  assert.ok(Math.abs(std('C_re') - 1 / Math.sqrt(N)) < 0.1 / Math.sqrt(N));
  assert.ok(Math.abs(std('C_im') - 1 / Math.sqrt(N)) < 0.1 / Math.sqrt(N));
  assert.ok(Math.abs(std('D') - 1) < 0.35);
});
