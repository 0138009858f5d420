// A resumable cache for long featurize runs: rows are computed in fixed chunks, each written atomically
// as its own feature table (plus a note file naming items that got zero rows), so a killed run loses at
// most one chunk and a restarted one computes only what is missing.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { readFeatureTable, writeFeatureTable } from '../train/data/features.js';

export interface ChunkResult {
  /** [(end - start) x dim]. */
  data: Float32Array;
  /** Items of the chunk that got a zero row, with the reason (e.g. an unreadable image). */
  zeroRows: Record<string, string>;
}

export interface CachedRunOptions {
  dir: string;
  /** Fingerprint of the model, inputs and settings; a cache with another key is discarded. */
  key: string;
  tokens: string[];
  dim: number;
  chunk: number;
  compute(start: number, end: number): Promise<ChunkResult>;
  /** Called after each chunk with the number of items done (reused chunks included). */
  onProgress?(done: number, reused: number): void;
  log(m: string): void;
}

interface Manifest {
  key: string;
  chunk: number;
  count: number;
  dim: number;
}

const chunkName = (i: number) => `chunk-${String(i).padStart(6, '0')}`;

function readChunk(dir: string, i: number, tokens: string[], dim: number): ChunkResult | null {
  const table = join(dir, `${chunkName(i)}.f32`);
  if (!existsSync(table)) return null;
  try {
    const t = readFeatureTable(table);
    if (t.dim !== dim || t.tokens.length !== tokens.length || t.tokens.some((x, k) => x !== tokens[k])) return null;
    const zeroRows = JSON.parse(readFileSync(join(dir, `${chunkName(i)}.json`), 'utf8')) as Record<string, string>;
    return { data: t.data, zeroRows };
  } catch {
    // A chunk that cannot be read back is recomputed; the run's output never depends on it.
    return null;
  }
}

/** Computes (or reuses) every chunk; returns all rows and the zero-row notes in token order. */
export async function runChunked(
  o: CachedRunOptions,
): Promise<{ data: Float32Array; zeroRows: Record<string, string>; reused: number }> {
  if (!Number.isInteger(o.chunk) || o.chunk < 1)
    throw new Error(`chunk size must be a positive integer, got ${o.chunk}`);
  const manifestPath = join(o.dir, 'manifest.json');
  const want: Manifest = { key: o.key, chunk: o.chunk, count: o.tokens.length, dim: o.dim };
  let reuse = false;
  if (existsSync(manifestPath)) {
    try {
      const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
      reuse = m.key === want.key && m.chunk === want.chunk && m.count === want.count && m.dim === want.dim;
    } catch {
      reuse = false;
    }
    if (!reuse) o.log(`${o.dir}: cache from another model, input or chunk size; starting over`);
  }
  if (!reuse) {
    rmSync(o.dir, { recursive: true, force: true });
    mkdirSync(o.dir, { recursive: true });
    writeFileAtomic(manifestPath, `${JSON.stringify(want)}\n`);
  }
  const data = new Float32Array(o.tokens.length * o.dim);
  const zeroRows: Record<string, string> = {};
  let done = 0,
    reused = 0;
  for (let i = 0, start = 0; start < o.tokens.length; i++, start += o.chunk) {
    const end = Math.min(start + o.chunk, o.tokens.length);
    const tokens = o.tokens.slice(start, end);
    let r = reuse ? readChunk(o.dir, i, tokens, o.dim) : null;
    if (r) {
      reused += end - start;
    } else {
      r = await o.compute(start, end);
      if (r.data.length !== (end - start) * o.dim)
        throw new Error(`chunk ${i}: ${r.data.length} values for ${end - start} items x ${o.dim}`);
      writeFileAtomic(join(o.dir, `${chunkName(i)}.json`), JSON.stringify(r.zeroRows));
      writeFeatureTable(join(o.dir, `${chunkName(i)}.f32`), tokens, r.data, o.dim);
    }
    data.set(r.data, start * o.dim);
    Object.assign(zeroRows, r.zeroRows);
    done = end;
    o.onProgress?.(done, reused);
  }
  return { data, zeroRows, reused };
}

/** Removes a finished run's cache. */
export function dropCache(dir: string): void {
  if (
    existsSync(dir) &&
    readdirSync(dir).every((f) => f === 'manifest.json' || /^chunk-\d+\.(f32|json)$/.test(f) || f.endsWith('.tmp'))
  ) {
    rmSync(dir, { recursive: true, force: true });
  }
}
