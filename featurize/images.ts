// Finding each item's image under --images DIR: DIR/TOKEN.EXT, or the first image (by name) in DIR/TOKEN/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

/** Formats the image decoder (sharp, via transformers.js RawImage) reads. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export interface ImageIndex {
  /** Item token -> image file. */
  paths: Map<string, string>;
  /** Image files or folders named for no item of the dataset. */
  unknown: string[];
  /** Files with an extension that is not an image format (skipped). */
  ignored: string[];
}

const isImage = (f: string) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase());

export function indexImages(dir: string, tokens: Iterable<string>): ImageIndex {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`--images ${dir}: no such directory`);
  const known = new Set(tokens);
  const paths = new Map<string, string>();
  const unknown: string[] = [];
  const ignored: string[] = [];
  // Sorted so "the first image" of an item is the same on every file system.
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  )) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!known.has(entry.name)) {
        unknown.push(entry.name);
        continue;
      }
      const first = readdirSync(full).filter(isImage).sort()[0];
      if (first !== undefined && !paths.has(entry.name)) paths.set(entry.name, join(full, first));
      continue;
    }
    if (!isImage(entry.name)) {
      ignored.push(entry.name);
      continue;
    }
    const token = entry.name.slice(0, entry.name.length - extname(entry.name).length);
    if (!known.has(token)) unknown.push(entry.name);
    else if (!paths.has(token)) paths.set(token, full);
  }
  return { paths, unknown, ignored };
}
