import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { builtInDataset } from '../train/data/builtin.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { HM4SR_DEFAULTS } from '../graph/models/hm4sr-config.js';
import { buildSamples, maxIntervalBucket } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';
import { fingerprintOf } from '../train/prepare.js';
import { datasetStats } from '../train/data/stats.js';

// The built-in copy in the repository's data/ folder, read straight from its .gz files.
const { dir: DIR, name } = builtInDataset('amazon-beauty')!.locate(() => {});

test('the built-in Amazon Beauty loads from its .gz files with the paper statistics', () => {
  assert.ok(existsSync(`${DIR}/Beauty.inter.gz`), `${DIR}/Beauty.inter.gz is missing`);
  assert.is(name, 'Beauty');
  const ds = loadAtomicDataset(DIR, name);
  assert.is(ds.numUsers, 22363);
  assert.is(ds.numItems, 12101);
  assert.is(ds.numInteractions, 198502);
  assert.equal(ds.report, { rowsRead: 198502, duplicatesRemoved: 0, kCoreRounds: 1, kCoreRowsDropped: 0 });
  assert.is(ds.categories!.names.length, 637);
  assert.is(ds.categories!.itemsWithoutInfo, 0);
  // The file is grouped by user and chronological, so ids follow the file: first row's item is 1.
  assert.is(ds.userTokens[0], 'A1YJEY40YUW4SE');
  assert.is(ds.itemTokens[1], 'B004ZT0SSG');
  const st = datasetStats(ds);
  assert.ok(Math.abs(st.avgSeqLen - 8.876) < 0.001, `avg ${st.avgSeqLen}`);
  assert.is(new Date(st.firstTimestamp * 1000).toISOString().slice(0, 10), '2002-06-12');
  assert.is(new Date(st.lastTimestamp * 1000).toISOString().slice(0, 10), '2014-07-23');

  const split = buildSamples(ds, 50);
  assert.is(split.test.size, 22363);
  assert.is(split.valid.size, 22363);
  assert.is(split.train.size, 198502 - 3 * 22363);
  const maxBucket = maxIntervalBucket(ds, split.train, 100);
  assert.ok(maxBucket > 2500 && maxBucket < 2900, `max bucket ${maxBucket}`);
  const c = {
    ...HM4SR_DEFAULTS,
    numItems: ds.numItems,
    numCategories: 0,
    intervalBuckets: maxBucket + 1,
    calendarSize: 1,
  };
  const b = packBatch(
    ds,
    split.test,
    Array.from({ length: 1024 }, (_, i) => i),
    c,
    {
      layout: 'padded',
      mu: 100,
      maxBucket,
      absTime: 'days',
      timeOrigin: ds.firstTimestamp,
      pclBeta: 0,
      withTarget: true,
    },
  );
  assert.ok(b.width <= 50);
  // Whole-day timestamps: every absolute time is an integer number of days.
  assert.ok((b.feeds.times.data as Float32Array).every((x) => Number.isInteger(x)));
});

test('Beauty read from .gz has the fingerprint of the plain files (runs resume across them)', () => {
  const plain = mkdtempSync(join(tmpdir(), 'hm4sr-beauty-'));
  try {
    for (const f of ['Beauty.inter', 'Beauty.item'])
      writeFileSync(join(plain, f), gunzipSync(readFileSync(join(DIR, `${f}.gz`))));
    const a = loadAtomicDataset(DIR, 'Beauty');
    const b = loadAtomicDataset(plain, 'Beauty');
    assert.is(fingerprintOf(a, 50), fingerprintOf(b, 50));
    assert.equal(a.categories!.names, b.categories!.names);
    assert.equal(a.userTokens, b.userTokens);
  } finally {
    rmSync(plain, { recursive: true, force: true });
  }
});

test.run();
