/**
 * Registers the CPU backend under 'cpu', the backend tensors are created on unless another is
 * selected. The tensor layer names no concrete backend, so an entry point does this: browser.ts
 * and index.ts ('recur-rnn/browser', 'recur-rnn') import this module first, as do the CLI, the tests and
 * the benchmark scripts that import modules below the entry points.
 */
import { CpuBackend } from './backend/cpu/cpu.js';
import { registerBackend } from './tensor/engine.js';

registerBackend('cpu', () => new CpuBackend());
