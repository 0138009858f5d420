// Frozen per-item feature tables (text or image vectors) keyed by item token.
//
// File format ("hm4sr-features" version 1), chosen so a table can be inspected with `head`:
//   line 1:           JSON header {"format":"hm4sr-features","version":1,"dim":D,"count":M}
//   lines 2..M+1:     one item token per line (no tabs or newlines; row i is on line i + 2)
//   zero bytes up to the next multiple of 4 from the start of the file
//   M * D float32 values, little-endian, row-major (row i belongs to the token on line i + 2)
// The file size must match exactly; trailing bytes are an error.
import { writeFileAtomic } from '../../graph/atomic.js';
import { InputError } from '../../graph/input-file.js';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
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

/** `data` holds rows first.. of the table. */
function checkFinite(path: string, tokens: string[], data: Float32Array, dim: number, first = 0): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]) || Math.abs(data[i]) > FEATURE_LIMIT) {
      const row = first + Math.floor(i / dim);
      const why = Number.isFinite(data[i]) ? ` (beyond +-${FEATURE_LIMIT}: normalise the features)` : '';
      throw new Error(
        `${path}:${row + 2}: feature row ${row} (item "${tokens[row]}") has ${data[i]} at column ${i % dim}${why}`,
      );
    }
  }
}

/**
 * The file read in pieces: the header and token lines as far as they go, then the float block straight into the
 * table's memory, so a table of any size (a million items x 768 is 3 GB) is read without a copy of the file.
 */
class TableReader {
  private fd: number;
  readonly size: number;
  buf = Buffer.alloc(0);
  constructor(readonly path: string) {
    try {
      if (statSync(path).isDirectory()) throw new InputError(path, 'is a directory, where a file is expected');
      this.fd = openSync(path, 'r');
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      if (e instanceof InputError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(path, 'file does not exist');
      throw new InputError(path, `cannot be read: ${(e as Error).message}`);
    }
  }
  /** The position of the next newline at or after `from`, reading on as needed; -1 at the end of the file. */
  newline(from: number): number {
    for (;;) {
      const at = this.buf.indexOf(10, from);
      if (at >= 0 || this.buf.length >= this.size) return at;
      const more = Buffer.alloc(Math.min(Math.max(1 << 20, this.buf.length), this.size - this.buf.length));
      const n = readSync(this.fd, more, 0, more.length, this.buf.length);
      this.buf = Buffer.concat([this.buf, more.subarray(0, n)]);
    }
  }
  /** Bytes [start, start + out.length) of the file into out, those already read copied, the rest read into it. */
  readInto(out: Uint8Array, start: number): void {
    const have = Math.max(0, Math.min(this.buf.length - start, out.length));
    if (have > 0) out.set(this.buf.subarray(start, start + have));
    for (let done = have; done < out.length;) {
      const n = readSync(this.fd, out, done, Math.min(out.length - done, 1 << 30), start + done);
      if (n === 0) throw new Error(`${this.path}: file ends early`);
      done += n;
    }
  }
  close(): void {
    closeSync(this.fd);
  }
}

export function readFeatureTable(path: string): FeatureTable {
  const r = new TableReader(path);
  try {
    return readTable(r);
  } finally {
    r.close();
  }
}

/** Header and token lines; the float block starts at byte `dataStart` (its size checked against the file's). */
interface TableHead {
  dim: number;
  tokens: string[];
  dataStart: number;
}

function readHead(r: TableReader): TableHead {
  const path = r.path;
  const nl = r.newline(0);
  if (nl < 0) throw new Error(`${path}:1: no header line`);
  let header: Header;
  try {
    header = JSON.parse(r.buf.subarray(0, nl).toString('utf8')) as Header;
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
    const end = r.newline(at);
    if (end < 0) throw new Error(`${path}:${i + 2}: file ends inside the token list (${i} of ${count} tokens)`);
    const tok = r.buf.subarray(at, end).toString('utf8');
    if (tok === '') throw new Error(`${path}:${i + 2}: empty item token`);
    const prev = seen.get(tok);
    if (prev !== undefined) throw new Error(`${path}:${i + 2}: item "${tok}" already on line ${prev + 2}`);
    seen.set(tok, i);
    tokens.push(tok);
    at = end + 1;
  }
  const dataStart = (at + 3) & ~3;
  const expected = dataStart + count * dim * 4;
  if (r.size !== expected) {
    throw new Error(`${path}: size ${r.size} bytes, expected ${expected} for ${count} rows of ${dim} float32`);
  }
  // The token lines are all the table keeps of the buffer.
  r.buf = Buffer.alloc(0);
  return { dim, tokens, dataStart };
}

/** Rows [first, first + out.length / dim) of the float block into out (host byte order), checked finite. */
function readRows(r: TableReader, h: TableHead, first: number, out: Float32Array): void {
  r.readInto(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), h.dataStart + first * h.dim * 4);
  if (!LE) {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  checkFinite(r.path, h.tokens, out, h.dim, first);
}

function readTable(r: TableReader): FeatureTable {
  const h = readHead(r);
  const data = new Float32Array(h.tokens.length * h.dim);
  readRows(r, h, 0, data);
  return { path: r.path, dim: h.dim, tokens: h.tokens, data };
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
  // Little-endian hosts write the table's own bytes (no copy of a table that may be gigabytes).
  const body = LE ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : bigEndianBody(data);
  writeFileAtomic(path, [head, pad, body]);
}

function bigEndianBody(data: Float32Array): Buffer {
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], i * 4);
  return body;
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
  return aligned(table.path, table.tokens, dim, itemTokens, opts, (rowOf, data) => {
    for (let r = 0; r < rowOf.length; r++)
      if (rowOf[r] > 0) data.set(table.data.subarray(r * dim, (r + 1) * dim), rowOf[r] * dim);
  });
}

/** Rows read per piece by readAlignedFeatures (64 MiB at 768 columns). */
const PIECE_BYTES = 1 << 26;

/**
 * alignFeatures(readFeatureTable(path), ...) without the table in memory: the float block is read a piece at a
 * time straight into the aligned rows, so a table costs its aligned copy alone (3 GB for a million items x 768,
 * not 6).
 */
export function readAlignedFeatures(
  path: string,
  itemTokens: string[],
  opts: AlignOptions = {},
  pieceBytes = PIECE_BYTES,
): AlignedFeatures {
  const r = new TableReader(path);
  try {
    const h = readHead(r);
    const per = Math.max(1, Math.floor(pieceBytes / (h.dim * 4)));
    return aligned(path, h.tokens, h.dim, itemTokens, opts, (rowOf, data) => {
      const piece = new Float32Array(Math.min(per, h.tokens.length) * h.dim);
      for (let first = 0; first < h.tokens.length; first += per) {
        const rows = Math.min(per, h.tokens.length - first);
        const part = piece.subarray(0, rows * h.dim);
        readRows(r, h, first, part);
        for (let k = 0; k < rows; k++) {
          const item = rowOf[first + k];
          if (item > 0) data.set(part.subarray(k * h.dim, (k + 1) * h.dim), item * h.dim);
        }
      }
    });
  } finally {
    r.close();
  }
}

/**
 * The aligned table of rows keyed by `tokens`: `fill` copies row r to item rowOf[r] (0: skipped). A row whose
 * item the dataset never heard of is an error naming its line.
 */
function aligned(
  path: string,
  tokens: string[],
  dim: number,
  itemTokens: string[],
  opts: AlignOptions,
  fill: (rowOf: Int32Array, data: Float32Array) => void,
): AlignedFeatures {
  const index = new Map<string, number>();
  for (let i = 1; i < itemTokens.length; i++) index.set(itemTokens[i], i);
  const rowOf = new Int32Array(tokens.length);
  const covered = new Uint8Array(itemTokens.length);
  let extra = 0;
  for (let r = 0; r < tokens.length; r++) {
    const item = index.get(tokens[r]);
    if (item === undefined) {
      if (!opts.allowExtra && !opts.known?.has(tokens[r]))
        throw new Error(`${path}:${r + 2}: item "${tokens[r]}" is not in the dataset`);
      extra += 1;
      continue;
    }
    rowOf[r] = item;
    covered[item] = 1;
  }
  const data = new Float32Array(itemTokens.length * dim);
  fill(rowOf, data);
  const missingTokens: string[] = [];
  let missing = 0;
  for (let i = 1; i < itemTokens.length; i++) {
    if (covered[i]) continue;
    missing += 1;
    if (missingTokens.length < 10) missingTokens.push(itemTokens[i]);
  }
  return { data, dim, missing, missingTokens, extra };
}
