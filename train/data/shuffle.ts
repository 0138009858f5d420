// Per-epoch batch orders (random, or grouped by length) from the project's seeded generator.

import { Rng, type RngState } from '../../graph/rng.js';

export { Rng, type RngState } from '../../graph/rng.js';

/** In-place Fisher-Yates. */
function shuffleInPlace<E, T extends { length: number; [i: number]: E }>(a: T, rng: Rng): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

export function permutation(n: number, rng: Rng): Int32Array {
  return shuffleInPlace(
    Int32Array.from({ length: n }, (_, i) => i),
    rng,
  );
}

/** Consecutive chunks of `order` (views), the last one possibly partial. */
export function chunk(order: Int32Array, batchSize: number): Int32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  const out: Int32Array[] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.subarray(i, i + batchSize));
  return out;
}

/** One epoch: a fresh permutation of 0..n-1 cut into batches, last partial batch kept. */
export function shuffledBatches(n: number, batchSize: number, rng: Rng): Int32Array[] {
  return chunk(permutation(n, rng), batchSize);
}

/**
 * Batches of similar history length (less padding): shuffle, stable-sort by length, cut, then
 * shuffle the batch order. Batch contents vary between epochs through the first shuffle.
 */
export function lengthBucketedBatches(lengths: Int32Array, batchSize: number, rng: Rng): Int32Array[] {
  const order = permutation(lengths.length, rng);
  const sorted = Int32Array.from(Array.from(order).sort((a, b) => lengths[a] - lengths[b]));
  return shuffleInPlace(chunk(sorted, batchSize), rng);
}

export interface EpochSamplerState {
  epoch: number;
  rng: RngState;
}

/**
 * Per-epoch batch orders whose state is taken between epochs: restoring it reproduces the
 * following epochs exactly (the trainer checkpoints and resumes at epoch boundaries).
 */
export class EpochSampler {
  private rng: Rng;
  epoch: number;

  constructor(
    readonly n: number,
    readonly batchSize: number,
    seedOrState: number | EpochSamplerState,
    readonly lengths: Int32Array | null = null,
  ) {
    if (typeof seedOrState === 'number') {
      this.rng = new Rng(seedOrState);
      this.epoch = 0;
    } else {
      this.rng = Rng.fromState(seedOrState.rng);
      this.epoch = seedOrState.epoch;
    }
    if (lengths !== null && lengths.length !== n)
      throw new Error(`lengths has ${lengths.length} entries for ${n} samples`);
  }

  state(): EpochSamplerState {
    return { epoch: this.epoch, rng: this.rng.state() };
  }

  nextEpoch(): Int32Array[] {
    this.epoch += 1;
    return this.lengths === null
      ? shuffledBatches(this.n, this.batchSize, this.rng)
      : lengthBucketedBatches(this.lengths, this.batchSize, this.rng);
  }
}
