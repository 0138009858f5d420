import { join, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import {
  featurizeTextTfidf,
  featurizeWithModel,
  type ModelReport,
  preflight,
  type TextReport,
} from '../featurize/featurize.js';
import { checkExecutionProvider } from '../runtime/session.js';
import { cacheDir, resolveDataset } from '../train/data/builtin.js';
import { log } from './options.js';

/** The printed summary keeps the first few zero-row items; the report file beside the table has them all. */
function summary(r: ModelReport | TextReport): unknown {
  if ('emptyText' in r.zeroRows)
    return { ...r, zeroRows: { count: r.zeroRows.count, emptyText: r.zeroRows.emptyText.slice(0, 10) } };
  const items = Object.entries(r.zeroRows.items);
  return { ...r, zeroRows: { count: r.zeroRows.count, first: Object.fromEntries(items.slice(0, 10)) } };
}

export function registerFeaturize(cli: Argv): void {
  cli.command(
    'featurize',
    'write frozen item features (NAME.text.f32, NAME.image.f32) for a dataset',
    featurizeOptions,
    runFeaturize,
  );
}

function featurizeOptions(y: Argv) {
  return y
    .option('data', { type: 'string', demandOption: true, describe: 'dataset directory (NAME.inter + NAME.item)' })
    .option('name', {
      type: 'string',
      describe: "dataset name (NAME.inter); default: the directory's only .inter file",
    })
    .option('text-model', {
      type: 'string',
      describe: 'tfidf (offline, no weights), a transformers.js model directory, or a Hub id (BERT family)',
    })
    .option('image-model', {
      type: 'string',
      describe: 'a transformers.js model directory or a Hub id (ViT family); needs --images',
    })
    .option('images', {
      type: 'string',
      describe: 'directory of item images: TOKEN.jpg|png|webp|gif|tiff|avif, or TOKEN/ holding them',
    })
    .option('out', { type: 'string', describe: 'output directory (default: the dataset directory)' })
    .option('batch', { type: 'number', default: 32, describe: 'items per model run' })
    .option('chunk', { type: 'number', describe: 'items per resumable cache chunk (default 16 x batch)' })
    .option('ep', {
      choices: ['cpu', 'cuda'] as const,
      default: 'cpu' as const,
      describe: 'onnxruntime execution provider for the models',
    })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' })
    .option('download', {
      type: 'boolean',
      default: false,
      describe: 'allow fetching a Hub id from huggingface.co (default: offline only)',
    })
    .option('models-dir', {
      type: 'string',
      describe: 'cache of Hub models, searched for ids and filled by --download (default: HM4SR cache/models)',
    })
    .option('text-form', {
      choices: ['standard', 'reference'] as const,
      default: 'standard' as const,
      describe: 'standard: [CLS] text [SEP]; reference: "[CLS] " + text, no special tokens (the HM4SR code)',
    })
    .option('seed', { type: 'number', default: 2025, describe: 'seed of the tfidf random projection' })
    .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' })
    .check((a) => {
      if (a['text-model'] === undefined && a['image-model'] === undefined)
        throw new Error('name a model: --text-model and/or --image-model');
      if (a.images !== undefined && a['image-model'] === undefined)
        throw new Error('--images is only used with --image-model');
      if (a.ep === 'cuda' && a['image-model'] === undefined && a['text-model'] === 'tfidf')
        throw new Error('--ep cuda applies to --text-model/--image-model models; tfidf runs on the CPU');
      return true;
    });
}

type FeaturizeArgs = ReturnType<typeof featurizeOptions> extends Argv<infer U> ? ArgumentsCamelCase<U> : never;

async function runFeaturize(a: FeaturizeArgs): Promise<void> {
  const { dir, name } = resolveDataset(a.data, a.name, log);
  const out = resolve(a.out ?? dir);
  // A missing CUDA provider fails here, before any table or cache is written.
  if (a.ep === 'cuda') await checkExecutionProvider('cuda');
  const common = {
    dir,
    name,
    out,
    batch: a.batch,
    chunk: a.chunk,
    ep: a.ep,
    download: a.download,
    threads: a.threads,
    modelsDir: resolve(a['models-dir'] ?? join(cacheDir(), 'models')),
    progress: a.progress && !process.env.CI,
    log,
  };
  const tm = a['text-model'];
  if (tm !== undefined && tm !== 'tfidf') preflight('text', { ...common, model: tm });
  if (a['image-model'] !== undefined) preflight('image', { ...common, model: a['image-model'], images: a.images });
  const result: Record<string, unknown> = {};
  if (tm === 'tfidf') result.text = summary(featurizeTextTfidf({ dir, name, out, seed: a.seed, log }));
  else if (tm !== undefined)
    result.text = summary(await featurizeWithModel('text', { ...common, model: tm, form: a['text-form'] }));
  if (a['image-model'] !== undefined)
    result.image = summary(await featurizeWithModel('image', { ...common, model: a['image-model'], images: a.images }));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
