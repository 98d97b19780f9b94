/**
 * Renders cell definitions (src/backend/pointwise) into WebAssembly for the CPU backend: the
 * pointwise part of a fused recurrence, one hidden-unit row at a time, with the arithmetic in
 * doubles and the storage in the tensors' dtype (f32 or f64). Assembled from bytes at first use
 * and cached by the definition's key: no eval, so it runs under a page's strict
 * Content-Security-Policy that allows 'wasm-unsafe-eval'.
 *
 * exp, log and log1p are the host's Math functions (imported), so the kernels compute exactly
 * what the scalar specification in expr.ts computes. σ, tanh, softplus and log σ are written
 * from exp and log1p as expr.ts states them.
 */
import type { Expr } from '../pointwise/expr.js';
import { schedule } from '../pointwise/expr.js';
import { add, input, mul } from '../pointwise/expr.js';
import { scanBackwardStep, type LinearScanCellDef } from '../pointwise/linear-scan-cell.js';
import type { RnnCellDef } from '../pointwise/rnn-cell.js';
import { Code, F64, I32, ModuleBuilder, type FuncRef } from './wasm/emitter.js';

export type StorageType = 'f32' | 'f64';

/** Byte offset of an operand: `ptr + index·stride + jo` (stride in bytes, jo the unit's offset). */
export interface Operand {
  ptr: number;
  stride: number;
}

interface MathImports { exp: FuncRef; log: FuncRef; log1p: FuncRef }

/**
 * Emits the outputs' values into f64 locals, one statement per node in schedule order.
 * `load(name)` pushes the value of an input (as f64); inputs are loaded once, at first use.
 */
function emitExprs(c: Code, outputs: readonly Expr[], load: (name: string) => void, math: MathImports): number[] {
  const local = new Map<number, number>();
  const get = (e: Expr) => c.get(local.get(e.id)!);
  for (const e of schedule(outputs)) {
    switch (e.op) {
      case 'const': c.f64Const(e.value); break;
      case 'input': load(e.name); break;
      case 'unary': emitUnary(c, e.fn, () => get(e.x), math); break;
      case 'binary': {
        get(e.a); get(e.b);
        ({ add: () => c.f64Add(), sub: () => c.f64Sub(), mul: () => c.f64Mul(), div: () => c.f64Div(), max: () => c.f64Max(), min: () => c.f64Min() })[e.fn]();
        break;
      }
      case 'compare': {
        get(e.a); get(e.b);
        ({ eq: () => c.f64Eq(), ne: () => c.f64Ne(), lt: () => c.f64Lt(), le: () => c.f64Le(), gt: () => c.f64Gt(), ge: () => c.f64Ge() })[e.fn]();
        c.f64ConvertI32U();
        break;
      }
      case 'select': get(e.a); get(e.b); get(e.cond); c.f64Const(0).f64Ne().select(); break;
    }
    const l = c.local(F64);
    c.set(l);
    local.set(e.id, l);
  }
  return outputs.map((e) => local.get(e.id)!);
}

function emitUnary(c: Code, fn: Extract<Expr, { op: 'unary' }>['fn'], x: () => void, m: MathImports): void {
  // log1p(e^{−|x|}), the shared tail of softplus and log σ
  const tail = () => { x(); c.f64Abs().f64Neg().call(m.exp.index).call(m.log1p.index); };
  switch (fn) {
    case 'neg': x(); c.f64Neg(); return;
    case 'abs': x(); c.f64Abs(); return;
    case 'sqrt': x(); c.f64Sqrt(); return;
    case 'exp': x(); c.call(m.exp.index); return;
    case 'log': x(); c.call(m.log.index); return;
    case 'log1p': x(); c.call(m.log1p.index); return;
    case 'sigmoid': c.f64Const(1).f64Const(1); x(); c.f64Neg().call(m.exp.index).f64Add().f64Div(); return;
    case 'tanh': c.f64Const(1).f64Const(2); x(); c.f64Const(2).f64Mul().call(m.exp.index).f64Const(1).f64Add().f64Div().f64Sub(); return;
    case 'softplus': x(); c.f64Const(0).f64Max(); tail(); c.f64Add(); return;
    case 'logSigmoid': x(); c.f64Const(0).f64Min(); tail(); c.f64Sub(); return;
  }
}

/** Loads element `jo` of an operand in storage type `t` as f64 (base and stride are i32 locals). */
function loadAt(c: Code, t: StorageType, base: number, index: number, stride: number, jo: number): void {
  address(c, base, index, stride, jo);
  if (t === 'f32') c.f32Load().f64PromoteF32();
  else c.f64Load();
}

function address(c: Code, base: number, index: number, stride: number, jo: number): void {
  c.get(base);
  if (index > 0) c.i32Const(index).get(stride).i32Mul().i32Add();
  c.get(jo).i32Add();
}

/** Stores the f64 in `value` as storage type `t`. */
function storeAt(c: Code, t: StorageType, base: number, index: number, stride: number, jo: number, value: number): void {
  address(c, base, index, stride, jo);
  c.get(value);
  if (t === 'f32') c.f32DemoteF64().f32Store();
  else c.f64Store();
}

/** for (j = 0; j < d; j++) body(jo = j·bytes of storage, j8 = j·8) */
function unitLoop(c: Code, d: number, esize: number, body: (jo: number, j8: number) => void): void {
  const j = c.local(I32), jo = c.local(I32), j8 = c.local(I32);
  c.i32Const(0).set(j).i32Const(0).set(jo).i32Const(0).set(j8);
  c.block().loop();
  c.get(j).get(d).i32GeS().brIf(1);
  body(jo, j8);
  c.get(j).i32Const(1).i32Add().set(j);
  c.get(jo).i32Const(esize).i32Add().set(jo);
  c.get(j8).i32Const(8).i32Add().set(j8);
  c.br(0);
  c.end().end();
}

/** The exported row kernels of one rendered RNN cell (all addresses in bytes of the shared memory). */
export interface RnnRowKernels {
  /**
   * One (head, batch row) of one step's forward, d units: reads x (+ the input bias), rh, the
   * recurrent-only biases and the previous states; writes the next states, h to out and, when
   * keep ≠ 0, the saved values.
   */
  forward(x: number, xStride: number, bias: number, biasStride: number, rh: number, rhStride: number,
          prev: number, next: number, stateStride: number, out: number, saved: number, savedStride: number, keep: number, d: number): void;
  /**
   * One row of one step's backward: reads saved values, states before and after, dout + carry[0] + dhRec (the gradient of h) and carry[1..] (f64); writes dwx, dRh and
   * carry (f64), and adds the bias gradients into db (f64).
   */
  backward(saved: number, savedStride: number, prev: number, next: number, stateStride: number,
           dout: number, carry: number, carryStride: number, dhRec: number, dwx: number, dwxStride: number,
           dRh: number, dRhStride: number, db: number, dbStride: number, d: number): void;
}

/** A module importing Math's exp, log, log1p and the kernels' memory. */
function moduleWithImports(): { mb: ModuleBuilder; math: MathImports } {
  const mb = new ModuleBuilder();
  const math: MathImports = {
    exp: mb.importFunction('math', 'exp', [F64], [F64]),
    log: mb.importFunction('math', 'log', [F64], [F64]),
    log1p: mb.importFunction('math', 'log1p', [F64], [F64]),
  };
  mb.importMemory({ module: 'env', name: 'memory', initialPages: 1, shared: false });
  return { mb, math };
}

/** The index in a name like 'x3' or 'rb0'. */
const indexOf = (name: string) => Number(name.replace(/^[a-z]+/, ''));

function rnnModule(cell: RnnCellDef, t: StorageType): Uint8Array<ArrayBuffer> {
  const G = cell.gates, S = cell.states, Gs = cell.saved, R = cell.biases - G;
  const es = t === 'f32' ? 4 : 8;
  const { mb, math } = moduleWithImports();

  const fwd = mb.declare('forward', new Array(14).fill(I32));
  mb.define(fwd, (c) => {
    const [x, xS, bias, biasS, rh, rhS, prev, next, stS, out, saved, savedS, keep, d] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    const outputs = [...cell.forward.states, ...cell.forward.saved];
    unitLoop(c, d, es, (jo) => {
      const locals = emitExprs(c, outputs, (name) => {
        const k = indexOf(name);
        if (name.startsWith('x')) { loadAt(c, t, x, k, xS, jo); loadAt(c, t, bias, k, biasS, jo); c.f64Add(); }
        else if (name.startsWith('rb')) loadAt(c, t, bias, G + k, biasS, jo);
        else if (name.startsWith('r')) loadAt(c, t, rh, k, rhS, jo);
        else loadAt(c, t, prev, k, stS, jo);
      }, math);
      for (let s = 0; s < S; s++) storeAt(c, t, next, s, stS, jo, locals[s]);
      storeAt(c, t, out, 0, stS, jo, locals[0]);
      if (Gs > 0) {
        c.get(keep).if_();
        for (let k = 0; k < Gs; k++) storeAt(c, t, saved, k, savedS, jo, locals[S + k]);
        c.end();
      }
    });
  });

  const bwd = mb.declare('backward', new Array(16).fill(I32));
  mb.define(bwd, (c) => {
    const [saved, savedS, prev, next, stS, dout, carry, carryS, dhRec, dwx, dwxS, dRh, dRhS, db, dbS, d] =
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const { dx, dr, drb, dp } = cell.backward;
    unitLoop(c, d, es, (jo, j8) => {
      const locals = emitExprs(c, [...dx, ...dr, ...drb, ...dp], (name) => {
        const k = indexOf(name);
        if (name.startsWith('g')) loadAt(c, t, saved, k, savedS, jo);
        else if (name.startsWith('s')) loadAt(c, t, prev, k, stS, jo);
        else if (name.startsWith('n')) loadAt(c, t, next, k, stS, jo);
        else if (k === 0) { loadAt(c, t, dout, 0, stS, jo); loadAt(c, 'f64', carry, 0, carryS, j8); c.f64Add(); loadAt(c, t, dhRec, 0, stS, jo); c.f64Add(); }
        else loadAt(c, 'f64', carry, k, carryS, j8);
      }, math);
      const accumulate = (row: number, value: number) => {
        address(c, db, row, dbS, j8);
        loadAt(c, 'f64', db, row, dbS, j8);
        c.get(value).f64Add().f64Store();
      };
      for (let g = 0; g < G; g++) {
        storeAt(c, t, dwx, g, dwxS, jo, locals[g]);
        storeAt(c, t, dRh, g, dRhS, jo, locals[G + g]);
        accumulate(g, locals[g]);
      }
      for (let k = 0; k < R; k++) accumulate(G + k, locals[2 * G + k]);
      for (let s = 0; s < S; s++) storeAt(c, 'f64', carry, s, carryS, j8, locals[2 * G + R + s]);
    });
  });
  return mb.toBytes();
}

/** The exported row kernels of one rendered linear-scan cell (addresses in bytes). */
export interface ScanRowKernels {
  /** h_t = a·h_{t−1} + b for one (batch, step) row of d units: p chunks at p + c·pStride, h_{t−1} at prev. */
  forward(p: number, pStride: number, prev: number, out: number, d: number): void;
  /**
   * One row of the reverse scan: reads p, dh and h_{t−1}, and carry (f64, a_{t+1}·g_{t+1});
   * writes dp (chunks at dp + c·pStride) and the new carry a_t·g_t.
   */
  backward(p: number, pStride: number, dh: number, carry: number, prev: number, dp: number, d: number): void;
}

function scanModule(cell: LinearScanCellDef, t: StorageType): Uint8Array<ArrayBuffer> {
  const es = t === 'f32' ? 4 : 8, C = cell.chunks;
  const { mb, math } = moduleWithImports();
  const fwd = mb.declare('forward', new Array(5).fill(I32));
  mb.define(fwd, (c) => {
    const [p, pS, prev, out, d] = [0, 1, 2, 3, 4];
    const h = add(mul(cell.coefficients.a, input('hprev')), cell.coefficients.b);
    unitLoop(c, d, es, (jo) => {
      const [value] = emitExprs(c, [h], (name) => (name === 'hprev' ? loadAt(c, t, prev, 0, pS, jo) : loadAt(c, t, p, indexOf(name), pS, jo)), math);
      storeAt(c, t, out, 0, pS, jo, value);
    });
  });
  const bwd = mb.declare('backward', new Array(7).fill(I32));
  mb.define(bwd, (c) => {
    const [p, pS, dh, carry, prev, dp, d] = [0, 1, 2, 3, 4, 5, 6];
    const outputs = scanBackwardStep(cell);
    unitLoop(c, d, es, (jo, j8) => {
      const locals = emitExprs(c, outputs, (name) => {
        if (name === 'dh') loadAt(c, t, dh, 0, pS, jo);
        else if (name === 'carry') loadAt(c, 'f64', carry, 0, pS, j8);
        else if (name === 'hprev') loadAt(c, t, prev, 0, pS, jo);
        else loadAt(c, t, p, indexOf(name), pS, jo);
      }, math);
      for (let k = 0; k < C; k++) storeAt(c, t, dp, k, pS, jo, locals[k]);
      storeAt(c, 'f64', carry, 0, pS, j8, locals[C]);
    });
  });
  return mb.toBytes();
}

/** The memory every rendered CPU cell kernel works in, and the instantiated kernels by key. */
export class CellKernels {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  private readonly instances = new Map<string, unknown>();

  /** The row kernels of a recurrent cell for a storage type, rendered on first use. */
  rnnKernels(cell: RnnCellDef, t: StorageType): RnnRowKernels {
    return this.instance(`rnn|${t}|${cell.key}`, () => rnnModule(cell, t)) as RnnRowKernels;
  }

  /** The row kernels of a linear-scan cell for a storage type, rendered on first use. */
  scanKernels(cell: LinearScanCellDef, t: StorageType): ScanRowKernels {
    return this.instance(`scan|${t}|${cell.key}`, () => scanModule(cell, t)) as ScanRowKernels;
  }

  private instance(key: string, render: () => Uint8Array<ArrayBuffer>): unknown {
    let k = this.instances.get(key);
    if (!k) {
      const math = { exp: Math.exp, log: Math.log, log1p: Math.log1p };
      k = new WebAssembly.Instance(new WebAssembly.Module(render()), { math, env: { memory: this.memory } }).exports;
      this.instances.set(key, k);
    }
    return k;
  }

  /** Grows the memory to at least `bytes`; views made before a grow are stale afterwards. */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / 65536));
  }
}

/** The kernels of the CPU backend (one memory for all of them). */
export const cellKernels = new CellKernels();

/**
 * Regions of the kernels' memory, 16-byte aligned, laid out one after another; `view` makes typed
 * arrays over them (after every region is reserved, since growing the memory detaches views).
 */
export class Arena {
  private end = 0;
  constructor(private readonly esize: number) {}
  /** Reserves `length` elements of `bytes` each (the storage size by default); returns the byte offset. */
  take(length: number, bytes = this.esize): number {
    const at = this.end;
    this.end += Math.ceil((length * bytes) / 16) * 16;
    return at;
  }
  /** Grows the memory to hold every region. */
  commit(): ArrayBuffer {
    cellKernels.reserve(this.end);
    return cellKernels.memory.buffer;
  }
}

export function storage(a: Float32Array | Float64Array): StorageType {
  return a instanceof Float64Array ? 'f64' : 'f32';
}

export function view(buf: ArrayBuffer, t: StorageType, at: number, length: number): Float32Array | Float64Array {
  return t === 'f64' ? new Float64Array(buf, at, length) : new Float32Array(buf, at, length);
}
