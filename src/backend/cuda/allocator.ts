/**
 * A caching device allocator. Every kernel of the backend runs on one stream, so a block freed
 * after the kernels that use it were launched can be handed to the next allocation at once: the
 * next user's kernels are queued behind them (stream order). Sizes are rounded into buckets
 * (512 B steps below 1 MiB, 2 MiB steps above) and a freed block goes back to its bucket; the
 * driver is asked for memory only when a bucket is empty, and memory goes back to the driver only
 * in emptyCache() (also tried once when an allocation runs out of memory).
 */
import { DeviceMemoryError } from '../backend.js';

export interface RawDeviceMemory {
  /** Allocates; returns the device pointer or throws (with `code` 2 for out of memory). */
  alloc(bytes: number): number;
  free(ptr: number): void;
  /** Waits for all queued work (before memory goes back to the driver). */
  synchronize(): void;
}

export interface Block {
  readonly ptr: number;
  /** The bucket size (≥ the size asked for). */
  readonly bytes: number;
}

export interface AllocatorStats {
  /** Blocks handed out and not freed. */
  liveBlocks: number;
  liveBytes: number;
  cachedBlocks: number;
  cachedBytes: number;
  /** Bytes obtained from the driver and not yet returned. */
  reservedBytes: number;
  peakReservedBytes: number;
  driverAllocs: number;
}

const SMALL = 1 << 20;

export function bucketBytes(bytes: number): number {
  if (bytes <= 0) return 0;
  if (bytes < SMALL) return Math.ceil(bytes / 512) * 512;
  return Math.ceil(bytes / (2 << 20)) * (2 << 20);
}

export class CachingAllocator {
  private readonly pool = new Map<number, number[]>();
  private live = 0;
  private liveBytes = 0;
  private cachedBytes = 0;
  private cachedBlocks = 0;
  private reserved = 0;
  private peak = 0;
  private driverAllocs = 0;

  constructor(private readonly raw: RawDeviceMemory) {}

  alloc(bytes: number): Block {
    const size = bucketBytes(bytes);
    this.live++;
    this.liveBytes += size;
    if (size === 0) return { ptr: 0, bytes: 0 };
    const cached = this.pool.get(size)?.pop();
    if (cached !== undefined) {
      this.cachedBytes -= size;
      this.cachedBlocks--;
      return { ptr: cached, bytes: size };
    }
    let ptr: number;
    try {
      ptr = this.raw.alloc(size);
    } catch (e) {
      if ((e as { code?: number }).code !== 2 || this.cachedBytes === 0) {
        this.live--;
        this.liveBytes -= size;
        throw (e as { code?: number }).code === 2 ? new DeviceMemoryError('GPU', size, this.reserved) : e;
      }
      this.emptyCache();
      try {
        ptr = this.raw.alloc(size);
      } catch (e2) {
        this.live--;
        this.liveBytes -= size;
        throw (e2 as { code?: number }).code === 2 ? new DeviceMemoryError('GPU', size, this.reserved) : e2;
      }
    }
    this.driverAllocs++;
    this.reserved += size;
    this.peak = Math.max(this.peak, this.reserved);
    return { ptr, bytes: size };
  }

  free(block: Block): void {
    this.live--;
    this.liveBytes -= block.bytes;
    if (block.bytes === 0) return;
    let list = this.pool.get(block.bytes);
    if (!list) this.pool.set(block.bytes, (list = []));
    list.push(block.ptr);
    this.cachedBytes += block.bytes;
    this.cachedBlocks++;
  }

  /** Returns every cached block to the driver (after the queued work is done). */
  emptyCache(): void {
    if (this.cachedBlocks === 0) return;
    this.raw.synchronize();
    for (const [size, list] of this.pool) {
      for (const ptr of list) {
        this.raw.free(ptr);
        this.reserved -= size;
      }
    }
    this.pool.clear();
    this.cachedBytes = 0;
    this.cachedBlocks = 0;
  }

  liveBlocks(): number {
    return this.live;
  }

  stats(): AllocatorStats {
    return {
      liveBlocks: this.live, liveBytes: this.liveBytes, cachedBlocks: this.cachedBlocks, cachedBytes: this.cachedBytes,
      reservedBytes: this.reserved, peakReservedBytes: this.peak, driverAllocs: this.driverAllocs,
    };
  }
}
