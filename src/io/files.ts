/**
 * Node-only file I/O: safetensors files and atomic writes.
 *
 * Reading goes through the file piecewise (prefix, header, then each tensor's byte range), so a file
 * is never held whole in memory and files over 2 GiB work; all validation of safetensors.ts applies,
 * with the file's path in every message. Writing is atomic (writeFileAtomic): readers see either the
 * old file or the complete new one, never a partial file, and a failed write leaves the old file intact.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { DType, HostArray } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  decodeTensorData, makeTensors, parseHeaderLength, parseSafetensorsHeader, safetensorsChunks,
  type ParseOptions, type ParsedSafetensors, type SafetensorsEntry, type SerializeOptions,
} from './safetensors.js';

/** Data for writeFileAtomic: bytes, a string (written as UTF-8), or chunks produced in order. */
export type AtomicData = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Writes a file atomically: the data goes to a temporary file in the same directory, which is
 * fsync-ed and then renamed over `path` (and the directory fsync-ed, where the platform allows).
 * If anything fails, including a chunk producer that throws midway, the temporary file is removed
 * and a pre-existing file at `path` is left untouched. An existing file's permission bits are kept;
 * a symbolic link at `path` is replaced by the new file (not followed).
 */
export async function writeFileAtomic(path: string, data: AtomicData): Promise<void> {
  const dir = nodePath.dirname(path);
  const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let mode: number | undefined;
  try {
    mode = (await fs.stat(path)).mode & 0o7777;
  } catch {
    mode = undefined; // no file yet: the default mode (0o666 less the umask)
  }
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(tmp, 'wx');
    if (mode !== undefined) await fh.chmod(mode);
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await writeAll(fh, typeof data === 'string' ? new TextEncoder().encode(data) : data);
    } else {
      for await (const chunk of data as AsyncIterable<Uint8Array>) {
        if (!(chunk instanceof Uint8Array)) throw new Error(`writeFileAtomic('${path}'): a chunk is not a Uint8Array`);
        await writeAll(fh, chunk);
      }
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
}

async function writeAll(fh: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
    off += bytesWritten;
  }
}

/** Makes a rename durable; some platforms (Windows) cannot fsync a directory, which is harmless. */
export async function syncDirectory(dir: string): Promise<void> {
  let dh: fs.FileHandle | undefined;
  try {
    dh = await fs.open(dir, 'r');
    await dh.sync();
  } catch {
    // not supported here
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/** Reads exactly `length` bytes at `position`, or fails naming the file (it shrank while being read). */
async function readExactly(fh: fs.FileHandle, path: string, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off);
    if (bytesRead === 0) throw new Error(`invalid safetensors file '${path}': unexpected end of file at byte ${position + off} (the file changed while it was read?)`);
    off += bytesRead;
  }
  return buf;
}

/** Options of the readers: `filter` decodes only the tensors it accepts (the whole header is still validated). */
export type ReadOptions = Pick<ParseOptions, 'filter'>;

/** The tensors and the `__metadata__` strings of a safetensors file; tensors are on the CPU backend. */
export async function readSafetensorsWithMetadata(path: string, opts: ReadOptions = {}): Promise<ParsedSafetensors> {
  const popts = { ...opts, source: path };
  const fh = await fs.open(path, 'r');
  const entries: SafetensorsEntry[] = [];
  const values: { values: HostArray; dtype: DType }[] = [];
  let metadata: Record<string, string>;
  try {
    const size = (await fh.stat()).size;
    const prefix = await readExactly(fh, path, 0, Math.min(8, size));
    const n = parseHeaderLength(prefix, size, popts);
    const header = parseSafetensorsHeader(await readExactly(fh, path, 8, n), size - 8 - n, popts);
    metadata = header.metadata;
    for (const e of header.entries) {
      if (opts.filter && !opts.filter(e.name, e)) continue;
      const raw = await readExactly(fh, path, 8 + n + e.begin, e.end - e.begin);
      values.push(decodeTensorData(e, raw, popts));
      entries.push(e);
    }
  } finally {
    await fh.close();
  }
  return { tensors: makeTensors(entries, values, path), metadata };
}

/**
 * The tensors of a safetensors file, on the CPU backend: `layer.loadStateDict(await readSafetensors(path))`.
 * Errors name the file and the reason (see safetensors.ts for the dtype conversions and checks).
 */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<Record<string, Tensor>> {
  return (await readSafetensorsWithMetadata(path, opts)).tensors;
}

/**
 * Writes tensors (from any backend: values are read with `await t.data()`, one tensor at a time)
 * and optional string metadata to a safetensors file, atomically. `opts.dtype` stores floating-point
 * tensors as BF16 / F16 / F32. Inputs are validated before any file is created.
 */
export async function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SerializeOptions = {}): Promise<void> {
  let chunks: AsyncGenerator<Uint8Array, void, undefined>;
  try {
    chunks = safetensorsChunks(tensors, metadata, opts);
  } catch (e) {
    throw new Error(`writeSafetensors('${path}'): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  await writeFileAtomic(path, chunks);
}

/**
 * Creates a directory and its missing parents one level at a time (Node's recursive mkdir loops
 * forever under /proc, where creating a child of a missing entry keeps failing with ENOENT).
 * Errors are the file system's, naming the level that failed.
 */
export async function makeDirectory(path: string): Promise<void> {
  const parts = nodePath.resolve(path).split(nodePath.sep);
  let prefix = parts[0] === '' ? nodePath.sep : parts[0]!;
  for (const part of parts.slice(1)) {
    if (!part) continue;
    prefix = nodePath.join(prefix, part);
    try {
      await fs.mkdir(prefix);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!(await fs.stat(prefix)).isDirectory()) throw Object.assign(new Error(`'${prefix}' is not a directory`), { code: 'ENOTDIR', path: prefix });
    }
  }
}
