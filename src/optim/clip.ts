/** Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_. */
import { zeros } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import { add, cast, div, minimum, mul, sqrt, square, sum } from '../tensor/ops.js';
import { scope, type Tensor } from '../tensor/tensor.js';

/**
 * Scales every gradient in place by min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖ the L2 norm of all the
 * gradients together (PyTorch's formula, its 1e-6 included). Runs on the device with no readback
 * and returns ‖g‖ before clipping as a 0-d tensor (in the dtype of the first gradient) for the
 * caller to read when it wants. Parameters without a gradient are skipped; maxNorm = Infinity
 * only measures.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const grads: Tensor[] = [];
  for (const p of params) if (p.grad) grads.push(p.grad);
  if (grads.length === 0) return zeros([]);
  const dtype = grads[0].dtype;
  return noGrad(() => {
    const total = scope(() => {
      let squares: Tensor | null = null;
      for (const g of grads) {
        const s = sum(square(g.dtype === dtype ? g : cast(g, dtype)));
        squares = squares ? add(squares, s) : s;
      }
      return sqrt(squares!);
    });
    if (maxNorm === Infinity) return total; // measure only
    scope(() => {
      const coef = minimum(div(maxNorm, add(total, 1e-6)), 1);
      for (const g of grads) g.assign(mul(g, g.dtype === dtype ? coef : cast(coef, g.dtype)));
    });
    return total;
  });
}
