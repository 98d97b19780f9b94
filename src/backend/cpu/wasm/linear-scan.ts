/**
 * Fused kernels for a gated linear recurrence (LinearScanCellDef: minGRU, minLSTM, or a user's),
 * rendered from the cell's definition into f32x4 WebAssembly (expr-simd.ts): per block of
 * channel vectors, the forward runs the gate program on the projection's chunks and the scan
 * h_t = a_t·h_{t−1} + b_t in one pass over time; the backward runs the reverse scan with the
 * definition's backward program (scanBackwardStep) in one pass, recomputing a_t from the inputs.
 *
 * Kernel signatures (byte pointers and strides; `n` channel vectors of 4 from the given pointers):
 *   <prefix>_fwd(proj, h0, out, n, T, tStride, cStride, outTStride, hasH0)
 *   <prefix>_bwd(proj, h0, h, dh, dproj, dh0, n, T, tStride, cStride, outTStride, flags)
 * proj chunk c of step t at proj + t·tStride + c·cStride; out/h/dh step t at + t·outTStride;
 * h0/dh0 one vector row. flags: 1 = h0 given, 2 = write dh0. Vectors go in groups of 4 (a cache
 * line of 16 channels, four independent recurrences in flight) and then one at a time.
 */
import { Code, I32, V128, type ModuleBuilder, type ValType } from './emitter.js';
import { renderSimd } from './expr-simd.js';
import { scanBackwardStep, type LinearScanCellDef } from '../../pointwise/linear-scan-cell.js';

/** 64 bytes of zeros at address 0 (below the job descriptor): h_{−1} when no h0 is given. */
export const ZERO_PTR = 0;
const GROUP = 4;

const i32s = (n: number): ValType[] => new Array<ValType>(n).fill(I32);

function emitForwardGroup(c: Code, cell: LinearScanCellDef, W: number): void {
  const PROJ = 0, H0 = 1, OUT = 2, T = 3, TS = 4, CS = 5, OTS = 6, HAS_H0 = 7;
  const C = cell.chunks;
  const h: number[] = [], p: number[] = [];
  for (let w = 0; w < W; w++) h.push(c.local(V128));
  for (let k = 0; k < C; k++) p.push(c.local(V128));
  const cOff: number[] = [];
  for (let k = 0; k < C; k++) {
    const l = c.local(I32);
    c.get(CS).i32Const(k).i32Mul().set(l);
    cOff.push(l);
  }
  c.get(HAS_H0).if_();
  for (let w = 0; w < W; w++) c.get(H0).v128Load(16 * w).set(h[w]!);
  c.end();
  c.get(T).if_().loop();
  for (let w = 0; w < W; w++) {
    for (let k = 0; k < C; k++) c.get(PROJ).get(cOff[k]!).i32Add().v128Load(16 * w).set(p[k]!);
    const inputs = Object.fromEntries(p.map((l, k) => [`p${k}`, l]));
    const [a, b] = renderSimd(c, [cell.coefficients.a, cell.coefficients.b], inputs);
    c.get(a!).get(h[w]!).f32x4Mul().get(b!).f32x4Add().set(h[w]!);
    c.get(OUT).get(h[w]!).v128Store(16 * w);
  }
  c.get(PROJ).get(TS).i32Add().set(PROJ);
  c.get(OUT).get(OTS).i32Add().set(OUT);
  c.get(T).i32Const(1).i32Sub().tee(T).brIf(0);
  c.end().end();
}

function emitBackwardGroup(c: Code, cell: LinearScanCellDef, W: number): void {
  const PROJ = 0, H0 = 1, H = 2, DH = 3, DPROJ = 4, DH0 = 5, T = 6, TS = 7, CS = 8, OTS = 9, FLAGS = 10;
  const C = cell.chunks;
  const program = scanBackwardStep(cell);
  const carry: number[] = [], p: number[] = [];
  for (let w = 0; w < W; w++) carry.push(c.local(V128));
  for (let k = 0; k < C; k++) p.push(c.local(V128));
  const dh = c.local(V128), hprev = c.local(V128), prevPtr = c.local(I32), first = c.local(I32);
  const cOff: number[] = [];
  for (let k = 0; k < C; k++) {
    const l = c.local(I32);
    c.get(CS).i32Const(k).i32Mul().set(l);
    cOff.push(l);
  }
  // start at the last step: proj/dproj += (T−1)·tStride, h/dh += (T−1)·outTStride
  c.get(T).i32Const(1).i32Sub().get(TS).i32Mul().tee(prevPtr).get(PROJ).i32Add().set(PROJ);
  c.get(prevPtr).get(DPROJ).i32Add().set(DPROJ);
  c.get(T).i32Const(1).i32Sub().get(OTS).i32Mul().tee(prevPtr).get(H).i32Add().set(H);
  c.get(prevPtr).get(DH).i32Add().set(DH);
  // h_{−1}: h0 if given, else the zero block
  c.get(H0).i32Const(ZERO_PTR).get(FLAGS).i32Const(1).i32And().select().set(first);
  c.get(T).if_().loop();
  // h_{t−1}: the row before (t > 0) or h_{−1}
  c.get(H).get(OTS).i32Sub().get(first).get(T).i32Const(1).i32GtS().select().set(prevPtr);
  for (let w = 0; w < W; w++) {
    for (let k = 0; k < C; k++) c.get(PROJ).get(cOff[k]!).i32Add().v128Load(16 * w).set(p[k]!);
    c.get(DH).v128Load(16 * w).set(dh);
    c.get(prevPtr).v128Load(16 * w).set(hprev);
    const inputs: Record<string, number> = Object.fromEntries(p.map((l, k) => [`p${k}`, l]));
    inputs.dh = dh; inputs.carry = carry[w]!; inputs.hprev = hprev;
    const outs = renderSimd(c, program, inputs);
    for (let k = 0; k < C; k++) c.get(DPROJ).get(cOff[k]!).i32Add().get(outs[k]!).v128Store(16 * w);
    c.get(outs[C]!).set(carry[w]!);
  }
  for (const [ptr, step] of [[PROJ, TS], [DPROJ, TS], [H, OTS], [DH, OTS]] as const) c.get(ptr).get(step).i32Sub().set(ptr);
  c.get(T).i32Const(1).i32Sub().tee(T).brIf(0);
  c.end().end();
  c.get(FLAGS).i32Const(2).i32And().if_();
  for (let w = 0; w < W; w++) c.get(DH0).get(carry[w]!).v128Store(16 * w);
  c.end();
}

/** Adds `${prefix}_fwd` and `${prefix}_bwd` (and their group helpers) for the cell to the module. */
export function addLinearScanKernels(mb: ModuleBuilder, cell: LinearScanCellDef, prefix: string): void {
  const fwdGroups = [GROUP, 1].map((W) => {
    const f = mb.declare(null, i32s(8));
    mb.define(f, (c) => emitForwardGroup(c, cell, W));
    return f;
  });
  const bwdGroups = [GROUP, 1].map((W) => {
    const f = mb.declare(null, i32s(11));
    mb.define(f, (c) => emitBackwardGroup(c, cell, W));
    return f;
  });
  // drivers: groups of 4 vectors, then single vectors; pointers advance by the group's bytes
  const fwd = mb.declare(`${prefix}_fwd`, i32s(9));
  mb.define(fwd, (c) => {
    const PROJ = 0, H0 = 1, OUT = 2, N = 3, T = 4, TS = 5, CS = 6, OTS = 7, HAS_H0 = 8;
    const v = c.local(I32);
    [GROUP, 1].forEach((W, gi) => {
      c.block().loop();
      c.get(v).i32Const(W).i32Add().get(N).i32GtS().brIf(1);
      c.get(PROJ).get(H0).get(OUT).get(T).get(TS).get(CS).get(OTS).get(HAS_H0).call(fwdGroups[gi]!.index);
      for (const ptr of [PROJ, H0, OUT]) c.get(ptr).i32Const(16 * W).i32Add().set(ptr);
      c.get(v).i32Const(W).i32Add().set(v);
      c.br(0);
      c.end().end();
    });
  });
  const bwd = mb.declare(`${prefix}_bwd`, i32s(12));
  mb.define(bwd, (c) => {
    const PROJ = 0, H0 = 1, H = 2, DH = 3, DPROJ = 4, DH0 = 5, N = 6, T = 7, TS = 8, CS = 9, OTS = 10, FLAGS = 11;
    const v = c.local(I32);
    [GROUP, 1].forEach((W, gi) => {
      c.block().loop();
      c.get(v).i32Const(W).i32Add().get(N).i32GtS().brIf(1);
      c.get(PROJ).get(H0).get(H).get(DH).get(DPROJ).get(DH0).get(T).get(TS).get(CS).get(OTS).get(FLAGS).call(bwdGroups[gi]!.index);
      for (const ptr of [PROJ, H0, H, DH, DPROJ, DH0]) c.get(ptr).i32Const(16 * W).i32Add().set(ptr);
      c.get(v).i32Const(W).i32Add().set(v);
      c.br(0);
      c.end().end();
    });
  });
}
