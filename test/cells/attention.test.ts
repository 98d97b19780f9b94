import '../../src/default-backend.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttentionCell, POSITION_CODES, type KVCache } from '../../src/cells/attention.js';
import { createCell } from '../../src/cells/registry.js';
import { getBackend } from '../../src/tensor/engine.js';
import { concat, slice, squeeze } from '../../src/tensor/ops.js';
import { randn } from '../../src/tensor/creation.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, checkOp } from '../helpers/gradcheck.js';

const variants = [
  ...POSITION_CODES.map((position) => ({ position, heads: 2, kvHeads: 2 })),
  { position: 'rope' as const, heads: 4, kvHeads: 2 },
  { position: 'rope' as const, heads: 3, kvHeads: 1 },
];

for (const v of variants) {
  const name = `${v.position}, ${v.heads} heads / ${v.kvHeads} kv heads`;
  test(`AttentionCell (${name}): step by step with the KV cache = chunked forward = one parallel forward; live buffers flat`, () => {
    const before = getBackend().liveBuffers();
    const cell = new AttentionCell({ dim: 6 * v.heads, heads: v.heads, kvHeads: v.kvHeads, position: v.position, context: 16, rng: new Rng(2), dtype: 'f64' });
    scope(() => {
      const x = randn([2, 7, 6 * v.heads], { dtype: 'f64', rng: new Rng(3) });
      const parallel = cell.forward(x).output.dataSync();
      let state: KVCache | null = null;
      const steps: Tensor[] = [];
      for (let t = 0; t < 7; t++) {
        const r = cell.step(squeeze(slice(x, 1, t, t + 1), 1), state);
        steps.push(r.output);
        state = r.state;
      }
      assertClose(concat(steps.map((s) => s.reshape([2, 1, 6 * v.heads])), 1).dataSync(), parallel, 1e-12, 'step vs parallel');
      assert.deepEqual(state![0].shape, [2, v.kvHeads, 7, 6]);
      const first = cell.forward(slice(x, 1, 0, 3));
      const second = cell.forward(slice(x, 1, 3, 7), first.state);
      assertClose(concat([first.output, second.output], 1).dataSync(), parallel, 1e-12, 'chunked vs parallel');
    });
    cell.dispose();
    assert.equal(getBackend().liveBuffers(), before);
  });
}

test('AttentionCell gradients (input) against central differences, fused and composite', () => {
  for (const fused of [true, false]) {
    const cell = new AttentionCell({ dim: 6, heads: 2, kvHeads: 1, position: 'rope', rng: new Rng(4), dtype: 'f64', fused });
    // parameters frozen: their gradients would be (legitimately) new buffers for the leak check
    for (const p of cell.parameters()) p.requiresGrad = false;
    checkOp({ name: `AttentionCell(fused ${fused})`, shapes: [[2, 4, 6]], fn: (x) => cell.forward(x).output });
    cell.dispose();
  }
});

test('AttentionCell: the learned code refuses positions beyond its context in one sentence; bad head counts too', () => {
  const cell = createCell('transformer', { dim: 4, position: 'learned', context: 3, rng: new Rng(1) });
  scope(() => assert.throws(() => cell.forward(randn([1, 4, 4])), /covers 3 positions \(context\), but position 3 was asked for/));
  cell.dispose();
  assert.throws(() => new AttentionCell({ dim: 6, heads: 4 }), /heads 4 must divide dim 6/);
  assert.throws(() => new AttentionCell({ dim: 6, heads: 3, kvHeads: 2 }), /kvHeads 2 must divide heads 3/);
});
