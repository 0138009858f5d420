// Reading files a user handed us. Every failure becomes an InputError that names the file (and line
// where there is one) in plain words, never a bare system code such as EISDIR: users meet these
// messages on their first run, usually because of a path typo or a file saved by another tool.
import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly line?: number,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
    this.name = 'InputError';
  }
}

/** Plain words for the system errors a read or write can meet; undefined for anything else. */
export function describeSystemError(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'is a directory, where a file is expected';
    case 'ENOTDIR':
      return 'a part of this path is a file, where a directory is expected';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EEXIST':
      return 'already exists';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'the file system is read-only';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    case 'ELOOP':
      return 'too many symbolic links (a link loop?)';
    case 'EIO':
      return 'input/output error';
    default:
      return undefined;
  }
}

/** The bytes of a file the user named, or an InputError saying why not. A directory is refused up front. */
export function readInputBytes(path: string): Buffer {
  try {
    if (statSync(path).isDirectory()) throw new InputError(path, 'is a directory, where a file is expected');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof InputError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(path, 'file does not exist');
    throw new InputError(path, `cannot be read: ${describeSystemError(e) ?? (e as Error).message}`);
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
export const isGzipPath = (path: string): boolean => path.endsWith('.gz');

/**
 * The bytes of a file, gunzipped when its name ends in .gz. A .gz name whose bytes are not gzip (or a
 * truncated archive) is an error: guessing would turn a damaged download into garbage rows.
 */
export function readMaybeGzipped(path: string): Buffer {
  const raw = readInputBytes(path);
  if (!isGzipPath(path)) return raw;
  if (raw.length < 2 || raw[0] !== GZIP_MAGIC[0] || raw[1] !== GZIP_MAGIC[1])
    throw new InputError(path, 'not a gzip file (the name ends in .gz)');
  try {
    return gunzipSync(raw);
  } catch (e) {
    throw new InputError(path, `damaged gzip data (${(e as Error).message})`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Text of a file (gunzipped for .gz) as UTF-8 without a byte-order mark. Invalid UTF-8 is an error
 * naming the line of the first bad byte: decoding it leniently would silently rename tokens.
 */
export function readInputText(path: string): string {
  const bytes = readMaybeGzipped(path);
  try {
    // ignoreBOM false: the decoder drops a leading BOM, which editors on Windows add.
    return utf8.decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < bad; i++) if (bytes[i] === 10) line += 1;
    throw new InputError(
      path,
      `not valid UTF-8 (byte 0x${bytes[bad].toString(16).padStart(2, '0')} at offset ${bad}); save the file as UTF-8`,
      line,
    );
  }
}

/** Offset of the first byte that breaks UTF-8 (the decoder only says that one does). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    // Overlong forms and surrogates: the second byte's range is narrower after these leads.
    if (
      (c === 0xe0 && b[i + 1] < 0xa0) ||
      (c === 0xed && b[i + 1] > 0x9f) ||
      (c === 0xf0 && b[i + 1] < 0x90) ||
      (c === 0xf4 && b[i + 1] > 0x8f)
    )
      return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/** A JSON file (`what` says what it should be, for the message); a syntax error names the file. */
export function readJsonFile(path: string, what: string): unknown {
  const text = readInputText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(path, `not ${what} (${(e as Error).message})`);
  }
}
