import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { parameterSummary } from '../../src/nn/summary.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';

test('parameterSummary lists every parameter and the exact total', () => {
  const model = new RecurrentLM({ vocabSize: 16, dim: 8, depth: 2, convKernel: 3, expansion: 1.5 });
  const text = parameterSummary(model);
  const lines = text.split('\n');
  assert.equal(lines.length, model.namedParameters().length + 1);
  // emb 16·8 + per layer (conv 8·3+8, norms 2·8, rnn 24·8 + 8·12, ff 32·8+32+8·32+8) + norm 8 + head 16·8
  const perLayer = 8 * 3 + 8 + 2 * 8 + 24 * 8 + 8 * 12 + 32 * 8 + 32 + 8 * 32 + 8;
  const expected = 16 * 8 + 2 * perLayer + 8 + 16 * 8;
  assert.equal(model.numParameters(), expected);
  assert.match(lines[lines.length - 1], new RegExp(`^total\\s+${expected.toLocaleString('en-US')}$`));
  assert.match(text, /layers\.1\.rnn\.to_out\.weight\s+\[8, 12\]\s+96/);
  model.dispose();
});
