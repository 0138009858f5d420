import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInter } from '../train/data/atomic.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { alignFeatures, readFeatureTable } from '../train/data/features.js';
import { generateSynthetic } from '../train/data/synth.js';

const root = mkdtempSync(join(tmpdir(), 'hm4sr-synth-'));
const small = { users: 150, items: 80, categories: 5, seed: 11 };
const bytes = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f)).toString('base64')]),
  );

test('same seed gives identical files; another seed differs; no temp dirs left', () => {
  const a = generateSynthetic({ ...small, dir: join(root, 'a') });
  generateSynthetic({ ...small, dir: join(root, 'b') });
  generateSynthetic({ ...small, dir: join(root, 'c'), seed: 12 });
  assert.equal(readdirSync(a.dir).sort(), [
    'synth.image.f32',
    'synth.inter',
    'synth.item',
    'synth.synth.json',
    'synth.text.f32',
  ]);
  assert.equal(bytes(join(root, 'a')), bytes(join(root, 'b')));
  assert.not.equal(bytes(join(root, 'a'))['synth.inter'], bytes(join(root, 'c'))['synth.inter']);
  // Regenerating into an existing directory replaces the files in place.
  generateSynthetic({ ...small, dir: join(root, 'c') });
  assert.equal(bytes(join(root, 'a')), bytes(join(root, 'c')));
  assert.equal(readdirSync(root).sort(), ['a', 'b', 'c']);
});

test('images: false leaves out the image table and changes no other data file', () => {
  const a = generateSynthetic({ ...small, dir: join(root, 'with') });
  const b = generateSynthetic({ ...small, dir: join(root, 'without'), images: false });
  assert.is(b.files.image, undefined);
  assert.ok(a.files.image);
  const { 'synth.image.f32': image, 'synth.synth.json': withMeta, ...withData } = bytes(a.dir);
  const { 'synth.synth.json': withoutMeta, ...withoutData } = bytes(b.dir);
  assert.ok(image);
  assert.equal(withoutData, withData);
  const options = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { options: object }).options;
  assert.is((options(b.files.meta) as { images?: boolean }).images, false);
  assert.is((options(a.files.meta) as { images?: boolean }).images, undefined);
  assert.ok(withMeta && withoutMeta);
  rmSync(a.dir, { recursive: true });
  rmSync(b.dir, { recursive: true });
});

test('files parse; per-user timestamps increase; features align to the dataset', () => {
  const r = generateSynthetic({ ...small, dir: join(root, 'p'), name: 'toy', textDim: 16 });
  const inter = readInter(r.files.inter);
  assert.is(inter.users.length, r.interactions);
  for (let i = 1; i < inter.users.length; i++) {
    if (inter.users[i] === inter.users[i - 1]) assert.ok(inter.timestamps[i] > inter.timestamps[i - 1], `row ${i}`);
    assert.ok(Number.isInteger(inter.timestamps[i]) && inter.timestamps[i] > 1.4e9);
  }
  const ds = loadAtomicDataset(r.dir, 'toy');
  assert.ok(ds.numUsers > 100 && ds.numItems > 50, `${ds.numUsers} users, ${ds.numItems} items`);
  assert.is(ds.categories!.itemsWithoutInfo, 0);
  assert.ok(
    ds.categories!.labels.slice(1).every((l) => l.length === 2),
    'category + sub-category per item',
  );
  const table = readFeatureTable(r.files.text);
  assert.is(table.dim, 16);
  const f = alignFeatures(table, ds.itemTokens, { known: ds.knownItemTokens });
  assert.is(f.missing, 0);
  assert.is(f.data.length, (ds.numItems + 1) * 16);
  assert.ok(f.data.subarray(0, 16).every((x) => x === 0));
  assert.ok(existsSync(r.files.meta));
});

test('default size: ~20 interactions per user, category and temporal signal present', () => {
  const t0 = Date.now();
  const r = generateSynthetic({ dir: join(root, 'full'), seed: 3 });
  const ds = loadAtomicDataset(r.dir, 'synth');
  const secs = (Date.now() - t0) / 1000;
  assert.ok(secs < 3, `took ${secs}s`);
  assert.is(r.users, 2000);
  assert.ok(ds.numUsers === 2000 && ds.numItems > 950, `${ds.numUsers} users / ${ds.numItems} items`);
  const avg = ds.numInteractions / ds.numUsers;
  assert.ok(avg > 18 && avg < 22, `avg length ${avg}`);

  // Nearest category centroid recovers the category from text features for most items; image features
  // carry the same signal more weakly (well above the 1/C of chance, below text).
  const accuracy = (path: string): number => {
    const table = readFeatureTable(path);
    const dim = table.dim;
    const topCat = (tok: string): number => ds.categories!.labels[ds.itemTokens.indexOf(tok)]?.[0] ?? -1;
    const catOf = table.tokens.map((tok) => (ds.itemTokens.includes(tok) ? ds.categories!.names[topCat(tok)] : ''));
    const names = [...new Set(catOf.filter((c) => /^c\d+$/.test(c)))];
    const centroid = new Map(names.map((c) => [c, new Float64Array(dim)]));
    const count = new Map(names.map((c) => [c, 0]));
    table.tokens.forEach((_, i) => {
      const c = catOf[i];
      if (!centroid.has(c)) return;
      count.set(c, count.get(c)! + 1);
      for (let d = 0; d < dim; d++) centroid.get(c)![d] += table.data[i * dim + d];
    });
    for (const c of names) centroid.get(c)!.forEach((_, d, a) => (a[d] /= count.get(c)!));
    let right = 0,
      total = 0;
    table.tokens.forEach((_, i) => {
      if (!centroid.has(catOf[i])) return;
      let best = '',
        bestD = Infinity;
      for (const [c, m] of centroid) {
        let dist = 0;
        for (let d = 0; d < dim; d++) dist += (table.data[i * dim + d] - m[d]) ** 2;
        if (dist < bestD) [best, bestD] = [c, dist];
      }
      right += +(best === catOf[i]);
      total += 1;
    });
    return right / total;
  };
  const textAcc = accuracy(r.files.text),
    imageAcc = accuracy(r.files.image!);
  assert.ok(textAcc > 0.9, `text->category accuracy ${textAcc}`);
  assert.ok(imageAcc > 0.3 && imageAcc < textAcc, `image->category accuracy ${imageAcc} (text ${textAcc})`);

  // Intervals: the next visit's category is predicted much better from (current category,
  // whether the gap before the current visit exceeded the previous category's period) than from
  // the current category alone.
  const meta = JSON.parse(readFileSync(r.files.meta, 'utf8')) as { categoryPeriodSeconds: number[] };
  const catNum = (item: number): number => Number(ds.categories!.names[ds.categories!.labels[item][0]].slice(1));
  const withGap = new Map<string, Map<number, number>>(),
    alone = new Map<string, Map<number, number>>();
  const bump = (m: Map<string, Map<number, number>>, key: string, next: number): void => {
    const row = m.get(key) ?? new Map<number, number>();
    row.set(next, (row.get(next) ?? 0) + 1);
    m.set(key, row);
  };
  for (let u = 0; u < ds.numUsers; u++) {
    const starts: number[] = [];
    for (let p = ds.offsets[u]; p < ds.offsets[u + 1]; p++) {
      if (p === ds.offsets[u] || ds.timestamps[p] - ds.timestamps[p - 1] > 3600) starts.push(p);
    }
    for (let v = 1; v + 1 < starts.length; v++) {
      const prev = catNum(ds.items[starts[v - 1]]),
        cur = catNum(ds.items[starts[v]]),
        next = catNum(ds.items[starts[v + 1]]);
      const lapsed = ds.timestamps[starts[v]] - ds.timestamps[starts[v] - 1] > meta.categoryPeriodSeconds[prev];
      bump(withGap, `${cur}/${lapsed}`, next);
      bump(alone, `${cur}`, next);
    }
  }
  const majority = (m: Map<string, Map<number, number>>): number => {
    let hit = 0,
      all = 0;
    for (const row of m.values()) {
      hit += Math.max(...row.values());
      for (const c of row.values()) all += c;
    }
    return hit / all;
  };
  const [accGap, accAlone] = [majority(withGap), majority(alone)];
  assert.ok(
    accGap > 0.5 && accGap > accAlone + 0.15,
    `next-visit category accuracy with gap ${accGap}, without ${accAlone}`,
  );
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
