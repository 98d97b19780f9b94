/**
 * The sequence data readers (src/data/sequences.ts): JSONL and CSV (wide and long) parse into
 * checked records; every malformed input is refused with its line (and column), never read as NaN;
 * target kinds are inferred; normalisation and padding give what they promise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceDataError, fitNormalisation, padBatch, parseCsv, parseJsonl } from '../../src/data/sequences.js';

test('JSONL: one or many features, class / value / per-step targets inferred', () => {
  const a = parseJsonl('{"input": [1, 2, 3], "target": 1}\n\n{"input": [4], "target": 0}\n');
  assert.equal(a.targets, 'class');
  assert.equal(a.classes, 2);
  assert.deepEqual(a.records.map((r) => [r.length, r.line]), [[3, 1], [1, 3]]);
  const b = parseJsonl('{"input": [[1, 2], [3, 4]], "target": 0.5}');
  assert.equal(b.features, 2);
  assert.equal(b.targets, 'value');
  assert.deepEqual(Array.from(b.records[0].input), [1, 2, 3, 4]);
  assert.equal(parseJsonl('{"input": [1, 2], "target": [0, 2]}').targets, 'class-per-step');
  assert.equal(parseJsonl('{"input": [1, 2], "target": [0.1, 2]}').targets, 'value-per-step');
  assert.equal(parseJsonl('{"input": [1, 2]}').targets, 'none');
});

test('JSONL: malformed records are refused with their line', () => {
  const cases: Array<[string, RegExp]> = [
    ['{"input": [1]}\nnot json', /^line 2: not valid JSON$/],
    ['{"input": []}', /line 1: "input" must be a non-empty list/],
    ['{"input": [1, null]}', /line 1: input step 2: null is not a finite number/],
    ['{"input": [1, "x"]}', /line 1: input step 2: "x" is not a finite number/],
    ['{"input": [[1, 2], [3]]}', /line 1: input step 2 has 1 features, step 1 has 2/],
    ['{"input": [1, 2], "target": [1]}', /line 1: "target" has 1 steps, "input" has 2/],
    ['{"input": [1]}\n{"input": [[1, 2]]}', /line 2: 2 features per step, line 1 has 1/],
    ['{"input": [1], "target": 1}\n{"input": [2]}', /line 2: target is none, line 1's is scalar/],
    ['[1, 2]', /line 1: expected an object/],
    ['', /holds no sequences/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseJsonl(text), (e: unknown) => e instanceof SequenceDataError && message.test(e.message), text);
});

test('CSV: wide series, long sequences grouped by id with a target column; bad cells named by line and column', () => {
  const wide = parseCsv('a,b\n1,10\n2,20\n3,30\n', { layout: 'wide' });
  assert.deepEqual(wide.records.map((r) => Array.from(r.input)), [[1, 2, 3], [10, 20, 30]]);
  const long = parseCsv('id,x,y,label\n7,1,2,0\n7,3,4,1\n8,5,6,1\n', { layout: 'long', id: 'id', target: 'label' });
  assert.equal(long.records.length, 2);
  assert.equal(long.features, 2);
  assert.equal(long.targets, 'class-per-step');
  assert.deepEqual(Array.from(long.records[0].input), [1, 2, 3, 4]);
  assert.deepEqual(long.records.map((r) => r.line), [2, 4]);
  const bad: Array<[string, RegExp]> = [
    ['a,b\n1,\n', /line 2, column 'b': missing value/],
    ['a,b\n1,x\n', /line 2, column 'b': 'x' is not a number/],
    ['a,b\n1,2,3\n', /line 2: 3 values, the header has 2/],
    ['a\n', /needs a header row and at least one data row/],
  ];
  for (const [text, message] of bad) assert.throws(() => parseCsv(text, { layout: 'wide' }), message, text);
  assert.throws(() => parseCsv('a,b\n1,2\n', { layout: 'long', id: 'key' }), /no id column 'key' \(columns: a, b\)/);
});

test('normalisation fitted on training records; padding with lengths', () => {
  const set = parseJsonl('{"input": [1, 3]}\n{"input": [5]}');
  const norm = fitNormalisation(set.records);
  assert.equal(norm.mean[0], 3);
  assert.ok(Math.abs(norm.std[0] - Math.sqrt(8 / 3)) < 1e-12);
  const batch = padBatch(set.records, norm);
  assert.equal(batch.time, 2);
  assert.deepEqual(Array.from(batch.lengths), [2, 1]);
  assert.ok(Math.abs(batch.inputs[0] + 2 / Math.sqrt(8 / 3)) < 1e-6);
  assert.equal(batch.inputs[3], 0, 'padding is zero');
  assert.equal(fitNormalisation(parseJsonl('{"input": [2, 2]}').records).std[0], 1, 'a constant feature keeps std 1');
});
