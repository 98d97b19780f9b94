import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { fromHost } from '../../src/tensor/creation.js';
import { backend } from '../../src/tensor/engine.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import {
  MAX_HEADER_BYTES, f16ToF32, f32BitsToBf16, f32BitsToF16, parseSafetensors, serializeSafetensors,
  serializeSafetensorsAsync,
} from '../../src/io/safetensors.js';
import { readSafetensors, readSafetensorsWithMetadata, writeFileAtomic, writeSafetensors } from '../../src/io/files.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const fixture = (name: string): string => nodePath.join(FIXTURES, name);
const cpu = backend('cpu');
/** A fixture file's bytes. */
const fixtureBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(fixture(name)));

// ---------------------------------------------------------------------------------------------
// helpers

interface RawEntry { name: string; dtype: string; shape: number[]; bytes: Uint8Array }

/** A safetensors file from raw entries, written independently of serializeSafetensors. */
function rawFile(entries: RawEntry[], metadata?: Record<string, string>, headerOverride?: string): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  let json = headerOverride ?? JSON.stringify(header);
  while (Buffer.byteLength(json) % 8) json += ' ';
  const h = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let pos = 8 + h.length;
  for (const e of entries) { out.set(e.bytes, pos); pos += e.bytes.length; }
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function headerOf(bytes: Uint8Array): { n: number; json: Record<string, any> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, json: JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) };
}

/** Bitwise equality of float arrays (−0 ≠ +0, NaN = NaN). */
function assertSameFloats(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]: ${actual[i]} !== ${expected[i]}`);
  }
}

function disposeAll(ts: Record<string, Tensor>): void {
  for (const t of Object.values(ts)) t.dispose();
}

function expectError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error && e.constructor === Error, `expected a plain Error, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

async function tmpDir(): Promise<string> {
  return fs.mkdtemp(nodePath.join(os.tmpdir(), 'recur-st-'));
}

/** mulberry32: a small seeded PRNG for the fuzz test. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// round trips

test('round-trips f32, f64, i32, 0-d and empty tensors with metadata (sync and async agree)', async () => {
  const live = cpu.liveBuffers();
  const src: Record<string, Tensor> = {
    'w.f32': fromHost(new Float32Array([1.5, -0, Infinity, -Infinity, NaN, 1e-45, 3.4028234663852886e38]), [7]),
    'm.f64': fromHost(new Float64Array([Math.PI, -1e-300, 2 ** 60, -0]), [2, 2]),
    ids: fromHost(new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31), 7, 8]), [3, 1, 2]),
    scalar: fromHost(new Float32Array([-7.75]), []),
    scalar_i: fromHost(new Int32Array([42]), []),
    empty: fromHost(new Float32Array(0), [0, 3]),
    empty_f64: fromHost(new Float64Array(0), [2, 0, 5]),
    'ünïcode ☃ 𝄞': fromHost(new Float32Array([1, 2]), [2]),
  };
  const meta = { format: 'pt', note: 'quotes " and \\ and ünïcode', empty: '' };
  const bytes = serializeSafetensors(src, meta);
  assert.deepEqual(await serializeSafetensorsAsync(src, meta), bytes);
  const { n } = headerOf(bytes);
  assert.equal(n % 8, 0, 'header padded to a multiple of 8');

  const { tensors, metadata } = parseSafetensors(bytes);
  assert.deepEqual({ ...metadata }, meta);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(src).sort());
  for (const [k, t] of Object.entries(src)) {
    const r = tensors[k];
    assert.deepEqual(r.shape, t.shape, k);
    assert.equal(r.dtype, t.dtype, k);
    assertSameFloats(r.dataSync(), t.dataSync(), k);
  }
  disposeAll(tensors);

  // deterministic: insertion order does not matter; element size first, then name
  const reversed = Object.fromEntries(Object.entries(src).reverse());
  assert.deepEqual(serializeSafetensors(reversed, meta), bytes);
  const order = Object.entries(headerOf(bytes).json).filter(([k]) => k !== '__metadata__')
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0] || a[1].data_offsets[1] - b[1].data_offsets[1]).map(([k]) => k);
  assert.deepEqual(order.slice(0, 2), ['empty_f64', 'm.f64']);
  // no metadata argument: no __metadata__ key
  assert.equal('__metadata__' in headerOf(serializeSafetensors({ a: src.scalar })).json, false);
  disposeAll(src);
  assert.equal(cpu.liveBuffers(), live, 'no buffer leaked');
});

test('writes BF16 / F16 rounding like PyTorch (the fixture bytes) and reads them back exactly', () => {
  const file = fixtureBytes('bf16_f16_i64.safetensors');
  const { n, json } = headerOf(file);
  const data = file.subarray(8 + n);
  const slice = (k: string): Uint8Array => data.subarray(json[k].data_offsets[0], json[k].data_offsets[1]);
  const values = [-2.5, -1, 0, 0.5, 1, 3.140625, 65504, 1e-3, 1 / 3, 1e-5, 7e4, -0];

  for (const [dtype, key, back] of [['BF16', 'a_bf16', 'a_bf16_as_f32'], ['F16', 'a_f16', 'a_f16_as_f32']] as const) {
    for (const host of [new Float32Array(values), new Float64Array(values)]) {
      const t = fromHost(host, [12]);
      const out = serializeSafetensors({ [key]: t }, undefined, { dtype });
      const h = headerOf(out);
      assert.equal(h.json[key].dtype, dtype);
      assert.deepEqual(out.subarray(8 + h.n), slice(key), `${dtype} bytes from ${host.constructor.name}`);
      const r = parseSafetensors(out).tensors[key];
      const ref = new Float32Array(slice(back).slice().buffer);
      assertSameFloats(r.dataSync(), ref, `${key} read back`);
      r.dispose();
      t.dispose();
    }
  }
  // i32 tensors are unaffected by the float dtype option; f64 narrows to F32 on request
  const ids = fromHost(new Int32Array([1, 2]), [2]);
  const d = fromHost(new Float64Array([0.1]), [1]);
  const h = headerOf(serializeSafetensors({ ids, d }, undefined, { dtype: 'F32' })).json;
  assert.equal(h.ids.dtype, 'I32');
  assert.equal(h.d.dtype, 'F32');
  ids.dispose();
  d.dispose();
});

test('half-precision conversions: exhaustive decode/encode round trip and rounding edges', () => {
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  const toBits = (x: number): number => { f[0] = x; return bits[0]; };
  for (let h = 0; h < 0x10000; h++) {
    const x = f16ToF32(h);
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN16) { assert.ok(Number.isNaN(x)); continue; }
    assert.equal(f32BitsToF16(toBits(x)), h, `f16 0x${h.toString(16)}`);
  }
  assert.equal(f32BitsToF16(toBits(65519.99)), 0x7bff); // below the rounding boundary
  assert.equal(f32BitsToF16(toBits(65520)), 0x7c00); // ties to even → inf
  assert.equal(f32BitsToF16(toBits(2 ** -25)), 0x0000); // half the smallest subnormal: tie to even 0
  assert.equal(f32BitsToF16(toBits(2 ** -25 * 1.5)), 0x0001);
  assert.equal(f32BitsToF16(toBits(-(2 ** -24) * 1.5)), 0x8002); // tie between 1 and 2 → 2 (even)
  assert.equal(f32BitsToF16(toBits(NaN)), 0x7e00);
  assert.equal(f32BitsToBf16(toBits(NaN)), 0x7fc0);
  assert.equal(f32BitsToBf16(toBits(1 + 2 ** -8)), 0x3f80); // tie → even (down)
  assert.equal(f32BitsToBf16(toBits(1 + 3 * 2 ** -8)), 0x3f82); // tie → even (up)
  assert.equal(f32BitsToBf16(toBits(3.3895313892515355e38)), 0x7f7f); // max bf16 stays finite
  assert.equal(f32BitsToBf16(toBits(3.4028234663852886e38)), 0x7f80); // max f32 rounds to inf
});

// ---------------------------------------------------------------------------------------------
// the PyTorch fixture


test('reads every tensor of the PyTorch fixture bf16_f16_i64.safetensors', async () => {
  const live = cpu.liveBuffers();
  const { tensors: t, metadata } = await readSafetensorsWithMetadata(fixture('bf16_f16_i64.safetensors'), {
    filter: (name) => name !== 'ids_i64_wide',
  });
  assert.equal(metadata.fixture, 'bf16_f16_i64');
  assert.deepEqual(Object.keys(t).sort(), ['a_bf16', 'a_bf16_as_f32', 'a_f16', 'a_f16_as_f32', 'a_f32', 'empty_f32',
    'ids_i32', 'ids_i64', 'mat_bf16', 'scalar_f32']);
  const values = JSON.parse(metadata.config).values as number[];
  values[11] = -0;
  assertSameFloats(t.a_f32.dataSync(), Float32Array.from(values), 'a_f32');
  for (const k of ['a_f32', 'a_f16', 'a_bf16', 'a_f16_as_f32', 'a_bf16_as_f32']) {
    assert.equal(t[k].dtype, 'f32', k);
    assert.deepEqual(t[k].shape, [12], k);
  }
  // BF16 / F16 → f32 exactly as torch converts them
  assertSameFloats(t.a_bf16.dataSync(), t.a_bf16_as_f32.dataSync(), 'a_bf16');
  assertSameFloats(t.a_f16.dataSync(), t.a_f16_as_f32.dataSync(), 'a_f16');
  const f16 = t.a_f16.dataSync();
  assert.ok(f16[9] > 0 && f16[9] < 2 ** -14, 'a_f16[9] is a subnormal');
  assert.equal(f16[9], 168 * 2 ** -24);
  assert.equal(f16[10], Infinity);
  assert.ok(Object.is(f16[11], -0));
  assert.ok(Object.is(t.a_bf16.dataSync()[11], -0));
  assert.equal(t.a_bf16.dataSync()[6], 65536);
  assert.equal(f16[6], 65504);
  // integers
  for (const k of ['ids_i64', 'ids_i32']) {
    assert.equal(t[k].dtype, 'i32');
    assert.deepEqual(Array.from(t[k].dataSync()), [0, 1, -5, 2 ** 31 - 1], k);
  }
  // 0-d, empty, 2-D BF16
  assert.deepEqual(t.scalar_f32.shape, []);
  assert.deepEqual(Array.from(t.scalar_f32.dataSync()), [-7.75]);
  assert.deepEqual(t.empty_f32.shape, [0, 3]);
  assert.equal(t.empty_f32.dataSync().length, 0);
  assert.deepEqual(t.mat_bf16.shape, [2, 3]);
  assert.deepEqual(await t.mat_bf16.toArray(), [[0, 0.5, 1], [1.5, 2, 2.5]]);

  // the same through the in-memory parser, from a Node Buffer at an odd byte offset (unaligned data)
  const odd = Buffer.concat([Buffer.alloc(3, 0xee), readFileSync(fixture('bf16_f16_i64.safetensors')), Buffer.alloc(5, 0xee)]);
  const mem = parseSafetensors(odd.subarray(3, odd.length - 5), { filter: (n) => n !== 'ids_i64_wide' });
  for (const [k, v] of Object.entries(t)) assertSameFloats(mem.tensors[k].dataSync(), v.dataSync(), `in-memory ${k}`);
  disposeAll(mem.tensors);
  disposeAll(t);
  assert.equal(cpu.liveBuffers(), live, 'no buffer leaked');
});

test('an I64 tensor beyond int32 is an Error naming the file, the tensor and the value', async () => {
  const live = cpu.liveBuffers();
  const path = fixture('bf16_f16_i64.safetensors');
  await assert.rejects(readSafetensors(path), (e: unknown) => {
    assert.ok(e instanceof Error && e.constructor === Error);
    assert.ok(e.message.includes(path), e.message);
    assert.match(e.message, /'ids_i64_wide'/);
    assert.match(e.message, /-1099511627776/);
    assert.match(e.message, /int32/);
    return true;
  });
  expectError(() => parseSafetensors(fixtureBytes('bf16_f16_i64.safetensors')), /'ids_i64_wide'.*-1099511627776/);
  // ±(2^53 − 1) and the int32 boundaries
  const i64 = (vals: bigint[]): Uint8Array => bytesOf(BigInt64Array.from(vals));
  expectError(() => parseSafetensors(rawFile([{ name: 'big', dtype: 'I64', shape: [2], bytes: i64([1n, 2n ** 53n - 1n]) }])),
    /'big'.*9007199254740991 at index 1/);
  expectError(() => parseSafetensors(rawFile([{ name: 'neg', dtype: 'I64', shape: [1], bytes: i64([-(2n ** 31n) - 1n]) }])),
    /-2147483649/);
  const ok = parseSafetensors(rawFile([{ name: 'edge', dtype: 'I64', shape: [2], bytes: i64([-(2n ** 31n), 2n ** 31n - 1n]) }]));
  assert.deepEqual(Array.from(ok.tensors.edge.dataSync()), [-(2 ** 31), 2 ** 31 - 1]);
  disposeAll(ok.tensors);
  assert.equal(cpu.liveBuffers(), live, 'tensors decoded before the failure are not leaked');
});

test('re-serializing a PyTorch fixture of F32/I32 tensors reproduces it byte for byte', async () => {
  for (const name of ['mingru.safetensors', 'minlm.safetensors', 'rnn_torch.safetensors']) {
    const original = fixtureBytes(name);
    const { tensors, metadata } = await readSafetensorsWithMetadata(fixture(name));
    assert.deepEqual(serializeSafetensors(tensors, metadata), original, name);
    disposeAll(tensors);
  }
});

test('small integer dtypes U8, I8, I16, BOOL read as i32; unsupported dtypes are named', () => {
  const file = rawFile([
    { name: 'u8', dtype: 'U8', shape: [3], bytes: new Uint8Array([0, 128, 255]) },
    { name: 'i8', dtype: 'I8', shape: [3], bytes: bytesOf(new Int8Array([-128, -1, 127])) },
    { name: 'i16', dtype: 'I16', shape: [3], bytes: bytesOf(new Int16Array([-32768, -1, 32767])) },
    { name: 'mask', dtype: 'BOOL', shape: [2, 2], bytes: new Uint8Array([1, 0, 0, 1]) },
  ]);
  const { tensors } = parseSafetensors(file);
  assert.deepEqual(Array.from(tensors.u8.dataSync()), [0, 128, 255]);
  assert.deepEqual(Array.from(tensors.i8.dataSync()), [-128, -1, 127]);
  assert.deepEqual(Array.from(tensors.i16.dataSync()), [-32768, -1, 32767]);
  assert.deepEqual(Array.from(tensors.mask.dataSync()), [1, 0, 0, 1]);
  for (const t of Object.values(tensors)) assert.equal(t.dtype, 'i32');
  disposeAll(tensors);
  expectError(() => parseSafetensors(rawFile([{ name: 'b', dtype: 'BOOL', shape: [2], bytes: new Uint8Array([1, 2]) }])),
    /'b' \(BOOL\): byte 2/);
  expectError(() => parseSafetensors(rawFile([{ name: 'u', dtype: 'U16', shape: [1], bytes: new Uint8Array(2) }])),
    /'u'.*dtype U16 is not supported/);
  expectError(() => parseSafetensors(rawFile([{ name: 'f8', dtype: 'F8_E4M3', shape: [1], bytes: new Uint8Array(1) }])),
    /F8_E4M3/);
  expectError(() => parseSafetensors(rawFile([{ name: 'x', dtype: 'float32', shape: [1], bytes: new Uint8Array(4) }])),
    /unknown dtype 'float32'/);
});

// ---------------------------------------------------------------------------------------------
// validation

test('strict validation: each malformed input is a plain Error with the reason', () => {
  const f32 = (n: number): Uint8Array => new Uint8Array(4 * n);
  const valid = rawFile([{ name: 'a', dtype: 'F32', shape: [2], bytes: f32(2) }, { name: 'b', dtype: 'F32', shape: [1], bytes: f32(1) }]);
  const withHeader = (json: string, data = new Uint8Array(12)): Uint8Array =>
    rawFile([{ name: '_', dtype: 'U8', shape: [data.length], bytes: data }], undefined, json);
  const prefix = (n: bigint, rest: Uint8Array = new Uint8Array(16)): Uint8Array => {
    const out = new Uint8Array(8 + rest.length);
    new DataView(out.buffer).setBigUint64(0, n, true);
    out.set(rest, 8);
    return out;
  };
  const A = '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
  const B = '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}';

  const cases: [string, Uint8Array, RegExp][] = [
    ['empty input', new Uint8Array(0), /0 bytes is too short/],
    ['7 bytes', new Uint8Array(7), /7 bytes is too short/],
    ['header longer than file', prefix(100n), /header length 100 is larger than the 16 bytes/],
    ['header over the limit', prefix(BigInt(MAX_HEADER_BYTES + 1)), /exceeds the limit of 100000000 bytes/],
    ['u64 length ≥ 2^32', prefix(2n ** 63n + 5n), /exceeds the limit/],
    ['zero header', prefix(0n), /too short for a JSON object/],
    ['invalid UTF-8', prefix(8n, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 32, 32, 32, 32])), /not valid UTF-8/],
    ['not JSON', withHeader('{"a":'), /not valid JSON/],
    ['JSON array', withHeader('[1,2]'), /must be a JSON object/],
    ['JSON string', withHeader('"abc"'), /must be a JSON object/],
    ['leading BOM', withHeader('\ufeff{}'), /must be a JSON object/],
    ['entry not an object', withHeader(`{"a":[1,2],${B}}`), /'a': entry is an array/],
    ['missing dtype', withHeader(`{"a":{"shape":[2],"data_offsets":[0,8]},${B}}`), /'a': missing "dtype"/],
    ['missing shape', withHeader(`{"a":{"dtype":"F32","data_offsets":[0,8]},${B}}`), /'a': missing "shape"/],
    ['missing offsets', withHeader(`{"a":{"dtype":"F32","shape":[2]},${B}}`), /'a': missing "data_offsets"/],
    ['dtype not a string', withHeader(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]},${B}}`), /"dtype" is number/],
    ['shape not an array', withHeader(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]},${B}}`), /"shape" is number/],
    ['negative dim', withHeader(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]},${B}}`), /has -2, not a non-negative integer/],
    ['fractional dim', withHeader(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]},${B}}`), /has 1.5/],
    ['string dim', withHeader(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]},${B}}`), /has string/],
    ['huge dims', withHeader(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]},${B}}`), /needs more than 2\^53/],
    ['offsets not a pair', withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]},${B}}`), /not an array \[begin, end\]/],
    ['negative offset', withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]},${B}}`), /not non-negative integers/],
    ['string offset', withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":["0",8]},${B}}`), /not non-negative integers/],
    ['begin > end', withHeader(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]},${B}}`), /begin 8 > end 0/],
    ['end past data', withHeader(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), /extend past the end of the 12-byte data section/],
    ['size mismatch', withHeader(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},${B}}`), /span 8 bytes, but shape \[3\] of F32 needs 12/],
    ['overlap', withHeader(`{${A},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`), /'b' data_offsets \[4, 12\] overlap those of 'a'/],
    ['empty tensor inside another', withHeader(`{${A},${B},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`), /overlap/],
    ['hole', withHeader(`{${A},"b":{"dtype":"U8","shape":[2],"data_offsets":[10,12]}}`), /2 bytes of the data section before tensor 'b'/],
    ['hole at start', withHeader(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`), /8 bytes .* before tensor 'b'/],
    ['trailing bytes', withHeader(`{${A}}`), /4 trailing bytes/],
    ['trailing garbage appended', new Uint8Array([...valid, 1, 2, 3]), /3 trailing bytes/],
    ['duplicate tensor name', withHeader(`{${A},${B},${A}}`), /the key 'a' twice/],
    ['duplicate after unescaping', withHeader(`{${A},${B},"\\u0061":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`), /the key 'a' twice/],
    ['duplicate field', withHeader(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]},${B}}`), /the key 'dtype' twice/],
    ['duplicate metadata key', withHeader(`{"__metadata__":{"k":"1","k":"2"},${A},${B}}`), /the key 'k' twice/],
    ['metadata not an object', withHeader(`{"__metadata__":"x",${A},${B}}`), /__metadata__ is not an object/],
    ['metadata value a number', withHeader(`{"__metadata__":{"k":1},${A},${B}}`), /__metadata__ value 'k' is not a string \(got number/],
    ['metadata value null', withHeader(`{"__metadata__":{"k":null},${A},${B}}`), /value 'k' is not a string \(got null/],
    ['nested metadata', withHeader(`{"__metadata__":{"k":{"a":"b"}},${A},${B}}`), /not a string \(got an object/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => parseSafetensors(bytes), (e: unknown) => {
      assert.ok(e instanceof Error && e.constructor === Error, `${what}: a plain Error, got ${String(e)}`);
      assert.match(e.message, /^invalid safetensors data: /, what);
      assert.match(e.message, re, `${what}: ${e.message}`);
      return true;
    }, what);
  }
  // the source option names the input
  expectError(() => parseSafetensors(new Uint8Array(3), { source: 'model.st' }), /^invalid safetensors file 'model.st': 3 bytes/);

  // accepted edge cases: null metadata, extra entry fields, unpadded header, no tensors at all, "__proto__"
  const edge = parseSafetensors(withHeader(`{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1},"__proto__":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}`));
  assert.deepEqual(edge.metadata, {});
  assert.deepEqual(Object.keys(edge.tensors), ['a', '__proto__']);
  assert.equal(Object.getPrototypeOf(edge.tensors), Object.prototype);
  assert.deepEqual(edge.tensors.__proto__.shape, []);
  disposeAll(edge.tensors);
  const unpadded = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]);
  assert.deepEqual(parseSafetensors(unpadded).tensors, {});
  assert.equal(parseSafetensors(valid).tensors.b.size, 1);
});

test('serialization rejects bad inputs before producing anything', async () => {
  const t = fromHost(new Float32Array([1]), [1]);
  const gone = fromHost(new Float32Array([1]), [1]);
  gone.dispose();
  expectError(() => serializeSafetensors({ __metadata__: t }), /"__metadata__" is reserved/);
  expectError(() => serializeSafetensors({ x: 1 as unknown as Tensor }), /'x' is not a Tensor/);
  expectError(() => serializeSafetensors({ g: gone }), /'g' has been disposed/);
  expectError(() => serializeSafetensors({ t }, { k: 5 as unknown as string }), /metadata value 'k' is not a string/);
  expectError(() => serializeSafetensors({ t }, undefined, { dtype: 'F8' as 'F16' }), /option dtype/);
  const dir = await tmpDir();
  const path = nodePath.join(dir, 'x.safetensors');
  await assert.rejects(writeSafetensors(path, { g: gone }), /writeSafetensors\('.*x\.safetensors'\): .*'g' has been disposed/);
  assert.deepEqual(await fs.readdir(dir), [], 'no file, no temp file');
  t.dispose();
  await fs.rm(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// files

test('writeSafetensors / readSafetensors round trip; errors name the file', async () => {
  const dir = await tmpDir();
  const path = nodePath.join(dir, 'model.safetensors');
  const src = {
    w: fromHost(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]),
    ids: fromHost(new Int32Array([3, 1]), [2]),
    s: fromHost(new Float64Array([0.25]), []),
  };
  await writeSafetensors(path, src, { step: '10' });
  assert.deepEqual(new Uint8Array(await fs.readFile(path)), serializeSafetensors(src, { step: '10' }));
  const { tensors, metadata } = await readSafetensorsWithMetadata(path);
  assert.deepEqual({ ...metadata }, { step: '10' });
  for (const [k, t] of Object.entries(src)) {
    assert.deepEqual(tensors[k].shape, t.shape);
    assert.equal(tensors[k].dtype, t.dtype);
    assert.equal(tensors[k].backend.name, 'cpu');
    assert.deepEqual(tensors[k].dataSync(), t.dataSync());
  }
  disposeAll(tensors);
  const only = await readSafetensors(path, { filter: (n) => n === 'w' });
  assert.deepEqual(Object.keys(only), ['w']);
  disposeAll(only);

  // BF16 on disk reads back as f32 with bf16-rounded values
  await writeSafetensors(path, { w: src.w }, undefined, { dtype: 'BF16' });
  assert.equal((await fs.stat(path)).size % 2, 0);
  const half = await readSafetensors(path);
  assert.deepEqual(Array.from(half.w.dataSync()), [1, 2, 3, 4, 5, 6]);
  disposeAll(half);

  // a truncated file, a garbage file, an empty file: the message names the file
  const full = await fs.readFile(fixture('mingru.safetensors'));
  for (const [bytes, re] of [
    [full.subarray(0, full.length - 1), /trailing|extend past/],
    [full.subarray(0, 100), /header length \d+ is larger/],
    [Buffer.from('not a safetensors file at all'), /header length .* (exceeds|is larger)/],
    [Buffer.alloc(0), /0 bytes is too short/],
  ] as const) {
    await fs.writeFile(path, bytes);
    await assert.rejects(readSafetensors(path), (e: unknown) => {
      assert.ok(e instanceof Error && e.constructor === Error);
      assert.ok(e.message.startsWith(`invalid safetensors file '${path}': `), e.message);
      assert.match(e.message, re);
      return true;
    });
  }
  await assert.rejects(readSafetensors(nodePath.join(dir, 'missing.safetensors')), /ENOENT.*missing\.safetensors/);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['model.safetensors']);
  disposeAll(src);
  await fs.rm(dir, { recursive: true });
});

test('atomic writes: no temp files; a failure midway leaves the previous file intact', async () => {
  const dir = await tmpDir();
  const path = nodePath.join(dir, 'ckpt.safetensors');
  const a = fromHost(new Float32Array([1, 2, 3]), [3]);
  const b = fromHost(new Float32Array([4, 5, 6, 7]), [4]);
  await writeSafetensors(path, { a, b });
  await fs.chmod(path, 0o640);
  const before = await fs.readFile(path);

  // serialization throws after the header (and possibly a tensor) went to the temp file
  const boom = fromHost(new Float32Array([9]), [1]);
  (boom as unknown as { data: () => Promise<never> }).data = async () => { throw new Error('device lost'); };
  await assert.rejects(writeSafetensors(path, { a, b, zz: boom }), /device lost/);
  assert.deepEqual(await fs.readFile(path), before, 'old file intact');
  assert.deepEqual(await fs.readdir(dir), ['ckpt.safetensors'], 'temp file removed');

  // writeFileAtomic with a chunk producer that fails midway
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(1000).fill(7);
    throw new Error('producer failed');
  }
  await assert.rejects(writeFileAtomic(path, chunks()), /producer failed/);
  assert.deepEqual(await fs.readFile(path), before);
  assert.deepEqual(await fs.readdir(dir), ['ckpt.safetensors']);

  // success replaces the file, keeps its mode, leaves nothing else behind
  await writeFileAtomic(path, [new Uint8Array([1, 2]), new Uint8Array([3])]);
  assert.deepEqual(new Uint8Array(await fs.readFile(path)), new Uint8Array([1, 2, 3]));
  assert.equal((await fs.stat(path)).mode & 0o777, 0o640);
  await writeFileAtomic(nodePath.join(dir, 'note.txt'), 'héllo');
  assert.equal(await fs.readFile(nodePath.join(dir, 'note.txt'), 'utf8'), 'héllo');
  assert.deepEqual((await fs.readdir(dir)).sort(), ['ckpt.safetensors', 'note.txt']);

  // a directory that does not exist: an error, nothing created
  await assert.rejects(writeFileAtomic(nodePath.join(dir, 'no', 'such', 'f'), 'x'), /ENOENT/);
  for (const t of [a, b, boom]) t.dispose();
  await fs.rm(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// fuzz

test('fuzz: thousands of seeded corruptions parse consistently or throw a plain Error', () => {
  const bytesF = (a: number[], T: typeof Float32Array | typeof Float64Array): Uint8Array => bytesOf(T.from(a));
  const base = rawFile([
    { name: 'f64', dtype: 'F64', shape: [2], bytes: bytesF([1.5, -2], Float64Array) },
    { name: 'i64', dtype: 'I64', shape: [2], bytes: bytesOf(BigInt64Array.from([-3n, 2n ** 31n - 1n])) },
    { name: 'f32', dtype: 'F32', shape: [2, 3], bytes: bytesF([1, 2, 3, 4, 5, 6], Float32Array) },
    { name: 'i32', dtype: 'I32', shape: [3], bytes: bytesOf(Int32Array.from([7, -8, 9])) },
    { name: 'scalar', dtype: 'F32', shape: [], bytes: bytesF([-7.75], Float32Array) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
    { name: 'bf16', dtype: 'BF16', shape: [3], bytes: new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x80, 0x7f]) },
    { name: 'f16', dtype: 'F16', shape: [2], bytes: new Uint8Array([0x00, 0x3c, 0x01, 0x00]) },
    { name: 'i16', dtype: 'I16', shape: [2], bytes: bytesOf(Int16Array.from([-2, 3])) },
    { name: 'u8', dtype: 'U8', shape: [3], bytes: new Uint8Array([1, 2, 255]) },
    { name: 'i8', dtype: 'I8', shape: [1], bytes: new Uint8Array([0xff]) },
    { name: 'mask', dtype: 'BOOL', shape: [2], bytes: new Uint8Array([0, 1]) },
  ], { purpose: 'fuzz', 'ключ': 'значение' });
  // sanity: the base file is valid
  disposeAll(parseSafetensors(base).tensors);

  const { n: baseN } = headerOf(base);
  const baseJson = Buffer.from(base.subarray(8, 8 + baseN)).toString('utf8').trimEnd();
  const baseData = base.subarray(8 + baseN);
  const rand = rng(20240607);
  const int = (k: number): number => Math.floor(rand() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const weird = [-1, 0, 1, 2, 3, 7, 8, 1.5, 1e300, -0, 2 ** 53, 2 ** 64, '"4"', 'null', 'true', '[]', '{}', '[1,2]', '"F32"'];

  const withJson = (json: string, data: Uint8Array = baseData): Uint8Array => {
    const h = Buffer.from(json, 'utf8');
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };
  const editJson = (): Uint8Array => {
    const obj = JSON.parse(baseJson) as Record<string, any>;
    const names = Object.keys(obj).filter((k) => k !== '__metadata__');
    const e = obj[pick(names)];
    const v = pick(weird);
    const val = typeof v === 'string' ? JSON.parse(v) : v;
    switch (int(12)) {
      case 0: e.data_offsets[int(2)] += int(17) - 8; break;
      case 10: { const d = int(17) - 8; e.data_offsets = [e.data_offsets[0] + d, e.data_offsets[1] + d]; break; } // shift: overlap / hole
      case 11: { // a dtype of the same item size: values change, the layout stays valid
        const same = [['F32', 'I32'], ['F64', 'I64'], ['F16', 'BF16', 'I16'], ['U8', 'I8', 'BOOL']].find((g) => g.includes(e.dtype));
        if (same) e.dtype = pick(same);
        break;
      }
      case 1: e.data_offsets[int(2)] = val; break;
      case 2: e.data_offsets = pick([[], [0], [0, 0, 0], val, e.data_offsets.reverse()]); break;
      case 3: e.dtype = pick(['F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'F8_E4M3', 'f32', '', val]); break;
      case 4: e.shape = pick([[], [0], [1], [2], [3], [2, 3], [1, 1, 1, 1], [-1], [2 ** 40, 2 ** 40], val]); break;
      case 5: e.shape.push(pick([0, 1, 2, -1, 0.5])); break;
      case 6: delete e[pick(['dtype', 'shape', 'data_offsets'])]; break;
      case 7: obj.__metadata__ = pick([null, 5, 'x', [], { k: val }, { k: 'v' }]); break;
      case 8: obj[pick(names)] = val; break;
      default: {
        // swap two tensors' offsets
        const o = obj[pick(names)];
        [e.data_offsets, o.data_offsets] = [o.data_offsets, e.data_offsets];
      }
    }
    let json = JSON.stringify(obj);
    if (rand() < 0.1) json = json.replace(/"f32":/, '"f32":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"f32":');
    while (json.length % 8 && rand() < 0.9) json += ' ';
    return withJson(json);
  };
  const corrupt = (input: Uint8Array): Uint8Array => {
    let b: Uint8Array = input.slice();
    switch (int(7)) {
      case 0: { // overwrite bytes in the header: any byte, or a printable / digit character
        const { n } = headerOf(base);
        for (let k = 1 + int(4); k > 0; k--) {
          const at = 8 + int(Math.max(1, Math.min(n, b.length - 8)));
          if (at < b.length) b[at] = pick([int(256), 0x20 + int(95), 0x30 + int(10)]);
        }
        break;
      }
      case 1: b = b.subarray(0, int(b.length + 1)); break; // truncate
      case 2: { // change the length prefix
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (b.length < 8) break;
        const r = int(4);
        if (r === 0) dv.setBigUint64(0, dv.getBigUint64(0, true) + BigInt(int(33) - 16), true);
        else if (r === 1) b[int(8)] = int(256);
        else if (r === 2) dv.setBigUint64(0, BigInt(int(b.length + 16)), true);
        else dv.setBigUint64(0, 2n ** BigInt(int(64)), true);
        break;
      }
      case 3: b = editJson(); break;
      case 4: { // append garbage
        const extra = new Uint8Array(1 + int(24)).map(() => int(256));
        const out = new Uint8Array(b.length + extra.length);
        out.set(b); out.set(extra, b.length);
        b = out;
        break;
      }
      case 5: { // overwrite bytes of the data section (I64 / BOOL values may become unconvertible)
        const start = Math.min(b.length, 8 + baseN);
        for (let k = 1 + int(6); k > 0; k--) if (b.length > start) b[start + int(b.length - start)] = pick([int(256), 0xff, 0x80, 2]);
        break;
      }
      default: { // splice random bytes into the header text
        const at = Math.min(b.length, 8 + int(Math.max(1, b.length - 8)));
        const ins = Buffer.from(pick(['{', '}', '"', ',', ':', '\\', '\\u', '[', ']', '\ud800', '😀', '\0', '1e9999', 'null']), 'utf8');
        const out = new Uint8Array(b.length + ins.length);
        out.set(b.subarray(0, at)); out.set(ins, at); out.set(b.subarray(at), at + ins.length);
        b = out;
      }
    }
    return b;
  };

  const live = cpu.liveBuffers();
  const counts = { ok: 0, error: 0 };
  const reasons = new Map<string, number>();
  const t0 = performance.now();
  let slowest = 0;
  const N = 4000;
  for (let i = 0; i < N; i++) {
    let input = base;
    for (let k = rand() < 0.6 ? 1 : 2 + int(2); k > 0; k--) input = corrupt(input);
    const t1 = performance.now();
    let parsed: ReturnType<typeof parseSafetensors> | undefined;
    try {
      parsed = parseSafetensors(input);
    } catch (e) {
      assert.ok(e instanceof Error, `case ${i}: threw a non-Error ${String(e)}`);
      assert.equal(e.constructor, Error, `case ${i}: threw ${e.constructor.name}: ${e.message}`);
      assert.ok(e.message.length > 0, `case ${i}: empty message`);
      assert.ok(!e.message.includes('unexpected failure'), `case ${i}: escaped validation: ${e.message}`);
      const reason = e.message.replace(/^invalid safetensors data: /, '').replace(/'[^']*'|\d+|\(.*\)/g, '_').slice(0, 40);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      counts.error++;
    }
    slowest = Math.max(slowest, performance.now() - t1);
    if (parsed) {
      counts.ok++;
      const { n } = headerOf(input);
      const header = JSON.parse(Buffer.from(input.subarray(8, 8 + n)).toString('utf8'));
      for (const [name, t] of Object.entries(parsed.tensors)) {
        const info = header[name];
        assert.ok(info, `case ${i}: tensor ${name} not in the header`);
        assert.deepEqual(t.shape, info.shape);
        assert.equal(t.size, info.shape.reduce((p: number, d: number) => p * d, 1));
        assert.equal(t.dataSync().length, t.size);
        assert.ok(['f32', 'f64', 'i32'].includes(t.dtype));
      }
      assert.equal(Object.keys(parsed.tensors).length, Object.keys(header).filter((k) => k !== '__metadata__').length);
      // what was parsed serializes and parses back to the same values
      const again = parseSafetensors(serializeSafetensors(parsed.tensors, parsed.metadata));
      for (const [name, t] of Object.entries(parsed.tensors)) assertSameFloats(again.tensors[name].dataSync(), t.dataSync(), name);
      disposeAll(again.tensors);
      disposeAll(parsed.tensors);
    }
  }
  const ms = performance.now() - t0;
  assert.equal(cpu.liveBuffers(), live, 'no buffer leaked by failed parses');
  assert.ok(counts.error > N / 2 && counts.ok > 20, `a mix of outcomes: ${JSON.stringify(counts)}`);
  assert.ok(reasons.size > 25, `many distinct failure reasons (${reasons.size})`);
  // hang guards, not speed claims (speed is measured in benchmarks): generous enough for a loaded
  // machine, far below what a pathological input (deep nesting, huge sizes) used to cost (seconds to minutes)
  assert.ok(ms < 60_000, `fuzz took ${ms.toFixed(0)} ms`);
  assert.ok(slowest < 2000, `slowest parse ${slowest.toFixed(1)} ms`);
  if (process.env.FUZZ_REASONS) console.log([...reasons].sort((a, b) => b[1] - a[1]));
  console.log(`# fuzz: ${N} inputs, ${counts.ok} parsed, ${counts.error} rejected (${reasons.size} distinct reasons), ${ms.toFixed(0)} ms, slowest ${slowest.toFixed(2)} ms`);
});
