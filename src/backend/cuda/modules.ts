/**
 * The kernel modules and their one loader: each module's CUDA C (kernels/*.ts) is compiled by
 * NVRTC on first use for the device's architecture (or read from the disk cache, compiler.ts),
 * loaded into the context once, and its functions looked up once. Besides the fixed modules,
 * modules rendered per cell definition (the RNN kernels, render.ts) are named by the cell's tag.
 */
import { compile } from './compiler.js';
import { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, check, type Driver } from './ffi.js';
import { COMPLEX_SCAN_SOURCE } from './kernels/complex-scan.js';
import { ELEMENTWISE_SOURCE } from './kernels/elementwise.js';
import { NORM_SOURCE } from './kernels/norm.js';
import { REDUCE_SOURCE } from './kernels/reduce.js';
import { RNN_HELPERS_SOURCE } from './kernels/rnn.js';
import { SCAN_SOURCE } from './kernels/scan.js';

/** The fixed kernel modules (`warmup` compiles them ahead of first use). */
export const MODULES = { elementwise: ELEMENTWISE_SOURCE, reduce: REDUCE_SOURCE, scan: SCAN_SOURCE, complexScan: COMPLEX_SCAN_SOURCE, norm: NORM_SOURCE, rnnHelpers: RNN_HELPERS_SOURCE } as const;

/** A fixed module's name, or a rendered one's (see `rendered`). */
export type ModuleName = keyof typeof MODULES | `rendered:${string}`;

/** A module rendered from a definition: its name, its source (built on first use) and whether its functions opt into all shared memory. */
export interface RenderedModule { name: `rendered:${string}`; source: () => string; largeSharedMemory: boolean }

export class ModuleLoader {
  private readonly modules = new Map<ModuleName, unknown>();
  private readonly functions = new Map<string, unknown>();
  private readonly rendered = new Map<ModuleName, RenderedModule>();

  /** `sharedMemoryOptin`: the most dynamic shared memory a block may opt into (bytes). */
  constructor(private readonly drv: Driver, private readonly arch: string, private readonly sharedMemoryOptin: () => number) {}

  /** Makes a rendered module known (once; its source is built when a function of it is first asked for). */
  define(m: RenderedModule): ModuleName {
    if (!this.rendered.has(m.name)) this.rendered.set(m.name, m);
    return m.name;
  }

  /** The loaded module, compiled (or read from the disk cache) and loaded on first use. */
  module(name: ModuleName): unknown {
    let mod = this.modules.get(name);
    if (!mod) {
      const rendered = this.rendered.get(name);
      if (!rendered && !(name in MODULES)) throw new Error(`cuda: no kernel module '${name}'`);
      const source = rendered ? rendered.source() : MODULES[name as keyof typeof MODULES];
      const { cubin } = compile(source, `recur-${name.replace(':', '-')}`, { arch: this.arch });
      const m: unknown[] = [null];
      check(this.drv.cuModuleLoadData(m, cubin), `cuModuleLoadData(${name})`);
      mod = m[0];
      this.modules.set(name, mod);
    }
    return mod;
  }

  /** The kernel `name` of `module`. */
  function(module: ModuleName, name: string): unknown {
    const key = `${module}/${name}`;
    let f = this.functions.get(key);
    if (f) return f;
    const out: unknown[] = [null];
    check(this.drv.cuModuleGetFunction(out, this.module(module), name), `cuModuleGetFunction(${name})`);
    f = out[0];
    if (this.rendered.get(module)?.largeSharedMemory) {
      check(this.drv.cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, this.sharedMemoryOptin()), `cuFuncSetAttribute(${name})`);
    }
    this.functions.set(key, f);
    return f;
  }

  /** Compiles (or loads from the disk cache) every module of MODULES now rather than at first use. */
  warmup(): void {
    for (const m of Object.keys(MODULES) as (keyof typeof MODULES)[]) this.module(m);
  }
}
