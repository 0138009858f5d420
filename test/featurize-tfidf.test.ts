import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { featurizeTextTfidf } from '../featurize/featurize.js';
import { cleanField, itemText, MAX_FIELD_CHARS, readItemTexts } from '../featurize/item-text.js';
import { TFIDF_DEFAULTS, tfidfFeatures, tfidfTransform } from '../featurize/tfidf.js';
import { featurizerSpec, isTfidf } from '../featurize/featurizer-spec.js';
import { fileSha256, readFeaturizerRecord } from '../train/data/featurizer-record.js';
import { readFeatureTable } from '../train/data/features.js';
import { tempDir } from './util/tmp.js';

const TITLES = [
  'OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce',
  'OPI Nail Lacquer, Take the Stage, 0.5-Fluid Ounce',
  'Red Cherry False Eyelashes #WSP (Pack of 3)',
  'Red Cherry False Eyelashes #43 (Pack of 3)',
  'Neutrogena Ultra Sheer Dry-Touch Sunscreen SPF 55',
  'Neutrogena Ultra Sheer Sunblock SPF 70',
  'Maybelline Great Lash Mascara, Blackest Black',
  'Maybelline Lash Sensational Mascara, Very Black',
  '',
];

const cos = (d: Float32Array, dim: number, i: number, j: number) => {
  let s = 0,
    a = 0,
    b = 0;
  for (let k = 0; k < dim; k++) {
    s += d[i * dim + k] * d[j * dim + k];
    a += d[i * dim + k] ** 2;
    b += d[j * dim + k] ** 2;
  }
  return s / Math.sqrt(a * b);
};

test('tfidf: same seed gives identical bytes; another seed a different projection', () => {
  const a = tfidfFeatures(TITLES, { dim: 64 });
  const b = tfidfFeatures(TITLES, { dim: 64 });
  assert.equal(Buffer.from(a.data.buffer), Buffer.from(b.data.buffer));
  const c = tfidfFeatures(TITLES, { dim: 64, seed: 7 });
  assert.not.equal(Buffer.from(a.data.buffer), Buffer.from(c.data.buffer));
});

test('tfidf: titles of the same product line are closer than unrelated ones', () => {
  const { data, dim } = tfidfFeatures(TITLES, { dim: 256 });
  for (let p = 0; p < 8; p += 2) {
    const same = cos(data, dim, p, p + 1);
    for (let q = 0; q < 8; q++) {
      if (q === p || q === p + 1) continue;
      assert.ok(
        same > cos(data, dim, p, q) + 0.1,
        `"${TITLES[p]}" vs its pair ${same.toFixed(3)}, vs "${TITLES[q]}" ${cos(data, dim, p, q).toFixed(3)}`,
      );
    }
  }
});

test('tfidf: empty text is a zero row; other rows have norm sqrt(dim); width as asked', () => {
  const { data, dim } = tfidfFeatures(TITLES, { dim: 96 });
  assert.is(dim, 96);
  assert.is(data.length, TITLES.length * 96);
  const norm = (i: number) => Math.hypot(...data.subarray(i * dim, (i + 1) * dim));
  assert.is(norm(8), 0);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(norm(i) - Math.sqrt(96)) < 1e-3, `row ${i} norm ${norm(i)}`);
});

test('tfidf: a text whose every n-gram is unique to it gets a zero row and is reported', () => {
  const r = tfidfFeatures(['alpha beta', 'alpha beta gamma', 'zzqx'], { dim: 32 });
  assert.equal(r.noFeatures, [2]);
  assert.is(Math.hypot(...r.data.subarray(64, 96)), 0);
});

test('item text: the reference cleaning (entities, quotes, newlines, tabs, one trailing period, long fields dropped)', () => {
  assert.is(cleanField('Tom &amp; Jerry&#39;s "Best"\tSoap...'), "Tom & Jerry's Best Soap.");
  assert.is(cleanField('line\r\nbreak'), 'linebreak.');
  assert.is(cleanField('  . '), '');
  assert.is(cleanField('bad \u0000ctl \ud800x'), 'bad ctl x.');
  assert.equal(itemText(['Lipstick', 'Makeup Lips', '']), { text: 'Lipstick. Makeup Lips.', overlong: 0 });
  assert.equal(itemText(['x'.repeat(MAX_FIELD_CHARS + 1), 'Brand']), { text: 'Brand.', overlong: 1 });
});

test('featurizeTextTfidf: writes a table keyed by item token; empty titles, missing rows and unknown items are reported', () => {
  const dir = tempDir('hm4sr-tfidf-');
  const inter = ['user_id:token\titem_id:token\ttimestamp:float'];
  const items = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 'noitem'];
  items.forEach((it, k) => inter.push(`u${k % 3}\t${it}\t${1000 + k}`));
  writeFileSync(join(dir, 'D.inter'), `${inter.join('\n')}\n`);
  const rows = ['item_id:token\ttitle:token_seq\tbrand:token'];
  TITLES.forEach((t, k) => rows.push(`i${k}\t${t}\t${k < 2 ? 'OPI' : ''}`));
  rows.push('ghost\tSomething Not In The Interactions\tX');
  writeFileSync(join(dir, 'D.item'), `${rows.join('\n')}\n`);
  const r = featurizeTextTfidf({ dir, name: 'D', out: join(dir, 'out'), log: () => {} });
  const t = readFeatureTable(join(dir, 'out', 'D.text.f32'));
  assert.equal(t.tokens, items);
  assert.is(t.dim, 768);
  assert.equal(r.fields, ['title', 'brand']);
  assert.equal(r.zeroRows.emptyText, ['i8', 'noitem']);
  assert.equal(r.unknownItems, { count: 1, tokens: ['ghost'] });
  const report = JSON.parse(readFileSync(join(dir, 'out', 'D.text.report.json'), 'utf8'));
  assert.is(report.zeroRows.count, 2);
  assert.throws(() => featurizeTextTfidf({ dir, name: 'Nope', out: dir, log: () => {} }), /Nope\.inter: no such file/);
  // The same dataset gzip-compressed (as the built-in sets ship) gives the same bytes.
  const gz = join(dir, 'gz');
  mkdirSync(gz);
  for (const f of ['D.inter', 'D.item']) writeFileSync(join(gz, `${f}.gz`), gzipSync(readFileSync(join(dir, f))));
  featurizeTextTfidf({ dir: gz, name: 'D', out: join(gz, 'out'), log: () => {} });
  assert.equal(readFileSync(join(gz, 'out', 'D.text.f32')), readFileSync(join(dir, 'out', 'D.text.f32')));
  // Beside the table, the record of its featurizer: the fitted vocabulary featurizes the items again bit for bit.
  const table = join(dir, 'out', 'D.text.f32');
  const rec = readFeaturizerRecord(join(dir, 'out', 'D.text.featurizer.json'), table);
  assert.ok(rec.record, 'record written and matching the table');
  const spec = featurizerSpec(rec.record, 'D');
  assert.ok(isTfidf(spec));
  if (!isTfidf(spec)) return;
  assert.equal(spec.fields, ['title', 'brand']);
  assert.is(spec.table, fileSha256(table));
  const texts = readItemTexts(join(dir, 'D.inter'), join(dir, 'D.item')).texts;
  const again = tfidfTransform(texts, spec.vocabulary, spec.options);
  assert.ok(again.data.length === t.data.length && again.data.every((v, i) => Object.is(v, t.data[i])), 'same rows');
  // A table rewritten since: the record no longer describes it.
  writeFileSync(table, readFileSync(join(gz, 'out', 'D.text.f32')).subarray(0, 40));
  assert.match(
    (readFeaturizerRecord(join(dir, 'out', 'D.text.featurizer.json'), table) as { why?: string }).why ?? '',
    /describes another table/,
  );
});

test('tfidf: transform with the fitted vocabulary reproduces the fit; unseen terms add nothing', () => {
  const fit = tfidfFeatures(TITLES, { dim: 64 });
  const o = { ...TFIDF_DEFAULTS, dim: 64 };
  const again = tfidfTransform(TITLES, fit.fitted, o);
  assert.equal(Array.from(again.data), Array.from(fit.data));
  const unseen = tfidfTransform([`${TITLES[0]} zzqxv`], fit.fitted, o);
  assert.equal(Array.from(unseen.data), Array.from(fit.data.subarray(0, 64)));
});

test.run();
