// `hm4sr add-items`: extends a serving model's catalog with items that arrived after training.
import { dirname, join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { ID_RULES, addItems } from '../featurize/add-items.js';
import { lockDirectory, withLock } from '../runtime/output-lock.js';
import { cacheDir } from '../train/data/builtin.js';
import { log, warn } from './options.js';

export function registerAddItems(cli: Argv): void {
  cli.command(
    'add-items',
    "add new items (NAME.item rows) to a trained model.onnx without retraining: their features through the model's " +
      'own featurizer and trained projections; the old items keep their indices and scores',
    (y) =>
      y
        .option('model', { type: 'string', demandOption: true, describe: 'the serving model.onnx to extend' })
        .option('data', {
          type: 'string',
          demandOption: true,
          describe: "directory holding NAME.item with the new items' rows (the columns featurize read)",
        })
        .option('name', { type: 'string', describe: "NAME of NAME.item (default: the directory's only .item file)" })
        .option('out', { type: 'string', demandOption: true, describe: 'the extended model (.onnx)' })
        .option('id-rule', {
          choices: ID_RULES,
          default: 'nearest' as const,
          describe:
            "the new items' ID vectors: nearest (mean of the most alike trained items'), mean (of all trained items'), zero",
        })
        .option('neighbours', { type: 'number', default: 3, describe: 'trained items --id-rule nearest averages' })
        .option('images', {
          type: 'string',
          describe: "the new items' images (image models): DIR/TOKEN.EXT or DIR/TOKEN/",
        })
        .option('text-model', {
          type: 'string',
          describe: "where the model's text encoder lies now, if moved (checked against the files it was made with)",
        })
        .option('image-model', {
          type: 'string',
          describe: "where the model's image encoder lies now, if moved (checked against the files it was made with)",
        })
        .option('models-dir', { type: 'string', describe: 'cache of Hub models (default: HM4SR cache/models)' })
        .option('batch', { type: 'number', default: 32, describe: 'items per encoder run' })
        .option('allow-missing', {
          type: 'boolean',
          default: false,
          describe: 'new items without text (or image) get zero feature rows, as featurize gives catalog items',
        })
        .option('top-k', { type: 'number', describe: "K of the extended model's TopK output (default: the model's)" }),
    async (a) => {
      const out = resolve(a.out);
      if (out === resolve(a.model)) throw new Error(`--out ${a.out}: give a new file; --model is read while writing`);
      const r = await withLock(lockDirectory(dirname(out), 'add-items', warn), () =>
        addItems({
          model: a.model,
          data: a.data,
          name: a.name,
          out,
          idRule: a['id-rule'],
          neighbours: a.neighbours,
          images: a.images,
          textModel: a['text-model'],
          imageModel: a['image-model'],
          modelsDir: resolve(a['models-dir'] ?? join(cacheDir(), 'models')),
          batch: a.batch,
          allowMissing: a['allow-missing'],
          topK: a['top-k'],
          log,
        }),
      );
      process.stdout.write(`${JSON.stringify(r)}\n`);
    },
  );
}
