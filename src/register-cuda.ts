/**
 * Makes the CUDA backend selectable by name in the tensor engine. It lives above both layers
 * (src/tensor's registry, src/backend/cuda's backend) so that neither imports the other.
 */
import { CudaBackend, type CudaOptions } from './backend/cuda/cuda.js';
import { registerBackend } from './tensor/engine.js';

/** Makes `setBackend('cuda')` (and `backend: 'cuda'` in creation options) available. */
export function registerCudaBackend(opts: CudaOptions = {}): void {
  registerBackend('cuda', () => new CudaBackend(opts));
}
