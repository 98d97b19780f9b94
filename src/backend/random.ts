/**
 * The counter-based randomness that backends compute on the device: the dropout mask. It lives in
 * the backend layer because every backend must produce exactly these bits (the CPU backend calls
 * these functions, device kernels reimplement them bit for bit); the key comes from an Rng of
 * src/tensor/random.ts, which re-exports these functions.
 */

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The counter-based hash behind device-side random masks: a 32-bit value for element i under a
 * 64-bit key (two u32 drawn from an Rng). Every backend implements exactly this function.
 */
export function dropoutHash(k0: number, k1: number, i: number): number {
  return fmix32(fmix32((Math.imul(i, 0x9e3779b9) ^ k0) >>> 0) ^ k1);
}

/** The integer threshold below which an element is dropped with probability p. */
export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.floor(p * 4294967296));
}
