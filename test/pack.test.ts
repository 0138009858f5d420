import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packHistories } from '../train/batch.js';
import { stackBatches, stepGroups } from '../train/pack.js';
import { batchSpec, inputDecl } from '../graph/models/hm4sr-batch.js';
import { Rng } from '../train/data/shuffle.js';
import { HM4SR_DEFAULTS, type Hm4srConfig } from '../graph/models/hm4sr-config.js';

const c: Hm4srConfig = {
  ...HM4SR_DEFAULTS,
  numItems: 9,
  numCategories: 0,
  maxLen: 4,
  intervalBuckets: 3000,
  calendarSize: 1,
};
const DAY = 86400;
const opts = {
  layout: 'packed' as const,
  mu: 100,
  maxBucket: 2999,
  absTime: 'days' as const,
  timeOrigin: 0,
  pclBeta: 0.3,
  withTarget: true,
};
const hs = [
  { items: [1, 2, 3, 4], times: [0, DAY, DAY, 3 * DAY], target: 5 },
  { items: [6], times: [DAY], target: 7 },
  { items: [8, 9], times: [0, 0.5 * DAY], target: 1 },
  { items: [2, 3], times: [2 * DAY, DAY], target: 4 },
];

test('packing puts histories back to back, restarts positions and points last at each history end', () => {
  const b = packHistories(hs, c, opts);
  assert.is(b.width, 4);
  assert.is(b.rows, 3, '9 tokens in rows of 4: the two 2-item histories share a row');
  assert.is(b.tokens, 9);
  const items = Array.from(b.feeds.items.data as BigInt64Array, Number);
  const pos = Array.from(b.feeds.positions.data as BigInt64Array, Number);
  const seg = Array.from(b.feeds.segments.data as BigInt64Array, Number);
  const last = Array.from(b.feeds.last.data as BigInt64Array, Number);
  hs.forEach((h, i) => {
    const end = last[i],
      start = end - h.items.length + 1;
    assert.equal(items.slice(start, end + 1), h.items, `history ${i}`);
    assert.equal(
      pos.slice(start, end + 1),
      h.items.map((_, j) => j),
    );
    assert.ok(new Set(seg.slice(start, end + 1)).size === 1 && seg[start] > 0);
    if (start % 4 > 0) assert.is.not(seg[start - 1], seg[start], 'a new segment starts here');
  });
  assert.is(seg.filter((x) => x === 0).length, b.rows * b.width - b.tokens, 'padding cells have segment 0');
  // Interval buckets: first position 0, 1 day -> floor(100 log2(86401)), same-time and negative gaps -> 0.
  const bk = Array.from(b.feeds.buckets.data as BigInt64Array, Number);
  const s0 = last[0] - 3;
  assert.equal(bk.slice(s0, s0 + 4), [
    0,
    Math.floor(100 * Math.log2(DAY + 1)),
    0,
    Math.floor(100 * Math.log2(2 * DAY + 1)),
  ]);
  const s3 = last[3] - 1;
  assert.equal(bk.slice(s3, s3 + 2), [0, 0]);
  const t = Array.from(b.feeds.times.data as Float32Array);
  assert.equal(t.slice(s0, s0 + 4), [0, 1, 1, 3]);
  assert.equal(Array.from(b.feeds.target.data as BigInt64Array, Number), [5, 7, 1, 4]);
});

test('padded layout gives one row per history; bad histories are refused', () => {
  const b = packHistories(hs, c, { ...opts, layout: 'padded' });
  assert.is(b.rows, 4);
  assert.equal(Array.from(b.feeds.last.data as BigInt64Array, Number), [3, 4, 9, 13]);
  assert.throws(
    () => packHistories([{ items: [1, 2, 3, 4, 5], times: [0, 1, 2, 3, 4], target: 1 }], c, opts),
    /at most 4/,
  );
  assert.throws(() => packHistories([{ items: [10], times: [0], target: 1 }], c, opts), /item id 10 is outside 1\.\.9/);
  assert.throws(() => packHistories([], c, opts), /empty batch/);
});

test('PCL masks floor(beta * len) distinct positions of histories with at least 4 items', () => {
  const rng = {
    s: 1,
    nextInt(n: number) {
      this.s = (this.s * 48271) % 2147483647;
      return this.s % n;
    },
  };
  const b = packHistories(hs, { ...c, lambdaPCL: 1, modalities: ['id', 'txt'] }, { ...opts, rng });
  const m = Array.from(b.feeds.pcl_mask.data as Float32Array);
  const last = Array.from(b.feeds.last.data as BigInt64Array, Number);
  const s0 = last[0] - 3;
  assert.is(
    m.slice(s0, s0 + 4).reduce((a, x) => a + x, 0),
    1,
  );
  assert.is(
    m.reduce((a, x) => a + x, 0),
    1,
    'shorter histories keep every item',
  );
});

test('the last layer reads each history end once: one query row per packed row, extra ones for crowded rows', () => {
  const long = { items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3], times: Array(12).fill(0), target: 4 };
  const singles = Array.from({ length: 12 }, (_, i) => ({ items: [1 + (i % 9)], times: [0], target: 2 }));
  const c12 = { ...c, maxLen: 12 };
  for (const P of [8, 5, 1, 12]) {
    const b = packHistories([long, ...singles], c12, { ...opts, queriesPerRow: P });
    const more = Array.from(b.feeds.pick_more.data as BigInt64Array, Number),
      col = Array.from(b.feeds.pick_col.data as BigInt64Array, Number);
    const slot = Array.from(b.feeds.pick_slot.data as BigInt64Array, Number),
      last = Array.from(b.feeds.last.data as BigInt64Array, Number);
    assert.is(b.rows, 2, 'the 12 singles share one row');
    const rows = [0, 1, ...more];
    assert.equal(b.feeds.pick_col.dims, [rows.length, P]);
    assert.is(more.length, Math.ceil(12 / P) - 1, `P ${P}: the singles' row needs ceil(12 / P) query rows`);
    last.forEach((at, i) => {
      const q = Math.floor(slot[i] / P);
      assert.is(rows[q] * b.width + col[slot[i]], at, `P ${P}, sample ${i}`);
    });
    assert.is(new Set(slot).size, slot.length, 'every sample has its own slot');
    // A slot past a row's last history repeats the query row's first column.
    for (let q = 0; q < rows.length; q++)
      for (let j = 0; j < P; j++) if (!slot.includes(q * P + j)) assert.is(col[q * P + j], col[q * P]);
  }
  assert.not.ok(
    'pick_col' in packHistories(hs, c, { ...opts, withTarget: false }).feeds,
    'inference batches have none',
  );
  assert.throws(
    () => packHistories(hs, c, { ...opts, queriesPerRow: 0 }),
    /queriesPerRow must be a positive integer, got 0/,
  );
});

test('stacking keeps the query-row layout: padding after the per-row part and after the extra part', () => {
  const long = { items: [1, 2, 3, 4, 5, 6], times: Array(6).fill(0), target: 4 };
  const single = (i: number) => ({ items: [1 + i], times: [0], target: 2 });
  const c6 = { ...c, maxLen: 6 };
  // a: 2 packed rows, the singles' row crowded (6 reads, P 2: 2 extra query rows); b: 4 rows, one extra.
  const a = packHistories([long, ...[0, 1, 2, 3, 4, 5].map(single)], c6, { ...opts, queriesPerRow: 2 });
  const b = packHistories([long, long, long, single(0), single(1), single(2), single(3)], c6, {
    ...opts,
    queriesPerRow: 2,
  });
  const s = stackBatches([a, b]);
  assert.equal([a.rows, b.rows, s.rows], [2, 4, 4]);
  const E = a.feeds.pick_more.dims[0],
    R = s.rows;
  assert.equal([E, b.feeds.pick_more.dims[0]], [2, 1]);
  assert.equal(s.feeds.pick_col.dims, [2, R + E, 2]);
  const rowsOf = (k: number) => [
    ...Array(R).keys(),
    ...Array.from(s.feeds.pick_more.data as BigInt64Array, Number).slice(k * E, (k + 1) * E),
  ];
  const col = Array.from(s.feeds.pick_col.data as BigInt64Array, Number),
    slot = Array.from(s.feeds.pick_slot.data as BigInt64Array, Number);
  const last = Array.from(s.feeds.last.data as BigInt64Array, Number),
    n = (R + E) * 2;
  for (let k = 0; k < 2; k++)
    for (let i = 0; i < 7; i++) {
      const sl = slot[k * 7 + i];
      assert.is(rowsOf(k)[Math.floor(sl / 2)] * s.width + col[k * n + sl], last[k * 7 + i], `batch ${k}, sample ${i}`);
    }
});

test('training batches list each distinct item with its token count; stacking pads those lists with unheld items, count 0', () => {
  const cp: Hm4srConfig = { ...c, numCategories: 3 };
  const a = packHistories(hs, cp, { ...opts, rng: new Rng(1) });
  assert.equal(Array.from(a.feeds.cp_items.data as BigInt64Array, Number), [1, 2, 3, 4, 6, 8, 9]);
  assert.equal(
    Array.from(a.feeds.cp_counts.data as Float32Array),
    [1, 2, 2, 1, 1, 1, 1],
    'items 2 and 3 occur in two histories',
  );
  assert.not.ok('cp_items' in packHistories(hs, cp, opts).feeds, 'evaluation batches (no PCL generator) have none');
  assert.not.ok(
    'cp_items' in packHistories(hs, c, { ...opts, rng: new Rng(1) }).feeds,
    'nor models without categories',
  );
  const b = packHistories(hs.slice(2).concat(hs.slice(2)), cp, { ...opts, rng: new Rng(1) });
  const s = stackBatches([a, b]);
  assert.equal(s.feeds.cp_items.dims, [2, 7]);
  // The pads are the smallest ids that step does not hold, so each step's list stays distinct.
  assert.equal(Array.from(s.feeds.cp_items.data as BigInt64Array, Number).slice(7), [2, 3, 8, 9, 0, 1, 4]);
  assert.equal(Array.from(s.feeds.cp_counts.data as Float32Array).slice(7), [2, 2, 2, 2, 0, 0, 0]);
  assert.equal(s.feeds.last.dims, [2, 4]);
});

test('each batch holds exactly the inputs its graph declares, with their dtypes and ranks', () => {
  const configs: Hm4srConfig[] = [
    c,
    { ...c, numCategories: 3, lambdaPCL: 1, modalities: ['id', 'txt'] },
    { ...c, timeEmbedding: 'day-of-year', calendarSize: 366 },
    { ...c, timeEmbedding: 'interval-cos' },
    { ...c, tmoe: false, numCategories: 3 },
  ];
  for (const cc of configs) {
    const train = { ...opts, rng: new Rng(3) },
      infer = { ...opts, withTarget: false };
    const kinds = [
      ['train', train],
      ['eval', opts],
      ['infer', infer],
    ] as const;
    for (const [kind, o] of kinds) {
      const b = packHistories(hs, cc, o);
      const spec = batchSpec(cc, kind);
      assert.equal(
        Object.keys(b.feeds),
        spec.map((s) => s.name),
        `${kind}, ${cc.timeEmbedding}, tmoe ${cc.tmoe}`,
      );
      for (const s of spec) {
        const t = b.feeds[s.name];
        assert.is(t.data instanceof Float32Array ? 'float32' : 'int64', s.dtype, s.name);
        assert.is(t.dims.length, s.shape.length, s.name);
      }
    }
  }
  const trained = batchSpec(configs[1], 'train').map((s) => s.name);
  assert.ok(
    trained.includes('pcl_mask') && trained.includes('cp_items'),
    'the PCL and CP inputs were among those checked',
  );
  const untargeted = { ...opts, withTarget: false, rng: new Rng(1) };
  assert.throws(() => packHistories(hs, c, untargeted), /training batch .* needs targets/);
  assert.throws(() => inputDecl('item'), /"item" is not an HM4SR batch input/);
});

test('step groups: K same-size batches run as one Loop, the rest alone', () => {
  const b = (n: number) => new Int32Array(n);
  const sizes = (gs: ReturnType<typeof stepGroups>) =>
    gs.map((g) => `${g.looped ? 'L' : 'S'}${g.batches.map((x) => x.length).join(',')}`);
  assert.equal(sizes(stepGroups([b(4), b(4), b(4), b(4), b(4), b(2)], 2)), ['L4,4', 'L4,4', 'S4', 'S2']);
  assert.equal(sizes(stepGroups([b(4), b(3), b(3), b(4)], 2)), ['S4', 'L3,3', 'S4']);
  assert.equal(sizes(stepGroups([b(4), b(4)], 1)), ['S4', 'S4']);
  assert.equal(stepGroups([], 4), []);
});

test.run();
