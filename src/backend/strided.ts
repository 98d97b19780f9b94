/** Shape helpers shared by the device backends (CUDA, WebGPU) for strided elementwise kernels. */

/**
 * Merges axes that are contiguous in every operand and drops unit axes, so a kernel walks as few
 * axes as possible (a contiguous tensor becomes one axis).
 */
export function collapseAxes(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const n = outShape.length;
    if (n > 0 && strides.every((st, k) => outStrides[k][n - 1] === st[d] * shape[d])) {
      outShape[n - 1] *= shape[d];
      strides.forEach((st, k) => { outStrides[k][n - 1] = st[d]; });
    } else {
      outShape.push(shape[d]);
      strides.forEach((st, k) => outStrides[k].push(st[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}
