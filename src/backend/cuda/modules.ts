/**
 * The kernel modules and their one loader: each module's CUDA C (kernels/*.ts) is compiled by
 * NVRTC on first use for the device's architecture (or read from the disk cache, compiler.ts),
 * loaded into the context once, and its functions looked up once.
 */
import { compile } from './compiler.js';
import { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, check, type Driver } from './ffi.js';
import { COMPLEX_SCAN_SOURCE } from './kernels/complex-scan.js';
import { ELEMENTWISE_SOURCE } from './kernels/elementwise.js';
import { NORM_SOURCE } from './kernels/norm.js';
import { REDUCE_SOURCE } from './kernels/reduce.js';
import { RNN_FUSED_SOURCE } from './kernels/rnn-fused.js';
import { RNN_GRID_SOURCE } from './kernels/rnn-grid.js';
import { RNN_SOURCE } from './kernels/rnn.js';
import { SCAN_SOURCE } from './kernels/scan.js';

/** The kernel modules that `warmup` compiles ahead of first use. */
export const MODULES = { elementwise: ELEMENTWISE_SOURCE, reduce: REDUCE_SOURCE, scan: SCAN_SOURCE, complexScan: COMPLEX_SCAN_SOURCE, norm: NORM_SOURCE, rnn: RNN_SOURCE } as const;

/**
 * The persistent RNN kernels (fused and grid paths), compiled only when a problem takes them. Their
 * functions opt into all of the device's shared memory per block (R stays there for all steps).
 */
const PERSISTENT_MODULES = { 'rnn-fused': RNN_FUSED_SOURCE, 'rnn-grid': RNN_GRID_SOURCE } as const;

const SOURCES: Record<ModuleName, string> = { ...MODULES, ...PERSISTENT_MODULES };

export type ModuleName = keyof typeof MODULES | keyof typeof PERSISTENT_MODULES;

export class ModuleLoader {
  private readonly modules = new Map<ModuleName, unknown>();
  private readonly functions = new Map<string, unknown>();

  /** `sharedMemoryOptin`: the most dynamic shared memory a block may opt into (bytes). */
  constructor(private readonly drv: Driver, private readonly arch: string, private readonly sharedMemoryOptin: () => number) {}

  /** The loaded module, compiled (or read from the disk cache) and loaded on first use. */
  module(name: ModuleName): unknown {
    let mod = this.modules.get(name);
    if (!mod) {
      const { cubin } = compile(SOURCES[name], `recur-${name}`, { arch: this.arch });
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
    if (module in PERSISTENT_MODULES) {
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
