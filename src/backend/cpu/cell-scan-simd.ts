/**
 * The fused gated linear recurrence (cellScan / cellScanGrad of a LinearScanCellDef) for f32 in
 * WebAssembly SIMD: kernels rendered from the definition (wasm/linear-scan.ts) into the CPU
 * backend's module, run over batch rows × blocks of 16 channels, on the worker threads too when
 * the work is large. Operands are staged into the wasm memory (see simd.ts for why copies); a
 * width D that is not a multiple of 4 is padded to one in the staged layout.
 * Returns false where the SIMD path cannot run (no wasm SIMD, the module is still compiling);
 * the caller then uses the scalar kernel (cell-scan.ts).
 */
import type { LinearScanCellDef } from '../pointwise/linear-scan-cell.js';
import { ensureKernels, runUnitsJob, wasmKernelHost, type UnitArg } from './matmul.js';
import { ZERO_PTR, addLinearScanKernels } from './wasm/linear-scan.js';

/** Vectors of 4 channels per work unit: 16 channels, one cache line of each row. */
const BLOCK_VECTORS = 4;
/** From this many (row, step, channel) triples on, helper threads join. */
export const CELL_SCAN_THREAD_MIN = 1 << 15;

const prefixes = new Map<string, string>();

function kernelPrefix(cell: LinearScanCellDef): string | null {
  let prefix = prefixes.get(cell.key);
  if (!prefix) prefixes.set(cell.key, (prefix = `cellscan${prefixes.size}`));
  const name = prefix;
  return ensureKernels(`cellScan:${cell.key}`, (mb) => addLinearScanKernels(mb, cell, name)) ? prefix : null;
}

const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

interface Staging { heap: Float32Array; ptrs: number[]; table: number }

/** Reserves 64-aligned regions of the given float counts (and a unit-argument table) after the host's base. */
function stage(counts: readonly number[]): Staging | null {
  let total = 64 * 3 * 12;
  for (const n of counts) total += align(n * 4);
  const host = wasmKernelHost(total);
  if (!host) return null;
  const ptrs: number[] = [];
  let at = host.base;
  for (const n of counts) { ptrs.push(at); at += align(n * 4); }
  return { heap: host.heap, ptrs, table: at };
}

/** Copies rows of `width` floats from src (row-contiguous) into the staged layout whose rows are `padded` floats apart. */
function copyIn(heap: Float32Array, ptr: number, src: Float32Array, width: number, padded: number): void {
  const base = ptr >> 2;
  if (width === padded) { heap.set(src, base); return; }
  const rows = src.length / width;
  for (let r = 0; r < rows; r++) {
    heap.set(src.subarray(r * width, (r + 1) * width), base + r * padded);
    heap.fill(0, base + r * padded + width, base + (r + 1) * padded);
  }
}

function copyOut(heap: Float32Array, ptr: number, dst: Float32Array, width: number, padded: number): void {
  const base = ptr >> 2;
  if (width === padded) { dst.set(heap.subarray(base, base + dst.length)); return; }
  const rows = dst.length / width;
  for (let r = 0; r < rows; r++) dst.set(heap.subarray(base + r * padded, base + r * padded + width), r * width);
}

/** h [B, T, D] from proj [B, T, C·D] and h0 [B, D] (zeros when null), f32. */
export function cellScanSimd(cell: LinearScanCellDef, proj: Float32Array, h0: Float32Array | null, out: Float32Array,
                             B: number, T: number, D: number): boolean {
  const prefix = kernelPrefix(cell);
  if (!prefix) return false;
  const C = cell.chunks, Dp = Math.ceil(D / 4) * 4, V = Dp / 4;
  const s = stage([B * T * C * Dp, B * Dp, B * T * Dp]);
  if (!s) return false;
  const [pP, h0P, outP] = s.ptrs as [number, number, number];
  copyIn(s.heap, pP, proj, D, Dp);
  if (h0) copyIn(s.heap, h0P, h0, D, Dp);
  const blockBytes = 16 * BLOCK_VECTORS;
  const args: UnitArg[] = [
    [pP, T * C * Dp * 4, blockBytes], [h0P, Dp * 4, blockBytes], [outP, T * Dp * 4, blockBytes], 'count',
    [T, 0, 0], [C * Dp * 4, 0, 0], [Dp * 4, 0, 0], [Dp * 4, 0, 0], [h0 ? 1 : 0, 0, 0],
  ];
  runUnitsJob(`${prefix}_fwd`, args, B, V, BLOCK_VECTORS, s.table, B * T * Dp, CELL_SCAN_THREAD_MIN);
  copyOut(s.heap, outP, out, D, Dp);
  return true;
}

/** dproj (and dh0 when given) from proj, h0, h = cellScan's output and dh, f32. */
export function cellScanGradSimd(cell: LinearScanCellDef, proj: Float32Array, h0: Float32Array | null, h: Float32Array, dh: Float32Array,
                                 dproj: Float32Array, dh0: Float32Array | null, B: number, T: number, D: number): boolean {
  const prefix = kernelPrefix(cell);
  if (!prefix) return false;
  const C = cell.chunks, Dp = Math.ceil(D / 4) * 4, V = Dp / 4;
  const s = stage([B * T * C * Dp, B * Dp, B * T * Dp, B * T * Dp, B * T * C * Dp, B * Dp]);
  if (!s) return false;
  const [pP, h0P, hP, dhP, dpP, dh0P] = s.ptrs as [number, number, number, number, number, number];
  copyIn(s.heap, pP, proj, D, Dp);
  if (h0) copyIn(s.heap, h0P, h0, D, Dp);
  copyIn(s.heap, hP, h, D, Dp);
  copyIn(s.heap, dhP, dh, D, Dp);
  s.heap.fill(0, ZERO_PTR >> 2, (ZERO_PTR >> 2) + 16); // h_{−1} = 0 when no h0
  const blockBytes = 16 * BLOCK_VECTORS;
  const flags = (h0 ? 1 : 0) | (dh0 ? 2 : 0);
  const args: UnitArg[] = [
    [pP, T * C * Dp * 4, blockBytes], [h0P, Dp * 4, blockBytes], [hP, T * Dp * 4, blockBytes], [dhP, T * Dp * 4, blockBytes],
    [dpP, T * C * Dp * 4, blockBytes], [dh0P, Dp * 4, blockBytes], 'count',
    [T, 0, 0], [C * Dp * 4, 0, 0], [Dp * 4, 0, 0], [Dp * 4, 0, 0], [flags, 0, 0],
  ];
  runUnitsJob(`${prefix}_bwd`, args, B, V, BLOCK_VECTORS, s.table, B * T * Dp, CELL_SCAN_THREAD_MIN);
  copyOut(s.heap, dpP, dproj, D, Dp);
  if (dh0) copyOut(s.heap, dh0P, dh0, D, Dp);
  return true;
}
