// Frozen per-item feature tables (text or image vectors) keyed by item token.
//
// File format ("hm4sr-features" version 1), chosen so a table can be inspected with `head`:
//   line 1:           JSON header {"format":"hm4sr-features","version":1,"dim":D,"count":M}
//   lines 2..M+1:     one item token per line (no tabs or newlines; row i is on line i + 2)
//   zero bytes up to the next multiple of 4 from the start of the file
//   M * D float32 values, little-endian, row-major (row i belongs to the token on line i + 2)
// The file size must match exactly; trailing bytes are an error.
import { writeFileAtomic } from '../../graph/atomic.js';
import { readInputBytes } from '../../graph/input-file.js';
import { endianness } from 'node:os';

export const FEATURE_FORMAT = 'hm4sr-features';
export const FEATURE_VERSION = 1;

export interface FeatureTable {
  path: string;
  dim: number;
  tokens: string[];
  /** [tokens.length x dim] row-major. */
  data: Float32Array;
}

interface Header {
  format: string;
  version: number;
  dim: number;
  count: number;
}

const LE = endianness() === 'LE';

/**
 * Largest feature magnitude accepted. Encoder outputs and TF-IDF weights are far below it; larger finite
 * values overflow float32 in the model's squares (LayerNorm variance) and train to NaN, so the reader
 * rejects them by name, for every command alike.
 */
export const FEATURE_LIMIT = 1e6;

function checkFinite(path: string, tokens: string[], data: Float32Array, dim: number): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]) || Math.abs(data[i]) > FEATURE_LIMIT) {
      const row = Math.floor(i / dim);
      const why = Number.isFinite(data[i]) ? ` (beyond +-${FEATURE_LIMIT}: normalise the features)` : '';
      throw new Error(
        `${path}:${row + 2}: feature row ${row} (item "${tokens[row]}") has ${data[i]} at column ${i % dim}${why}`,
      );
    }
  }
}

export function readFeatureTable(path: string): FeatureTable {
  const buf = readInputBytes(path);
  const nl = buf.indexOf(10);
  if (nl < 0) throw new Error(`${path}:1: no header line`);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Header;
  } catch (e) {
    throw new Error(`${path}:1: header is not JSON (${(e as Error).message})`);
  }
  if (header.format !== FEATURE_FORMAT || header.version !== FEATURE_VERSION) {
    throw new Error(
      `${path}:1: not a ${FEATURE_FORMAT} v${FEATURE_VERSION} file (format ${header.format}, version ${header.version})`,
    );
  }
  const { dim, count } = header;
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(count) || count < 0) {
    throw new Error(`${path}:1: bad dim ${dim} or count ${count}`);
  }
  const tokens: string[] = [];
  const seen = new Map<string, number>();
  let at = nl + 1;
  for (let i = 0; i < count; i++) {
    const end = buf.indexOf(10, at);
    if (end < 0) throw new Error(`${path}:${i + 2}: file ends inside the token list (${i} of ${count} tokens)`);
    const tok = buf.subarray(at, end).toString('utf8');
    if (tok === '') throw new Error(`${path}:${i + 2}: empty item token`);
    const prev = seen.get(tok);
    if (prev !== undefined) throw new Error(`${path}:${i + 2}: item "${tok}" already on line ${prev + 2}`);
    seen.set(tok, i);
    tokens.push(tok);
    at = end + 1;
  }
  const dataStart = (at + 3) & ~3;
  const expected = dataStart + count * dim * 4;
  if (buf.length !== expected) {
    throw new Error(`${path}: size ${buf.length} bytes, expected ${expected} for ${count} rows of ${dim} float32`);
  }
  const data = new Float32Array(count * dim);
  if (LE) {
    new Uint8Array(data.buffer).set(buf.subarray(dataStart));
  } else {
    const view = new DataView(buf.buffer, buf.byteOffset + dataStart, count * dim * 4);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  }
  checkFinite(path, tokens, data, dim);
  return { path, dim, tokens, data };
}

/** Writes a table atomically (temp file in the same directory, fsync, rename). */
export function writeFeatureTable(path: string, tokens: string[], data: Float32Array, dim: number): void {
  if (data.length !== tokens.length * dim)
    throw new Error(`${path}: ${data.length} values for ${tokens.length} tokens x ${dim}`);
  tokens.forEach((t, i) => {
    if (t === '' || /[\n\r\t]/.test(t))
      throw new Error(`${path}: token ${i} ${JSON.stringify(t)} is empty or holds a tab/newline`);
  });
  checkFinite(path, tokens, data, dim);
  const head = Buffer.from(
    `${JSON.stringify({ format: FEATURE_FORMAT, version: FEATURE_VERSION, dim, count: tokens.length } satisfies Header)}\n` +
      tokens.map((t) => `${t}\n`).join(''),
    'utf8',
  );
  const pad = Buffer.alloc(((head.length + 3) & ~3) - head.length);
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], i * 4);
  writeFileAtomic(path, [head, pad, body]);
}

export interface AlignedFeatures {
  /** [(numItems + 1) x dim], row 0 (padding) zero. */
  data: Float32Array;
  dim: number;
  /** Dataset items with no row in the table (left as zero vectors), and the first few of them. */
  missing: number;
  missingTokens: string[];
  /** Table rows skipped because their item is not in the dataset (filtered, or allowExtra). */
  extra: number;
}

export interface AlignOptions {
  /**
   * Items the source files mention (Dataset.knownItemTokens): rows for these that k-core or
   * de-duplication removed are skipped. Rows for any other item are an error: the table was
   * probably built for another dataset.
   */
  known?: ReadonlySet<string>;
  /** Skip every row whose item is not in the dataset. */
  allowExtra?: boolean;
}

/** Rows ordered by dataset item index (itemTokens[0] is the padding entry and is ignored). */
export function alignFeatures(table: FeatureTable, itemTokens: string[], opts: AlignOptions = {}): AlignedFeatures {
  const { dim } = table;
  const index = new Map<string, number>();
  for (let i = 1; i < itemTokens.length; i++) index.set(itemTokens[i], i);
  const data = new Float32Array(itemTokens.length * dim);
  const covered = new Uint8Array(itemTokens.length);
  let extra = 0;
  for (let r = 0; r < table.tokens.length; r++) {
    const item = index.get(table.tokens[r]);
    if (item === undefined) {
      if (!opts.allowExtra && !opts.known?.has(table.tokens[r]))
        throw new Error(`${table.path}:${r + 2}: item "${table.tokens[r]}" is not in the dataset`);
      extra += 1;
      continue;
    }
    data.set(table.data.subarray(r * dim, (r + 1) * dim), item * dim);
    covered[item] = 1;
  }
  const missingTokens: string[] = [];
  let missing = 0;
  for (let i = 1; i < itemTokens.length; i++) {
    if (covered[i]) continue;
    missing += 1;
    if (missingTokens.length < 10) missingTokens.push(itemTokens[i]);
  }
  return { data, dim, missing, missingTokens, extra };
}
