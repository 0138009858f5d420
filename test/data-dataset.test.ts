import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInter, type ItemInfo } from '../train/data/atomic.js';
import { buildDataset, kCoreFilter, loadDataset, multiHot, userSequence, type Dataset } from '../train/data/dataset.js';
import { datasetStats } from '../train/data/stats.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-dataset-'));
let n = 0;
function inter(rows: [string, string, number][]): string {
  const p = join(dir, `d${n++}.inter`);
  writeFileSync(p, 'user_id:token\titem_id:token\ttimestamp:float\n' + rows.map((r) => r.join('\t')).join('\n') + '\n');
  return p;
}
const seq = (ds: Dataset, u: number) => Array.from(userSequence(ds, u).items);
const tokensOf = (ds: Dataset, u: number) => seq(ds, u).map((i) => ds.itemTokens[i]);

test('k-core repeats until stable: each round exposes new violations (k = 2)', () => {
  // Round 1 drops u3 (1 row) and item d; that leaves u4 and item c with one row (round 2),
  // which leaves u2 and b with one (round 3), then u1/a (round 4); u5/u6 x/y is a 2-core.
  const rows: [string, string, number][] = [
    ['u1', 'a', 1],
    ['u1', 'b', 2],
    ['u2', 'a', 1],
    ['u2', 'c', 2],
    ['u3', 'c', 1],
    ['u4', 'b', 5],
    ['u4', 'd', 6],
    ['u6', 'y', 3],
    ['u5', 'x', 1],
    ['u5', 'y', 2],
    ['u6', 'x', 4],
  ];
  const r = readInter(inter(rows));
  const all = Int32Array.from(rows.keys());
  const once = kCoreFilter(r, all, 2);
  assert.equal(Array.from(once.rows), [7, 8, 9, 10]);
  assert.is(once.rounds, 5);
  const ds = buildDataset(r, null, { kCore: 2 });
  assert.is(ds.numUsers, 2);
  assert.is(ds.numItems, 2);
  assert.is(ds.numInteractions, 4);
  assert.is(ds.report.kCoreRowsDropped, 7);
  // File order of first appearance (u6 before u5, y before x), not time order.
  assert.equal(ds.userTokens, ['u6', 'u5']);
  assert.equal(ds.itemTokens, ['', 'y', 'x']);
  assert.equal(seq(ds, 0), [1, 2]);
  assert.equal(seq(ds, 1), [2, 1]);
  assert.equal(Array.from(ds.offsets), [0, 2, 4]);
  // A one-pass filter would have kept u1/u2 rows; k = 0 keeps everything.
  assert.is(buildDataset(r, null, { kCore: 0 }).numInteractions, 11);
});

test('k = 5 default drops a user with 4 interactions', () => {
  const rows: [string, string, number][] = [];
  for (let u = 0; u < 5; u++) for (let i = 0; i < 5; i++) rows.push([`u${u}`, `i${i}`, u * 10 + i]);
  rows.push(['short', 'i0', 1], ['short', 'i1', 2], ['short', 'i2', 3], ['short', 'i3', 4]);
  const ds = buildDataset(readInter(inter(rows)), null);
  assert.is(ds.numUsers, 5);
  assert.is(ds.numInteractions, 25);
  assert.is(ds.report.kCoreRounds, 2);
});

test('stable chronological sort: ties keep file order; float64 keeps 1-second order', () => {
  const ds = buildDataset(
    readInter(
      inter([
        ['u', 'p', 10],
        ['u', 'q', 5],
        ['u', 'r', 10],
        ['u', 's', 5],
        ['v', 'late', 1600000001],
        ['v', 'early', 1600000000],
        ['v', 'p', 1600000000],
      ]),
    ),
    null,
    { kCore: 0 },
  );
  assert.equal(ds.itemTokens, ['', 'p', 'q', 'r', 's', 'late', 'early']);
  assert.equal(tokensOf(ds, 0), ['q', 's', 'p', 'r']);
  assert.equal(Array.from(userSequence(ds, 0).timestamps), [5, 5, 10, 10]);
  // 1600000000 and 1600000001 are the same float32; in float64 they sort apart.
  assert.equal(tokensOf(ds, 1), ['early', 'p', 'late']);
  assert.equal(Array.from(userSequence(ds, 1).timestamps), [1600000000, 1600000000, 1600000001]);
  assert.is(ds.firstTimestamp, 5);
  assert.is(ds.lastTimestamp, 1600000001);
});

test('duplicates: exact (user, item, time) rows removed by default, kept on request', () => {
  const r = readInter(
    inter([
      ['u', 'a', 1],
      ['u', 'a', 1],
      ['u', 'a', 2],
      ['w', 'a', 1],
    ]),
  );
  const d = buildDataset(r, null, { kCore: 0 });
  assert.is(d.numInteractions, 3);
  assert.is(d.report.duplicatesRemoved, 1);
  assert.is(buildDataset(r, null, { kCore: 0, dedupe: false }).numInteractions, 4);
});

test('category vocabulary and multi-hot labels follow item ids', () => {
  const info = new Map<string, ItemInfo>([
    ['b', { title: '', categories: ['x', 'y'], brand: '' }],
    ['a', { title: '', categories: ['y', 'z', 'y'], brand: '' }],
    ['gone', { title: '', categories: ['never'], brand: '' }],
  ]);
  const ds = buildDataset(
    readInter(
      inter([
        ['u', 'a', 1],
        ['u', 'b', 2],
        ['u', 'c', 3],
      ]),
    ),
    info,
    { kCore: 0 },
  );
  const cats = ds.categories!;
  assert.equal(cats.names, ['y', 'z', 'x']);
  assert.equal(
    cats.labels.map((l) => Array.from(l)),
    [[], [0, 1], [0, 2], []],
  );
  assert.is(cats.itemsWithoutInfo, 1);
  assert.equal(Array.from(multiHot(cats)), [0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0]);
  assert.ok(ds.knownItemTokens.has('gone') && ds.knownItemTokens.has('c'));
  const st = datasetStats(ds);
  assert.is(st.categories, 3);
  assert.is(st.sparsity, 0);
});

test('loadDataset reads both files; everything filtered is an error', () => {
  const ip = inter([
    ['u', 'a', 1],
    ['u', 'b', 2],
  ]);
  const itemPath = join(dir, 'x.item');
  writeFileSync(itemPath, 'item_id:token\tcategories:token_seq\na\tc1 c2\nb\tc2\n');
  const ds = loadDataset({ interPath: ip, itemPath, kCore: 0 });
  assert.equal(ds.categories!.names, ['c1', 'c2']);
  assert.throws(() => loadDataset({ interPath: ip }), /no interactions left after 5-core/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
