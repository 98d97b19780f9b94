/**
 * The f32x4 element-wise kernels (simd.ts, wasm/elementwise.ts) against the scalar double-precision
 * reference of elementwise.ts (UNARY f and df) and the textbook AdamW update, at awkward lengths
 * (1, 3, 5: below and around one vector; lengths that are not a multiple of 4; one past the thread
 * threshold), on one thread and on two (the worker pool joins above SIMD_THREAD_MIN_ELEMENTS).
 * Tolerance: 8·2^-24 relative plus 2^-126 absolute: the math functions' stated 3 ulp
 * (test/backend/cpu/math.test.ts) and the f32 rounding of the inputs to a derivative's formula.
 * f64 arrays are never routed here (their exact double math is checked in kernels.test.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend } from '../../../src/backend/cpu/cpu.js';
import { UNARY } from '../../../src/backend/cpu/elementwise.js';
import { SIMD_MIN_ELEMENTS, SIMD_THREAD_MIN_ELEMENTS, adamwSimd, hasSimdUnary, setSimdKernels, unaryGradSimd, unarySimd } from '../../../src/backend/cpu/simd.js';
import { SIMD_UNARY_OPS } from '../../../src/backend/cpu/wasm/elementwise.js';
import { _setMatmulThreadBackoff, kernelCounters } from '../../../src/backend/cpu/matmul.js';
import { cpuThreadsReady, disableCpuThreads, enableCpuThreads } from '../../../src/backend/cpu/threads-node.js';
import { hasWasmSimd } from '../../../src/backend/cpu/wasm/emitter.js';
import type { UnaryOp } from '../../../src/backend/backend.js';
import { Rng } from '../../../src/tensor/random.js';

const rng = new Rng(7);
const LENGTHS = [SIMD_MIN_ELEMENTS, SIMD_MIN_ELEMENTS + 1, SIMD_MIN_ELEMENTS + 3, 1031, SIMD_THREAD_MIN_ELEMENTS + 5];
const REL = 8 * 2 ** -24, ABS = 2 ** -126;

/** Inputs spanning the interesting ranges: small, around 0 (both signs), large, and each op's domain. */
function inputs(op: UnaryOp, n: number): Float32Array {
  const x = new Float32Array(n);
  const positive = op === 'log' || op === 'sqrt' || op === 'reciprocal';
  for (let i = 0; i < n; i++) {
    const scale = [1e-3, 1, 8, 60][i % 4]!;
    const v = (rng.uniform() * 2 - 1) * scale;
    x[i] = positive ? Math.abs(v) + 1e-6 : v;
  }
  if (n > 4 && !positive) { x[0] = 0; x[1] = -0; x[2] = 0.5; }
  return x;
}

/** |got − want| ≤ REL·scale + ABS, scale = |want| unless given (a sum of terms that may cancel). */
function close(got: ArrayLike<number>, want: (i: number) => number, what: string, scale?: (i: number) => number): void {
  for (let i = 0; i < got.length; i++) {
    const w = want(i), g = got[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!(Math.abs(g - w) <= REL * (scale ? scale(i) : Math.abs(w)) + ABS)) assert.fail(`${what}[${i}] = ${g}, want ${w}`);
  }
}

const sigmoid = UNARY.sigmoid.f;
/** Derivatives that are sums of terms which cancel somewhere: the terms' magnitude bounds the error. */
const GRAD_SCALE: Partial<Record<UnaryOp, (x: number) => number>> = {
  silu: (x) => sigmoid(x) * (1 + Math.abs(x) * (1 - sigmoid(x))), // σ(1 + x(1 − σ)) = 0 near x = −1.28
};

function checkAll(threadsWanted: number): void {
  const jobs0 = kernelCounters.threaded;
  for (const op of SIMD_UNARY_OPS) {
    const { f, df } = UNARY[op];
    for (const n of LENGTHS) {
      const x = inputs(op, n);
      const out = new Float32Array(n).fill(NaN);
      assert.ok(unarySimd(op, x, out), `${op} ran on the SIMD path`);
      close(out, (i) => f(x[i]!), `${op} n=${n}`);
      const y = Float32Array.from(x, (v) => f(v));
      const dy = Float32Array.from(x, () => rng.uniform() * 2 - 1);
      const dx = new Float32Array(n).fill(NaN);
      assert.ok(unaryGradSimd(op, x, y, dy, dx));
      close(dx, (i) => dy[i]! * df(x[i]!, y[i]!), `${op}' n=${n}`, GRAD_SCALE[op] && ((i) => Math.abs(dy[i]!) * GRAD_SCALE[op]!(x[i]!)));
    }
  }
  const threaded = kernelCounters.threaded - jobs0;
  if (threadsWanted > 1) assert.ok(threaded > 0, 'large kernels were offered to the helper thread');
  else assert.equal(threaded, 0, 'one thread: no helper jobs');
}

test('f32x4 unary ops and derivatives equal the scalar reference (1 thread)', (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD'); return; }
  checkAll(1);
});

test('f32x4 unary ops and derivatives equal the scalar reference (2 threads)', async (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD'); return; }
  _setMatmulThreadBackoff(false);
  enableCpuThreads(2);
  assert.equal(await cpuThreadsReady(), 2);
  checkAll(2);
});

test('below SIMD_MIN_ELEMENTS and for ops without a kernel the scalar loop runs', () => {
  const x = Float32Array.from([0.1, -2, 3]), out = new Float32Array(3);
  assert.equal(unarySimd('exp', x, out), false, 'length 3 < SIMD_MIN_ELEMENTS');
  assert.equal(hasSimdUnary('gelu'), false);
  assert.equal(unarySimd('gelu', new Float32Array(1000), new Float32Array(1000)), false);
  // the backend gives the same answer either way, one element included
  const cpu = new CpuBackend();
  for (const n of [1, 3, 129]) {
    const xs = Float32Array.from({ length: n }, () => rng.uniform() * 10 - 5);
    const a = cpu.alloc(n, 'f32'), o = cpu.alloc(n, 'f32');
    cpu.write(a, xs);
    cpu.unary('sigmoid', a, o);
    close(cpu.readSync(o), (i) => UNARY.sigmoid.f(xs[i]!), `backend sigmoid n=${n}`);
    setSimdKernels(false);
    cpu.unary('sigmoid', a, o);
    setSimdKernels(true);
    close(cpu.readSync(o), (i) => UNARY.sigmoid.f(xs[i]!), `scalar sigmoid n=${n}`);
    cpu.free(a); cpu.free(o);
  }
});

test('f32x4 AdamW equals the double-precision update at awkward lengths, 1 and 2 threads', async (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD'); return; }
  const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, correction1: 1 - 0.9 ** 3, correction2: 1 - 0.999 ** 3 };
  for (const threads of [1, 2]) {
    if (threads === 2) { enableCpuThreads(2); await cpuThreadsReady(); } else disableCpuThreads();
    for (const n of LENGTHS) {
      const p = Float32Array.from({ length: n }, () => rng.uniform() * 4 - 2);
      const g = Float32Array.from({ length: n }, () => rng.uniform() * 4 - 2);
      const m = Float32Array.from({ length: n }, () => (rng.uniform() - 0.5) * 0.2);
      const v = Float32Array.from({ length: n }, () => rng.uniform() * 0.1);
      const want = Array.from(p, (pi, i) => {
        const mi = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!;
        const vi = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! * g[i]!;
        const decayed = pi * (1 - h.lr * h.weightDecay), step = (h.lr / h.correction1) * mi / (Math.sqrt(vi / h.correction2) + h.eps);
        // the sums' terms bound their rounding error (they may cancel)
        return [decayed - step, mi, vi, Math.abs(decayed) + Math.abs(step), Math.abs(h.beta1 * m[i]!) + Math.abs((1 - h.beta1) * g[i]!)] as const;
      });
      assert.ok(adamwSimd(p, g, m, v, h));
      close(m, (i) => want[i]![1], `adamw m n=${n} threads=${threads}`, (i) => want[i]![4]);
      close(v, (i) => want[i]![2], `adamw v n=${n} threads=${threads}`);
      close(p, (i) => want[i]![0], `adamw p n=${n} threads=${threads}`, (i) => want[i]![3]);
    }
  }
});

after(() => {
  disableCpuThreads();
  _setMatmulThreadBackoff(true);
});
