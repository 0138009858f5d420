// Seeded randomness for everything on the host (parameter init, shuffles, PCL positions, synthetic data),
// with a state small enough to go into a checkpoint so a resumed run replays the same batches.

export interface RngState {
  kind: 'xoshiro128**';
  /** Four uint32 words. */
  s: [number, number, number, number];
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** (Blackman & Vigna): fast, 2^128-1 period, good enough for shuffling. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds from any safe integer (both 32-bit halves are mixed in). */
  constructor(seed: number = 0) {
    if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a safe integer, got ${seed}`);
    const lo = splitmix32(seed >>> 0);
    const hi = splitmix32(Math.floor(seed / 2 ** 32) ^ 0x5bd1e995);
    this.s0 = (lo() ^ hi()) >>> 0;
    this.s1 = (lo() ^ hi()) >>> 0;
    this.s2 = (lo() ^ hi()) >>> 0;
    this.s3 = (lo() ^ hi()) >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: RngState): Rng {
    if (state.kind !== 'xoshiro128**' || state.s.length !== 4 || state.s.every((w) => w === 0)) {
      throw new Error(`not a valid xoshiro128** state: ${JSON.stringify(state)}`);
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.s.map((w) => w >>> 0);
    return r;
  }

  state(): RngState {
    return { kind: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3] };
  }

  /**
   * An independent stream per (seed, key): parameters draw from streams keyed by their names, so adding a
   * parameter never shifts the values of the others.
   */
  static keyed(seed: number, key: string): Rng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }

  clone(): Rng {
    return Rng.fromState(this.state());
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Fills out with uniforms in [0, 1) of 24 random bits each (k / 2^24, exact in float32): the host-fed draws
   * of a graph's random sites (graph/random.ts). One generator step per value, in order.
   */
  fillUniform24(out: Float32Array): Float32Array {
    const u = this.fillU32(new Uint32Array(out.length));
    for (let i = 0; i < out.length; i++) out[i] = (u[i] >>> 8) * 5.9604644775390625e-8;
    return out;
  }

  /**
   * Fills out with standard normals, the values nextGaussian would return one after another (four generator
   * steps each), in bulk: the synthetic data's feature noise draws millions.
   */
  fillGaussian(out: Float64Array): Float64Array {
    const u = this.fillU32(new Uint32Array(4 * out.length));
    for (let i = 0; i < out.length; i++) {
      const a = ((u[4 * i] >>> 5) * 67108864 + (u[4 * i + 1] >>> 6)) / 9007199254740992;
      const b = ((u[4 * i + 2] >>> 5) * 67108864 + (u[4 * i + 3] >>> 6)) / 9007199254740992;
      out[i] = Math.sqrt(-2 * Math.log(1 - a)) * Math.cos(2 * Math.PI * b);
    }
    return out;
  }

  /** The next out.length outputs of nextU32, in order. */
  private fillU32(out: Uint32Array): Uint32Array {
    // nextU32 inlined on int32 locals: the uint32 fields would make V8 box every intermediate (15x slower).
    let s0 = this.s0 | 0,
      s1 = this.s1 | 0,
      s2 = this.s2 | 0,
      s3 = this.s3 | 0;
    for (let i = 0; i < out.length; i++) {
      const m = Math.imul(s1, 5);
      out[i] = Math.imul((m << 7) | (m >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    return out;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32)
      throw new Error(`nextInt bound must be an integer in 1..2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box-Muller, no cached spare so the state stays four words). */
  nextGaussian(): number {
    const u = 1 - this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.nextFloat());
  }
}
