/** Error messages of misuse name the tensors and their shapes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import * as ops from '../../src/tensor/ops.js';
import { tensor, zeros } from '../../src/tensor/creation.js';
import { Tensor, scope } from '../../src/tensor/tensor.js';

function named(shape: number[], name?: string, dtype: 'f32' | 'f64' | 'i32' = 'f32'): Tensor {
  const t = zeros(shape, { dtype });
  t.name = name;
  return t;
}

/** Asserts fn throws an Error whose message contains every fragment. */
function throwsWith(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'an Error');
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test('add/mul: shapes that do not broadcast name both tensors and the dimension', () => {
  scope(() => {
    throwsWith(() => ops.add(named([2, 3], 'x'), named([4], 'bias')), 'add:', "'x' [2, 3] f32", "'bias' [4] f32", 'do not broadcast', '3 vs 4');
    throwsWith(() => ops.mul(named([5, 2]), named([3, 1])), 'mul:', 'tensor [5, 2] f32', 'tensor [3, 1] f32', '5 vs 3');
    throwsWith(() => ops.add(named([2], 'a', 'f32'), named([2], 'b', 'f64')), 'add: dtypes differ', "'a' [2] f32", "'b' [2] f64");
  });
});

test('matmul: inner and batch mismatches name both operands', () => {
  scope(() => {
    throwsWith(() => ops.matmul(named([2, 3], 'h'), named([4, 5], 'W')), 'matmul: inner dimensions differ', "'h' [2, 3] f32", "'W' [4, 5] f32", '3 vs 4');
    throwsWith(() => ops.matmul(named([2, 3], 'h'), named([5, 3], 'W'), { transB: false }), "'h' [2, 3] f32", "'W' [5, 3] f32");
    throwsWith(() => ops.matmul(named([3, 2], 'h'), named([3, 4], 'W'), { transA: true, transB: true }), "'h' [3, 2] f32ᵀ", "'W' [3, 4] f32ᵀ", '3 vs 4');
    throwsWith(() => ops.matmul(named([2, 3, 4], 'a'), named([5, 4, 6], 'b')), 'matmul batch', "'a' [2, 3, 4] f32", "'b' [5, 4, 6] f32");
    throwsWith(() => ops.matmul(named([4], 'v'), named([4, 2], 'W')), 'matmul: both operands need ≥ 2 dims', "'v' [4] f32");
  });
});

test('concat / stack: a mismatching tensor is named with its shape', () => {
  scope(() => {
    throwsWith(() => ops.concat([named([2, 3], 'p'), named([2, 4], 'q')], 0), 'concat:', "'q' [2, 4] f32", "'p' [2, 3] f32", 'outside axis 0');
    throwsWith(() => ops.concat([named([2, 3]), named([2, 3, 1], 'r')], 1), "'r' [2, 3, 1] f32");
    throwsWith(() => ops.stack([named([2], 'r'), named([3], 's')]), "stack: 's' [3] f32 does not match 'r' [2] f32");
    throwsWith(() => ops.concat([]), 'concat: no tensors');
  });
});

test('crossEntropy: targets of the wrong shape or dtype are named', () => {
  scope(() => {
    const logits = named([4, 10], 'logits');
    throwsWith(() => ops.crossEntropy(logits, named([5], 'targets', 'i32')), 'crossEntropy:', "'logits' [4, 10] f32", 'need targets of shape [4]', "'targets' [5] i32");
    throwsWith(() => ops.crossEntropy(named([2, 3, 10], 'logits'), named([3, 2], 'y', 'i32')), '[2, 3]', "'y' [3, 2] i32");
    throwsWith(() => ops.crossEntropy(logits, named([4], 'targets', 'f32')), "targets 'targets' [4] f32 must be i32");
  });
});

test('shape ops: reshape, permute, squeeze, split, chunk, pad, expand, slice axes, scans', () => {
  scope(() => {
    throwsWith(() => ops.reshape(named([2, 3], 'x'), [4, 2]), "reshape: cannot view 'x' [2, 3] f32 (6 elements) as [4, 2]");
    throwsWith(() => ops.permute(named([2, 3], 'x'), [0, 0]), 'permute:', "'x' [2, 3] f32");
    throwsWith(() => ops.squeeze(named([2, 3], 'x'), 0), "squeeze: axis 0 of 'x' [2, 3] f32 has size 2");
    throwsWith(() => ops.split(named([2, 5], 'x'), [2, 2]), "split: sizes [2, 2] do not add up to axis 1 of 'x' [2, 5] f32");
    throwsWith(() => ops.chunk(named([2, 5], 'x'), 2), "chunk: axis 1 of 'x' [2, 5] f32 does not divide into 2");
    throwsWith(() => ops.pad(named([2, 5], 'x'), [[1, 1]]), "pad: 1 pad pairs for 'x' [2, 5] f32");
    throwsWith(() => ops.expand(named([2, 3], 'x'), [4, 3]), 'expand:', "'x' [2, 3] f32");
    throwsWith(() => ops.slice(named([2, 3]), 2, 0, 1), 'slice: axis 2 is out of range for rank 2');
    throwsWith(() => ops.sum(named([2, 3]), -3), 'sum: axis -3 is out of range for rank 2');
    throwsWith(() => ops.linearScan(named([2, 3, 4], 'a'), named([2, 3, 5], 'b')), "linearScan: a 'a' [2, 3, 4] f32 and b 'b' [2, 3, 5] f32 must have the same shape");
    throwsWith(() => ops.logScan(named([2, 3, 4]), named([2, 3, 4]), { h0: named([2, 3], 'h0') }), "logScan: h0 'h0' [2, 3] f32 must have shape [2, 4]");
    throwsWith(() => ops.indexSelect(named([4, 2]), 0, named([2], 'idx')), "indexSelect: index 'idx' [2] f32 must be i32");
    throwsWith(() => ops.takeAlongLastAxis(named([4, 2], 'x'), tensor([0, 1, 0], [3, 1], { dtype: 'i32' })), 'takeAlongLastAxis:', "'x' [4, 2] f32");
  });
});
