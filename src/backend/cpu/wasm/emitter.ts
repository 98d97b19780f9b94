/**
 * A tiny WebAssembly binary emitter: just enough of the module format and instruction set
 * (MVP + 128-bit SIMD + optional relaxed SIMD) to build the CPU backend's kernels at run time.
 *
 * No external toolchain is involved: kernels are described in TypeScript (see kernels.ts) and
 * assembled into module bytes here. Reference: WebAssembly core spec 2.0, binary format (§5).
 */

/** Value types (§5.3.1). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

const EMPTY_BLOCK = 0x40;

/** Unsigned LEB128. */
export function uleb(out: number[], value: number): void {
  let v = value >>> 0;
  if (value < 0 || value > 0xffffffff) throw new RangeError(`uleb out of range: ${value}`);
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

/** Signed LEB128 (32-bit range). */
export function sleb(out: number[], value: number): void {
  let v = value | 0;
  if (v !== value) throw new RangeError(`sleb out of i32 range: ${value}`);
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

function utf8(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Instruction stream of one function body. Methods return `this` so code reads like assembly. */
export class Code {
  readonly bytes: number[] = [];
  private readonly localTypes: ValType[] = [];
  private readonly nParams: number;

  constructor(params: readonly ValType[]) {
    this.nParams = params.length;
  }

  /** Declares a new local of the given type and returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.nParams + this.localTypes.length - 1;
  }

  /** Encoded body (locals vector + instructions + end). */
  encode(): number[] {
    const out: number[] = [];
    // Run-length encode local declarations.
    const groups: Array<[number, ValType]> = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(out, groups.length);
    for (const [count, t] of groups) {
      uleb(out, count);
      out.push(t);
    }
    for (const b of this.bytes) out.push(b);
    out.push(0x0b); // end of function
    return out;
  }

  private op(...bytes: number[]): this {
    for (const b of bytes) this.bytes.push(b);
    return this;
  }
  private simd(opcode: number): this {
    this.bytes.push(0xfd);
    uleb(this.bytes, opcode);
    return this;
  }
  private memarg(alignLog2: number, offset: number): this {
    uleb(this.bytes, alignLog2);
    uleb(this.bytes, offset);
    return this;
  }

  // ---- control (§5.4.1)
  block(): this { return this.op(0x02, EMPTY_BLOCK); }
  loop(): this { return this.op(0x03, EMPTY_BLOCK); }
  if_(): this { return this.op(0x04, EMPTY_BLOCK); }
  else_(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  br(depth: number): this { this.op(0x0c); uleb(this.bytes, depth); return this; }
  brIf(depth: number): this { this.op(0x0d); uleb(this.bytes, depth); return this; }
  return_(): this { return this.op(0x0f); }
  call(funcIndex: number): this { this.op(0x10); uleb(this.bytes, funcIndex); return this; }
  drop(): this { return this.op(0x1a); }
  select(): this { return this.op(0x1b); }

  // ---- variables (§5.4.4)
  get(i: number): this { this.op(0x20); uleb(this.bytes, i); return this; }
  set(i: number): this { this.op(0x21); uleb(this.bytes, i); return this; }
  tee(i: number): this { this.op(0x22); uleb(this.bytes, i); return this; }

  // ---- memory (§5.4.6); offsets are in bytes
  i32Load(offset = 0): this { return this.op(0x28).memarg(2, offset); }
  f32Load(offset = 0): this { return this.op(0x2a).memarg(2, offset); }
  f64Load(offset = 0): this { return this.op(0x2b).memarg(3, offset); }
  i32Store(offset = 0): this { return this.op(0x36).memarg(2, offset); }
  f32Store(offset = 0): this { return this.op(0x38).memarg(2, offset); }
  f64Store(offset = 0): this { return this.op(0x39).memarg(3, offset); }

  // ---- numeric (§5.4.7)
  i32Const(v: number): this { this.op(0x41); sleb(this.bytes, v); return this; }
  f32Const(v: number): this {
    this.op(0x43);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.bytes.push(x);
    return this;
  }
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32LtS(): this { return this.op(0x48); }
  i32LtU(): this { return this.op(0x49); }
  i32GtS(): this { return this.op(0x4a); }
  i32GtU(): this { return this.op(0x4b); }
  i32LeS(): this { return this.op(0x4c); }
  i32LeU(): this { return this.op(0x4d); }
  i32GeS(): this { return this.op(0x4e); }
  i32GeU(): this { return this.op(0x4f); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32And(): this { return this.op(0x71); }
  i32Or(): this { return this.op(0x72); }
  i32Shl(): this { return this.op(0x74); }
  i32ShrU(): this { return this.op(0x76); }
  f32Add(): this { return this.op(0x92); }
  f32Mul(): this { return this.op(0x94); }
  f64Add(): this { return this.op(0xa0); }
  f64Mul(): this { return this.op(0xa2); }
  // scalar f64 (§5.4.7), for the cell kernels rendered from expressions (render-wasm.ts)
  f64Const(v: number): this {
    this.op(0x44);
    const b = new Uint8Array(new Float64Array([v]).buffer);
    for (const x of b) this.bytes.push(x);
    return this;
  }
  f64Eq(): this { return this.op(0x61); }
  f64Ne(): this { return this.op(0x62); }
  f64Lt(): this { return this.op(0x63); }
  f64Gt(): this { return this.op(0x64); }
  f64Le(): this { return this.op(0x65); }
  f64Ge(): this { return this.op(0x66); }
  f64Abs(): this { return this.op(0x99); }
  f64Neg(): this { return this.op(0x9a); }
  f64Sqrt(): this { return this.op(0x9f); }
  f64Sub(): this { return this.op(0xa1); }
  f64Div(): this { return this.op(0xa3); }
  f64Min(): this { return this.op(0xa4); }
  f64Max(): this { return this.op(0xa5); }
  f64ConvertI32U(): this { return this.op(0xb8); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f32DemoteF64(): this { return this.op(0xb6); }

  // ---- SIMD (§5.4.8)
  v128Load(offset = 0): this { return this.simd(0x00).memarg(4, offset); }
  v128Load32Splat(offset = 0): this { return this.simd(0x09).memarg(2, offset); }
  v128Store(offset = 0): this { return this.simd(0x0b).memarg(4, offset); }
  v128Const(bytes: readonly number[]): this {
    if (bytes.length !== 16) throw new Error('v128.const needs 16 bytes');
    this.simd(0x0c);
    for (const b of bytes) this.bytes.push(b & 0xff);
    return this;
  }
  v128Zero(): this { return this.v128Const(new Array<number>(16).fill(0)); }
  /** i8x16.shuffle with 16 lane indices (0..31) into the concatenation of the two operands. */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('shuffle needs 16 lanes');
    this.simd(0x0d);
    for (const l of lanes) this.bytes.push(l);
    return this;
  }
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4ExtractLane(lane: number): this { this.simd(0x1f); this.bytes.push(lane); return this; }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  /** Relaxed SIMD: a*b + c, fused or not at the engine's choice (operands: a, b, c). */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }
  f32x4Div(): this { return this.simd(0xe7); }
  /** min/max propagate NaN (IEEE minimum/maximum semantics of wasm). */
  f32x4Min(): this { return this.simd(0xe8); }
  f32x4Max(): this { return this.simd(0xe9); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  f32x4Floor(): this { return this.simd(0x68); }
  f32x4Nearest(): this { return this.simd(0x6a); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Ne(): this { return this.simd(0x42); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Le(): this { return this.simd(0x45); }
  f32x4Ge(): this { return this.simd(0x46); }
  f32x4ReplaceLane(lane: number): this { this.simd(0x20); this.bytes.push(lane); return this; }
  f32x4ConvertI32x4S(): this { return this.simd(0xfa); }
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }
  i32x4Splat(): this { return this.simd(0x11); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4Sub(): this { return this.simd(0xb1); }
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4ShrS(): this { return this.simd(0xac); }
  i32x4ShrU(): this { return this.simd(0xad); }
  i32x4Eq(): this { return this.simd(0x37); }
  i32x4GtS(): this { return this.simd(0x3b); }
  v128Not(): this { return this.simd(0x4d); }
  v128And(): this { return this.simd(0x4e); }
  v128AndNot(): this { return this.simd(0x4f); }
  v128Or(): this { return this.simd(0x50); }
  v128Xor(): this { return this.simd(0x51); }
  /** bitselect(a, b, mask): bits of a where mask is 1, of b where 0 (operands: a, b, mask). */
  v128Bitselect(): this { return this.simd(0x52); }
  v128AnyTrue(): this { return this.simd(0x53); }
  /** f32x4 with the same value in every lane, as a constant. */
  f32x4Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
    return this.v128Const(Array.from(b));
  }
  /** i32x4 with the same value in every lane, as a constant. */
  i32x4Const(v: number): this {
    const b = new Uint8Array(new Int32Array([v, v, v, v]).buffer);
    return this.v128Const(Array.from(b));
  }
}

export interface FuncRef {
  readonly index: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

export interface MemoryImport {
  module: string;
  name: string;
  initialPages: number;
  maximumPages?: number;
  shared: boolean;
}

/** Builds a module with one imported memory, some functions and their exports. */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly funcs: Array<{ ref: FuncRef; typeIndex: number; body: number[] | null; exportName: string | null }> = [];
  private readonly imports: Array<{ module: string; name: string; typeIndex: number }> = [];
  private memory: MemoryImport | null = null;

  importMemory(mem: MemoryImport): void {
    this.memory = mem;
  }

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(',')}->${results.join(',')}`;
    let i = this.types.indexOf(key);
    if (i < 0) {
      const b: number[] = [0x60];
      uleb(b, params.length);
      b.push(...params);
      uleb(b, results.length);
      b.push(...results);
      i = this.types.length;
      this.types.push(key);
      this.typeBytes.push(b);
    }
    return i;
  }

  /** Imports a host function (e.g. Math.exp); imports take the first indices, so they come before any declare(). */
  importFunction(module: string, name: string, params: readonly ValType[], results: readonly ValType[] = []): FuncRef {
    if (this.funcs.length) throw new Error('importFunction: import functions before declaring any');
    this.imports.push({ module, name, typeIndex: this.typeIndex(params, results) });
    return { index: this.imports.length - 1, params, results };
  }

  /** Reserves a function index (so bodies can call functions defined later). */
  declare(exportName: string | null, params: readonly ValType[], results: readonly ValType[] = []): FuncRef {
    const ref: FuncRef = { index: this.imports.length + this.funcs.length, params, results };
    this.funcs.push({ ref, typeIndex: this.typeIndex(params, results), body: null, exportName });
    return ref;
  }

  /** Supplies the body of a declared function. `emit` gets the Code and the parameter indices. */
  define(ref: FuncRef, emit: (c: Code) => void): void {
    const code = new Code(ref.params);
    emit(code);
    this.funcs[ref.index - this.imports.length]!.body = code.encode();
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, content: number[]): void => {
      out.push(id);
      uleb(out, content.length);
      for (const b of content) out.push(b);
    };
    // type section
    {
      const s: number[] = [];
      uleb(s, this.typeBytes.length);
      for (const t of this.typeBytes) s.push(...t);
      section(1, s);
    }
    // import section (functions, then the memory)
    if (this.memory || this.imports.length) {
      const s: number[] = [];
      uleb(s, this.imports.length + (this.memory ? 1 : 0));
      for (const f of this.imports) {
        utf8(s, f.module);
        utf8(s, f.name);
        s.push(0x00); // function import
        uleb(s, f.typeIndex);
      }
      if (this.memory) writeMemoryImport(s, this.memory);
      section(2, s);
    }
    // function section
    {
      const s: number[] = [];
      uleb(s, this.funcs.length);
      for (const f of this.funcs) uleb(s, f.typeIndex);
      section(3, s);
    }
    // export section
    {
      const exported = this.funcs.filter((f) => f.exportName !== null);
      const s: number[] = [];
      uleb(s, exported.length);
      for (const f of exported) {
        utf8(s, f.exportName!);
        s.push(0x00);
        uleb(s, f.ref.index);
      }
      section(7, s);
    }
    // code section
    {
      const s: number[] = [];
      uleb(s, this.funcs.length);
      for (const f of this.funcs) {
        if (!f.body) throw new Error(`function ${f.ref.index} declared but not defined`);
        uleb(s, f.body.length);
        for (const b of f.body) s.push(b);
      }
      section(10, s);
    }
    return new Uint8Array(out);
  }
}

let relaxedSimdCache: boolean | undefined;
let simdCache: boolean | undefined;

function validate(build: (c: Code) => void, params: ValType[], results: ValType[]): boolean {
  try {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
    const mb = new ModuleBuilder();
    const f = mb.declare(null, params, results);
    mb.define(f, build);
    return WebAssembly.validate(mb.toBytes());
  } catch {
    return false;
  }
}

/** Whether this engine accepts 128-bit SIMD (f32x4 arithmetic, load32_splat). */
export function hasWasmSimd(): boolean {
  if (simdCache === undefined) {
    simdCache = validate((c) => c.get(0).get(1).f32x4Mul(), [V128, V128], [V128]);
  }
  return simdCache;
}

/** Whether this engine accepts relaxed SIMD (f32x4.relaxed_madd). Node 20 needs a flag for it; Node 22+ does not. */
export function hasRelaxedSimd(): boolean {
  if (relaxedSimdCache === undefined) {
    relaxedSimdCache = validate((c) => c.get(0).get(1).get(2).f32x4RelaxedMadd(), [V128, V128, V128], [V128]);
  }
  return relaxedSimdCache;
}

function writeMemoryImport(s: number[], m: MemoryImport): void {
  utf8(s, m.module);
  utf8(s, m.name);
  s.push(0x02); // memory import
  const flags = (m.maximumPages !== undefined ? 1 : 0) | (m.shared ? 2 : 0);
  if (m.shared && m.maximumPages === undefined) throw new Error('shared memory needs a maximum');
  s.push(flags);
  uleb(s, m.initialPages);
  if (m.maximumPages !== undefined) uleb(s, m.maximumPages);
}
