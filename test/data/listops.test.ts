import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import {
  LISTOPS_PAD, LISTOPS_VOCAB_SIZE, detokenizeListOps, evaluateListOps, evaluateTree, generateListOps, generateTree,
  listOpsBatch, listOpsMajority, listOpsRootOperatorBaseline, tokenizeListOps, treeToString,
} from '../../src/data/listops.js';
import { Rng } from '../../src/tensor/random.js';

test('evaluator on hand-written expressions (MED on an even count: floor of the mean of the middle two)', () => {
  const cases: [string, number][] = [
    ['7', 7],
    ['[MAX 2 9 [MIN 4 7 ] 0 ]', 9],
    ['[MIN 4 7 ]', 4],
    ['[SM 5 6 7 ]', 8],
    ['[SM 0 0 ]', 0],
    ['[MED 3 1 2 ]', 2],
    ['[MED 1 2 3 4 ]', 2], // np.median = 2.5, int() → 2
    ['[MED 9 0 ]', 4], // 4.5 → 4
    ['[MED 8 6 ]', 7],
    ['[MAX [SM 9 9 ] [MED 1 2 ] 3 ]', 8], // SM 18 % 10 = 8, MED 1.5 → 1
    ['[MIN [MAX 1 [SM 3 4 ] ] [MED [MIN 9 8 ] 5 9 ] ]', 7], // MAX(1, 7) = 7, MED(8, 5, 9) = 8
    ['( ( ( [MAX 2 ) 9 ) ] )', 9], // LRA's parenthesised form
  ];
  for (const [expr, want] of cases) assert.equal(evaluateListOps(expr), want, expr);
  assert.throws(() => evaluateListOps('[MAX 1 2'), /unclosed/);
  assert.throws(() => evaluateListOps('1 2'), /more than one/);
  assert.throws(() => evaluateListOps('[MAX ]'), /without arguments/);
  assert.throws(() => evaluateListOps('[FOO 1 ]'), /unknown symbol/);
});

test("LRA's string form, tokenizer round trip, and the stack evaluator agrees with the tree on generated data", () => {
  const t = { op: '[MAX' as const, args: [2, 9] };
  assert.equal(treeToString(t), '( ( ( [MAX 2 ) 9 ) ] )');
  assert.equal(detokenizeListOps(tokenizeListOps(treeToString(t))), '[MAX 2 9 ]');
  const rng = new Rng(1);
  const data = generateListOps(300, { maxDepth: 6, maxArgs: 5, minLength: 10, maxLength: 200 }, rng);
  assert.equal(new Set(data.map((e) => e.source)).size, 300, 'examples are distinct');
  for (const e of data) {
    assert.ok(e.tokens.length > 10 && e.tokens.length < 200, `length ${e.tokens.length}`);
    assert.ok(e.tokens.every((id) => id > LISTOPS_PAD && id < LISTOPS_VOCAB_SIZE));
    assert.equal(evaluateListOps(e.tokens), e.label);
    assert.equal(evaluateListOps(e.source), e.label);
    assert.ok(e.label >= 0 && e.label <= 9);
  }
});

test('generator follows the source: lengths count tokens, depth bound, argument counts 2…maxArgs, LRA default lengths', () => {
  const rng = new Rng(5);
  const depthOf = (t: ReturnType<typeof generateTree>['tree']): number => (typeof t === 'number' ? 1 : 1 + Math.max(...t.args.map(depthOf)));
  let operators = 0, leaves = 0;
  const argCounts = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const { tree, length } = generateTree(rng, 4, 5);
    assert.equal(tokenizeListOps(treeToString(tree)).length, length);
    assert.ok(depthOf(tree) <= 4);
    const walk = (t: typeof tree) => {
      if (typeof t === 'number') { leaves++; return; }
      operators++; argCounts.add(t.args.length); t.args.forEach(walk);
    };
    walk(tree);
    assert.equal(evaluateTree(tree), evaluateListOps(treeToString(tree)));
  }
  assert.deepEqual([...argCounts].sort(), [2, 3, 4, 5]);
  // A root is an operator with probability 0.25.
  const roots = Array.from({ length: 4000 }, () => typeof generateTree(rng, 10, 10).tree !== 'number').filter(Boolean).length;
  assert.ok(Math.abs(roots / 4000 - 0.25) < 0.03, `operator roots ${roots / 4000}`);
  assert.ok(operators > 0 && leaves > operators);
  // The LRA defaults (500 < length < 2000, depth 10, 10 args) produce examples.
  const lra = generateListOps(3, {}, new Rng(2));
  for (const e of lra) assert.ok(e.tokens.length > 500 && e.tokens.length < 2000);
  assert.throws(() => generateListOps(1000, { maxDepth: 1, minLength: 0, maxLength: 3 }, rng), /distinct trees/);
});

test('batching pads on the right, with a mask, labels and lengths; majority baseline', () => {
  const data = generateListOps(5, { maxDepth: 4, maxArgs: 4, minLength: 3, maxLength: 40 }, new Rng(3));
  const b = listOpsBatch(data);
  const longest = Math.max(...data.map((e) => e.tokens.length));
  assert.equal(b.length, longest);
  assert.equal(b.inputs.length, 5 * longest);
  data.forEach((e, i) => {
    const row = b.inputs.subarray(i * longest, (i + 1) * longest);
    assert.deepEqual(Array.from(row.subarray(0, e.tokens.length)), Array.from(e.tokens));
    assert.ok(row.subarray(e.tokens.length).every((v) => v === LISTOPS_PAD));
    assert.equal(b.mask.subarray(i * longest, (i + 1) * longest).reduce((a, v) => a + v, 0), e.tokens.length);
    assert.equal(b.labels[i], e.label);
    assert.equal(b.lengths[i], e.tokens.length);
  });
  assert.equal(listOpsBatch(data, 64).length, 64);
  assert.throws(() => listOpsBatch(data, 2), /shorter/);
  const m = listOpsMajority(data);
  assert.equal(m.counts.reduce((a, c) => a + c, 0), 5);
  assert.equal(m.accuracy, m.counts[m.label] / 5);
});

test('generateListOps never returns an excluded expression (held-out sets)', () => {
  const config = { maxDepth: 2, maxArgs: 2, minLength: 3, maxLength: 5 }; // [OP d d ]: 400 expressions
  const excluded = new Set(generateListOps(200, config, new Rng(8)).map((e) => e.source));
  const drawn = generateListOps(150, config, new Rng(9), excluded);
  assert.equal(drawn.length, 150);
  for (const e of drawn) assert.ok(!excluded.has(e.source), e.source);
  assert.throws(() => generateListOps(201, config, new Rng(10), excluded), /only 200 of 201 distinct trees/);
});

test('the root-operator baseline answers each root operator with its most frequent value', () => {
  const ex = (source: string) => ({ source, tokens: tokenizeListOps(source), label: evaluateListOps(source) });
  const data = [
    ex('[MAX 9 1 ]'), ex('[MAX 9 2 ]'), ex('[MAX 3 4 ]'), // MAX: 9 twice, 4 once → 2 right
    ex('[MIN 0 5 ]'), ex('[MIN 7 8 ]'), // MIN: 0 and 7 once each → 1 right
    ex('[SM 2 3 ]'), // → 1 right
    ex('4'), ex('4'), ex('6'), // bare digits are keyed by themselves: 4, 4 and 6 → 3 right
  ];
  assert.equal(listOpsRootOperatorBaseline(data), 7 / 9);
  assert.equal(listOpsRootOperatorBaseline([]), 0);
  // On LRA's distribution it is about twice the majority class (the plateau of a model that reads only the root).
  const lra = generateListOps(600, { minLength: 500, maxLength: 2000 }, new Rng(3));
  const [root, majority] = [listOpsRootOperatorBaseline(lra), listOpsMajority(lra).accuracy];
  assert.ok(root > 0.3 && root < 0.45 && root > 1.8 * majority, `root ${root}, majority ${majority}`);
});
