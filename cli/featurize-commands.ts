import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { featurizeTextTfidf } from '../featurize/featurize.js';
import { resolveDataset } from './data-source.js';
import { log } from './options.js';

export function registerFeaturize(cli: Argv): void {
  cli.command(
    'featurize',
    'write frozen item features (NAME.text.f32, NAME.image.f32) for a dataset',
    (y) => y
      .option('data', { type: 'string', demandOption: true, describe: 'dataset directory (NAME.inter + NAME.item)' })
      .option('name', { type: 'string', describe: 'dataset name (NAME.inter); default: the directory\'s only .inter file' })
      .option('text-model', { type: 'string', describe: 'tfidf (offline, no weights), a local model directory, or a Hub id' })
      .option('out', { type: 'string', describe: 'output directory (default: the dataset directory)' })
      .option('seed', { type: 'number', default: 2025, describe: 'seed of the tfidf random projection' })
      .check((a) => {
        if (a['text-model'] === undefined) throw new Error('name a model: --text-model');
        return true;
      }),
    (a) => {
      const { dir, name } = resolveDataset(a.data, a.name, log);
      const out = resolve(a.out ?? dir);
      if (a['text-model'] !== 'tfidf') throw new Error(`--text-model ${a['text-model']}: only tfidf is implemented so far`);
      const r = featurizeTextTfidf({ dir, name, out, seed: a.seed, log });
      process.stdout.write(`${JSON.stringify({ text: { ...r, zeroRows: { count: r.zeroRows.count, emptyText: r.zeroRows.emptyText.slice(0, 10) }, unknownItems: { count: r.unknownItems.count } } }, null, 2)}\n`);
    },
  );
}
