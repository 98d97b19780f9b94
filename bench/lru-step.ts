/** The LRU layer step that bench/gpu-lru.ts times and bench/profile-cuda.ts splits up. */
import '../src/default-backend.js';
import type { Backend } from '../src/backend/backend.js';
import { LRU } from '../src/cells/lru.js';
import { randn } from '../src/tensor/creation.js';
import { sum } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/random.js';
import { scope, type Tensor } from '../src/tensor/tensor.js';

/** The shape: B = 64, H = 512, N = 256 (T varies). */
export const LRU_BENCH = { B: 64, H: 512, N: 256 } as const;

/** A layer, an input u [B, T, H] that wants its gradient, and one forward + backward of sum(y). */
export function lruBenchStep(g: Backend, T: number): { layer: LRU; u: Tensor; step: () => void } {
  const { B, H, N } = LRU_BENCH;
  const layer = new LRU({ dModel: H, dState: N, backend: g, dtype: 'f32', rng: new Rng(1) });
  const u = randn([B, T, H], { backend: g, dtype: 'f32', rng: new Rng(2) });
  u.requiresGrad = true;
  const step = () => scope(() => {
    layer.zeroGrad();
    u.grad?.dispose();
    u.grad = null;
    sum(layer.forward(u).output).backward();
  });
  return { layer, u, step };
}
