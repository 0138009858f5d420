// Splits a dataset by item age for the cold-start measurement: the items whose first interaction falls in
// the last FRACTION of the timeline (in days) are "new". OUT/old holds the dataset without them (every
// interaction with a new item removed), the model is trained on; OUT/new/NAME.item holds the new items'
// rows, which `hm4sr add-items` reads. Usage: node experiments/cold-start/split.mjs DIR NAME OUT [FRACTION]
import { createReadStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';

const [dir, name, out, fraction = '0.1'] = process.argv.slice(2);
if (!dir || !name || !out) throw new Error('usage: node experiments/cold-start/split.mjs DIR NAME OUT [FRACTION]');
const frac = Number(fraction);
if (!(frac > 0 && frac < 1)) throw new Error(`FRACTION ${fraction}: must be in (0, 1)`);

async function lines(base) {
  const file = [`${base}.gz`, base].find(existsSync);
  if (!file) throw new Error(`${base}(.gz): no such file`);
  const input = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  const all = [];
  for await (const l of createInterface({ input, crlfDelay: Infinity })) all.push(l);
  return all;
}

const inter = await lines(join(dir, `${name}.inter`));
const head = inter[0].split('\t');
const ii = head.findIndex((c) => c.startsWith('item_id:')),
  ti = head.findIndex((c) => c.startsWith('timestamp:'));
if (ii < 0 || ti < 0) throw new Error(`${name}.inter: needs item_id and timestamp columns`);
const first = new Map();
let t0 = Infinity,
  t1 = -Infinity;
for (const l of inter.slice(1)) {
  if (l === '') continue;
  const f = l.split('\t');
  const t = Number(f[ti]);
  t0 = Math.min(t0, t);
  t1 = Math.max(t1, t);
  first.set(f[ii], Math.min(first.get(f[ii]) ?? Infinity, t));
}
const cut = t0 + (1 - frac) * (t1 - t0);
const isNew = new Set([...first].filter(([, t]) => t >= cut).map(([i]) => i));

const items = await lines(join(dir, `${name}.item`));
const jj = items[0].split('\t').findIndex((c) => c.startsWith('item_id:'));
const keep = (rows, pred) => rows.filter((l, k) => k === 0 || (l !== '' && pred(l.split('\t'))));
const write = (sub, ext, rows) => {
  mkdirSync(join(out, sub), { recursive: true });
  const file = join(out, sub, `${name}.${ext}`);
  writeFileSync(`${file}.tmp`, `${rows.join('\n')}\n`);
  renameSync(`${file}.tmp`, file);
};
write(
  'old',
  'inter',
  keep(inter, (f) => !isNew.has(f[ii])),
);
write(
  'old',
  'item',
  keep(items, (f) => first.has(f[jj]) && !isNew.has(f[jj])),
);
write(
  'new',
  'item',
  keep(items, (f) => isNew.has(f[jj])),
);
const summary = {
  cutoff: cut,
  fraction: frac,
  days: (t1 - t0) / 86400,
  items: first.size,
  newItems: isNew.size,
  removedInteractions: inter.slice(1).filter((l) => l !== '' && isNew.has(l.split('\t')[ii])).length,
};
writeFileSync(join(out, 'split.json'), `${JSON.stringify(summary, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
