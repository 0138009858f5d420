import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alignFeatures, readAlignedFeatures, readFeatureTable, writeFeatureTable } from '../train/data/features.js';
import { tempDir } from './util/tmp.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-features-'));

test('write/read round trip is exact; header line and token lines are plain text', () => {
  const p = join(dir, 'a.text.f32');
  const data = Float32Array.from([1.5, -2, 3.25, 1e-30, 0, 7]);
  writeFeatureTable(p, ['x', 'yy', 'zzz'], data, 2);
  const t = readFeatureTable(p);
  assert.is(t.dim, 2);
  assert.equal(t.tokens, ['x', 'yy', 'zzz']);
  assert.equal(Array.from(t.data), Array.from(data));
  const text = readFileSync(p).toString('latin1').split('\n');
  assert.equal(JSON.parse(text[0]), { format: 'hm4sr-features', version: 1, dim: 2, count: 3 });
  assert.equal(text.slice(1, 4), ['x', 'yy', 'zzz']);
  assert.equal(readdirSync(dir), ['a.text.f32'], 'no temp file left behind');
});

test('writer rejects bad input', () => {
  assert.throws(() => writeFeatureTable(join(dir, 'b'), ['a'], new Float32Array(3), 2), /3 values/);
  assert.throws(() => writeFeatureTable(join(dir, 'b'), ['a\tb'], new Float32Array(2), 2), /tab\/newline/);
  assert.throws(
    () => writeFeatureTable(join(dir, 'b'), ['a', 'b'], Float32Array.from([0, 0, 0, NaN]), 2),
    /:3: .*"b".*NaN/,
  );
});

test('reader: NaN/Infinity name file, line and token; truncation and duplicates are errors', () => {
  const p = join(dir, 'c.f32');
  writeFeatureTable(p, ['a', 'b', 'c'], Float32Array.from([1, 2, 3, 4, 5, 6]), 2);
  const buf = readFileSync(p);
  const bad = Buffer.from(buf);
  bad.writeFloatLE(Infinity, buf.length - 4 * 3); // row 1 ("b"), column 1
  const q = join(dir, 'bad.f32');
  writeFileSync(q, bad);
  assert.throws(
    () => readFeatureTable(q),
    new RegExp(`^${q}:3: feature row 1 \\(item "b"\\) has Infinity at column 1`),
  );
  writeFileSync(q, buf.subarray(0, buf.length - 1));
  assert.throws(() => readFeatureTable(q), /expected/);
  writeFileSync(q, buf.toString('latin1').replace('\nb\n', '\na\n'), 'latin1');
  assert.throws(() => readFeatureTable(q), new RegExp(`${q}:3: item "a" already on line 2`));
  writeFileSync(q, 'not json\n');
  assert.throws(() => readFeatureTable(q), new RegExp(`${q}:1: header is not JSON`));
});

test('align: rows by item index, row 0 and missing items zero, unknown items rejected', () => {
  const p = join(dir, 'd.f32');
  writeFeatureTable(p, ['b', 'gone', 'a'], Float32Array.from([1, 1, 2, 2, 3, 3]), 2);
  const t = readFeatureTable(p);
  const itemTokens = ['', 'a', 'b', 'c'];
  assert.throws(() => alignFeatures(t, itemTokens), new RegExp(`${p}:3: item "gone" is not`));
  const a = alignFeatures(t, itemTokens, { known: new Set(['a', 'b', 'c', 'gone']) });
  assert.equal(Array.from(a.data), [0, 0, 3, 3, 1, 1, 0, 0]);
  assert.is(a.missing, 1);
  assert.equal(a.missingTokens, ['c']);
  assert.is(a.extra, 1);
  assert.equal(Array.from(alignFeatures(t, itemTokens, { allowExtra: true }).data), Array.from(a.data));
});

test('readAlignedFeatures (the float block in pieces) aligns as alignFeatures on the whole table', () => {
  const p = join(dir, 'e.f32');
  const tokens = ['b', 'gone', 'a', 'd', 'e'];
  const data = Float32Array.from({ length: 10 }, (_, i) => i + 0.5);
  writeFeatureTable(p, tokens, data, 2);
  const itemTokens = ['', 'a', 'b', 'c', 'd', 'e'];
  const opts = { known: new Set([...itemTokens, 'gone']) };
  const whole = alignFeatures(readFeatureTable(p), itemTokens, opts);
  for (const pieceBytes of [8, 16, 24, 1 << 26]) {
    const a = readAlignedFeatures(p, itemTokens, opts, pieceBytes);
    assert.equal(Array.from(a.data), Array.from(whole.data), `pieces of ${pieceBytes} bytes`);
    assert.equal([a.missing, a.missingTokens, a.extra], [whole.missing, whole.missingTokens, whole.extra]);
  }
  assert.throws(() => readAlignedFeatures(p, itemTokens, {}, 8), new RegExp(`${p}:3: item "gone" is not`));
  // A bad value in a later piece names its own line and item.
  const buf = readFileSync(p);
  buf.writeFloatLE(NaN, buf.length - 4 * 3); // row 3 ("d"), column 1
  const q = join(dir, 'e-bad.f32');
  writeFileSync(q, buf);
  assert.throws(
    () => readAlignedFeatures(q, itemTokens, opts, 8),
    new RegExp(`^${q}:5: feature row 3 \\(item "d"\\) has NaN`),
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a table whose token list outgrows the first read (read in pieces) comes back whole', () => {
  const dir = tempDir('hm4sr-features-big-');
  const n = 150_000,
    dim = 3;
  const tokens = Array.from({ length: n }, (_, i) => `item-${i}`);
  const data = Float32Array.from({ length: n * dim }, (_, i) => (i % 997) / 10);
  const path = join(dir, 'big.text.f32');
  writeFeatureTable(path, tokens, data, dim);
  const t = readFeatureTable(path);
  assert.is(t.tokens.length, n);
  assert.is(t.tokens[n - 1], 'item-149999');
  assert.ok(t.data.length === data.length && t.data.every((v, i) => v === data[i]), 'same values');
});

test.run();
