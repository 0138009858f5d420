// Prefix-augmented samples with the leave-one-out split, and batches materialized from them.
// A sample is (user, target position, history length) into the dataset's CSR arrays: histories
// are never copied until a batch is built.
import { intervalBucket as bucketOf } from '../../runtime/encode.js';
import type { Dataset } from './dataset.js';

export const DEFAULT_MAX_LEN = 50;
export const DEFAULT_MU = 100;
const SECONDS_PER_DAY = 86400;

export interface SampleSet {
  size: number;
  user: Int32Array;
  /** Position of the target in ds.items; the history is positions [pos - length, pos). */
  pos: Int32Array;
  length: Int32Array;
}

export interface SplitSamples {
  maxLen: number;
  train: SampleSet;
  valid: SampleSet;
  test: SampleSet;
}

function emptySet(n: number): SampleSet {
  return { size: n, user: new Int32Array(n), pos: new Int32Array(n), length: new Int32Array(n) };
}

/**
 * For a user with items i1..in, the sample targeting i(k+1) (k = 1..n-1) has history i1..ik cut to
 * its last maxLen items. The last sample is test, the second-to-last validation, the rest training;
 * a user with n = 2 has only a test sample, n = 3 test and validation, n = 1 none.
 */
export function buildSamples(ds: Dataset, maxLen: number = DEFAULT_MAX_LEN): SplitSamples {
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new Error(`maxLen must be a positive integer, got ${maxLen}`);
  let nTrain = 0, nValid = 0, nTest = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const n = ds.offsets[u + 1] - ds.offsets[u];
    if (n >= 2) nTest += 1;
    if (n >= 3) nValid += 1;
    if (n >= 4) nTrain += n - 3;
  }
  const train = emptySet(nTrain), valid = emptySet(nValid), test = emptySet(nTest);
  const put = (set: SampleSet, at: number, u: number, start: number, pos: number): void => {
    set.user[at] = u;
    set.pos[at] = pos;
    set.length[at] = Math.min(pos - start, maxLen);
  };
  let a = 0, b = 0, c = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const start = ds.offsets[u], end = ds.offsets[u + 1];
    for (let pos = start + 1; pos < end; pos++) {
      if (pos === end - 1) put(test, c++, u, start, pos);
      else if (pos === end - 2) put(valid, b++, u, start, pos);
      else put(train, a++, u, start, pos);
    }
  }
  return { maxLen, train, valid, test };
}

/** floor(mu * log2(a + 1)) for a >= 0; a negative gap (out-of-order events) is bucket 0. */
export function intervalBucket(seconds: number, mu: number = DEFAULT_MU): number {
  return bucketOf(seconds, mu);
}

/**
 * Largest interval bucket over the histories of `samples` (pass the TRAINING set: the interval
 * table gets maxIntervalBucket + 1 rows and later buckets are clamped to the last row).
 */
export function maxIntervalBucket(ds: Dataset, samples: SampleSet, mu: number = DEFAULT_MU): number {
  let maxGap = 0;
  const ts = ds.timestamps;
  for (let s = 0; s < samples.size; s++) {
    const end = samples.pos[s];
    // The window's first element has a_1 = 0, so only gaps inside the window count.
    for (let p = end - samples.length[s] + 1; p < end; p++) {
      const gap = ts[p] - ts[p - 1];
      if (gap > maxGap) maxGap = gap;
    }
  }
  return intervalBucket(maxGap, mu);
}

export interface TimeFeatureOptions {
  /** Interval bucket scale. Default 100. */
  mu?: number;
  /** Buckets above this are clamped to it (the interval table's last row). Default: no clamp. */
  maxBucket?: number;
  /** 'days' since timeOrigin (default), or raw Unix seconds as the reference feeds them. */
  absTime?: 'days' | 'seconds';
  /** Origin for 'days'. Default: the dataset's first timestamp. */
  timeOrigin?: number;
}

export interface BatchOptions extends TimeFeatureOptions {
  /** Pad every row to this width instead of the batch's longest history. */
  padTo?: number;
}

/** Row-major [size, width] arrays, left-aligned and right-padded with item 0 / timestamp 0. */
export interface Batch {
  size: number;
  width: number;
  users: Int32Array;
  items: Int32Array;
  itemsI64: BigInt64Array;
  timestamps: Float64Array;
  lengths: Int32Array;
  lengthsI64: BigInt64Array;
  targets: Int32Array;
  targetsI64: BigInt64Array;
  /** Interval bucket per position; padding and the first position are 0. */
  intervalBuckets: BigInt64Array;
  /** Absolute time per position (days or seconds, computed in float64); padding is 0. */
  absTime: Float32Array;
}

export function makeBatch(ds: Dataset, set: SampleSet, indices: ArrayLike<number>, opts: BatchOptions = {}): Batch {
  const size = indices.length;
  let longest = 0;
  for (let r = 0; r < size; r++) {
    const s = indices[r];
    if (!(s >= 0 && s < set.size)) throw new Error(`sample index ${s} out of range 0..${set.size - 1}`);
    longest = Math.max(longest, set.length[s]);
  }
  const width = opts.padTo ?? longest;
  if (width < longest) throw new Error(`padTo ${width} is shorter than the batch's longest history ${longest}`);
  const mu = opts.mu ?? DEFAULT_MU;
  const maxBucket = opts.maxBucket ?? Infinity;
  const days = (opts.absTime ?? 'days') === 'days';
  const origin = opts.timeOrigin ?? ds.firstTimestamp;

  const users = new Int32Array(size), lengths = new Int32Array(size), targets = new Int32Array(size);
  const items = new Int32Array(size * width);
  const timestamps = new Float64Array(size * width);
  const buckets = new BigInt64Array(size * width);
  const absTime = new Float32Array(size * width);
  for (let r = 0; r < size; r++) {
    const s = indices[r];
    const end = set.pos[s], len = set.length[s], start = end - len, row = r * width;
    users[r] = set.user[s];
    lengths[r] = len;
    targets[r] = ds.items[end];
    items.set(ds.items.subarray(start, end), row);
    timestamps.set(ds.timestamps.subarray(start, end), row);
    for (let j = 0; j < len; j++) {
      const t = ds.timestamps[start + j];
      absTime[row + j] = days ? (t - origin) / SECONDS_PER_DAY : t;
      if (j > 0) buckets[row + j] = BigInt(Math.min(intervalBucket(t - ds.timestamps[start + j - 1], mu), maxBucket));
    }
  }
  return {
    size,
    width,
    users,
    items,
    itemsI64: toInt64(items),
    timestamps,
    lengths,
    lengthsI64: toInt64(lengths),
    targets,
    targetsI64: toInt64(targets),
    intervalBuckets: buckets,
    absTime,
  };
}

export function toInt64(a: Int32Array): BigInt64Array {
  const out = new BigInt64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = BigInt(a[i]);
  return out;
}
