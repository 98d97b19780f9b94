/**
 * Module: the base of every layer and model. Parameters and sub-modules are registered
 * explicitly, by name, in the constructor; their dotted paths (`layers.0.ff.2.weight`) are the
 * state-dict keys, the same as PyTorch's, so weights move between the two by name.
 *
 * Ownership: parameters are `keep()`-ed when registered: the module owns them, no scope frees
 * them, and `dispose()` releases them all.
 */
import type { Backend, DType } from '../backend/backend.js';
import { noGrad } from '../tensor/engine.js';
import { fromHost } from '../tensor/creation.js';
import { cast } from '../tensor/ops.js';
import { Tensor, formatShape, scope } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';

/** Options every layer accepts: where its parameters live and how they are initialised. */
export interface LayerOptions {
  /** Generator for the initial values (default: the global one, see manualSeed). */
  rng?: Rng;
  /** Parameter dtype (default f32; f64 for gradient checks). */
  dtype?: DType;
  /** Backend name or instance for the parameters (default: the current backend). */
  backend?: string | Backend;
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** When true (default), missing and unexpected keys are errors; shape mismatches always are. */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not match (both empty in strict mode, which throws instead). */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const validName = /^[^.]+$/;

/** Base of every layer and model: owns parameters (`param`) and child modules (`module`) under PyTorch-style dotted names, with `stateDict`/`loadStateDict`, `train`/`eval`, `zeroGrad` and `dispose`. Subclasses implement `forward`. */
export abstract class Module {
  /** Training mode (dropout active); set recursively by train() / eval(). */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a parameter under `name` (no dots): keeps it, marks it requiresGrad, names it. */
  protected param(name: string, value: Tensor): Tensor {
    this.checkNewName(name, 'parameter');
    if (value.dtype === 'i32') throw new Error(`parameter '${name}' must be a float tensor, got i32`);
    value.keep();
    value.requiresGrad = true;
    value.name = name;
    this.ownParams.set(name, value);
    return value;
  }

  /** Registers a sub-module under `name`; its parameters are renamed `name.<their path>`. */
  protected module<M extends Module>(name: string, child: M): M {
    this.checkNewName(name, 'sub-module');
    if (child === (this as Module)) throw new Error(`module '${name}': a module cannot contain itself`);
    this.children.set(name, child);
    for (const [path, p] of child.namedParameters()) p.name = `${name}.${path}`;
    return child;
  }

  private checkNewName(name: string, what: string): void {
    if (!validName.test(name)) throw new Error(`${what} name '${name}' must be non-empty and contain no '.'`);
    if (this.ownParams.has(name) || this.children.has(name)) {
      throw new Error(`${what} name '${name}' is already registered in ${this.constructor.name}`);
    }
  }

  /** Direct sub-modules with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /**
   * Every parameter with its dotted path, own parameters first, then each sub-module's in
   * registration order. A tensor registered twice (tied weights) is listed once, under its first path.
   */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const visit = (m: Module, prefix: string): void => {
      for (const [n, p] of m.ownParams) {
        if (!seen.has(p)) { seen.add(p); out.push([prefix + n, p]); }
      }
      for (const [n, c] of m.children) visit(c, `${prefix}${n}.`);
    };
    visit(this, '');
    return out;
  }

  /** Every parameter of this module and its children, each once, in registration order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * Copies of the parameters by dotted key (no autograd history). The caller owns them: they
   * belong to the current scope, or dispose them when saved.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [k, p] of this.namedParameters()) {
      const c = copyOf(p);
      c.name = k;
      out[k] = c;
    }
    return out;
  }

  /**
   * Copies values into this module's own parameter tensors, casting to each parameter's dtype
   * and moving across backends (a source on another backend must offer dataSync(), as CPU
   * tensors do). Checks everything first and reports every problem in one error; nothing is
   * copied unless all checks pass. With strict false, missing and unexpected keys are returned
   * instead of thrown; shape mismatches are always errors.
   */
  loadStateDict(dict: Readonly<Record<string, Tensor>>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = new Map(this.namedParameters());
    const has = (k: string) => Object.prototype.hasOwnProperty.call(dict, k);
    const missingKeys = [...own.keys()].filter((k) => !has(k));
    const unexpectedKeys = Object.keys(dict).filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, p] of own) {
      const src = has(k) ? dict[k] : undefined;
      if (src && formatShape(src.shape) !== formatShape(p.shape)) {
        mismatched.push(`${k}: expected ${formatShape(p.shape)}, got ${formatShape(src.shape)}`);
      }
    }
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (mismatched.length) problems.push(`shape mismatches: ${mismatched.join('; ')}`);
    if (problems.length) {
      throw new Error(`loadStateDict(${this.constructor.name}): ${problems.join('. ')}`);
    }
    noGrad(() => {
      for (const [k, p] of own) {
        const src = has(k) ? dict[k] : undefined;
        if (src) scope(() => { p.assign(convertLike(src, p)); });
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and every sub-module. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees every parameter (and its gradient); the module is unusable afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/**
 * @internal src as a tensor on like's backend with like's dtype (src itself when it already is;
 * otherwise a new tensor in the current scope).
 */
export function convertLike(src: Tensor, like: Tensor): Tensor {
  let onBackend = src;
  if (src.backend !== like.backend) {
    if (!src.backend.readSync) {
      throw new Error(`${src.name ? `'${src.name}'` : 'a tensor'} is on ${src.backend.name}, which has no synchronous readback; move it to ${like.backend.name} first`);
    }
    onBackend = fromHost(src.dataSync(), src.shape, { backend: like.backend, dtype: like.dtype });
  }
  return onBackend.dtype === like.dtype ? onBackend : cast(onBackend, like.dtype);
}

/** @internal A new tensor with a copy of t's values and no autograd history. */
export function copyOf(t: Tensor): Tensor {
  const b = t.backend;
  const out = Tensor.fromBuffer(b, b.alloc(t.size, t.dtype), t.shape, t.dtype);
  if (t.size > 0) {
    const flat = { offset: 0, strides: [1] };
    b.copy({ buffer: t.buffer, ...flat }, { buffer: out.buffer, ...flat }, [t.size]);
  }
  return out;
}

/** An ordered list of sub-modules named 0, 1, 2, ... (as torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(items: readonly M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  /** Appends a module, registered under its index ('0', '1', …). */
  push(m: M): void {
    this.items.push(this.module(String(this.items.length), m));
  }

  get length(): number { return this.items.length; }

  /** The module at index i (negative counts from the end). */
  at(i: number): M {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`ModuleList: index ${i} is out of range for length ${this.items.length}`);
    return m;
  }

  /** Iterates the modules in order. */
  [Symbol.iterator](): Iterator<M> { return this.items[Symbol.iterator](); }
}
