/**
 * The f32x4 transcendental functions of wasm/math.ts against double-precision Math.*: the stated
 * bound MATH_MAX_ULP (ulp of the f32 result where it is normal, units of 2^-149 where it is
 * subnormal) over 2 million inputs spread evenly over all f32 bit patterns (every 2039th, so every
 * exponent and both signs), plus the edges: ±0, ±Inf, NaN, subnormals, the overflow and underflow
 * thresholds of exp, and the branch points of tanh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModuleBuilder, I32, V128, hasWasmSimd, type Code } from '../../../src/backend/cpu/wasm/emitter.js';
import * as math from '../../../src/backend/cpu/wasm/math.js';

const softplus = (v: number): number => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
const sigmoid = (v: number): number => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

const FUNCTIONS: Record<string, { emit: (c: Code) => void; ref: (x: number) => number }> = {
  exp: { emit: math.exp, ref: Math.exp },
  log: { emit: math.log, ref: Math.log },
  log1p: { emit: math.log1p, ref: Math.log1p },
  sigmoid: { emit: math.sigmoid, ref: sigmoid },
  tanh: { emit: math.tanh, ref: Math.tanh },
  softplus: { emit: math.softplus, ref: softplus },
  logSigmoid: { emit: math.logSigmoid, ref: (v) => -softplus(-v) },
};

/** One module: for each function f(src, dst, nVectors) over its own memory. */
function instantiate(): { memory: WebAssembly.Memory; run: Record<string, (src: number, dst: number, n: number) => void> } {
  const mb = new ModuleBuilder();
  mb.importMemory({ module: 'env', name: 'memory', initialPages: 1, shared: false });
  for (const [name, { emit }] of Object.entries(FUNCTIONS)) {
    const f = mb.declare(name, [I32, I32, I32]);
    mb.define(f, (c) => {
      const k = c.local(I32), x = c.local(V128);
      c.block().loop();
      c.get(k).get(2).i32GeU().brIf(1);
      c.get(0).get(k).i32Const(4).i32Shl().i32Add().v128Load().set(x);
      c.get(1).get(k).i32Const(4).i32Shl().i32Add().get(x);
      emit(c);
      c.v128Store();
      c.get(k).i32Const(1).i32Add().set(k);
      c.br(0);
      c.end().end();
    });
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(mb.toBytes()), { env: { memory } });
  return { memory, run: instance.exports as unknown as Record<string, (src: number, dst: number, n: number) => void> };
}

const EDGES = [
  0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1e-40, -1e-40, 1.17549435e-38, -1.17549435e-38, 3.4028234e38, -3.4028234e38,
  88.72, 88.7228, 88.72284, 88.73, 89, 100, -87.33, -87.34, -100, -103.97, -104, -105, -150, 1, -1, 0.5, -0.5,
  0.625, -0.625, 0.6249999, -0.6249999, 1e-8, -1e-8, 1e-30, -1e-30, 20, -20, 44, -44, 50, -50, 0.9999999, 1.0000001, -0.9999999,
];

function inputs(): Float32Array {
  const n = (1 << 21) + EDGES.length;
  const bits = new Uint32Array(n);
  for (let i = 0; i < 1 << 21; i++) bits[i] = (i * 2039) >>> 0;
  const x = new Float32Array(bits.buffer);
  x.set(EDGES, 1 << 21);
  return x;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Spacing of f32 values at |v| (2^-149 for subnormals). */
function ulp(v: number): number {
  f32[0] = Math.abs(v);
  const E = (u32[0]! >>> 23) & 255;
  return 2 ** (Math.max(E, 1) - 150);
}

test('f32x4 exp, log, log1p, sigmoid, tanh, softplus, logSigmoid: within MATH_MAX_ULP of Math.* over the whole f32 range', (t) => {
  if (!hasWasmSimd()) { t.skip('no wasm SIMD in this engine'); return; }
  const { memory, run } = instantiate();
  const x = inputs();
  const n = x.length, vectors = Math.ceil(n / 4);
  const bytes = vectors * 16;
  memory.grow(Math.ceil((2 * bytes) / 65536));
  const heap = new Float32Array(memory.buffer);
  heap.set(x, 0);
  for (const [name, { ref }] of Object.entries(FUNCTIONS)) {
    run[name]!(0, bytes, vectors);
    const got = heap.subarray(bytes / 4, bytes / 4 + n);
    let worst = 0, worstAt = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const r = ref(xi);
      const rf = Math.fround(r);
      const g = got[i]!;
      if (!Number.isFinite(rf)) {
        if (!(Object.is(g, rf) || (Number.isNaN(g) && Number.isNaN(rf)))) assert.fail(`${name}(${xi}) = ${g}, want ${rf}`);
        continue;
      }
      if (!Number.isFinite(g)) assert.fail(`${name}(${xi}) = ${g}, want ${r}`);
      const e = Math.abs(g - r) / ulp(rf);
      if (e > worst) { worst = e; worstAt = xi; }
    }
    assert.ok(worst <= math.MATH_MAX_ULP, `${name}: ${worst.toFixed(2)} ulp at x = ${worstAt} (bound ${math.MATH_MAX_ULP})`);
  }
  // exact values the functions must hit
  heap.set([0, -0, 1, Infinity, -Infinity, NaN, 0, 0], 0);
  run.exp!(0, 32, 2);
  assert.deepEqual(Array.from(heap.subarray(8, 14)), [1, 1, Math.fround(Math.E), Infinity, 0, NaN]);
  run.log!(0, 32, 2);
  assert.deepEqual(Array.from(heap.subarray(8, 14)), [-Infinity, -Infinity, 0, Infinity, NaN, NaN]);
  run.tanh!(0, 32, 2);
  assert.ok(Object.is(heap[9], -0), 'tanh(−0) = −0');
  assert.deepEqual(Array.from(heap.subarray(10, 14)), [Math.fround(Math.tanh(1)), 1, -1, NaN]);
  run.sigmoid!(0, 32, 2);
  assert.deepEqual(Array.from(heap.subarray(8, 14)), [0.5, 0.5, Math.fround(sigmoid(1)), 1, 0, NaN]);
  run.softplus!(0, 32, 2);
  assert.deepEqual(Array.from(heap.subarray(8, 14)).filter((_, i) => i !== 2), [Math.fround(Math.LN2), Math.fround(Math.LN2), Infinity, 0, NaN]);
});
