// One writer per output: a command that writes a directory (or a resumable output file) holds a lock file
// there while it runs, naming its process, host and command. A second writer is refused with that name; a
// lock whose process has gone (kill -9, a crash, a reboot) is taken over with a warning, so a --resume
// after a crash needs no manual step. Readers take no lock.
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The name of a directory's lock file (hidden: tools that list a run directory do not see it). */
export const DIR_LOCK = '.hm4sr.lock';
const FORMAT = 'hm4sr-lock/1';

/** What a lock file holds. */
export interface LockHolder {
  format: string;
  /** The command that writes (train, score, featurize, export). */
  command: string;
  /** Its command line after the program name, for the refusal message. */
  args: string[];
  pid: number;
  host: string;
  /** This boot of the machine: a lock from an earlier boot is stale whatever its pid. */
  bootId: string;
  /** The process's start time in clock ticks since boot (Linux): tells a reused pid from the holder. */
  processStart: string;
  started: string;
}

export interface HeldLock {
  readonly file: string;
  /** Removes the lock (only if it is still this process's); idempotent. */
  release(): void;
}

/** Another live process holds the lock. */
export class LockedError extends Error {
  constructor(
    readonly target: string,
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(refusal(target, file, holder));
    this.name = 'LockedError';
  }
}

const readOr = (path: string, fallback: string) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
};

function readIfThere(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const bootId = () => readOr('/proc/sys/kernel/random/boot_id', '');

/**
 * A process's state and start time in clock ticks since boot (fields 3 and 22 of /proc/PID/stat), '' each
 * where /proc is absent. The start time tells a reused pid from the holder; a zombie (Z) has exited.
 */
function procStat(pid: number): { state: string; start: string } {
  const stat = readOr(`/proc/${pid}/stat`, '');
  // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
  const f = stat === '' ? [] : stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '', start: f[19] ?? '' };
}

function describeHolder(h: LockHolder): string {
  // The command line when the lock came from the CLI (args start with the command), else the command's name.
  const words = h.args[0] === h.command ? h.args : [h.command];
  const line = ['hm4sr', ...words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : JSON.stringify(w)))].join(' ');
  return `${line} (pid ${h.pid} on ${h.host}, since ${h.started})`;
}

function refusal(target: string, file: string, h: LockHolder): string {
  const after =
    h.host !== hostname()
      ? `That host's processes cannot be seen from ${hostname()}: if that command has stopped, delete ${file}.`
      : 'A lock whose process has gone (a crash, kill -9, a restart) is taken over by itself.';
  return (
    `${target} is being written by ${describeHolder(h)}. One command writes it at a time: wait for that ` +
    `one to end, or stop it. ${after}`
  );
}

/** Why a holder no longer holds its lock, or null while it may still be running. */
export function staleReason(h: LockHolder): string | null {
  if (h.host !== hostname()) return null;
  const boot = bootId();
  if (h.bootId && boot && h.bootId !== boot) return 'the machine has restarted since';
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // EPERM: the pid exists under another user, so it may be the holder.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return `its process ${h.pid} has gone`;
  }
  const { state, start } = procStat(h.pid);
  if (state === 'Z') return `its process ${h.pid} has exited`;
  if (h.processStart && start && start !== h.processStart) {
    return `its process ${h.pid} has gone (the pid now belongs to another process)`;
  }
  return null;
}

function parseHolder(file: string, text: string): LockHolder {
  let h: Partial<LockHolder> | null = null;
  try {
    h = JSON.parse(text) as Partial<LockHolder>;
  } catch {
    // reported below with the file's name
  }
  if (h?.format !== FORMAT || typeof h.pid !== 'number' || typeof h.host !== 'string') {
    const head = JSON.stringify(text.slice(0, 60));
    throw new Error(`${file}: not an hm4sr lock file (${head}); delete it if no hm4sr command is writing here`);
  }
  return { args: [], bootId: '', processStart: '', started: '?', command: '?', ...h } as LockHolder;
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function writeNew(path: string, text: string): void {
  const fd = openSync(path, 'wx');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Removes a stale lock. Only one process at a time may do so (it holds FILE.break, made with O_EXCL), and
 * only if the file still holds the stale text it judged: a live lock that another process took meanwhile
 * is never removed. A .break left by a process killed inside these few lines is itself judged stale.
 */
function removeStale(file: string, staleText: string, me: string): void {
  const brk = `${file}.break`;
  try {
    writeNew(brk, me);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const other = readOr(brk, '');
    let gone = false;
    try {
      gone = other !== '' && staleReason(parseHolder(brk, other)) !== null;
    } catch {
      gone = true;
    }
    if (gone && readOr(brk, '') === other) tryUnlink(brk);
    else sleep(20);
    return;
  }
  try {
    if (readOr(file, '') === staleText) tryUnlink(file);
  } finally {
    tryUnlink(brk);
  }
}

const held = new Set<() => void>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** An interrupted command (Ctrl-C, kill) releases its locks and then dies of the signal as it would have. */
function onSignal(sig: NodeJS.Signals): void {
  for (const r of [...held]) r();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, sig);
}
const releaseAll = () => {
  for (const r of [...held]) r();
};

function track(release: () => void): void {
  if (held.size === 0) {
    for (const s of SIGNALS) process.on(s, onSignal);
    process.on('exit', releaseAll);
  }
  held.add(release);
}

function untrack(release: () => void): void {
  held.delete(release);
  if (held.size === 0) {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.removeListener('exit', releaseAll);
  }
}

/**
 * Takes the lock file FILE for `target` (the directory or file written), atomically: the holder record is
 * written to a private temporary file and hard-linked to FILE, which fails if FILE exists, so FILE is
 * never seen half-written. Throws LockedError while a live process holds it.
 */
export function acquireLock(file: string, target: string, command: string, warn: (m: string) => void): HeldLock {
  const holder: LockHolder = {
    format: FORMAT,
    command,
    args: process.argv.slice(2),
    pid: process.pid,
    host: hostname(),
    bootId: bootId(),
    processStart: procStat(process.pid).start,
    started: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const text = `${JSON.stringify(holder)}\n`;
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  // Warned once this process has the lock: racers that judged the same stale lock and lost say nothing.
  let takenOver: string | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeNew(tmp, text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      tryUnlink(tmp);
      continue;
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const current = readIfThere(file);
      if (current === null) continue; // released between our link and our read
      const other = parseHolder(file, current);
      const why = staleReason(other);
      if (why === null) throw new LockedError(target, file, other);
      takenOver = `${target}: taking over the lock of ${describeHolder(other)}: ${why}`;
      removeStale(file, current, text);
      continue;
    } finally {
      tryUnlink(tmp);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      untrack(release);
      if (readOr(file, '') === text.trim()) tryUnlink(file);
    };
    track(release);
    if (takenOver !== null) warn(takenOver);
    return { file, release };
  }
  throw new Error(`${file}: could not take the lock (other processes keep taking and releasing it)`);
}

/** Locks directory DIR (DIR/.hm4sr.lock), creating DIR; releasing removes DIR again if this made it and it is empty. */
export function lockDirectory(dir: string, command: string, warn: (m: string) => void): HeldLock {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir}: is a file, not a directory`);
  const made = !existsSync(dir);
  const lock = acquireLock(join(dir, DIR_LOCK), dir, command, warn);
  return {
    file: lock.file,
    release() {
      lock.release();
      if (!made) return;
      try {
        rmdirSync(dir);
      } catch {
        // not empty (the command wrote something) or already gone: either way it stays as it is
      }
    },
  };
}

/** Locks one output file FILE (FILE.lock beside it, with its other resumable state). */
export const lockFile = (file: string, command: string, warn: (m: string) => void): HeldLock =>
  acquireLock(`${file}.lock`, file, command, warn);

/** Runs fn under a lock, released when fn returns, throws, or (for a promise) settles. */
export function withLock<T>(lock: HeldLock, fn: () => T): T {
  let r: T;
  try {
    r = fn();
  } catch (e) {
    lock.release();
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => lock.release()) as T;
  lock.release();
  return r;
}
