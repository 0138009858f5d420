import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInter, readItems } from '../train/data/atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-atomic-'));
let n = 0;
function file(text: string, ext = 'inter'): string {
  const p = join(dir, `f${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}
const H = 'user_id:token\titem_id:token\ttimestamp:float\n';

function throwsAt(fn: () => unknown, path: string, line: number, detail: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, 'expected an error');
  const msg = (err as Error).message;
  assert.ok(msg.startsWith(`${path}:${line}: `), `message should start with ${path}:${line}: but was: ${msg}`);
  assert.match(msg, detail);
}

test('reads columns by name, ignores extras, keeps float64 timestamps', () => {
  const p = file(
    'rating:float\titem_id:token\tuser_id:token\ttimestamp:float\n5\ti1\tu1\t1600000001\n4\ti2\tu1\t1600000000.5\n',
  );
  const r = readInter(p);
  assert.equal(r.users, ['u1', 'u1']);
  assert.equal(r.items, ['i1', 'i2']);
  assert.ok(r.timestamps instanceof Float64Array);
  assert.equal(Array.from(r.timestamps), [1600000001, 1600000000.5]);
  assert.equal(Array.from(r.lines), [2, 3]);
});

test('BOM, CRLF line ends and a missing final newline are accepted; blank lines skipped', () => {
  const p = file('\ufeffuser_id:token\titem_id:token\ttimestamp:float\r\nu\ti\t1\r\n\r\nu\tj\t2');
  const r = readInter(p);
  assert.equal(r.items, ['i', 'j']);
  assert.equal(Array.from(r.timestamps), [1, 2]);
  assert.equal(Array.from(r.lines), [2, 4]);
});

test('custom column names', () => {
  const p = file('uid:token\tiid:token\tts:float\nu\ti\t7\n');
  const r = readInter(p, { userColumn: 'uid', itemColumn: 'iid', timeColumn: 'ts' });
  assert.equal(r.users, ['u']);
  assert.equal(r.timestamps[0], 7);
});

test('bad timestamps name file and 1-based line', () => {
  let p = file(H + 'u\ti\t1\nu\ti\t2\nu\ti\tabc\n');
  throwsAt(() => readInter(p), p, 4, /timestamp "abc" is not a number/);
  p = file(H + 'u\ti\t-5\n');
  throwsAt(() => readInter(p), p, 2, /negative/);
  p = file(H + 'u\ti\tNaN\n');
  throwsAt(() => readInter(p), p, 2, /not a number/);
  p = file(H + 'u\ti\tInfinity\n');
  throwsAt(() => readInter(p), p, 2, /not finite/);
  p = file(H + 'u\ti\t\n');
  throwsAt(() => readInter(p), p, 2, /not a number/);
});

test('wrong field count names the line', () => {
  const p = file(H + 'u\ti\t1\nu\ti\t2\textra\n');
  throwsAt(() => readInter(p), p, 3, /expected 3 .*found 4/);
  const q = file(H + 'u\ti\t1\nu i 2\n');
  throwsAt(() => readInter(q), q, 3, /found 1/);
});

test('header problems are line 1; empty files and header-only files are errors', () => {
  let p = file('user_id:token\titem_id:token\n u\ti\n');
  throwsAt(() => readInter(p), p, 1, /missing required column "timestamp"/);
  p = file('user_id\titem_id:token\ttimestamp:float\nu\ti\t1\n');
  throwsAt(() => readInter(p), p, 1, /not name:type/);
  p = file('user_id:token\titem_id:token\ttimestamp:float\tuser_id:token\n');
  throwsAt(() => readInter(p), p, 1, /twice/);
  p = file('');
  throwsAt(() => readInter(p), p, 1, /empty file/);
  p = file(H);
  throwsAt(() => readInter(p), p, 2, /no interactions/);
  p = file(H + 'u\t\t1\n');
  throwsAt(() => readInter(p), p, 2, /empty item id/);
});

test('readItems: token_seq categories, optional title/brand, duplicates rejected', () => {
  const p = file(
    'item_id:token\ttitle:token_seq\tcats:token_seq\tbrand:token\ni1\tRed  Lipstick\ta  b c\tAcme\ni2\t\t\t\n',
    'item',
  );
  const m = readItems(p, { categoryColumn: 'cats', titleColumn: 'title', brandColumn: 'brand' });
  assert.equal(m.get('i1'), { title: 'Red  Lipstick', categories: ['a', 'b', 'c'], brand: 'Acme' });
  assert.equal(m.get('i2'), { title: '', categories: [], brand: '' });
  const bare = readItems(p, { categoryColumn: 'cats' });
  assert.equal(bare.get('i1'), { title: '', categories: ['a', 'b', 'c'], brand: '' });
  throwsAt(() => readItems(p, { categoryColumn: 'attr_ids' }), p, 1, /missing required column "attr_ids"/);
  const d = file('item_id:token\tcats:token_seq\ni1\ta\ni2\tb\ni1\tc\n', 'item');
  throwsAt(() => readItems(d, { categoryColumn: 'cats' }), d, 4, /listed twice/);
  const w = file('item_id:token\tcats:token_seq\ni1\ta\tb\n', 'item');
  throwsAt(() => readItems(w, { categoryColumn: 'cats' }), w, 2, /expected 2/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
