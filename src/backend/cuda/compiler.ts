/**
 * CUDA C → CUBIN with NVRTC at run time, for the detected architecture, with an on-disk cache keyed
 * by the source hash, the options, the architecture and the NVRTC version (a second run starts
 * without compiling). A failed compile throws an error that carries NVRTC's log.
 *
 * Cache folder: RECUR_CUDA_CACHE, else $XDG_CACHE_HOME/recur/cuda, else ~/.cache/recur/cuda.
 * RECUR_DEBUG ≥ 1 prints compiles and cache hits on stderr.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadNvrtc } from './ffi.js';

export interface CompileOptions {
  /** e.g. 'sm_90' (the device's compute capability). */
  arch: string;
  /** Extra NVRTC options. */
  options?: readonly string[];
}

export const DEFAULT_OPTIONS = ['-std=c++17'] as const;

export function debugLevel(): number {
  return Number(process.env.RECUR_DEBUG ?? 0) || 0;
}

export function cacheDir(): string {
  if (process.env.RECUR_CUDA_CACHE) return process.env.RECUR_CUDA_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'recur', 'cuda');
}

export interface CompileResult {
  cubin: Uint8Array;
  cached: boolean;
  ms: number;
}

/** The architecture NVRTC should target: the device's own if NVRTC knows it, else its newest below. */
export function nvrtcArch(major: number, minor: number): string {
  const n = loadNvrtc();
  const count = [0];
  if (n.nvrtcGetNumSupportedArchs(count) === 0 && count[0] > 0) {
    const archs = new Int32Array(count[0]);
    if (n.nvrtcGetSupportedArchs(archs) === 0) {
      const want = major * 10 + minor;
      const usable = [...archs].filter((a) => a <= want);
      if (usable.length) return `sm_${Math.max(...usable)}`;
    }
  }
  return `sm_${major}${minor}`;
}

export function compile(source: string, name: string, opts: CompileOptions): CompileResult {
  const t0 = performance.now();
  const nvrtc = loadNvrtc();
  const options = [...DEFAULT_OPTIONS, `--gpu-architecture=${opts.arch}`, ...(opts.options ?? [])];
  const key = createHash('sha256').update(JSON.stringify({ source, options, nvrtc: nvrtc.version() })).digest('hex');
  const dir = cacheDir();
  const file = join(dir, `${name}-${opts.arch}-${key.slice(0, 24)}.cubin`);
  try {
    const cubin = new Uint8Array(readFileSync(file));
    if (debugLevel() >= 1) process.stderr.write(`[recur cuda] ${name}: cached ${file}\n`);
    return { cubin, cached: true, ms: performance.now() - t0 };
  } catch {
    // not cached yet
  }
  const prog: unknown[] = [null];
  check(nvrtc.nvrtcCreateProgram(prog, source, `${name}.cu`, 0, null, null), 'nvrtcCreateProgram', name);
  try {
    const rc = nvrtc.nvrtcCompileProgram(prog[0], options.length, options);
    if (rc !== 0) {
      throw new Error(`NVRTC could not compile the CUDA module '${name}' for ${opts.arch} (status ${rc}):\n${programLog(prog[0])}`);
    }
    const size = [0];
    check(nvrtc.nvrtcGetCUBINSize(prog[0], size), 'nvrtcGetCUBINSize', name);
    const cubin = new Uint8Array(Number(size[0]));
    check(nvrtc.nvrtcGetCUBIN(prog[0], cubin), 'nvrtcGetCUBIN', name);
    writeCache(dir, file, cubin);
    const ms = performance.now() - t0;
    if (debugLevel() >= 1) process.stderr.write(`[recur cuda] ${name}: compiled for ${opts.arch} in ${ms.toFixed(0)} ms\n`);
    if (debugLevel() >= 2) process.stderr.write(programLog(prog[0]));
    return { cubin, cached: false, ms };
  } finally {
    nvrtc.nvrtcDestroyProgram(prog);
  }
}

function programLog(prog: unknown): string {
  const nvrtc = loadNvrtc();
  const size = [0];
  if (nvrtc.nvrtcGetProgramLogSize(prog, size) !== 0 || Number(size[0]) <= 1) return '(no compiler log)';
  const buf = new Uint8Array(Number(size[0]));
  nvrtc.nvrtcGetProgramLog(prog, buf);
  return Buffer.from(buf.subarray(0, buf.length - 1)).toString('utf8');
}

function check(code: number, what: string, name: string): void {
  if (code !== 0) throw new Error(`NVRTC: ${what} failed with status ${code} for module '${name}'`);
}

/** Atomic write (temporary file + rename); a cache that cannot be written only costs a recompile. */
function writeCache(dir: string, file: string, cubin: Uint8Array): void {
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, cubin);
    renameSync(tmp, file);
  } catch (e) {
    if (debugLevel() >= 1) process.stderr.write(`[recur cuda] could not write the kernel cache ${file}: ${(e as Error).message}\n`);
  }
}
