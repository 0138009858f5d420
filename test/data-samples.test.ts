import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InterColumns } from '../train/data/atomic.js';
import { buildDataset, type Dataset } from '../train/data/dataset.js';
import { HM4SR_DEFAULTS, type Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { type BatchOptions, type PackedBatch, intervalBucket } from '../train/batch.js';
import { buildSamples, maxIntervalBucket, type SampleSet } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';

const T0 = 1_600_000_000;
const DAY = 86400;

function columns(rows: [string, string, number][]): InterColumns {
  return {
    path: 'mem.inter',
    users: rows.map((r) => r[0]),
    items: rows.map((r) => r[1]),
    timestamps: Float64Array.from(rows, (r) => r[2]),
    lines: Int32Array.from(rows, (_, i) => i + 2),
  };
}

// a1..a5 -> ids 1..5, b1..b3 -> 6..8, c1 c2 -> 9 10, d1 -> 11 (file order).
const ds = buildDataset(
  columns([
    ['A', 'a1', T0],
    ['A', 'a2', T0 + 1],
    ['A', 'a3', T0 + 4],
    ['A', 'a4', T0 + 11],
    ['A', 'a5', T0 + 1011],
    ['B', 'b1', T0 + 5],
    ['B', 'b2', T0 + 5 + 100000],
    ['B', 'b3', T0 + 5 + 100000 + DAY],
    ['C', 'c1', T0 + 2 * DAY],
    ['C', 'c2', T0 + 3 * DAY],
    ['D', 'd1', T0 + 9],
  ]),
  null,
  { kCore: 0 },
);
const split = buildSamples(ds, 3);

function described(set: SampleSet): [number, number[], number][] {
  return Array.from({ length: set.size }, (_, s) => {
    const end = set.pos[s];
    return [set.user[s], Array.from(ds.items.subarray(end - set.length[s], end)), ds.items[end]];
  });
}

test('prefix augmentation with L = 3 truncation and leave-one-out', () => {
  assert.equal(described(split.train), [
    [0, [1], 2],
    [0, [1, 2], 3],
  ]);
  assert.equal(described(split.valid), [
    [0, [1, 2, 3], 4],
    [1, [6], 7],
  ]);
  assert.equal(described(split.test), [
    [0, [2, 3, 4], 5], // a1 falls off the front: the history keeps its LAST 3 items
    [1, [6, 7], 8],
    [2, [9], 10],
  ]);
  // D (1 interaction) has no sample; a longer L keeps A's whole test history.
  assert.equal(described(buildSamples(ds, 50).test)[0], [0, [1, 2, 3, 4], 5]);
  assert.throws(() => buildSamples(ds, 0), /maxLen/);
});

test('interval buckets: floor(mu * log2(a + 1)), negative and zero gaps are 0', () => {
  assert.is(intervalBucket(0, 100), 0);
  assert.is(intervalBucket(1, 100), 100);
  assert.is(intervalBucket(2, 100), 158); // log2(3) = 1.58496
  assert.is(intervalBucket(3, 100), 200);
  assert.is(intervalBucket(7, 100), 300);
  assert.is(intervalBucket(1000, 100), 996); // log2(1001) = 9.96722
  assert.is(intervalBucket(86400, 100), 1639); // log2(86401) = 16.39872
  assert.is(intervalBucket(-5, 100), 0);
  assert.is(intervalBucket(3, 10), 20);
});

// The trainer's encoding: packBatch over the samples, one row per history in the padded layout.
const c: Hm4srConfig = {
  ...HM4SR_DEFAULTS,
  numItems: ds.numItems,
  numCategories: 0,
  maxLen: 3,
  intervalBuckets: 3000,
  calendarSize: 1,
};
const enc: BatchOptions = {
  layout: 'padded',
  mu: 100,
  maxBucket: 2999,
  absTime: 'days',
  timeOrigin: ds.firstTimestamp,
  pclBeta: 0,
  withTarget: true,
};
const ints = (b: PackedBatch, name: string) => Array.from(b.feeds[name].data as BigInt64Array, Number);
const floats = (b: PackedBatch, name: string) => Array.from(b.feeds[name].data as Float32Array);

test('batch: histories of the samples, left-aligned and trimmed to the longest, with their targets', () => {
  const b = packBatch(ds, split.test, [2, 0, 1], c, enc);
  assert.is(b.width, 3);
  assert.equal(ints(b, 'items'), [9, 0, 0, 2, 3, 4, 6, 7, 0]);
  assert.equal(ints(b, 'positions'), [0, 0, 0, 0, 1, 2, 0, 1, 0]);
  assert.equal(ints(b, 'last'), [0, 5, 7]);
  assert.equal(ints(b, 'target'), [10, 5, 8]);
  // a2..a4 gaps 3 and 7 -> 200, 300; B's gap 100000 -> floor(100 * log2(100001)) = 1660.
  assert.equal(ints(b, 'buckets'), [0, 0, 0, 0, 200, 300, 0, 1660, 0]);
  assert.equal(floats(b, 'times'), [2, 0, 0, 1 / DAY, 4 / DAY, 11 / DAY, 5 / DAY, 100005 / DAY, 0].map(Math.fround));
  const short = packBatch(ds, split.train, [0], c, enc);
  assert.is(short.width, 1);
  assert.equal(ints(short, 'items'), [1]);
  assert.throws(() => packBatch(ds, split.test, [3], c, enc), /out of range/);
});

test('time options: bucket clamp, raw seconds, origin', () => {
  const b = packBatch(ds, split.test, [0, 1], c, { ...enc, maxBucket: 250, absTime: 'seconds' });
  assert.equal(ints(b, 'buckets'), [0, 200, 250, 0, 250, 0], 'buckets above the table clamp to its last row');
  // Raw seconds go through float32, as the reference does (1600000001 is not representable).
  assert.equal(floats(b, 'times'), [T0 + 1, T0 + 4, T0 + 11, T0 + 5, T0 + 100005, 0].map(Math.fround));
  const o = packBatch(ds, split.test, [2], c, { ...enc, timeOrigin: T0 + DAY });
  assert.equal(floats(o, 'times'), [1]);
  const mu10 = packBatch(ds, split.test, [0], c, { ...enc, mu: 10 });
  assert.equal(ints(mu10, 'buckets'), [0, 20, 30]);
});

test('a negative difference (out-of-order timestamps) is bucket 0', () => {
  const raw: Dataset = {
    ...ds,
    items: Int32Array.from([1, 2, 3, 4]),
    timestamps: Float64Array.from([T0 + 10, T0 + 5, T0 + 6, T0 + 9]),
    offsets: Int32Array.from([0, 4]),
    numUsers: 1,
  };
  const s = buildSamples(raw, 3);
  assert.equal(ints(packBatch(raw, s.test, [0], c, enc), 'buckets'), [0, 0, 100]);
});

test('maxIntervalBucket uses only the given (training) histories', () => {
  // Training histories are [a1] and [a1, a2]: the only gap is 1 s -> 100. Validation/test
  // histories hold gaps of 3, 7 and 100000 s, which must not count.
  assert.is(maxIntervalBucket(ds, split.train, 100), 100);
  assert.is(maxIntervalBucket(ds, split.test, 100), 1660);
  assert.is(maxIntervalBucket(ds, split.train, 10), 10);
  // The first element of a truncated window has a_1 = 0: with L = 1 there are no gaps.
  assert.is(maxIntervalBucket(ds, buildSamples(ds, 1).test, 100), 0);
});

test.run();
