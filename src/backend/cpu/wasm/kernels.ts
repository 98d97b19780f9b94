/**
 * The f32 GEMM kernels of the CPU backend, written against the tiny emitter in emitter.ts and
 * assembled into a WebAssembly module at run time.
 *
 * Layout follows the usual GotoBLAS/BLIS scheme:
 *  - packA copies an mc×kc block of op(A) into row panels of MR rows, stored k-major
 *    (panel[p*MR + r]), zero-padding the last panel;
 *  - packB copies a kc×nc block of op(B) into column panels of NR columns (panel[p*NR + c]);
 *  - micro computes one MR×NR tile of C from one A panel and one B panel, keeping the whole tile
 *    in v128 locals (MR·NR/4 accumulators) and broadcasting A with v128.load32_splat;
 *  - macro loops micro over an mc×nc block of C, routing edge tiles through a scratch tile
 *    (B panels may be further apart than kc·NR, so a k-block of fully packed B can be used).
 * All pointers and strides are byte offsets into the (possibly shared) imported memory.
 */
import { Code, F32, I32, ModuleBuilder, V128 } from './emitter.js';

export interface KernelConfig {
  /** Rows of the register tile (A panel height). */
  mr: number;
  /** Columns of the register tile (B panel width), a multiple of 4. */
  nr: number;
  /** k-loop unroll factor of the micro-kernel (power of two). */
  unroll: number;
  /** Use f32x4.relaxed_madd instead of f32x4.mul + f32x4.add. */
  fma: boolean;
  /** Import a shared memory (required for worker threads). */
  shared: boolean;
  /** Maximum pages declared by the memory import (must match the Memory object). */
  maximumPages: number;
  /** Initial pages declared by the memory import. */
  initialPages: number;
  /** Re-load the broadcast A value for every use (shorter live ranges, one register less). */
  splatEach?: boolean;
}

export interface KernelExports {
  /** C[MR×NR] (+)= Apanel · Bpanel. ldc in bytes. acc≠0: accumulate into C. */
  micro(pa: number, pb: number, pc: number, ldc: number, kc: number, acc: number): void;
  /**
   * C[mc×nc] (+)= packedA · packedB over kc k-steps; `tile` is MR·NR·4 bytes of scratch;
   * consecutive B panels are `pbStride` bytes apart (kc·NR·4 for a tightly packed block).
   */
  macro(pa: number, pb: number, pc: number, ldc: number, mc: number, nc: number, kc: number, acc: number, tile: number, pbStride: number): void;
  /** Pack op(A) block: element (i, p) at src + i*rs + p*cs. */
  packA(src: number, rs: number, cs: number, mc: number, kc: number, dst: number): void;
  /** Pack op(B) block: element (p, j) at src + p*rs + j*cs. */
  packB(src: number, rs: number, cs: number, kc: number, nc: number, dst: number): void;
}

/** while (cond) { body } — cond must leave an i32 on the stack. */
function whileLoop(c: Code, cond: () => void, body: () => void): void {
  c.block().loop();
  cond();
  c.i32Eqz().brIf(1);
  body();
  c.br(0);
  c.end().end();
}

function addImm(c: Code, local: number, imm: number): void {
  c.get(local).i32Const(imm).i32Add().set(local);
}

function addLocal(c: Code, local: number, other: number): void {
  c.get(local).get(other).i32Add().set(local);
}

/** Builds the GEMM kernels; `extend` may add more functions to the same module (same memory). */
export function buildKernelModule(cfg: KernelConfig, extend?: (mb: ModuleBuilder) => void): Uint8Array<ArrayBuffer> {
  const { mr: MR, nr: NR, unroll: U, fma } = cfg;
  if (NR % 4 !== 0) throw new Error('nr must be a multiple of 4');
  if ((U & (U - 1)) !== 0) throw new Error('unroll must be a power of two');
  const NV = NR / 4;
  const mb = new ModuleBuilder();
  mb.importMemory({ module: 'env', name: 'memory', initialPages: cfg.initialPages, maximumPages: cfg.maximumPages, shared: cfg.shared });

  const i32x6 = [I32, I32, I32, I32, I32, I32] as const;
  const micro = mb.declare('micro', i32x6);
  const macro = mb.declare('macro', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const packA = mb.declare('packA', i32x6);
  const packB = mb.declare('packB', i32x6);

  // ---------------------------------------------------------------- micro-kernel
  mb.define(micro, (c) => {
    const PA = 0, PB = 1, PC = 2, LDC = 3, KC = 4, ACC = 5;
    const acc: number[][] = [];
    for (let i = 0; i < MR; i++) {
      acc.push([]);
      for (let j = 0; j < NV; j++) acc[i]!.push(c.local(V128));
    }
    const bv: number[] = [];
    for (let j = 0; j < NV; j++) bv.push(c.local(V128));
    const av = c.local(V128);
    const end = c.local(I32);
    const row = c.local(I32);

    // Accumulators start at zero (wasm locals are zero-initialised) or at C.
    c.get(ACC).if_();
    c.get(PC).set(row);
    for (let i = 0; i < MR; i++) {
      for (let j = 0; j < NV; j++) c.get(row).v128Load(j * 16).set(acc[i]![j]!);
      if (i < MR - 1) addLocal(c, row, LDC);
    }
    c.end();

    const kStep = (u: number): void => {
      const aOff = u * MR * 4;
      const bOff = u * NR * 4;
      for (let j = 0; j < NV; j++) c.get(PB).v128Load(bOff + j * 16).set(bv[j]!);
      for (let i = 0; i < MR; i++) {
        if (!cfg.splatEach) c.get(PA).v128Load32Splat(aOff + i * 4).set(av);
        const a = (): void => {
          if (cfg.splatEach) c.get(PA).v128Load32Splat(aOff + i * 4);
          else c.get(av);
        };
        for (let j = 0; j < NV; j++) {
          const cij = acc[i]![j]!;
          if (fma) {
            a();
            c.get(bv[j]!).get(cij).f32x4RelaxedMadd().set(cij);
          } else {
            c.get(cij);
            a();
            c.get(bv[j]!).f32x4Mul().f32x4Add().set(cij);
          }
        }
      }
    };
    const kLoop = (steps: number, countExpr: () => void): void => {
      // end = PA + count * steps * MR * 4; do { steps k-steps } while (PA < end)
      c.get(PA);
      countExpr();
      c.i32Const(MR * 4).i32Mul().i32Add().set(end);
      c.get(PA).get(end).i32LtU().if_().loop();
      for (let u = 0; u < steps; u++) kStep(u);
      addImm(c, PA, steps * MR * 4);
      addImm(c, PB, steps * NR * 4);
      c.get(PA).get(end).i32LtU().brIf(0);
      c.end().end();
    };
    if (U > 1) {
      kLoop(U, () => c.get(KC).i32Const(-U).i32And());
      kLoop(1, () => c.get(KC).i32Const(U - 1).i32And());
    } else {
      kLoop(1, () => c.get(KC));
    }

    c.get(PC).set(row);
    for (let i = 0; i < MR; i++) {
      for (let j = 0; j < NV; j++) c.get(row).get(acc[i]![j]!).v128Store(j * 16);
      if (i < MR - 1) addLocal(c, row, LDC);
    }
  });

  // ---------------------------------------------------------------- macro-kernel
  mb.define(macro, (c) => {
    const PA = 0, PB = 1, PC = 2, LDC = 3, MC = 4, NC = 5, KC = 6, ACC = 7, TILE = 8, PBSTRIDE = 9;
    const jr = c.local(I32), ir = c.local(I32), pbj = c.local(I32), cj = c.local(I32);
    const pai = c.local(I32), ci = c.local(I32), rows = c.local(I32), cols = c.local(I32);
    const i = c.local(I32), j = c.local(I32), dst = c.local(I32), src = c.local(I32);
    const panelA = c.local(I32), rowStep = c.local(I32);
    const v = c.local(F32);

    c.get(KC).i32Const(MR * 4).i32Mul().set(panelA);
    c.get(LDC).i32Const(MR).i32Mul().set(rowStep);
    c.i32Const(0).set(jr);
    c.get(PB).set(pbj);
    c.get(PC).set(cj);
    whileLoop(c, () => c.get(jr).get(NC).i32LtS(), () => {
      c.i32Const(0).set(ir);
      c.get(PA).set(pai);
      c.get(cj).set(ci);
      c.get(NC).get(jr).i32Sub().set(cols);
      whileLoop(c, () => c.get(ir).get(MC).i32LtS(), () => {
        c.get(MC).get(ir).i32Sub().set(rows);
        c.get(rows).i32Const(MR).i32GeS().get(cols).i32Const(NR).i32GeS().i32And().if_();
        {
          c.get(pai).get(pbj).get(ci).get(LDC).get(KC).get(ACC).call(micro.index);
        }
        c.else_();
        {
          c.get(pai).get(pbj).get(TILE).i32Const(NR * 4).get(KC).i32Const(0).call(micro.index);
          // rows = min(rows, MR); cols handled with a local copy
          c.get(rows).i32Const(MR).get(rows).i32Const(MR).i32LtS().select().set(rows);
          c.i32Const(0).set(i);
          whileLoop(c, () => c.get(i).get(rows).i32LtS(), () => {
            c.i32Const(0).set(j);
            // dst = ci + i*LDC ; src = TILE + i*NR*4
            c.get(ci).get(i).get(LDC).i32Mul().i32Add().set(dst);
            c.get(TILE).get(i).i32Const(NR * 4).i32Mul().i32Add().set(src);
            whileLoop(
              c,
              () => c.get(j).get(cols).i32LtS().get(j).i32Const(NR).i32LtS().i32And(),
              () => {
                c.get(src).f32Load().set(v);
                c.get(ACC).if_();
                c.get(v).get(dst).f32Load().f32Add().set(v);
                c.end();
                c.get(dst).get(v).f32Store();
                addImm(c, src, 4);
                addImm(c, dst, 4);
                addImm(c, j, 1);
              },
            );
            addImm(c, i, 1);
          });
        }
        c.end();
        addImm(c, ir, MR);
        addLocal(c, pai, panelA);
        addLocal(c, ci, rowStep);
      });
      addImm(c, jr, NR);
      addLocal(c, pbj, PBSTRIDE);
      addImm(c, cj, NR * 4);
    });
  });

  // ---------------------------------------------------------------- packA
  // dst panel q: [p][r] = op(A)(q*MR + r, p) = mem[src + (q*MR+r)*rs + p*cs], zero past mc.
  mb.define(packA, (c) => {
    const SRC = 0, RS = 1, CS = 2, MC = 3, KC = 4, DST = 5;
    const i0 = c.local(I32), rows = c.local(I32), p = c.local(I32), s = c.local(I32);
    const rp: number[] = [];
    for (let r = 0; r < MR; r++) rp.push(c.local(I32));
    const tmp: number[] = [];
    for (let r = 0; r < 4; r++) tmp.push(c.local(V128));
    const G = Math.floor(MR / 4); // groups of 4 rows handled with v128 ops

    c.i32Const(0).set(i0);
    c.get(SRC).set(s); // s = start of row i0
    whileLoop(c, () => c.get(i0).get(MC).i32LtS(), () => {
      c.get(MC).get(i0).i32Sub().set(rows);
      c.i32Const(0).set(p);
      c.get(rows).i32Const(MR).i32GeS().if_();
      {
        // ---- full panel
        c.get(RS).i32Const(4).i32Eq().if_();
        {
          // transposed storage: the MR values of one k-step are contiguous
          c.get(s).set(rp[0]!);
          whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
            for (let q = 0; q < G; q++) c.get(DST).get(rp[0]!).v128Load(q * 16).v128Store(q * 16);
            for (let r = 4 * G; r < MR; r++) c.get(DST).get(rp[0]!).f32Load(r * 4).f32Store(r * 4);
            addImm(c, DST, MR * 4);
            addLocal(c, rp[0]!, CS);
            addImm(c, p, 1);
          });
        }
        c.else_();
        {
          for (let r = 0; r < MR; r++) c.get(s).get(RS).i32Const(r).i32Mul().i32Add().set(rp[r]!);
          if (G > 0) {
            // row-major storage (cs == 4): 4×4 shuffle transposes, 4 k-steps at a time
            c.get(CS).i32Const(4).i32Eq().if_();
            whileLoop(c, () => c.get(p).i32Const(4).i32Add().get(KC).i32LeS(), () => {
              for (let g = 0; g < G; g++) transpose4(c, rp.slice(4 * g, 4 * g + 4), tmp, DST, g * 16, MR * 4);
              for (let r = 4 * G; r < MR; r++) {
                for (let q = 0; q < 4; q++) c.get(DST).get(rp[r]!).f32Load(q * 4).f32Store(q * MR * 4 + r * 4);
              }
              for (let r = 0; r < MR; r++) addImm(c, rp[r]!, 16);
              addImm(c, DST, 4 * MR * 4);
              addImm(c, p, 4);
            });
            c.end();
          }
          // generic strides (and the k remainder of the shuffle path)
          whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
            for (let r = 0; r < MR; r++) {
              c.get(DST).get(rp[r]!).f32Load().f32Store(r * 4);
              addLocal(c, rp[r]!, CS);
            }
            addImm(c, DST, MR * 4);
            addImm(c, p, 1);
          });
        }
        c.end();
      }
      c.else_();
      {
        // ---- partial panel: rows < MR, zero-padded
        for (let r = 0; r < MR; r++) c.get(s).get(RS).i32Const(r).i32Mul().i32Add().set(rp[r]!);
        whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
          for (let r = 0; r < MR; r++) {
            c.get(DST).f32Const(0).f32Store(r * 4);
            c.i32Const(r).get(rows).i32LtS().if_();
            c.get(DST).get(rp[r]!).f32Load().f32Store(r * 4);
            addLocal(c, rp[r]!, CS);
            c.end();
          }
          addImm(c, DST, MR * 4);
          addImm(c, p, 1);
        });
      }
      c.end();
      addImm(c, i0, MR);
      c.get(s).get(RS).i32Const(MR).i32Mul().i32Add().set(s);
    });
  });

  // ---------------------------------------------------------------- packB
  // dst panel q: [p][cc] = op(B)(p, q*NR + cc) = mem[src + p*rs + (q*NR+cc)*cs], zero past nc.
  mb.define(packB, (c) => {
    const SRC = 0, RS = 1, CS = 2, KC = 3, NC = 4, DST = 5;
    const j0 = c.local(I32), cols = c.local(I32), p = c.local(I32), s = c.local(I32);
    const cp: number[] = [];
    for (let q = 0; q < NR; q++) cp.push(c.local(I32));
    const tmp: number[] = [];
    for (let r = 0; r < 4; r++) tmp.push(c.local(V128));

    c.i32Const(0).set(j0);
    c.get(SRC).set(s); // s = start of column j0
    whileLoop(c, () => c.get(j0).get(NC).i32LtS(), () => {
      c.get(NC).get(j0).i32Sub().set(cols);
      c.i32Const(0).set(p);
      c.get(cols).i32Const(NR).i32GeS().if_();
      {
        c.get(CS).i32Const(4).i32Eq().if_();
        {
          // row-major storage: NR contiguous values per k-step
          c.get(s).set(cp[0]!);
          whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
            for (let q = 0; q < NV; q++) c.get(DST).get(cp[0]!).v128Load(q * 16).v128Store(q * 16);
            addImm(c, DST, NR * 4);
            addLocal(c, cp[0]!, RS);
            addImm(c, p, 1);
          });
        }
        c.else_();
        {
          for (let q = 0; q < NR; q++) c.get(s).get(CS).i32Const(q).i32Mul().i32Add().set(cp[q]!);
          // transposed storage (rs == 4): 4×4 shuffle transposes, 4 k-steps at a time
          c.get(RS).i32Const(4).i32Eq().if_();
          whileLoop(c, () => c.get(p).i32Const(4).i32Add().get(KC).i32LeS(), () => {
            for (let g = 0; g < NV; g++) transpose4(c, cp.slice(4 * g, 4 * g + 4), tmp, DST, g * 16, NR * 4);
            for (let q = 0; q < NR; q++) addImm(c, cp[q]!, 16);
            addImm(c, DST, 4 * NR * 4);
            addImm(c, p, 4);
          });
          c.end();
          whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
            for (let q = 0; q < NR; q++) {
              c.get(DST).get(cp[q]!).f32Load().f32Store(q * 4);
              addLocal(c, cp[q]!, RS);
            }
            addImm(c, DST, NR * 4);
            addImm(c, p, 1);
          });
        }
        c.end();
      }
      c.else_();
      {
        for (let q = 0; q < NR; q++) c.get(s).get(CS).i32Const(q).i32Mul().i32Add().set(cp[q]!);
        whileLoop(c, () => c.get(p).get(KC).i32LtS(), () => {
          for (let q = 0; q < NR; q++) {
            c.get(DST).f32Const(0).f32Store(q * 4);
            c.i32Const(q).get(cols).i32LtS().if_();
            c.get(DST).get(cp[q]!).f32Load().f32Store(q * 4);
            addLocal(c, cp[q]!, RS);
            c.end();
          }
          addImm(c, DST, NR * 4);
          addImm(c, p, 1);
        });
      }
      c.end();
      addImm(c, j0, NR);
      c.get(s).get(CS).i32Const(NR).i32Mul().i32Add().set(s);
    });
  });

  extend?.(mb);
  return mb.toBytes();
}

/**
 * Loads four v128 rows x0..x3 (4 floats each, from the pointers in `src`) and stores their
 * transpose: out_q = [x0[q] x1[q] x2[q] x3[q]] at dst + off + q*stride.
 */
function transpose4(c: Code, src: readonly number[], tmp: readonly number[], dst: number, off: number, stride: number): void {
  const [s0, s1, s2, s3] = src as [number, number, number, number];
  const [t0, t1, t2, t3] = tmp as [number, number, number, number];
  // t0 = [x0_0 x1_0 x0_1 x1_1], t1 = [x0_2 x1_2 x0_3 x1_3], t2/t3 likewise for x2, x3
  c.get(s0).v128Load().get(s1).v128Load().i8x16Shuffle(lanes([0, 4, 1, 5])).set(t0);
  c.get(s0).v128Load().get(s1).v128Load().i8x16Shuffle(lanes([2, 6, 3, 7])).set(t1);
  c.get(s2).v128Load().get(s3).v128Load().i8x16Shuffle(lanes([0, 4, 1, 5])).set(t2);
  c.get(s2).v128Load().get(s3).v128Load().i8x16Shuffle(lanes([2, 6, 3, 7])).set(t3);
  c.get(dst).get(t0).get(t2).i8x16Shuffle(lanes([0, 1, 4, 5])).v128Store(off);
  c.get(dst).get(t0).get(t2).i8x16Shuffle(lanes([2, 3, 6, 7])).v128Store(off + stride);
  c.get(dst).get(t1).get(t3).i8x16Shuffle(lanes([0, 1, 4, 5])).v128Store(off + 2 * stride);
  c.get(dst).get(t1).get(t3).i8x16Shuffle(lanes([2, 3, 6, 7])).v128Store(off + 3 * stride);
}

/** Byte lanes of an f32-lane shuffle (lanes 0..7 index the concatenation of both operands). */
function lanes(f32Lanes: readonly number[]): number[] {
  const out: number[] = [];
  for (const l of f32Lanes) for (let b = 0; b < 4; b++) out.push(l * 4 + b);
  return out;
}
