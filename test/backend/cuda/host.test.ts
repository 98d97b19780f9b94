/**
 * The parts of the CUDA backend that run without a GPU, tested everywhere (CI included): the
 * caching allocator (against a fake device), axis merging for strided kernels, bf16 rounding,
 * the one-sentence error when CUDA is absent (the CPU backend keeps working), the fused op's
 * composite fallback against the minGRU/minLSTM cells, and, where NVRTC can be loaded, that every
 * kernel module compiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { CachingAllocator, bucketBytes } from '../../../src/backend/cuda/allocator.js';
import { DeviceMemoryError } from '../../../src/backend/backend.js';
import { CudaBackend, cudaStatus, fromBf16, roundToBf16, toBf16 } from '../../../src/backend/cuda/cuda.js';
import { collapseAxes } from '../../../src/backend/cuda/launch.js';
import { MODULES } from '../../../src/backend/cuda/modules.js';
import { rnnSource } from '../../../src/backend/cuda/kernels/rnn.js';
import { rnnFusedSource } from '../../../src/backend/cuda/kernels/rnn-fused.js';
import { rnnGridSource } from '../../../src/backend/cuda/kernels/rnn-grid.js';
import { elmanDefinition, gruDefinition, lstmDefinition, slstmDefinition } from '../../../src/cells/definitions/index.js';
import { registerCudaBackend } from '../../../src/register-cuda.js';
import { compile } from '../../../src/backend/cuda/compiler.js';
import { loadNvrtc } from '../../../src/backend/cuda/ffi.js';
import { MinGRU, MinLSTM } from '../../../src/cells/min-rnn.js';
import { getBackend, setBackend } from '../../../src/tensor/engine.js';
import { randn, tensor } from '../../../src/tensor/creation.js';
import { cellScan } from '../../../src/cells/linear-scan.js';
import { minGruDefinition, minLstmDefinition } from '../../../src/cells/definitions/index.js';
import { reshape } from '../../../src/tensor/ops.js';
import { Rng } from '../../../src/tensor/random.js';
import { scope } from '../../../src/tensor/tensor.js';

function fakeDevice(capacity = Infinity) {
  let next = 4096, used = 0;
  const log: string[] = [];
  const sizes = new Map<number, number>();
  return {
    log,
    raw: {
      alloc(bytes: number) {
        if (used + bytes > capacity) throw Object.assign(new Error('out of memory'), { code: 2 });
        const p = next;
        next += bytes;
        used += bytes;
        sizes.set(p, bytes);
        log.push(`alloc ${bytes}`);
        return p;
      },
      free(p: number) { used -= sizes.get(p)!; log.push(`free ${sizes.get(p)}`); },
      synchronize() { log.push('sync'); },
    },
  };
}

test('allocator: size buckets, reuse of freed blocks, live counts, emptyCache', () => {
  assert.equal(bucketBytes(1), 512);
  assert.equal(bucketBytes(513), 1024);
  assert.equal(bucketBytes(1 << 20), 2 << 20);
  assert.equal(bucketBytes(3 << 20), 4 << 20);
  assert.equal(bucketBytes(0), 0);
  const dev = fakeDevice();
  const a = new CachingAllocator(dev.raw);
  const b1 = a.alloc(1000), b2 = a.alloc(1000), z = a.alloc(0);
  assert.equal(a.liveBlocks(), 3);
  a.free(b1);
  const b3 = a.alloc(900); // same 1024-byte bucket: the freed block comes back
  assert.equal(b3.ptr, b1.ptr);
  assert.equal(a.stats().driverAllocs, 2);
  a.free(b2); a.free(b3); a.free(z);
  assert.equal(a.liveBlocks(), 0);
  assert.equal(a.stats().cachedBytes, 2048);
  a.emptyCache();
  assert.deepEqual(dev.log, ['alloc 1024', 'alloc 1024', 'sync', 'free 1024', 'free 1024']);
  assert.equal(a.stats().reservedBytes, 0);
});

test('allocator: out of memory empties the cache and retries once', () => {
  const dev = fakeDevice(4096);
  const a = new CachingAllocator(dev.raw);
  a.free(a.alloc(3000)); // 3072 cached
  const big = a.alloc(2048); // does not fit next to the cached block: cache emptied, retried
  assert.equal(big.bytes, 2048);
  assert.equal(a.stats().cachedBytes, 0);
  assert.throws(() => a.alloc(8192), (e: Error) => e instanceof DeviceMemoryError && /^the GPU ran out of memory: 8192 bytes more were needed while this process held 2048 bytes/.test(e.message));
  assert.equal(a.liveBlocks(), 1);
});

test('collapseAxes merges contiguous axes and drops unit axes', () => {
  assert.deepEqual(collapseAxes([2, 3, 4], [[12, 4, 1], [12, 4, 1]]), { shape: [24], strides: [[1], [1]] });
  assert.deepEqual(collapseAxes([2, 1, 3], [[3, 3, 1], [0, 0, 1]]), { shape: [2, 3], strides: [[3, 1], [0, 1]] });
  assert.deepEqual(collapseAxes([4, 5], [[1, 4], [5, 1]]), { shape: [4, 5], strides: [[1, 4], [5, 1]] });
  assert.deepEqual(collapseAxes([1, 1], [[1, 1]]), { shape: [1], strides: [[0]] });
  assert.deepEqual(collapseAxes([3, 2], [[-2, 1]]), { shape: [3, 2], strides: [[-2, 1]] });
});

test('bf16 host conversion rounds to nearest even and keeps NaN, ±∞, −0', () => {
  const x = Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -0, Infinity, -Infinity, 3.4e38, 1e-40]);
  const r = roundToBf16(x);
  assert.deepEqual([...r].slice(0, 4), [1, 1, 1 + 4 * 2 ** -8, 1 + 2 * 2 ** -8]);
  assert.ok(Object.is(r[4], -0));
  assert.equal(r[5], Infinity);
  assert.equal(r[6], -Infinity);
  assert.ok(Number.isFinite(r[7]) || r[7] === Infinity);
  assert.ok(Number.isNaN(fromBf16(toBf16(Float32Array.of(NaN)))[0]));
});

test('selecting CUDA without a GPU fails with one clear sentence and the CPU backend keeps working', { skip: cudaStatus().available ? 'a CUDA device is present' : false }, () => {
  registerCudaBackend();
  assert.throws(() => setBackend('cuda'), (e: Error) => /^The CUDA backend is unavailable on this machine \(.+\); use the 'cpu' backend\.$/.test(e.message));
  assert.throws(() => new CudaBackend(), /unavailable/);
  setBackend('cpu');
  assert.equal(getBackend().name, 'cpu');
  const t = tensor([1, 2, 3]);
  assert.deepEqual([...t.add(1).dataSync()], [2, 3, 4]);
});

test('minRnnScan falls back to the composite ops and matches the cells', () => {
  for (const [Cell, kind] of [[MinGRU, 'gru'], [MinLSTM, 'lstm']] as const) {
    for (const scan of ['log', 'real'] as const) {
      scope(() => {
        const cell = new Cell({ dim: 6, scan, rng: new Rng(3), backend: 'cpu' });
        const x = randn([2, 5, 6], { rng: new Rng(4), backend: 'cpu' });
        const h0 = randn([2, 6], { rng: new Rng(5), backend: 'cpu' }).abs().add(0.1);
        const want = cell.forward(x, h0).output.dataSync();
        const proj = cell.parameters()[0];
        const got = cellScan(kind === 'gru' ? minGruDefinition : minLstmDefinition, reshape(x.matmul(proj, { transB: true }), [2, 5, (kind === 'gru' ? 2 : 3) * 6]), { h0, scan }).dataSync();
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])), `${kind} ${scan}[${i}]`);
        cell.dispose();
      });
    }
  }
  assert.throws(() => cellScan(minLstmDefinition, randn([2, 3, 4])), /must be \[B, T, 3·D\]/);
});

let nvrtcReason: string | false = false;
try {
  loadNvrtc();
} catch (e) {
  nvrtcReason = `NVRTC is not installed here (${(e as Error).message.slice(0, 120)})`;
}

test('every kernel module compiles with NVRTC (sm_90), cached on the second call; the RNN modules rendered for each built-in cell compile', { skip: nvrtcReason }, () => {
  for (const [name, source] of Object.entries(MODULES)) {
    const first = compile(source, `recur-${name}`, { arch: 'sm_90' });
    assert.ok(first.cubin.length > 1000, name);
    const again = compile(source, `recur-${name}`, { arch: 'sm_90' });
    assert.ok(again.cached, `${name}: second compile should come from the cache`);
  }
  for (const cell of [lstmDefinition, gruDefinition, elmanDefinition, slstmDefinition]) {
    for (const [path, source] of [['alternating', rnnSource], ['fused', rnnFusedSource], ['grid', rnnGridSource]] as const) {
      assert.ok(compile(source(cell), `recur-test-rnn-${path}-${cell.name}`, { arch: 'sm_90' }).cubin.length > 1000, `${path} ${cell.name}`);
    }
  }
  assert.throws(() => compile('extern "C" __global__ void k() { undefined_thing(); }', 'broken', { arch: 'sm_90' }),
    /NVRTC could not compile the CUDA module 'broken'[\s\S]*undefined_thing/);
});
