/**
 * Reverse-mode differentiation over the graph that ops record (Tensor.node). Gradients of leaves
 * that require them accumulate into `.grad` (kept: owned by the leaf, not by any scope).
 */
import { noGrad } from './engine.js';
import { describe, formatShape, scope, type Tensor } from './tensor.js';
import { add } from './ops.js';
import { onesLike } from './creation.js';

/** Tensors reachable from root through recorded nodes, in topological order (inputs first). */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS: recurrent models unrolled over thousands of steps would overflow the JS stack.
  const stack: Array<[Tensor, boolean]> = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) { order.push(t); continue; }
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    if (t.isDisposed) {
      throw new Error(`backward(): ${describe(t)} in the graph was disposed before backward() ran (by dispose() or by the scope that made it)`);
    }
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? []) if (input.requiresGrad && !seen.has(input.id)) stack.push([input, false]);
  }
  return order;
}

export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error(`backward(): ${describe(root)} does not require grad (no parameter reaches it, or it was made under noGrad)`);
  if (!grad && root.size !== 1) throw new Error(`backward(): ${describe(root)} is not a scalar; pass the output gradient explicitly`);
  if (grad && formatShape(grad.shape) !== formatShape(root.shape)) {
    throw new Error(`backward(): gradient ${describe(grad)} does not match ${describe(root)}`);
  }
  noGrad(() => {
    const order = topologicalOrder(root); // first: it may throw, before anything is allocated
    const grads = new Map<number, Tensor>();
    grads.set(root.id, grad ? grad.detach() : onesLike(root));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t.id);
      if (!g) continue;
      grads.delete(t.id);
      if (!t.node) {
        accumulateLeaf(t, g);
        continue;
      }
      // The node's temporaries are freed here; only the input gradients it returns survive.
      const node = t.node;
      const inputGrads = scope(() => node.backward(g));
      const handedOut = new Set<Tensor>();
      t.node.inputs.forEach((input, k) => {
        let gi = inputGrads[k];
        // A backward may pass g through (or give one tensor to two inputs): alias, don't share.
        if (gi && (gi === g || handedOut.has(gi))) gi = gi.detach();
        if (gi) handedOut.add(gi);
        if (!gi || !input.requiresGrad) { gi?.dispose(); return; }
        if (formatShape(gi.shape) !== formatShape(input.shape)) {
          throw new Error(`internal: ${t.node!.op} backward gave ${formatShape(gi.shape)} for input ${describe(input)}`);
        }
        const prev = grads.get(input.id);
        if (prev) {
          grads.set(input.id, add(prev, gi));
          prev.dispose();
          gi.dispose();
        } else {
          grads.set(input.id, gi);
        }
      });
      g.dispose();
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    const sum = add(leaf.grad, g).keep();
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = sum;
  } else {
    leaf.grad = g.keep();
  }
}
