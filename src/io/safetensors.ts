/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written over
 * Uint8Array. Pure and browser-safe: no Node imports (files.ts adds the file-system functions).
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *   {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the data section: each tensor's raw little-endian, row-major bytes at [begin, end) relative to
 * the start of the data section. The ranges must cover the data section exactly: no holes, no
 * overlaps, no trailing bytes.
 *
 * Reading (dtype in the file → tensor dtype):
 *   F32, F16, BF16 → f32 (exact: every F16/BF16 value is an f32 value); F64 → f64; I32 → i32;
 *   I64 → i32 when every value fits in int32 (otherwise an Error naming the tensor and the value);
 *   U8, I8, I16 → i32; BOOL → i32 0/1 (bytes other than 0 and 1 are an Error).
 *   Any other dtype (U16, U32, U64, F8_*, complex, ...) is an Error naming it.
 * Writing: f32 → F32, f64 → F64, i32 → I32, bf16 → BF16 (lossless); the `dtype` option stores every
 * floating-point tensor as BF16, F16 or F32 instead (round to nearest, ties to even, through f32
 * like PyTorch's `.to(torch.bfloat16)` / `.to(torch.float16)`). Tensors are laid out like the
 * reference implementation: larger element size first, then by name (UTF-8 byte order); the header
 * is padded with spaces to a multiple of 8 bytes. The output is a deterministic function of the inputs.
 *
 * Validation is strict (see parseSafetensorsHeader); every failure is a plain `Error` whose message
 * names the source (when given) and the reason. Parsing never reads past the buffer and runs in time
 * linear in the input.
 */
import type { DType, HostArray } from '../backend/backend.js';
import { fromHost } from '../tensor/creation.js';
import { Tensor, formatShape } from '../tensor/tensor.js';

/** The largest header accepted, in bytes (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Header JSON nests {tensors: {entry: [shape]}}: deeper nesting is refused before JSON.parse sees it. */
export const MAX_HEADER_DEPTH = 3;
/** The highest rank a tensor of a file may have. */
export const MAX_RANK = 64;

/**
 * The index of the first bracket that opens a level deeper than `limit` in a JSON text, or null.
 * One linear pass that skips strings (with their escapes), so that nesting cannot cost the parser
 * time, memory or stack before it is refused.
 */
function jsonDepthBeyond(text: string, limit: number): number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return i;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return null;
}

/** Item size in bytes of each dtype this module can read. */
const ITEM_SIZE: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Dtypes of the format that exist but that this reader does not convert (for a clearer message). */
const KNOWN_UNSUPPORTED = new Set([
  'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64', 'C128',
]);

/** The dtype strings of the safetensors format. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor of a parsed header; offsets are relative to the start of the data section. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A parsed header: per tensor its dtype, shape and byte range, and the free-form metadata. */
export interface SafetensorsHeader {
  /** Tensors in the order of their data (by offset). */
  readonly entries: SafetensorsEntry[];
  readonly metadata: Record<string, string>;
}

/** Options of {@link parseSafetensors}. */
export interface ParseOptions {
  /** How error messages name the input (a file path, a URL); default "safetensors data". */
  source?: string;
  /**
   * Decode only the tensors for which this returns true (the whole header is still validated):
   * to load part of a large file, or to skip a tensor whose values cannot be converted.
   */
  filter?: (name: string, entry: SafetensorsEntry) => boolean;
}

/** Options of {@link serializeSafetensors}. */
export interface SerializeOptions {
  /**
   * Store every floating-point tensor (f32, f64, bf16) in this dtype: BF16 or F16 to halve the size
   * (rounded to nearest even, through f32), F32 to narrow f64 tensors. i32 tensors are unaffected.
   * By default f32 → F32, f64 → F64, bf16 → BF16.
   */
  dtype?: 'BF16' | 'F16' | 'F32';
}

/** The tensors of a file by name, and its metadata. */
export interface ParsedSafetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// errors

function where(source: string | undefined): string {
  return source === undefined ? 'invalid safetensors data' : `invalid safetensors file '${source}'`;
}

/** A validation failure: always a plain Error, "invalid safetensors file 'x': reason". */
function invalid(source: string | undefined, reason: string): Error {
  return new Error(`${where(source)}: ${reason}`);
}

/** Marks an exception that escaped validation (a bug here, never expected): still a plain Error. */
const UNEXPECTED = 'unexpected failure while parsing';

function guard<T>(source: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && e.constructor === Error) throw e;
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new Error(`${where(source)}: ${UNEXPECTED} (${msg})`, { cause: e });
  }
}

/** JSON-ish quoting of names for messages (bounded, so a 100 MB name cannot flood a log). */
function q(s: string): string {
  const t = JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
  return `'${t.slice(1, -1)}'`;
}

function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // defineProperty: a key such as "__proto__" becomes an ordinary own property
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// parsing

/**
 * Reads and checks the 8-byte length prefix: returns N, the byte length of the JSON header.
 * `prefix` holds at least the first 8 bytes of the input when the input has them; `totalLength` is
 * the input's full length (a file's size, when only its start has been read).
 */
export function parseHeaderLength(prefix: Uint8Array, totalLength: number, opts: ParseOptions = {}): number {
  const src = opts.source;
  if (totalLength < 8 || prefix.length < 8) {
    throw invalid(src, `${totalLength} bytes is too short (at least 8 bytes, the header length, are needed)`);
  }
  const lo = (prefix[0] | (prefix[1] << 8) | (prefix[2] << 16) | (prefix[3] << 24)) >>> 0;
  const hi = (prefix[4] | (prefix[5] << 8) | (prefix[6] << 16) | (prefix[7] << 24)) >>> 0;
  const n = hi * 2 ** 32 + lo; // exact up to 2^53; anything ≥ 2^32 is rejected below anyway
  if (n > MAX_HEADER_BYTES) {
    throw invalid(src, `header length ${hi >= 2 ** 21 ? `${hi}·2^32 + ${lo}` : n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  if (n > totalLength - 8) {
    throw invalid(src, `header length ${n} is larger than the ${totalLength - 8} bytes that follow the length prefix`);
  }
  if (n < 2) throw invalid(src, `header length ${n} is too short for a JSON object`);
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses and validates the JSON header (the N bytes after the prefix) against a data section of
 * `dataLength` bytes. Checks: valid UTF-8; a JSON object (starting with '{'); no duplicate keys at
 * any level; `__metadata__` absent, null or an object of strings; every other entry an object with
 * a supported `dtype` string, a `shape` array of non-negative integers and `data_offsets` [begin, end]
 * of integers with 0 ≤ begin ≤ end ≤ dataLength and end − begin = prod(shape)·itemsize; ranges that
 * cover the data section exactly (sorted by offset: no overlap, no hole, no trailing bytes).
 */
export function parseSafetensorsHeader(json: Uint8Array, dataLength: number, opts: ParseOptions = {}): SafetensorsHeader {
  const src = opts.source;
  return guard(src, () => {
    let text: string;
    try {
      text = utf8.decode(json);
    } catch {
      throw invalid(src, 'header is not valid UTF-8');
    }
    if (text[0] !== '{') throw invalid(src, `header must be a JSON object starting with '{' (found ${JSON.stringify(text.slice(0, 16))})`);
    const depth = jsonDepthBeyond(text, MAX_HEADER_DEPTH);
    if (depth !== null) throw invalid(src, `header nests JSON deeper than ${MAX_HEADER_DEPTH} levels (at character ${depth}); a safetensors header is {name: {"shape": [...], ...}}`);
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw invalid(src, `header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw invalid(src, 'header is not a JSON object');
    }
    const dup = findDuplicateKey(text);
    if (dup !== undefined) throw invalid(src, `header has the key ${q(dup)} twice`);

    const metadata: Record<string, string> = {};
    const entries: SafetensorsEntry[] = [];
    for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (info === null) continue;
        if (typeof info !== 'object' || Array.isArray(info)) throw invalid(src, '__metadata__ is not an object of strings');
        for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
          if (typeof v !== 'string') throw invalid(src, `__metadata__ value ${q(k)} is not a string (got ${jsonType(v)})`);
          setOwn(metadata, k, v);
        }
        continue;
      }
      entries.push(parseEntry(name, info, dataLength, src));
    }

    // the ranges, in order, must tile [0, dataLength) exactly (empty tensors may sit anywhere on the tiling)
    entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
    let pos = 0;
    let prev: SafetensorsEntry | null = null;
    for (const e of entries) {
      if (e.begin < pos) {
        throw invalid(src, `tensor ${q(e.name)} data_offsets [${e.begin}, ${e.end}] overlap those of ${q(prev!.name)} [${prev!.begin}, ${prev!.end}]`);
      }
      if (e.begin > pos) {
        throw invalid(src, `${e.begin - pos} bytes of the data section before tensor ${q(e.name)} (offsets ${pos}..${e.begin}) belong to no tensor`);
      }
      pos = e.end;
      prev = e;
    }
    if (pos !== dataLength) {
      throw invalid(src, `the data section has ${dataLength - pos} trailing bytes that belong to no tensor (tensors cover ${pos} of ${dataLength} bytes)`);
    }
    return { entries, metadata };
  });
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${q(String(v).slice(0, 40))}`;
}

function parseEntry(name: string, info: unknown, dataLength: number, src: string | undefined): SafetensorsEntry {
  const bad = (reason: string): Error => invalid(src, `tensor ${q(name)}: ${reason}`);
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad(`entry is ${jsonType(info)}, not an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (dtype === undefined) throw bad('missing "dtype"');
  if (shape === undefined) throw bad('missing "shape"');
  if (offsets === undefined) throw bad('missing "data_offsets"');
  if (typeof dtype !== 'string') throw bad(`"dtype" is ${jsonType(dtype)}, not a string`);
  const itemSize = Object.prototype.hasOwnProperty.call(ITEM_SIZE, dtype) ? ITEM_SIZE[dtype] : undefined;
  if (itemSize === undefined) {
    throw bad(KNOWN_UNSUPPORTED.has(dtype)
      ? `dtype ${dtype} is not supported (supported: ${Object.keys(ITEM_SIZE).join(', ')})`
      : `unknown dtype ${q(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape)) throw bad(`"shape" is ${jsonType(shape)}, not an array`);
  if (shape.length > MAX_RANK) throw bad(`"shape" has rank ${shape.length}, more than ${MAX_RANK}`);
  let numel = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad(`"shape" ${JSON.stringify(shape).slice(0, 100)} has ${typeof d === 'number' ? d : jsonType(d)}, not a non-negative integer`);
    }
    numel = numel === 0 || d === 0 ? 0 : Math.min(numel * d, Number.MAX_SAFE_INTEGER); // saturates: compared below
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) throw bad('"data_offsets" is not an array [begin, end]');
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      throw bad(`"data_offsets" ${JSON.stringify(offsets).slice(0, 100)} are not non-negative integers`);
    }
  }
  const b = begin as number;
  const e = end as number;
  if (b > e) throw bad(`"data_offsets" begin ${b} > end ${e}`);
  if (e > dataLength) throw bad(`"data_offsets" [${b}, ${e}] extend past the end of the ${dataLength}-byte data section`);
  const bytes = numel * itemSize;
  if (e - b !== bytes) {
    throw bad(`"data_offsets" [${b}, ${e}] span ${e - b} bytes, but shape ${formatShape(shape as number[])} of ${dtype} needs ${numel >= Number.MAX_SAFE_INTEGER ? 'more than 2^53' : bytes}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: b, end: e };
}

/**
 * The first key that occurs twice in one object of a JSON text (which JSON.parse has already
 * accepted, so the scan can be simple), compared after unescaping. JSON.parse keeps the last value
 * silently; the format forbids the ambiguity.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let last = ''; // the last structural character outside strings
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const keys = stack[stack.length - 1];
      if (keys && (last === '{' || last === ',')) {
        const raw = text.slice(i, j + 1);
        const key = raw.indexOf('\\') < 0 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
        if (keys.has(key)) return key;
        keys.add(key);
      }
      last = '"';
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      last = '{';
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      last = '[';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      last = '}';
    } else if (c === 0x2c /* , */) {
      last = ',';
    } else if (c === 0x3a /* : */) {
      last = ':';
    } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      last = 'v';
    }
  }
  return undefined;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A copy of raw bytes in a fresh, aligned buffer (not raw.slice(): on a Node Buffer that is a view). */
function aligned(raw: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return copy.buffer;
}

/** An f32 from IEEE half-precision bits (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** IEEE half-precision bits of the f32 with these bits, rounded to nearest, ties to even (NaN → quiet NaN). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  const e = exp - 112; // the half-precision biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal (or zero) half: h = M · 2^(e − 14), M the 24-bit significand
    const s = 14 - e;
    if (s > 24) return sign;
    const m = mant | 0x800000;
    let h = m >>> s;
    const rem = m & ((1 << s) - 1);
    const halfway = 1 << (s - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct (up to inf)
  return sign | h;
}

/** bfloat16 bits of the f32 with these bits, rounded to nearest, ties to even (NaN → 0x7FC0, like PyTorch). */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** The values of one tensor from its raw bytes (exactly `entry.end − entry.begin` of them). */
export function decodeTensorData(entry: SafetensorsEntry, raw: Uint8Array, opts: ParseOptions = {}): { values: HostArray; dtype: DType } {
  return guard(opts.source, () => decode(entry, raw, opts.source));
}

function decode(entry: SafetensorsEntry, raw: Uint8Array, src: string | undefined): { values: HostArray; dtype: DType } {
  const n = (entry.end - entry.begin) / ITEM_SIZE[entry.dtype];
  if (raw.length !== entry.end - entry.begin) {
    throw invalid(src, `tensor ${q(entry.name)}: ${raw.length} bytes of data where ${entry.end - entry.begin} are needed`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (entry.dtype) {
    case 'F32': {
      if (littleEndian) return { values: new Float32Array(aligned(raw)), dtype: 'f32' };
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return { values: out, dtype: 'f32' };
    }
    case 'F64': {
      if (littleEndian) return { values: new Float64Array(aligned(raw)), dtype: 'f64' };
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return { values: out, dtype: 'f64' };
    }
    case 'I32': {
      if (littleEndian) return { values: new Int32Array(aligned(raw)), dtype: 'i32' };
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return { values: out, dtype: 'i32' };
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(raw[2 * i] | (raw[2 * i + 1] << 8));
      return { values: out, dtype: 'f32' };
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      // a float32 is a bf16 with 16 more mantissa bits: exact, NaN payloads and −0 included
      // (element writes through the Uint32Array view are endianness-independent)
      for (let i = 0; i < n; i++) bits[i] = (raw[2 * i] << 16) | (raw[2 * i + 1] << 24);
      return { values: out, dtype: 'f32' };
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = view.getInt32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        if (hi !== lo >> 31) {
          throw invalid(src, `tensor ${q(entry.name)} (I64): value ${view.getBigInt64(8 * i, true)} at index ${i} does not fit in int32 (range −2^31..2^31−1)`);
        }
        out[i] = lo;
      }
      return { values: out, dtype: 'i32' };
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return { values: out, dtype: 'i32' };
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = (raw[i] << 24) >> 24;
      return { values: out, dtype: 'i32' };
    }
    case 'U8':
      return { values: Int32Array.from(raw), dtype: 'i32' };
    case 'BOOL': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        if (v > 1) throw invalid(src, `tensor ${q(entry.name)} (BOOL): byte ${v} at index ${i} is neither 0 nor 1`);
        out[i] = v;
      }
      return { values: out, dtype: 'i32' };
    }
  }
}

/**
 * Parses a whole safetensors file held in memory. Tensors are created on the CPU backend. Every
 * check of parseSafetensorsHeader applies, plus the value checks of the dtype conversions (I64 that
 * does not fit in int32, BOOL bytes other than 0/1); on any failure no tensor is left allocated.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseOptions = {}): ParsedSafetensors {
  const src = opts.source;
  const { header, values } = guard(src, () => {
    const n = parseHeaderLength(bytes, bytes.length, opts);
    const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, opts);
    const data = bytes.subarray(8 + n);
    const entries = opts.filter ? header.entries.filter((e) => opts.filter!(e.name, e)) : header.entries;
    const values = entries.map((e) => decodeTensorData(e, data.subarray(e.begin, e.end), opts));
    return { header: { entries, metadata: header.metadata }, values };
  });
  return { tensors: makeTensors(header.entries, values, src), metadata: header.metadata };
}

/** @internal CPU tensors from decoded values, in header order; disposes them all if one fails. */
export function makeTensors(entries: readonly SafetensorsEntry[], values: readonly { values: HostArray; dtype: DType }[], src?: string): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  const made: Tensor[] = [];
  try {
    guard(src, () => {
      entries.forEach((e, i) => {
        const t = fromHost(values[i].values, e.shape, { dtype: values[i].dtype, backend: 'cpu' });
        made.push(t);
        setOwn(tensors, e.name, t);
      });
    });
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
  return tensors;
}

// ---------------------------------------------------------------------------------------------
// serialization

/** One tensor of a planned file. */
export interface PlannedTensor {
  name: string;
  tensor: Tensor;
  dtype: 'F64' | 'F32' | 'F16' | 'BF16' | 'I32';
  bytes: number;
}

/** The layout of a file to write: the prefix + header bytes, and the tensors in data order. */
export interface SafetensorsPlan {
  /** The 8-byte length prefix followed by the space-padded JSON header. */
  readonly head: Uint8Array;
  readonly tensors: readonly PlannedTensor[];
  /** Total file size in bytes. */
  readonly totalBytes: number;
}

const utf8Encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Validates the inputs and lays the file out, without reading any tensor's values. Throws an Error
 * naming the offending tensor for: a value that is not a Tensor, a disposed tensor, the reserved name
 * "__metadata__", a metadata value that is not a string.
 */
export function planSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SerializeOptions = {}): SafetensorsPlan {
  const fail = (reason: string): Error => new Error(`cannot serialize safetensors: ${reason}`);
  if (tensors === null || typeof tensors !== 'object') throw fail('tensors must be an object {name: Tensor}');
  if (opts.dtype !== undefined && opts.dtype !== 'BF16' && opts.dtype !== 'F16' && opts.dtype !== 'F32') {
    throw fail(`option dtype must be 'BF16', 'F16' or 'F32', got ${q(String(opts.dtype))}`);
  }
  const items: (PlannedTensor & { key: Uint8Array; size: number })[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw fail('"__metadata__" is reserved and cannot name a tensor');
    if (!(t instanceof Tensor)) throw fail(`${q(name)} is not a Tensor`);
    if (t.isDisposed) throw fail(`tensor ${q(name)} has been disposed`);
    let dtype: PlannedTensor['dtype'];
    if (t.dtype === 'i32') dtype = 'I32';
    else if (opts.dtype) dtype = opts.dtype;
    else dtype = t.dtype === 'f64' ? 'F64' : t.dtype === 'bf16' ? 'BF16' : 'F32';
    const size = ITEM_SIZE[dtype];
    items.push({ name, tensor: t, dtype, bytes: t.size * size, key: utf8Encoder.encode(name), size });
  }
  // the reference layout: larger element size first, then by name (UTF-8 bytes = code point order)
  items.sort((a, b) => b.size - a.size || compareBytes(a.key, b.key));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw fail('metadata must be an object of strings');
    const m: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw fail(`metadata value ${q(k)} is not a string (got ${typeof v})`);
      m.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${m.join(',')}}`);
  }
  let offset = 0;
  for (const it of items) {
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.tensor.shape.join(',')}],"data_offsets":[${offset},${offset + it.bytes}]}`);
    offset += it.bytes;
  }
  const json = utf8Encoder.encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) throw fail(`the header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit of readers`);
  const head = new Uint8Array(8 + headerLength);
  head.fill(0x20, 8);
  head.set(json, 8);
  new DataView(head.buffer).setUint32(0, headerLength, true); // < 2^32: the high word stays 0
  return {
    head,
    tensors: items.map(({ name, tensor, dtype, bytes }) => ({ name, tensor, dtype, bytes })),
    totalBytes: head.length + offset,
  };
}

/** The file bytes of one planned tensor from its values. */
export function encodeTensorData(p: PlannedTensor, values: HostArray): Uint8Array {
  if (values.length !== p.tensor.size) {
    throw new Error(`cannot serialize safetensors: tensor ${q(p.name)} read back ${values.length} values where ${p.tensor.size} were expected`);
  }
  const n = values.length;
  const out = new Uint8Array(p.bytes);
  const view = new DataView(out.buffer);
  switch (p.dtype) {
    case 'F64':
      if (littleEndian && values instanceof Float64Array) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      else for (let i = 0; i < n; i++) view.setFloat64(8 * i, values[i], true);
      break;
    case 'F32':
      if (littleEndian && values instanceof Float32Array) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      else for (let i = 0; i < n; i++) view.setFloat32(4 * i, values[i], true);
      break;
    case 'I32':
      if (littleEndian && values instanceof Int32Array) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      else for (let i = 0; i < n; i++) view.setInt32(4 * i, values[i], true);
      break;
    case 'BF16':
    case 'F16': {
      const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
      const bits = new Uint32Array(f32.buffer, f32.byteOffset, n);
      const conv = p.dtype === 'BF16' ? f32BitsToBf16 : f32BitsToF16;
      for (let i = 0; i < n; i++) view.setUint16(2 * i, conv(bits[i]), true);
      break;
    }
  }
  return out;
}

function readSync(p: PlannedTensor): HostArray {
  const t = p.tensor;
  if (t.isDisposed) throw new Error(`cannot serialize safetensors: tensor ${q(p.name)} has been disposed`);
  if (!t.backend.readSync) {
    throw new Error(`cannot serialize safetensors: tensor ${q(p.name)} is on the ${t.backend.name} backend, which has no synchronous readback; use serializeSafetensorsAsync`);
  }
  return t.dataSync();
}

/**
 * The bytes of a safetensors file holding these tensors (and string metadata). Reads values with
 * `dataSync()`, so every tensor must live on a backend with synchronous readback (the CPU backend);
 * use serializeSafetensorsAsync (or safetensorsChunks) for GPU tensors.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SerializeOptions = {}): Uint8Array {
  const plan = planSafetensors(tensors, metadata, opts);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.head);
  let pos = plan.head.length;
  for (const p of plan.tensors) {
    out.set(encodeTensorData(p, readSync(p)), pos);
    pos += p.bytes;
  }
  return out;
}

/** serializeSafetensors for tensors on any backend: reads values with `await t.data()`. */
export async function serializeSafetensorsAsync(tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SerializeOptions = {}): Promise<Uint8Array> {
  const plan = planSafetensors(tensors, metadata, opts);
  const out = new Uint8Array(plan.totalBytes);
  let pos = 0;
  for await (const chunk of chunksOf(plan)) {
    out.set(chunk, pos);
    pos += chunk.length;
  }
  return out;
}

/**
 * The file as a sequence of chunks (the prefix and header, then one chunk per tensor), reading one
 * tensor at a time with `await t.data()`: for streaming a large file without holding it whole.
 * Inputs are validated before the first chunk is produced.
 */
export function safetensorsChunks(tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SerializeOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  return chunksOf(planSafetensors(tensors, metadata, opts));
}

async function* chunksOf(plan: SafetensorsPlan): AsyncGenerator<Uint8Array, void, undefined> {
  yield plan.head;
  for (const p of plan.tensors) {
    if (p.tensor.isDisposed) throw new Error(`cannot serialize safetensors: tensor ${q(p.name)} has been disposed`);
    yield encodeTensorData(p, await p.tensor.data());
  }
}
