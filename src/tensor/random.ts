/**
 * The one PRNG of Recur: xoshiro128** (Blackman & Vigna), seeded through splitmix32, generated on
 * the host. Every backend receives the same numbers for the same seed, so runs reproduce across
 * machines and backends. Uniforms use 53 random bits; normals use the Box–Muller transform,
 * consuming two uniforms per pair of normals.
 */
export class Rng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    this.reseed(seed);
  }

  /** Restarts the stream from a seed. */
  reseed(seed: number): void {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** The generator's position, to save in checkpoints and restore bit-for-bit. */
  getState(): number[] { return Array.from(this.s); }
  /** Restores a state of getState (checkpoints). */
  setState(state: readonly number[]): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new Error('Rng.setState: expected four unsigned 32-bit integers');
    }
    this.s.set(state);
  }

  /** Next raw 32-bit output. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fills `out` with uniform samples in [low, high). */
  fillUniform(out: Float32Array | Float64Array, low = 0, high = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.uniform();
  }

  /** Fills `out` with normal samples of the given mean and standard deviation. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): void {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
      const u2 = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The default generator used when no Rng is passed. */
export const globalRng = new Rng(0x5eed);

/** Reseeds the default generator. */
export function manualSeed(seed: number): void {
  globalRng.reseed(seed);
}

// The dropout mask's hash lives in the backend layer (every backend implements it); re-exported
// here, where the public API has always had it.
export { dropoutHash, dropoutThreshold } from '../backend/random.js';
