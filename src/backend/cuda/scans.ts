/**
 * The scans on the GPU: how a time axis is cut into chunks (scanChunks), the two-phase chunked
 * launch every real scan shares (chunkedScan), and the launchers of the real scans (cumsum,
 * logcumsumexp, scan and its gradient; kernels/scan.ts), the fused linear-scan cells' gate math + scan
 * (cellScan: minGRU, minLSTM; kernels/scan.ts) and the packed complex scan (kernels/complex-scan.ts).
 */
import type { AxisLayout, BackendBuffer, ComplexScanDims, DType, LinearScanCellDef } from '../backend.js';
import { buf, type CudaBuffer } from './device.js';
import { SUFFIX } from './kernels/common.js';
import { accType, f64, floatSuffix, floatType, i32, i64, ptr, type Launcher } from './launch.js';
import { fill } from './ops.js';

/**
 * Time chunks for `threads` threads (one per sequence, or per V sequences) over a time axis of
 * `size` on a device of `multiprocessors` SMs: enough (thread, chunk) pairs to fill the GPU, chunks
 * of at least 64 steps. RECUR_CUDA_SCAN_CHUNKS forces a count (benchmarks, tests).
 */
export function scanChunks(multiprocessors: number, threads: number, size: number): { nChunks: number; chunkLen: number } {
  const forced = Number(process.env.RECUR_CUDA_SCAN_CHUNKS ?? 0);
  // 1024 resident threads per SM at the scan kernels' 64 registers. Each thread's chain is
  // latency-bound, so chunks win until phase 1's re-read costs more than the latency it hides;
  // on the H100 twice as many chunks gained nothing at T = 4096 and lost at T = 1024.
  let n = forced > 0 ? forced : Math.floor((multiprocessors * 1024) / Math.max(threads, 1));
  n = Math.max(1, Math.min(n, forced > 0 ? size : Math.floor(size / 64), 1024));
  const chunkLen = Math.max(1, Math.ceil(size / n));
  return { nChunks: Math.max(1, Math.ceil(size / chunkLen)), chunkLen };
}

/**
 * Runs phase 1 (when chunked) and phase 2 of a scan kernel over `channels` sequences, `vec` of
 * them per thread; `args(chunkLen, nChunks, aggA, aggB, phase)` builds the kernel's arguments.
 */
function chunkedScan(k: Launcher, name: string, channels: number, size: number, acc: DType,
                     args: (chunkLen: number, nChunks: number, aggA: CudaBuffer | null, aggB: CudaBuffer | null, phase: number) => ArrayBufferView[],
                     vec = 1): void {
  if (channels === 0 || size === 0) return;
  const threads = channels / vec;
  const { nChunks, chunkLen } = scanChunks(k.device.info.multiprocessors, threads, size);
  const grid: [number, number] = [Math.ceil(threads / 256), nChunks];
  if (nChunks === 1) { k.launch('scan', name, grid, 256, args(chunkLen, 1, null, null, 2)); return; }
  const aggA = k.temp(nChunks * channels, acc), aggB = k.temp(nChunks * channels, acc);
  k.launch('scan', name, grid, 256, args(chunkLen, nChunks, aggA, aggB, 1));
  k.launch('scan', name, grid, 256, args(chunkLen, nChunks, aggA, aggB, 2));
  k.free(aggA);
  k.free(aggB);
}

// ------------------------------------------------------------------------------ real scans

/** h_t = a_t·h_{t−1} + b_t (a = aConst when a is null), or its log-space form, along the layout's axis. */
export function scanForward(k: Launcher, a: BackendBuffer | null, aConst: number, b: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
                            { outer, size, inner }: AxisLayout, logSpace: boolean, reverse: boolean): void {
  const o = buf(out);
  const s = SUFFIX[floatType(o.dtype, 'scan')];
  chunkedScan(k, `scan_${logSpace ? 'log' : 'real'}_${s}`, outer * inner, size, accType(o.dtype), (len, nc, aggA, aggB, phase) => [
    ptr(a), f64(aConst), ptr(b), ptr(h0), ptr(o), i64(outer), i64(size), i64(inner), i32(reverse ? 1 : 0), i64(len), i32(nc),
    ptr(aggA), ptr(aggB), i32(phase),
  ]);
}

export function scanGrad(k: Launcher, a: BackendBuffer, b: BackendBuffer, h: BackendBuffer, h0: BackendBuffer | null, dh: BackendBuffer,
                         da: BackendBuffer, db: BackendBuffer, dh0: BackendBuffer | null, { outer, size, inner }: AxisLayout, logSpace: boolean): void {
  const t = buf(da).dtype;
  if (size === 0) { if (dh0) fill(k, dh0, 0); return; }
  chunkedScan(k, `scan_grad_${logSpace ? 'log' : 'real'}_${SUFFIX[floatType(t, 'scanGrad')]}`, outer * inner, size, accType(t), (len, nc, aggP, aggQ, phase) => [
    ptr(a), ptr(b), ptr(h), ptr(h0), ptr(dh), ptr(da), ptr(db), ptr(dh0), i64(outer), i64(size), i64(inner), i64(len), i32(nc),
    ptr(aggP), ptr(aggQ), i32(phase),
  ]);
}

// ------------------------------------------------------------------------------ minGRU / minLSTM

/**
 * The kernel name prefix of a linear-scan cell (kernels/scan.ts). Transitional: those kernels are
 * being rendered from the cell definitions; until then a definition is matched to them by name.
 */
function scanKernelPrefix(cell: LinearScanCellDef): string {
  if ((cell.name === 'mingru' && cell.chunks === 2) || (cell.name === 'minlstm' && cell.chunks === 3)) return cell.name;
  throw new Error(`cuda cellScan: the CUDA backend has no kernel for the cell '${cell.name}' yet (mingru, minlstm); run it with fused: false`);
}

/** Channels per thread in the fused kernels: 2 (one 4/8-byte access for two) when dim is even; RECUR_CUDA_FUSED_VEC=1 forces 1. */
const fusedVec = (dim: number): number => (dim % 2 === 0 && process.env.RECUR_CUDA_FUSED_VEC !== '1' ? 2 : 1);

/**
 * Fused minGRU/minLSTM: proj [batch, time, C·dim] (C = 2: hidden, gate; C = 3: hidden, f, i),
 * h0 [batch, dim] or null (zeros) → h [batch, time, dim]. See kernels/scan.ts.
 */
export function cellScan(k: Launcher, cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, out: BackendBuffer,
                           batch: number, time: number, dim: number): void {
  const o = buf(out);
  const s = SUFFIX[floatType(o.dtype, 'cellScan')], v = fusedVec(dim);
  chunkedScan(k, `${scanKernelPrefix(cell)}_fwd_${s}_v${v}`, batch * dim, time, accType(o.dtype), (len, nc, aggA, aggB, phase) => [
    ptr(proj), ptr(h0), ptr(o), i64(batch), i64(time), i64(dim), i64(len), i32(nc), ptr(aggA), ptr(aggB), i32(phase),
  ], v);
}

/** Gradients of cellScan: dproj (same layout as proj) and dh0 (when h0 and dh0 are given). */
export function cellScanGrad(k: Launcher, cell: LinearScanCellDef, proj: BackendBuffer, h0: BackendBuffer | null, h: BackendBuffer, dh: BackendBuffer,
                               dproj: BackendBuffer, dh0: BackendBuffer | null, batch: number, time: number, dim: number): void {
  const t = buf(dproj).dtype;
  if (time === 0) { if (dh0) fill(k, dh0, 0); return; }
  const v = fusedVec(dim);
  chunkedScan(k, `${scanKernelPrefix(cell)}_bwd_${SUFFIX[floatType(t, 'cellScanGrad')]}_v${v}`, batch * dim, time, accType(t), (len, nc, aggP, aggQ, phase) => [
    ptr(proj), ptr(h0), ptr(h), ptr(dh), ptr(dproj), ptr(dh0), i64(batch), i64(time), i64(dim), i64(len), i32(nc),
    ptr(aggP), ptr(aggQ), i32(phase),
  ], v);
}

// ------------------------------------------------------------------------------ complex scan

/** Threads per block of the complex scan: 64 so that a few thousand threads still reach every SM. */
const CSCAN_THREADS = 64;
const cscanGrid = (n: number): [[number], number] => [[Math.ceil(n / CSCAN_THREADS)], CSCAN_THREADS];

/**
 * The packed complex diagonal scan (kernels/complex-scan.ts): one thread per channel and time
 * chunk, chunks as the real scans' (scanChunks).
 */
export function complexScan(k: Launcher, lambda: BackendBuffer, u: BackendBuffer, x0: BackendBuffer | null, out: BackendBuffer,
                            { outer, time, channels: C }: ComplexScanDims): void {
  const o = buf(out), s = floatSuffix(o.dtype, 'complexScan');
  if (outer * C === 0 || time === 0) return;
  const { nChunks: P, chunkLen: L } = scanChunks(k.device.info.multiprocessors, outer * C, time);
  let carry: CudaBuffer | null = null;
  if (P > 1) {
    carry = k.temp(outer * P * 2 * C, accType(o.dtype));
    k.launch('complexScan', `complex_scan_ends_${s}`, ...cscanGrid(outer * P * C), [ptr(lambda), ptr(u), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L)]);
    k.launch('complexScan', `complex_scan_carry_${s}`, ...cscanGrid(outer * C), [ptr(lambda), ptr(x0), ptr(carry), i64(outer), i64(C), i64(P), i64(L)]);
  }
  k.launch('complexScan', `complex_scan_${s}`, ...cscanGrid(outer * P * C), [
    ptr(lambda), ptr(u), ptr(x0), ptr(carry), ptr(o), i64(outer), i64(time), i64(C), i64(P), i64(L),
  ]);
  if (carry) k.free(carry);
}

/** The reverse-scan backward of complexScan: du, dλ (summed over sequences and steps) and dx0 (when given). */
export function complexScanGrad(k: Launcher, lambda: BackendBuffer, x: BackendBuffer, x0: BackendBuffer | null, dx: BackendBuffer, du: BackendBuffer,
                                dLambda: BackendBuffer, dx0: BackendBuffer | null, { outer, time, channels: C }: ComplexScanDims): void {
  const dt = buf(du).dtype, s = floatSuffix(dt, 'complexScanGrad');
  if (outer * C === 0 || time === 0) { fill(k, dLambda, 0); if (dx0) fill(k, dx0, 0); return; }
  const { nChunks: P, chunkLen: L } = scanChunks(k.device.info.multiprocessors, outer * C, time);
  let carry: CudaBuffer | null = null;
  if (P > 1) {
    carry = k.temp(outer * P * 2 * C, accType(dt));
    k.launch('complexScan', `complex_scan_grad_ends_${s}`, ...cscanGrid(outer * P * C), [ptr(lambda), ptr(dx), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L)]);
    k.launch('complexScan', `complex_scan_grad_carry_${s}`, ...cscanGrid(outer * C), [ptr(lambda), ptr(carry), i64(outer), i64(C), i64(P), i64(L)]);
  }
  const partial = k.temp(outer * P * 2 * C, accType(dt));
  k.launch('complexScan', `complex_scan_grad_${s}`, ...cscanGrid(outer * P * C), [
    ptr(lambda), ptr(x), ptr(x0), ptr(dx), ptr(du), ptr(partial), ptr(dx0), ptr(carry), i64(outer), i64(time), i64(C), i64(P), i64(L),
  ]);
  k.launch('complexScan', `complex_scan_dlambda_${s}`, [Math.ceil(2 * C / 256)], 256, [ptr(partial), ptr(dLambda), i64(outer * P), i64(2 * C)]);
  k.free(partial);
  if (carry) k.free(carry);
}
