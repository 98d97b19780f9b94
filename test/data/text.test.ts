import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { StreamBatcher, consecutiveWindows, randomWindows, splitTrainVal, validationWindows } from '../../src/data/text.js';
import { Rng } from '../../src/tensor/random.js';

const iota = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const row = (batch: Int32Array, b: number, L: number) => Array.from(batch.subarray(b * L, (b + 1) * L));

test('splitTrainVal: the first 90% (floor, as nanoGPT) trains, the rest validates, as views', () => {
  const tokens = iota(1001);
  const { train, val } = splitTrainVal(tokens);
  assert.equal(train.length, 900); // int(1001 · 0.9) = 900
  assert.equal(val.length, 101);
  assert.equal(train[899], 899);
  assert.equal(val[0], 900);
  assert.equal(train.buffer, tokens.buffer, 'no copy');
  assert.throws(() => splitTrainVal(tokens, 1), /trainFraction/);
});

test('randomWindows: contiguous windows of T + 1 tokens inside the data, reproducible from the seed', () => {
  const data = iota(50);
  const a = randomWindows(data, 64, 7, new Rng(3));
  const b = randomWindows(data, 64, 7, new Rng(3));
  assert.deepEqual(a, b);
  const starts = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const w = row(a, i, 8);
    for (let t = 1; t < 8; t++) assert.equal(w[t], w[t - 1] + 1, 'contiguous');
    assert.ok(w[0] >= 0 && w[7] <= 49, 'inside the data');
    starts.add(w[0]);
  }
  assert.ok(starts.size > 20, 'starts vary');
  assert.ok(Math.max(...starts) <= 42, 'the last start that fits is 50 − 8');
  assert.deepEqual(Array.from(randomWindows(iota(8), 2, 7, new Rng(1))), [...iota(8), ...iota(8)], 'the only window that fits');
  assert.throws(() => randomWindows(iota(7), 1, 7, new Rng(1)), /cannot hold a window of 8/);
});

test('StreamBatcher: B contiguous streams advanced T per batch, reset at wrap-around, position restorable', () => {
  // 103 tokens, 3 streams of 34; windows of T + 1 = 11: offsets 0, 10, 20 fit (20 + 11 = 31 ≤ 34), 30 does not.
  const data = iota(103);
  const s = new StreamBatcher(data, 3, 10);
  assert.equal(s.streamLength, 34);
  const seen: number[][] = [[], [], []];
  const resets: boolean[] = [];
  let prev: Int32Array | null = null;
  for (let k = 0; k < 3; k++) {
    const { tokens, reset } = s.next();
    resets.push(reset);
    for (let b = 0; b < 3; b++) {
      const w = row(tokens, b, 11);
      assert.equal(w[0], b * 34 + 10 * k, `stream ${b} batch ${k} starts at its offset`);
      for (let t = 1; t < 11; t++) assert.equal(w[t], w[t - 1] + 1);
      if (prev) assert.equal(w[0], row(prev, b, 11)[10], 'a batch starts with the previous batch\'s last target');
      seen[b]!.push(...w.slice(1));
    }
    prev = tokens;
  }
  assert.deepEqual(resets, [true, false, false]);
  for (let b = 0; b < 3; b++) assert.deepEqual(seen[b], Array.from({ length: 30 }, (_, i) => b * 34 + 1 + i), 'every target of the pass once');
  assert.deepEqual(s.getPosition(), { position: 30, epoch: 0 });
  const saved = s.getPosition();
  const wrapped = s.next();
  assert.equal(wrapped.reset, true, 'wrap-around resets the state');
  assert.equal(wrapped.tokens[0], 0);
  assert.deepEqual(s.getPosition(), { position: 10, epoch: 1 });
  const again = new StreamBatcher(data, 3, 10);
  again.setPosition(saved);
  assert.deepEqual(again.next(), wrapped, 'a restored position continues identically');
  assert.throws(() => new StreamBatcher(iota(20), 3, 10), /6 per stream, fewer than a window of 11/);
  assert.throws(() => again.setPosition({ position: 99, epoch: 0 }), /invalid position/);
});

test('validationWindows: fixed, evenly spaced, non-overlapping windows; a short text gives one window', () => {
  const data = iota(101); // windows of T = 10 at 0, 10, …, 90: 10 of them
  const all = validationWindows(data, 10);
  assert.equal(all.count, 10);
  assert.equal(all.length, 10);
  assert.deepEqual(row(all.tokens, 9, 11), Array.from({ length: 11 }, (_, i) => 90 + i));
  const some = validationWindows(data, 10, 4);
  assert.deepEqual([0, 1, 2, 3].map((i) => some.tokens[i * 11]), [0, 20, 50, 70]);
  assert.deepEqual(validationWindows(data, 10, 4), some, 'deterministic');
  assert.equal(validationWindows(data, 10, 50).count, 10, 'capped at what exists');
  const short = validationWindows(iota(5), 10);
  assert.equal(short.count, 1);
  assert.equal(short.length, 4);
  assert.deepEqual(Array.from(short.tokens), [0, 1, 2, 3, 4]);
  assert.throws(() => validationWindows(iota(1), 10), /at least 2/);
});

test('consecutiveWindows: every token after the first is a target exactly once, windows share boundaries', () => {
  for (const [n, seq] of [[2, 5], [11, 5], [12, 5], [100, 7]] as const) {
    const w = consecutiveWindows(n, seq);
    const targets: number[] = [];
    for (const { start, length } of w) {
      assert.ok(length >= 1 && length <= seq);
      for (let t = 1; t <= length; t++) targets.push(start + t);
    }
    assert.deepEqual(targets, Array.from({ length: n - 1 }, (_, i) => i + 1), `n=${n} seq=${seq}`);
  }
});
