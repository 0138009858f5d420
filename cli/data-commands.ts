import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { datasetStats, formatStats } from '../train/data/stats.js';
import { generateSynthetic } from '../train/data/synth.js';
import { importDelimited } from '../train/data/import.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { loadRunDataset } from '../train/prepare.js';
import { BUILT_IN, SYNTH_DEFAULT, resolveDataset } from '../train/data/builtin.js';
import { log } from './options.js';

export function registerData(cli: Argv): void {
  cli.command('data', 'dataset tools: list, synth, stats, import', (y) =>
    dataImport(dataStats(dataSynth(dataList(y)))).demandCommand(1, 'name a data command: list, synth, stats, import'),
  );
}

function dataList(y: Argv): Argv {
  return y.command(
    'list',
    'the built-in datasets (use them as --data NAME) with their statistics',
    (z) => z.option('json', { type: 'boolean', default: false }),
    (a) => {
      const rows = BUILT_IN.map((b) => {
        const { dir, name } = b.locate(log);
        return { data: b.id, about: b.about, dir, name, stats: datasetStats(loadAtomicDataset(dir, name)) };
      });
      process.stdout.write(
        a.json
          ? `${JSON.stringify(rows, null, 2)}\n`
          : rows.map((r) => `${r.data}: ${r.about}\n  ${formatStats(r.stats)}\n  ${r.dir}`).join('\n') + '\n',
      );
    },
  );
}

function dataSynth(y: Argv): Argv {
  return y.command(
    'synth',
    'generate the synthetic dataset (interest drift, recurring intervals, informative text features)',
    (z) =>
      z
        .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
        .option('name', { type: 'string', default: SYNTH_DEFAULT.name })
        .option('users', { type: 'number', default: SYNTH_DEFAULT.users })
        .option('items', { type: 'number', default: SYNTH_DEFAULT.items })
        .option('text-dim', { type: 'number', default: SYNTH_DEFAULT.textDim })
        .option('seed', { type: 'number', default: SYNTH_DEFAULT.seed })
        .option('images', {
          type: 'boolean',
          default: true,
          describe: 'write NAME.image.f32 (--no-images: text features only, the rest unchanged)',
        }),
    (a) => {
      const r = generateSynthetic({
        dir: resolve(a.out),
        name: a.name,
        users: a.users,
        items: a.items,
        textDim: a['text-dim'],
        seed: a.seed,
        ...(a.images ? {} : { images: false }),
      });
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    },
  );
}

function dataStats(y: Argv): Argv {
  return y.command(
    'stats',
    "dataset statistics (the paper's Table 2 columns) after filtering",
    (z) =>
      z
        .option('data', {
          type: 'string',
          describe: 'a built-in dataset (see data list) or a dataset directory (default: synth)',
        })
        .option('name', { type: 'string' })
        .option('k-core', { type: 'number', default: 5 })
        .option('category-column', { type: 'string', default: 'auto' })
        .option('json', { type: 'boolean', default: false }),
    (a) => {
      const { dir, name } = resolveDataset(a.data, a.name, log);
      const s = datasetStats(
        loadRunDataset(dir, name, { kCore: a['k-core'], dedupe: true, categoryColumn: a['category-column'] }),
      );
      process.stdout.write(a.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStats(s)}\n`);
    },
  );
}

function dataImport(y: Argv): Argv {
  return y.command(
    'import',
    'convert a CSV/TSV of (user, item, timestamp) rows into RecBole atomic NAME.inter',
    (z) =>
      z
        .option('csv', { type: 'string', demandOption: true })
        .option('out', { type: 'string', demandOption: true })
        .option('name', { type: 'string', demandOption: true })
        .option('delimiter', { type: 'string', default: ',' })
        .option('user-column', { type: 'string', default: 'user_id' })
        .option('item-column', { type: 'string', default: 'item_id' })
        .option('time-column', { type: 'string', default: 'timestamp' }),
    (a) => {
      const n = importDelimited(
        a.csv,
        resolve(a.out),
        a.name,
        { user: a['user-column'], item: a['item-column'], time: a['time-column'] },
        a.delimiter === '\\t' ? '\t' : a.delimiter,
      );
      process.stdout.write(`${JSON.stringify({ interactions: n, file: join(resolve(a.out), `${a.name}.inter`) })}\n`);
    },
  );
}
