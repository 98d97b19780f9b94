/**
 * CPU matmul against a naive f64 triple loop.
 *
 * Tolerance: for every output element, |c − ref| ≤ rtol · (Σ_p |op(A)_ip · op(B)_pj| + |c0|) + 1e-30,
 * i.e. relative to the magnitude of the summed terms (plus the initial C when accumulating), which
 * is the natural scale of floating-point summation error. rtol = 1e-5 for f32 (unit roundoff
 * 6e-8, k ≤ ~600 here) and 1e-12 for f64.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import {
  matmul,
  matmulCounters,
  matmulInfo,
  setMatmulKernel,
  _setMatmulStagingBudget,
  _setMatmulThreadBackoff,
  type FloatArray,
  type MatmulSpec,
} from '../../../src/backend/cpu/matmul.js';
import { matmulJs } from '../../../src/backend/cpu/matmul-js.js';
import { cpuThreadsReady, disableCpuThreads, enableCpuThreads } from '../../../src/backend/cpu/threads-node.js';

const RTOL_F32 = 1e-5;
const RTOL_F64 = 1e-12;

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  };
}

interface Case {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  bcastA?: boolean;
  bcastB?: boolean;
  accumulate?: boolean;
  /** extra gap between batches of A / B (non-dense batch strides) */
  gap?: number;
}

function makeSpec(cs: Case): MatmulSpec {
  const gap = cs.gap ?? 0;
  return {
    batch: cs.batch, m: cs.m, n: cs.n, k: cs.k, transA: cs.transA, transB: cs.transB,
    aOffset: 3, bOffset: 5, cOffset: 2,
    aBatchStride: cs.bcastA ? 0 : cs.m * cs.k + gap,
    bBatchStride: cs.bcastB ? 0 : cs.k * cs.n + gap,
    accumulate: !!cs.accumulate,
  };
}

function run(cs: Case, Arr: Float32ArrayConstructor | Float64ArrayConstructor, seed: number, fn = matmul): void {
  const s = makeSpec(cs);
  const { batch, m, n, k } = s;
  const r = rng(seed);
  const aLen = s.aOffset + (batch - 1) * s.aBatchStride + m * k + 1;
  const bLen = s.bOffset + (batch - 1) * s.bBatchStride + k * n + 1;
  const cLen = s.cOffset + batch * m * n + 3;
  const a: FloatArray = new Arr(aLen).map(() => r());
  const b: FloatArray = new Arr(bLen).map(() => r());
  const c: FloatArray = new Arr(cLen).map(() => r());
  const c0 = c.slice();
  fn(a, b, c, s);
  const rtol = Arr === Float32Array ? RTOL_F32 : RTOL_F64;
  const label = `${Arr.name} batch=${batch} m=${m} n=${n} k=${k} tA=${s.transA} tB=${s.transB} bcA=${!!cs.bcastA} bcB=${!!cs.bcastB} acc=${s.accumulate}`;
  for (let bi = 0; bi < batch; bi++) {
    const ao = s.aOffset + bi * s.aBatchStride, bo = s.bOffset + bi * s.bBatchStride, co = s.cOffset + bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0, mag = 0;
        for (let p = 0; p < k; p++) {
          const x = a[ao + (s.transA ? p * m + i : i * k + p)]! * b[bo + (s.transB ? j * k + p : p * n + j)]!;
          sum += x;
          mag += Math.abs(x);
        }
        const init = s.accumulate ? c0[co + i * n + j]! : 0;
        const ref = sum + init;
        const got = c[co + i * n + j]!;
        const tol = rtol * (mag + Math.abs(init)) + 1e-30;
        if (!(Math.abs(got - ref) <= tol)) {
          assert.fail(`${label}: C[${bi}][${i}][${j}] = ${got}, expected ${ref} (tol ${tol})`);
        }
      }
    }
  }
  // Nothing outside C may be touched.
  for (let i = 0; i < s.cOffset; i++) assert.equal(c[i], c0[i], `${label}: wrote before C`);
  for (let i = s.cOffset + batch * m * n; i < cLen; i++) assert.equal(c[i], c0[i], `${label}: wrote after C`);
}

const TRANS: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** Shapes covering edge tiles (m % MR, n % NR, k % 4), degenerate vectors and block boundaries. */
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1], [1, 3, 5], [3, 1, 7], [2, 2, 1], [1, 17, 33], [17, 1, 33], [17, 33, 1],
  [3, 17, 33], [5, 8, 4], [6, 9, 13], [17, 33, 65], [33, 17, 127], [65, 65, 65],
  [127, 129, 33], [129, 127, 17], [11, 300, 257], [250, 20, 300], [241, 33, 260],
];

function sweep(Arr: Float32ArrayConstructor | Float64ArrayConstructor, seedBase: number, fn = matmul): void {
  let seed = seedBase;
  for (const [m, n, k] of SHAPES) {
    for (const [transA, transB] of TRANS) {
      run({ batch: 1, m, n, k, transA, transB }, Arr, seed++, fn);
      run({ batch: 1, m, n, k, transA, transB, accumulate: true }, Arr, seed++, fn);
    }
  }
}

function batched(Arr: Float32ArrayConstructor | Float64ArrayConstructor, seedBase: number, fn = matmul): void {
  let seed = seedBase;
  for (const [transA, transB] of TRANS) {
    run({ batch: 3, m: 17, n: 33, k: 65, transA, transB }, Arr, seed++, fn);
    run({ batch: 4, m: 33, n: 20, k: 19, transA, transB, bcastA: true }, Arr, seed++, fn);
    run({ batch: 3, m: 65, n: 31, k: 40, transA, transB, bcastB: true, accumulate: true }, Arr, seed++, fn);
    run({ batch: 2, m: 9, n: 7, k: 129, transA, transB, bcastA: true, bcastB: true }, Arr, seed++, fn);
    run({ batch: 3, m: 13, n: 21, k: 34, transA, transB, gap: 7, accumulate: true }, Arr, seed++, fn);
  }
}

test('wasm SIMD kernel is available for f32', () => {
  const info = matmulInfo();
  assert.equal(info.wasm, true, 'expected WebAssembly SIMD in Node 20');
  assert.equal(info.shared, true);
});

test('f32 single thread: shapes × transposes × accumulate', () => {
  const before = { ...matmulCounters };
  sweep(Float32Array, 1000);
  assert.ok(matmulCounters.wasm - before.wasm > SHAPES.length, 'most shapes take the wasm path');
  assert.ok(matmulCounters.js - before.js > 0, 'tiny shapes take the JS path');
});

test('f32 single thread: batched, broadcast (batch stride 0), strided batches', () => {
  batched(Float32Array, 2000);
});

test('f32 pure JS kernel (fallback)', () => {
  setMatmulKernel('js');
  try {
    sweep(Float32Array, 3000);
    batched(Float32Array, 3500);
  } finally {
    setMatmulKernel('auto');
  }
});

test('f64 inputs (JS kernel)', () => {
  sweep(Float64Array, 4000);
  batched(Float64Array, 4500);
  run({ batch: 1, m: 64, n: 64, k: 64, transA: false, transB: true }, Float64Array, 4900, matmulJs);
});

test('f32 staging in chunks (batch groups and row slabs)', () => {
  const chunks0 = matmulCounters.chunks, calls0 = matmulCounters.wasm;
  try {
    // Budget too small for all batches at once: batch groups.
    _setMatmulStagingBudget(4 * (3 * 40 * 30 + 30 * 20 * 3 + 40 * 20 * 3));
    for (const [transA, transB] of TRANS) {
      run({ batch: 7, m: 40, n: 20, k: 30, transA, transB, accumulate: true }, Float32Array, 5000);
      run({ batch: 7, m: 40, n: 20, k: 30, transA, transB, bcastB: true }, Float32Array, 5001);
    }
    // Budget too small for one batch: row slabs of op(A) and C.
    _setMatmulStagingBudget(4 * (2 * 50 * 60 + 30 * (50 + 60)));
    for (const [transA, transB] of TRANS) {
      run({ batch: 2, m: 97, n: 60, k: 50, transA, transB, accumulate: true }, Float32Array, 5100);
      run({ batch: 3, m: 97, n: 60, k: 50, transA, transB, bcastA: true }, Float32Array, 5101);
    }
  } finally {
    _setMatmulStagingBudget(null);
  }
  assert.equal(matmulCounters.wasm - calls0, 16);
  assert.ok(matmulCounters.chunks - chunks0 >= 16 * 2, 'operands were staged in several chunks');
});

test('f32 with the worker-thread pool', async () => {
  const threads = enableCpuThreads(2);
  assert.equal(threads, 2);
  assert.equal(await cpuThreadsReady(), 2);
  assert.equal(matmulInfo().threads, 2);
  _setMatmulThreadBackoff(false); // deterministic: every call above the threshold is offered to the helper
  let seed = 6000;
  const threaded0 = matmulCounters.threaded, helped0 = matmulCounters.helped;
  for (const [transA, transB] of TRANS) {
    // above THREAD_MIN_MACS, split into units by rows, by columns (m small, n large), by batch
    run({ batch: 1, m: 129, n: 127, k: 65, transA, transB }, Float32Array, seed++);
    run({ batch: 1, m: 127, n: 129, k: 65, transA, transB, accumulate: true }, Float32Array, seed++);
    run({ batch: 1, m: 13, n: 1201, k: 80, transA, transB }, Float32Array, seed++);
    run({ batch: 4, m: 65, n: 33, k: 129, transA, transB, bcastB: true }, Float32Array, seed++);
    run({ batch: 3, m: 77, n: 51, k: 100, transA, transB, bcastA: true, accumulate: true }, Float32Array, seed++);
    run({ batch: 5, m: 45, n: 50, k: 100, transA, transB, gap: 3 }, Float32Array, seed++);
  }
  // operands larger than the initial 4 MiB wasm memory: it grows while the helper is attached
  run({ batch: 8, m: 200, n: 200, k: 200, transA: false, transB: true, accumulate: true }, Float32Array, seed++);
  assert.equal(matmulCounters.threaded - threaded0, 25, 'all of the above were offered to the helper');
  // (the helper joins unless it could not wake up in time for any of these calls; retry a bit)
  for (let i = 0; i < 20 && matmulCounters.helped === helped0; i++) {
    run({ batch: 2, m: 200, n: 200, k: 200, transA: false, transB: false }, Float32Array, seed++);
  }
  assert.ok(matmulCounters.helped - helped0 > 0, 'the helper thread took part');
  // the small shapes (single-threaded below the threshold) still work with the pool enabled
  sweep(Float32Array, 7000);
  // many calls in a row: the handoff must not lose or reorder jobs
  for (let i = 0; i < 40; i++) run({ batch: 1, m: 128, n: 96, k: 96, transA: i % 2 === 1, transB: false }, Float32Array, 8000 + i);
  _setMatmulThreadBackoff(true);
  disableCpuThreads();
  assert.equal(matmulInfo().threads, 1);
  run({ batch: 1, m: 129, n: 127, k: 65, transA: false, transB: false }, Float32Array, 9000);
});

test('rejects out-of-bounds and mixed element types', () => {
  const s: MatmulSpec = {
    batch: 1, m: 2, n: 2, k: 2, transA: false, transB: false,
    aOffset: 0, bOffset: 0, cOffset: 0, aBatchStride: 0, bBatchStride: 0, accumulate: false,
  };
  assert.throws(() => matmul(new Float32Array(3), new Float32Array(4), new Float32Array(4), s), RangeError);
  assert.throws(() => matmul(new Float32Array(4), new Float64Array(4), new Float32Array(4), s), TypeError);
  // k = 0: C = 0 (or unchanged when accumulating)
  const c = new Float32Array([1, 2, 3, 4]);
  matmul(new Float32Array(0), new Float32Array(0), c, { ...s, k: 0, accumulate: true });
  assert.deepEqual([...c], [1, 2, 3, 4]);
  matmul(new Float32Array(0), new Float32Array(0), c, { ...s, k: 0 });
  assert.deepEqual([...c], [0, 0, 0, 0]);
});

after(() => disableCpuThreads());
