// Readers for RecBole "atomic" files: tab-separated text whose first line is a typed header
// (`user_id:token	item_id:token	timestamp:float`). Errors always name `file:line` (1-based) so a
// broken row in a 200k-line file can be found without a debugger.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, readInputText } from '../../graph/input-file.js';

export type AtomicType = 'token' | 'token_seq' | 'float' | 'float_seq';
const ATOMIC_TYPES: ReadonlySet<string> = new Set<AtomicType>(['token', 'token_seq', 'float', 'float_seq']);

export interface AtomicColumn {
  name: string;
  type: AtomicType;
}

/** Raw interaction columns in file order (one entry per data row). */
export interface InterColumns {
  path: string;
  users: string[];
  items: string[];
  /** Unix seconds; float64 because float32 seconds reorder events a few minutes apart. */
  timestamps: Float64Array;
  /** 1-based file line of each row, for messages about a particular interaction. */
  lines: Int32Array;
}

export interface ReadInterOptions {
  userColumn?: string;
  itemColumn?: string;
  timeColumn?: string;
}

export interface ItemInfo {
  title: string;
  categories: string[];
  brand: string;
}

export interface ReadItemsOptions {
  itemColumn?: string;
  /** A token_seq column whose space-separated tokens become the item's category labels. */
  categoryColumn: string;
  titleColumn?: string;
  brandColumn?: string;
}

export class AtomicFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'AtomicFormatError';
  }
}

/** Splits `text` into lines, dropping a trailing "\r" (files edited on Windows) per line. */
function* lines(text: string): Generator<[line: string, lineNo: number]> {
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo += 1;
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    yield [text.slice(start, stop), lineNo];
    start = end + 1;
  }
}

export function parseHeader(file: string, header: string): AtomicColumn[] {
  const cols = header.split('\t').map((field, i): AtomicColumn => {
    const colon = field.lastIndexOf(':');
    const name = colon < 0 ? field : field.slice(0, colon);
    const type = colon < 0 ? '' : field.slice(colon + 1);
    if (name === '' || !ATOMIC_TYPES.has(type)) {
      throw new AtomicFormatError(
        file,
        1,
        `header column ${i + 1} "${field}" is not name:type with type one of ${[...ATOMIC_TYPES].join(', ')}`,
      );
    }
    return { name, type: type as AtomicType };
  });
  const seen = new Set<string>();
  for (const c of cols) {
    if (seen.has(c.name)) throw new AtomicFormatError(file, 1, `header names column "${c.name}" twice`);
    seen.add(c.name);
  }
  return cols;
}

export function columnIndex(file: string, cols: AtomicColumn[], name: string): number {
  const i = cols.findIndex((c) => c.name === name);
  if (i < 0) {
    throw new AtomicFormatError(
      file,
      1,
      `missing required column "${name}" (header has ${cols.map((c) => c.name).join(', ')})`,
    );
  }
  return i;
}

/**
 * `DIR/NAME.EXT` or its gzip-compressed `DIR/NAME.EXT.gz` (how the built-in datasets ship), null when
 * neither exists. Both at once is an error: which one is read must never depend on a silent choice.
 */
export function findAtomicFile(dir: string, name: string, ext: string): string | null {
  const plain = join(dir, `${name}.${ext}`);
  const gz = `${plain}.gz`;
  const [p, g] = [existsSync(plain), existsSync(gz)];
  if (p && g) throw new InputError(plain, `and ${gz} both exist; keep one of them`);
  return p ? plain : g ? gz : null;
}

/** Reads the file (gunzipped for .gz, UTF-8, BOM dropped), or throws naming it when it is unreadable or has no header. */
export function readAtomic(file: string): { cols: AtomicColumn[]; rows: Generator<[string, number]> } {
  const text = readInputText(file);
  const it = lines(text);
  const first = it.next();
  if (first.done || first.value[0].trim() === '') throw new AtomicFormatError(file, 1, 'empty file (no header line)');
  return { cols: parseHeader(file, first.value[0]), rows: it };
}

export function splitRow(file: string, line: string, lineNo: number, width: number): string[] {
  const fields = line.split('\t');
  if (fields.length !== width) {
    throw new AtomicFormatError(file, lineNo, `expected ${width} tab-separated fields, found ${fields.length}`);
  }
  return fields;
}

/**
 * The latest Unix second a JavaScript Date can hold (year 275760). Later values are rejected where they
 * are read, so `data stats`, `train` and `build-graph` give the same verdict; a value this large is
 * usually milliseconds or microseconds written where seconds belong.
 */
export const MAX_TIMESTAMP = 8.64e12;

export function parseTimestamp(file: string, lineNo: number, field: string): number {
  const t = field.trim() === '' ? NaN : Number(field);
  if (Number.isNaN(t)) throw new AtomicFormatError(file, lineNo, `timestamp "${field}" is not a number`);
  if (!Number.isFinite(t)) throw new AtomicFormatError(file, lineNo, `timestamp "${field}" is not finite`);
  if (t < 0) throw new AtomicFormatError(file, lineNo, `timestamp "${field}" is negative`);
  if (t > MAX_TIMESTAMP)
    throw new AtomicFormatError(
      file,
      lineNo,
      `timestamp "${field}" is after the year 275760 (Unix seconds are expected; milliseconds?)`,
    );
  return t;
}

/** Reads an interaction (.inter) file. Extra columns are ignored; blank lines are skipped. */
export function readInter(path: string, opts: ReadInterOptions = {}): InterColumns {
  const { cols, rows } = readAtomic(path);
  const ui = columnIndex(path, cols, opts.userColumn ?? 'user_id');
  const ii = columnIndex(path, cols, opts.itemColumn ?? 'item_id');
  const ti = columnIndex(path, cols, opts.timeColumn ?? 'timestamp');
  const users: string[] = [];
  const items: string[] = [];
  let ts = new Float64Array(1 << 16);
  let lineNos = new Int32Array(1 << 16);
  let n = 0;
  let lastLine = 1;
  for (const [line, lineNo] of rows) {
    lastLine = lineNo;
    if (line === '') continue;
    const f = splitRow(path, line, lineNo, cols.length);
    if (f[ui] === '') throw new AtomicFormatError(path, lineNo, 'empty user id');
    if (f[ii] === '') throw new AtomicFormatError(path, lineNo, 'empty item id');
    if (n === ts.length) {
      const grownTs = new Float64Array(n * 2);
      grownTs.set(ts);
      ts = grownTs;
      const grownLines = new Int32Array(n * 2);
      grownLines.set(lineNos);
      lineNos = grownLines;
    }
    users.push(f[ui]);
    items.push(f[ii]);
    ts[n] = parseTimestamp(path, lineNo, f[ti]);
    lineNos[n] = lineNo;
    n += 1;
  }
  if (n === 0) throw new AtomicFormatError(path, lastLine + 1, 'no interactions after the header');
  return { path, users, items, timestamps: ts.slice(0, n), lines: lineNos.slice(0, n) };
}

const splitSeq = (s: string): string[] => s.split(' ').filter((t) => t !== '');

/** Reads an item (.item) file into token -> info. A token listed twice is an error. */
export function readItems(path: string, opts: ReadItemsOptions): Map<string, ItemInfo> {
  const { cols, rows } = readAtomic(path);
  const ii = columnIndex(path, cols, opts.itemColumn ?? 'item_id');
  const ci = columnIndex(path, cols, opts.categoryColumn);
  const ti = opts.titleColumn === undefined ? -1 : columnIndex(path, cols, opts.titleColumn);
  const bi = opts.brandColumn === undefined ? -1 : columnIndex(path, cols, opts.brandColumn);
  const out = new Map<string, ItemInfo>();
  for (const [line, lineNo] of rows) {
    if (line === '') continue;
    const f = splitRow(path, line, lineNo, cols.length);
    const token = f[ii];
    if (token === '') throw new AtomicFormatError(path, lineNo, 'empty item id');
    if (out.has(token)) throw new AtomicFormatError(path, lineNo, `item "${token}" listed twice`);
    out.set(token, {
      title: ti < 0 ? '' : f[ti],
      categories: splitSeq(f[ci]),
      brand: bi < 0 ? '' : f[bi],
    });
  }
  return out;
}
