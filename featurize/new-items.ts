// Features of items that arrive after training, computed by the featurizer a model's catalog was
// featurized with (its record in the model), so a new item's row is what featurize would have written.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AtomicFormatError, columnIndex, findAtomicFile, readAtomic, splitRow } from '../train/data/atomic.js';
import { loadImageEncoder, loadTextEncoder } from './encoders.js';
import { type FeaturizerSpec, isTfidf, modelKey } from './featurizer-spec.js';
import { indexImages } from './images.js';
import { itemText } from './item-text.js';
import { type ModelKind, resolveModel } from './model-source.js';
import { tfidfTransform } from './tfidf.js';

export interface NewItems {
  file: string;
  tokens: string[];
  /** The .item columns by name, one array per column (a row's value at the token's position). */
  columns: Map<string, string[]>;
}

/** DIR/NAME.item: every row is a new item. NAME defaults to the directory's only .item file. */
export function readNewItems(dir: string, name?: string): NewItems {
  if (!existsSync(dir)) throw new Error(`--data ${dir}: no such directory`);
  let base = name;
  if (!base) {
    const names = [
      ...new Set(
        readdirSync(dir)
          .filter((f) => /\.item(\.gz)?$/.test(f))
          .map((f) => f.replace(/\.item(\.gz)?$/, '')),
      ),
    ];
    if (names.length !== 1)
      throw new Error(
        `--data ${dir}: ${names.length === 0 ? 'no .item file' : `several .item files (${names.join(', ')})`}; ` +
          'add-items reads the new items from one NAME.item (pass --name)',
      );
    base = names[0];
  }
  const file = findAtomicFile(dir, base, 'item');
  if (!file) throw new Error(`--data ${dir}: no ${base}.item`);
  const { cols, rows } = readAtomic(file);
  const ii = columnIndex(file, cols, 'item_id');
  const tokens: string[] = [];
  const columns = new Map<string, string[]>(cols.map((c) => [c.name, []]));
  const seen = new Map<string, number>();
  for (const [line, lineNo] of rows) {
    if (line === '') continue;
    const f = splitRow(file, line, lineNo, cols.length);
    const tok = f[ii];
    if (tok === '') throw new AtomicFormatError(file, lineNo, 'empty item id');
    const prev = seen.get(tok);
    if (prev !== undefined) throw new AtomicFormatError(file, lineNo, `item "${tok}" already on line ${prev}`);
    seen.set(tok, lineNo);
    tokens.push(tok);
    cols.forEach((c, k) => columns.get(c.name)!.push(f[k]));
  }
  if (tokens.length === 0) throw new Error(`${file}: no items`);
  return { file, tokens, columns };
}

export interface NewFeatureOptions {
  /** Where the model's encoder lies now, when not where its record says (checked against its files' hash). */
  model?: string;
  modelsDir: string;
  /** Images of the new items (image modality): DIR/TOKEN.EXT or DIR/TOKEN/. */
  images?: string;
  batch: number;
  /** Items without text (or image) get zero rows, as featurize gives catalog items, instead of an error. */
  allowMissing?: boolean;
  log: (m: string) => void;
}

/** At most five tokens, then how many more. */
const listed = (toks: string[]) =>
  `${toks.slice(0, 5).join(', ')}${toks.length > 5 ? ` and ${toks.length - 5} more` : ''}`;

/** [items x dim] features of the new items; an item the featurizer cannot read is an error naming it. */
export async function newItemFeatures(
  spec: FeaturizerSpec,
  items: NewItems,
  dim: number,
  o: NewFeatureOptions,
): Promise<Float32Array> {
  const what = spec.kind === 'text' ? 'text' : 'image';
  const data = spec.kind === 'text' ? await textFeatures(spec, items, o) : await imageFeatures(spec, items, o);
  if (data.length !== items.tokens.length * dim)
    throw new Error(
      `the ${what} featurizer gave ${data.length / items.tokens.length} dims; the model's ${what} table has ${dim}`,
    );
  return data;
}

/** Texts from the fields the featurizer read, through TF-IDF's fitted vocabulary or the recorded encoder. */
async function textFeatures(spec: FeaturizerSpec, items: NewItems, o: NewFeatureOptions): Promise<Float32Array> {
  const fields = spec.fields!;
  const lacking = fields.filter((f) => !items.columns.has(f));
  if (lacking.length)
    throw new Error(
      `${items.file}: no ${lacking.join(', ')} column; the model's text featurizer (${spec.model}) read ${fields.join(', ')}`,
    );
  const texts = items.tokens.map((_, i) => itemText(fields.map((f) => items.columns.get(f)![i])).text);
  const empty = items.tokens.filter((_, i) => texts[i] === '');
  if (empty.length && !o.allowMissing)
    throw new Error(
      `${items.file}: ${empty.length} new item(s) without text (${listed(empty)}): the model reads text ` +
        '(--allow-missing gives them zero text rows, as featurize gives catalog items)',
    );
  if (empty.length) o.log(`warning: ${empty.length} new item(s) without text get zero text rows: ${listed(empty)}`);
  if (isTfidf(spec)) {
    const r = tfidfTransform(texts, spec.vocabulary, spec.options);
    if (r.noFeatures.length)
      o.log(
        `warning: ${r.noFeatures.length} new item(s) share no term with the catalog's vocabulary (${listed(r.noFeatures.map((i) => items.tokens[i]))}): zero text rows, as featurize gives such items`,
      );
    return r.data;
  }
  const enc = await loadTextEncoder({
    ...encoderSource(spec, 'text', o),
    ep: 'cpu',
    form: spec.textForm ?? 'standard',
  });
  try {
    const data = new Float32Array(items.tokens.length * enc.dim);
    const todo = texts.flatMap((t, i) => (t === '' ? [] : [i]));
    for (let b = 0; b < todo.length; b += o.batch) {
      const idx = todo.slice(b, b + o.batch);
      const rows = await enc.encode(idx.map((i) => texts[i]));
      idx.forEach((i, k) => data.set(rows.subarray(k * enc.dim, (k + 1) * enc.dim), i * enc.dim));
    }
    return data;
  } finally {
    await enc.dispose();
  }
}

/** Each new item's image (--images) through the recorded encoder. */
async function imageFeatures(spec: FeaturizerSpec, items: NewItems, o: NewFeatureOptions): Promise<Float32Array> {
  if (!o.images) throw new Error("the model reads images: give the new items' images with --images DIR");
  const idx = indexImages(resolve(o.images), items.tokens);
  const none = items.tokens.filter((t) => !idx.paths.has(t));
  if (none.length && !o.allowMissing)
    throw new Error(
      `--images ${o.images}: no image for ${none.length} new item(s) (${listed(none)}) (--allow-missing gives them zero image rows)`,
    );
  if (none.length) o.log(`warning: ${none.length} new item(s) without an image get zero image rows: ${listed(none)}`);
  const enc = await loadImageEncoder({ ...encoderSource(spec, 'image', o), ep: 'cpu' });
  try {
    const data = new Float32Array(items.tokens.length * enc.dim);
    const todo = items.tokens.flatMap((t, i) => (idx.paths.has(t) ? [i] : []));
    for (let b = 0; b < todo.length; b += o.batch) {
      const at = todo.slice(b, b + o.batch);
      const paths = at.map((i) => idx.paths.get(items.tokens[i])!);
      const r = await enc.encode(paths);
      if (r.failed.size) {
        const [j, why] = [...r.failed][0];
        throw new Error(`${paths[j]}: ${why} (new item "${items.tokens[at[j]]}")`);
      }
      at.forEach((i, k) => data.set(r.rows.subarray(k * enc.dim, (k + 1) * enc.dim), i * enc.dim));
    }
    return data;
  } finally {
    await enc.dispose();
  }
}

/** The encoder a record names, found offline, and refused when its files are not the ones the record hashed. */
function encoderSource(spec: FeaturizerSpec, kind: ModelKind, o: NewFeatureOptions) {
  const given = o.model ?? spec.model;
  const flag = kind === 'text' ? '--text-model' : '--image-model';
  const source = resolveModel(given, kind, { modelsDir: o.modelsDir, download: false, flag });
  const key = modelKey(kind, source);
  if (key !== (spec as { modelKey: string }).modelKey)
    throw new Error(
      `featurizer mismatch: ${kind} model ${given} (${join(source.dir)}) is not the model the catalog was featurized with ` +
        `(${spec.model}; its files hash to ${key.slice(0, 12)}, the model records ${(spec as { modelKey: string }).modelKey.slice(0, 12)})`,
    );
  return { source, modelsDir: o.modelsDir };
}
