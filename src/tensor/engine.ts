/**
 * Global engine state: the backend registry, gradient mode and the stack of memory scopes.
 * Kept apart from Tensor so that ops, autograd and backends can all reach it without cycles.
 *
 * The registry starts empty: the tensor layer names no concrete backend (docs/architecture.md).
 * The entry points register them: src/default-backend.ts registers the CPU backend as 'cpu', the
 * default, and is imported by 'recur-rnn', 'recur-rnn/browser', the CLI, tests and benchmark scripts.
 */
import type { Backend } from '../backend/backend.js';

type BackendFactory = () => Backend;
const factories = new Map<string, BackendFactory>();
const instances = new Map<string, Backend>();
let current: Backend | null = null;

/** Makes a backend available under a name (the entry points register 'cpu' and, in Node, 'cuda'). */
export function registerBackend(name: string, factory: BackendFactory): void {
  factories.set(name, factory);
}

/** The backend instance for a name, created on first use. */
export function backend(name: string): Backend {
  let b = instances.get(name);
  if (!b) {
    const factory = factories.get(name);
    if (!factory && factories.size === 0) {
      throw new Error(`no backend is registered (asked for '${name}'): import 'recur-rnn' or 'recur-rnn/browser', which register the CPU backend, or call registerBackend first`);
    }
    if (!factory) throw new Error(`unknown backend '${name}' (available: ${[...factories.keys()].join(', ')})`);
    b = factory();
    instances.set(name, b);
  }
  return b;
}

/** Selects the backend that new tensors are created on. */
export function setBackend(name: string): Backend {
  current = backend(name);
  return current;
}

/** The current backend, where new tensors are made. */
export function getBackend(): Backend {
  return (current ??= backend('cpu'));
}

let gradEnabled = true;

/** false inside {@link noGrad}. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording operations for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Something a scope can dispose. */
export interface Disposable {
  dispose(): void;
}

export const scopeStack: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  scopeStack[scopeStack.length - 1]?.add(t);
}

export function untrack(t: Disposable): void {
  for (const s of scopeStack) s.delete(t);
}
