import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { ByteTokenizer, CharTokenizer, tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { IGNORE_INDEX, selectiveCopyBatch } from '../../src/data/selective-copy.js';
import { Rng } from '../../src/tensor/random.js';

const russian = 'Тварь ли я дрожащая или право имею? — Раскольников. Ёж 🦔';

test('CharTokenizer round-trips Russian text and emoji by code point', () => {
  const tok = CharTokenizer.fromText(russian);
  const ids = tok.encode(russian);
  assert.equal(ids.length, [...russian].length);
  assert.equal(tok.decode(ids), russian);
  const again = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assert.equal(again.decode(ids), russian);
  assert.throws(() => tok.encode('Z'), /character "Z" \(U\+005A\) is not in the vocabulary/);
  assert.throws(() => tok.decode([999]), /token id 999 is outside the vocabulary/);
});

test('ByteTokenizer round-trips UTF-8 and its stream decoder never splits a character', () => {
  const tok = new ByteTokenizer();
  const ids = tok.encode(russian);
  assert.ok(ids.length > [...russian].length, 'multi-byte characters');
  assert.equal(tok.decode(ids), russian);
  const feed = tok.streamDecoder();
  let text = '';
  for (const id of ids) {
    const piece = feed(id);
    assert.ok(!piece.includes('\uFFFD'), 'no replacement characters mid-stream');
    text += piece;
  }
  assert.equal(text, russian);
});

test('selective copying: tokens in order after the markers, blanks elsewhere, targets only on the answer', () => {
  const rng = new Rng(9);
  const cfg = { seqLength: 40, numTokens: 6, vocabSize: 16 };
  const { inputs, targets, batch, seqLength } = selectiveCopyBatch(cfg, 5, rng);
  assert.equal(batch, 5);
  for (let b = 0; b < batch; b++) {
    const row = inputs.subarray(b * seqLength, (b + 1) * seqLength);
    const tgt = targets.subarray(b * seqLength, (b + 1) * seqLength);
    const context = row.subarray(0, seqLength - cfg.numTokens);
    const data = [...context].filter((t) => t !== 0);
    assert.equal(data.length, cfg.numTokens);
    assert.ok(data.every((t) => t >= 1 && t <= 14));
    assert.deepEqual([...row.subarray(seqLength - cfg.numTokens)], new Array(cfg.numTokens).fill(15));
    assert.deepEqual([...tgt.subarray(seqLength - cfg.numTokens)], data);
    assert.ok([...tgt.subarray(0, seqLength - cfg.numTokens)].every((t) => t === IGNORE_INDEX));
  }
  // deterministic under the seed, different across seeds
  assert.deepEqual(selectiveCopyBatch(cfg, 2, new Rng(1)).inputs, selectiveCopyBatch(cfg, 2, new Rng(1)).inputs);
  assert.notDeepEqual(selectiveCopyBatch(cfg, 2, new Rng(1)).inputs, selectiveCopyBatch(cfg, 2, new Rng(2)).inputs);
  assert.throws(() => selectiveCopyBatch({ seqLength: 10, numTokens: 6 }, 1, rng), /at least twice numTokens/);
});
