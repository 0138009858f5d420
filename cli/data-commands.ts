import { readInputText } from '../graph/input-file.js';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { writeFileAtomic } from '../graph/atomic.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { datasetStats, formatStats } from '../train/data/stats.js';
import { generateSynthetic } from '../train/data/synth.js';
import { BUILT_IN, SYNTH_DEFAULT, resolveDataset } from './data-source.js';
import { log } from './options.js';

/** CSV/TSV with user, item, timestamp columns -> RecBole atomic NAME.inter. */
export function importDelimited(src: string, outDir: string, name: string, cols: { user: string; item: string; time: string }, delimiter: string): number {
  const text = readInputText(src);
  const lines = text.split(/\r?\n/);
  const header = lines[0].split(delimiter).map((h) => h.trim().replace(/^"|"$/g, ''));
  const at = (c: string) => {
    const i = header.indexOf(c);
    if (i < 0) throw new Error(`${src}:1: no column "${c}" (columns: ${header.join(', ')})`);
    return i;
  };
  const [u, it, t] = [at(cols.user), at(cols.item), at(cols.time)];
  const out: string[] = ['user_id:token\titem_id:token\ttimestamp:float'];
  for (let n = 1; n < lines.length; n++) {
    if (!lines[n].trim()) continue;
    const f = lines[n].split(delimiter).map((x) => x.trim().replace(/^"|"$/g, ''));
    if (f.length !== header.length) throw new Error(`${src}:${n + 1}: ${f.length} fields, header has ${header.length}`);
    let ts = Number(f[t]);
    if (!Number.isFinite(ts)) {
      const parsed = Date.parse(f[t]);
      if (Number.isNaN(parsed)) throw new Error(`${src}:${n + 1}: timestamp "${f[t]}" is neither Unix seconds nor a date`);
      ts = Math.floor(parsed / 1000);
    }
    if (ts < 0) throw new Error(`${src}:${n + 1}: negative timestamp ${ts}`);
    if (!f[u] || !f[it] || /\s/.test(f[u] + f[it])) throw new Error(`${src}:${n + 1}: user and item ids must be non-empty tokens without whitespace`);
    out.push(`${f[u]}\t${f[it]}\t${ts}`);
  }
  if (out.length === 1) throw new Error(`${src}: no interactions`);
  writeFileAtomic(join(outDir, `${name}.inter`), out.join('\n') + '\n');
  return out.length - 1;
}

export function registerData(cli: Argv): void {
  cli.command('data', 'dataset tools: list, synth, stats, import', (y) => y
    .command(
      'list',
      'the built-in datasets (use them as --data NAME) with their statistics',
      (z) => z.option('json', { type: 'boolean', default: false }),
      (a) => {
        const rows = BUILT_IN.map((b) => {
          const { dir, name } = b.locate(log);
          return { data: b.id, about: b.about, dir, name, stats: datasetStats(loadAtomicDataset(dir, name)) };
        });
        process.stdout.write(a.json ? `${JSON.stringify(rows, null, 2)}\n`
          : rows.map((r) => `${r.data}: ${r.about}\n  ${formatStats(r.stats)}\n  ${r.dir}`).join('\n') + '\n');
      },
    )
    .command(
      'synth',
      'generate the synthetic dataset (interest drift, recurring intervals, informative text features)',
      (z) => z
        .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
        .option('name', { type: 'string', default: SYNTH_DEFAULT.name })
        .option('users', { type: 'number', default: SYNTH_DEFAULT.users })
        .option('items', { type: 'number', default: SYNTH_DEFAULT.items })
        .option('text-dim', { type: 'number', default: SYNTH_DEFAULT.textDim })
        .option('seed', { type: 'number', default: SYNTH_DEFAULT.seed }),
      (a) => {
        const r = generateSynthetic({ dir: resolve(a.out), name: a.name, users: a.users, items: a.items, textDim: a['text-dim'], seed: a.seed });
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      },
    )
    .command(
      'stats',
      'dataset statistics (the paper\'s Table 2 columns) after filtering',
      (z) => z
        .option('data', { type: 'string', describe: 'a built-in dataset (see data list) or a dataset directory (default: synth)' })
        .option('name', { type: 'string' })
        .option('k-core', { type: 'number', default: 5 })
        .option('category-column', { type: 'string', default: 'auto' })
        .option('json', { type: 'boolean', default: false }),
      (a) => {
        const { dir, name } = resolveDataset(a.data, a.name, log);
        const ds = loadAtomicDataset(dir, name, { kCore: a['k-core'], categoryColumn: a['category-column'] });
        const s = datasetStats(ds);
        process.stdout.write(a.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStats(s)}\n`);
      },
    )
    .command(
      'import',
      'convert a CSV/TSV of (user, item, timestamp) rows into RecBole atomic NAME.inter',
      (z) => z
        .option('csv', { type: 'string', demandOption: true })
        .option('out', { type: 'string', demandOption: true })
        .option('name', { type: 'string', demandOption: true })
        .option('delimiter', { type: 'string', default: ',' })
        .option('user-column', { type: 'string', default: 'user_id' })
        .option('item-column', { type: 'string', default: 'item_id' })
        .option('time-column', { type: 'string', default: 'timestamp' }),
      (a) => {
        const n = importDelimited(a.csv, resolve(a.out), a.name, { user: a['user-column'], item: a['item-column'], time: a['time-column'] }, a.delimiter === '\\t' ? '\t' : a.delimiter);
        process.stdout.write(`${JSON.stringify({ interactions: n, file: join(resolve(a.out), `${a.name}.inter`) })}\n`);
      },
    )
    .demandCommand(1, 'name a data command: list, synth, stats, import'));
}
