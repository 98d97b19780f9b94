/** Assertions shared by the tests: tensors against references with a stated tolerance. */
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from './gradcheck.js';

export { assertClose };

/** Same shape, and |a − b| ≤ tol · max(|b|, 1) elementwise (values read synchronously). */
export function assertTensorClose(actual: Tensor, expected: Tensor, tol: number, what: string): void {
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  assertClose(actual.dataSync(), expected.dataSync(), tol, what);
}
