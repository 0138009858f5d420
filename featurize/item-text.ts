// The text each item is featurized from: the spec's "title. categories. brand." string, built from
// whichever of those columns the dataset's NAME.item file has (model-spec.md, "Item representations").
import { decodeHTML } from 'entities';
import { existsSync } from 'node:fs';
import { AtomicFormatError, columnIndex, readAtomic, readInter, splitRow } from '../train/data/atomic.js';

/** Fields longer than this are dropped, as in the reference (they are scraped HTML, not titles). */
export const MAX_FIELD_CHARS = 2000;
export const TEXT_FIELDS = ['title', 'categories', 'brand'] as const;
export type TextField = (typeof TEXT_FIELDS)[number];

export interface ItemTexts {
  /** Item tokens in output order: the .item file's order, then items only the .inter file names. */
  tokens: string[];
  /** The text per token; '' where the item has no usable text (it gets a zero feature row). */
  texts: string[];
  /** The .item columns the text was built from. */
  fields: TextField[];
  /** Items with no usable text: empty fields, or no row in the .item file. */
  empty: string[];
  /** .item rows for items the .inter file never mentions: skipped, since training rejects rows it cannot place. */
  unknown: string[];
  /** Fields dropped for exceeding MAX_FIELD_CHARS. */
  overlong: number;
}

/** One field cleaned as the reference does: HTML entities decoded, quotes and newlines stripped, tabs to spaces, one trailing period. */
export function cleanField(raw: string): string {
  let s = decodeHTML(raw)
    .replace(/["\r\n]/g, '')
    .replace(/\t/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  // Lone surrogates and control characters come from broken scrapes; a tokenizer has no use for them.
  s = s.replace(/[\p{Cc}\p{Cs}]/gu, '').trim();
  s = s.replace(/[.\s]+$/, '');
  return s === '' ? '' : `${s}.`;
}

/** Joins the cleaned non-empty fields; returns '' when none is left. */
export function itemText(fields: string[]): { text: string; overlong: number } {
  let overlong = 0;
  const parts: string[] = [];
  for (const f of fields) {
    if (f.length > MAX_FIELD_CHARS) {
      overlong += 1;
      continue;
    }
    const c = cleanField(f);
    if (c !== '') parts.push(c);
  }
  return { text: parts.join(' '), overlong };
}

/**
 * Reads DIR/NAME.item (title, categories, brand where present) and DIR/NAME.inter (which items the
 * dataset knows). Categories are a token_seq, i.e. the first category path already split on spaces.
 */
export function readItemTexts(interPath: string, itemPath: string): ItemTexts {
  if (!existsSync(interPath))
    throw new Error(`${interPath}: no such file (featurize needs the interactions to know which items to write)`);
  if (!existsSync(itemPath))
    throw new Error(
      `${itemPath}: no such file (text features are built from the .item file's title/categories/brand columns)`,
    );
  const inter = readInter(interPath);
  const known = new Set(inter.items);
  const { cols, rows } = readAtomic(itemPath);
  const ii = columnIndex(itemPath, cols, 'item_id');
  const fields = TEXT_FIELDS.filter((f) => cols.some((c) => c.name === f));
  if (fields.length === 0) {
    throw new AtomicFormatError(
      itemPath,
      1,
      `no text column: need one of ${TEXT_FIELDS.join(', ')} (header has ${cols.map((c) => c.name).join(', ')})`,
    );
  }
  const at = fields.map((f) => columnIndex(itemPath, cols, f));
  const tokens: string[] = [];
  const texts: string[] = [];
  const empty: string[] = [];
  const unknown: string[] = [];
  const seen = new Set<string>();
  let overlong = 0;
  for (const [line, lineNo] of rows) {
    if (line === '') continue;
    const f = splitRow(itemPath, line, lineNo, cols.length);
    const token = f[ii];
    if (token === '') throw new AtomicFormatError(itemPath, lineNo, 'empty item id');
    if (seen.has(token)) throw new AtomicFormatError(itemPath, lineNo, `item "${token}" listed twice`);
    seen.add(token);
    if (!known.has(token)) {
      unknown.push(token);
      continue;
    }
    const t = itemText(at.map((i) => f[i]));
    overlong += t.overlong;
    tokens.push(token);
    texts.push(t.text);
    if (t.text === '') empty.push(token);
  }
  for (const token of known) {
    if (seen.has(token)) continue;
    seen.add(token);
    tokens.push(token);
    texts.push('');
    empty.push(token);
  }
  return { tokens, texts, fields, empty, unknown, overlong };
}
