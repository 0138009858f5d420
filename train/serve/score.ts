import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { writeFileAtomic } from '../../graph/atomic.js';
import type { ServingData } from './histories.js';
import type { Recommender } from '../../runtime/recommender.js';
import { lockFile, withLock } from '../../runtime/output-lock.js';

export interface ScoreOptions {
  k: number;
  excludeSeen: boolean;
  /** Users per onnxruntime run: memory is bounded by one chunk, whatever the number of users. */
  chunk: number;
  progress?: (done: number, total: number) => void;
  /** Warnings (a stale lock taken over); default: stderr. */
  warn?: (m: string) => void;
}

export interface ScoreResult {
  users: number;
  resumedAt: number;
  seconds: number;
  out: string;
}

/** What a partial file was started with: resuming with anything else would mix two runs in one file. */
interface Resume {
  model: string;
  modelBytes: number;
  data: string;
  users: number;
  k: number;
  excludeSeen: boolean;
}

/**
 * Every user's top-K as JSON lines ({"user", "items", "scores"}), in dataset order. Lines go to
 * OUT.partial chunk by chunk (fsynced), so an interrupted run resumes after its last complete line; the
 * finished file is renamed to OUT, which therefore never exists half-written.
 */
export async function scoreUsers(
  rec: Recommender,
  data: ServingData,
  dataLabel: string,
  out: string,
  o: ScoreOptions,
): Promise<ScoreResult> {
  rec.checkK(o.k);
  if (!Number.isInteger(o.chunk) || o.chunk < 1) throw new Error(`--batch ${o.chunk}: must be a positive integer`);
  // One writer per OUT: two at once would append to the same OUT.partial.
  const warn = o.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  return withLock(lockFile(out, 'score', warn), () => scoreLocked(rec, data, dataLabel, out, o));
}

async function scoreLocked(
  rec: Recommender,
  data: ServingData,
  dataLabel: string,
  out: string,
  o: ScoreOptions,
): Promise<ScoreResult> {
  const t0 = performance.now();
  const partial = `${out}.partial`,
    stateFile = `${out}.partial.json`;
  const total = data.ds.numUsers;
  const want: Resume = {
    model: rec.path,
    modelBytes: statSync(rec.path).size,
    data: dataLabel,
    users: total,
    k: o.k,
    excludeSeen: o.excludeSeen,
  };
  let done = resumePoint(partial, stateFile, want);
  const resumedAt = done;
  const fd = openSync(partial, 'a');
  try {
    o.progress?.(done, total);
    while (done < total) {
      const n = Math.min(o.chunk, total - done);
      const users = Array.from({ length: n }, (_, i) => data.history(done + i));
      const recs = await rec.recommend(users, o.k, { excludeSeen: o.excludeSeen });
      const bytes = Buffer.from(jsonLines(recs, data.ds.userTokens, done));
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
      done += n;
      o.progress?.(done, total);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(partial, out);
  rmSync(stateFile, { force: true });
  return { users: total, resumedAt, seconds: (performance.now() - t0) / 1000, out };
}

/**
 * Users already written by an unfinished run with the same settings (its torn last line cut off), or 0 after
 * starting a new one; an unfinished run with other settings is an error.
 */
function resumePoint(partial: string, stateFile: string, want: Resume): number {
  if (existsSync(partial) && existsSync(stateFile)) {
    const had = JSON.parse(readFileSync(stateFile, 'utf8')) as Resume;
    const diff = (Object.keys(want) as (keyof Resume)[]).find((key) => had[key] !== want[key]);
    if (diff)
      throw new Error(
        `${partial}: an unfinished run with ${diff} = ${JSON.stringify(had[diff])}, not ${JSON.stringify(want[diff])}; delete it or rerun with the same settings`,
      );
    return completeLines(partial);
  }
  writeFileAtomic(stateFile, JSON.stringify(want) + '\n');
  writeFileAtomic(partial, '');
  return 0;
}

/** One JSON line per user (scores to 6 decimals) for the users from `first` on. */
function jsonLines(recs: Awaited<ReturnType<Recommender['recommend']>>, userTokens: string[], first: number): string {
  return (
    recs
      .map((r, i) =>
        JSON.stringify({
          user: userTokens[first + i],
          items: r.items,
          scores: r.scores.map((s) => +s.toFixed(6)),
        }),
      )
      .join('\n') + '\n'
  );
}

/** Complete lines of a partial file; a torn last line (the process died mid-write) is cut off. */
function completeLines(path: string): number {
  const buf = readFileSync(path);
  const end = buf.lastIndexOf(10) + 1;
  if (end < buf.length) truncateSync(path, end);
  let n = 0;
  for (let i = 0; i < end; i++) if (buf[i] === 10) n++;
  return n;
}
