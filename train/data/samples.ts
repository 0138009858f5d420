// Prefix-augmented samples with the leave-one-out split. A sample is (user, target position, history
// length) into the dataset's CSR arrays: histories are never copied (train/pack.ts encodes batches from them).
import { intervalBucket } from '../batch.js';
import type { Dataset } from './dataset.js';

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
export function buildSamples(ds: Dataset, maxLen: number): SplitSamples {
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new Error(`maxLen must be a positive integer, got ${maxLen}`);
  let nTrain = 0,
    nValid = 0,
    nTest = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const n = ds.offsets[u + 1] - ds.offsets[u];
    if (n >= 2) nTest += 1;
    if (n >= 3) nValid += 1;
    if (n >= 4) nTrain += n - 3;
  }
  const train = emptySet(nTrain),
    valid = emptySet(nValid),
    test = emptySet(nTest);
  const put = (set: SampleSet, at: number, u: number, start: number, pos: number): void => {
    set.user[at] = u;
    set.pos[at] = pos;
    set.length[at] = Math.min(pos - start, maxLen);
  };
  let a = 0,
    b = 0,
    c = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const start = ds.offsets[u],
      end = ds.offsets[u + 1];
    for (let pos = start + 1; pos < end; pos++) {
      if (pos === end - 1) put(test, c++, u, start, pos);
      else if (pos === end - 2) put(valid, b++, u, start, pos);
      else put(train, a++, u, start, pos);
    }
  }
  return { maxLen, train, valid, test };
}

/**
 * Largest interval bucket over the histories of `samples` (pass the TRAINING set: the interval
 * table gets maxIntervalBucket + 1 rows and later buckets are clamped to the last row).
 */
export function maxIntervalBucket(ds: Dataset, samples: SampleSet, mu: number): number {
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
