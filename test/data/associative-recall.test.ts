/** Multi-query associative recall: layout, distinct keys, every key queried once with its value, bad configs refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { associativeRecallBatch, checkAssociativeRecallConfig } from '../../src/data/associative-recall.js';
import { IGNORE_INDEX } from '../../src/data/selective-copy.js';
import { Rng } from '../../src/tensor/random.js';

test('a recall sequence stores distinct keys with values, then queries every key once and asks for its value', () => {
  const config = { seqLength: 40, pairs: 6, vocabSize: 21 };
  const { inputs, targets, batch } = associativeRecallBatch(config, 50, new Rng(3));
  const K = 10;
  let queriedOrders = new Set<string>();
  for (let b = 0; b < batch; b++) {
    const row = [...inputs.subarray(b * 40, (b + 1) * 40)], want = [...targets.subarray(b * 40, (b + 1) * 40)];
    const stored = new Map<number, number>();
    for (let i = 0; i < 6; i++) {
      const [k, v] = [row[2 * i]!, row[2 * i + 1]!];
      assert.ok(k >= 1 && k <= K && v > K && v <= 2 * K, `pair ${i}: key ${k}, value ${v}`);
      assert.ok(!stored.has(k), 'keys of a sequence are distinct');
      stored.set(k, v);
    }
    assert.deepEqual(row.slice(12, 28), new Array(16).fill(0), 'blanks between pairs and queries');
    const queried: number[] = [];
    for (let q = 0; q < 6; q++) {
      const at = 28 + 2 * q, key = row[at]!;
      assert.equal(row[at + 1], stored.get(key), 'a query key is followed by its value');
      assert.equal(want[at], stored.get(key), 'the target at a query key is its value');
      queried.push(key);
    }
    assert.deepEqual([...queried].sort(), [...stored.keys()].sort(), 'every key is queried once');
    queriedOrders.add(queried.map((k) => [...stored.keys()].indexOf(k)).join(','));
    assert.equal(want.filter((t) => t !== IGNORE_INDEX).length, 6, 'answers only at the query keys');
  }
  assert.ok(queriedOrders.size > 40, 'queries come in random orders');
  queriedOrders = new Set();
});

test('the same generator state gives the same batch; defaults and bad configs', () => {
  const a = associativeRecallBatch({ seqLength: 16, pairs: 2 }, 3, new Rng(9)), b = associativeRecallBatch({ seqLength: 16, pairs: 2 }, 3, new Rng(9));
  assert.deepEqual(a, b);
  assert.equal(checkAssociativeRecallConfig({ seqLength: 64, pairs: 8 }).vocabSize, 33);
  assert.equal(checkAssociativeRecallConfig({ seqLength: 256, pairs: 40 }).vocabSize, 81);
  assert.throws(() => checkAssociativeRecallConfig({ seqLength: 15, pairs: 4 }), /seqLength 15 must be at least 4 × pairs \(16\)/);
  assert.throws(() => checkAssociativeRecallConfig({ seqLength: 64, pairs: 8, vocabSize: 16 }), /odd integer/);
  assert.throws(() => checkAssociativeRecallConfig({ seqLength: 64, pairs: 8, vocabSize: 15 }), /K ≥ pairs/);
  assert.throws(() => checkAssociativeRecallConfig({ seqLength: 64, pairs: 0 }), /pairs must be a positive integer/);
});
