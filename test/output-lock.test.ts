// One writer per output: the lock itself (refusal, release, stale locks after kill -9, a restart or a
// reused pid, another host, a takeover race), and score and featurize through the CLI against a second
// writer that holds the lock, then is killed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DIR_LOCK,
  type LockHolder,
  LockedError,
  acquireLock,
  lockDirectory,
  lockFile,
  withLock,
} from '../runtime/output-lock.js';
import { cliRunner } from './util/cli.js';
import { writeDataset } from './util/featurize-fixtures.js';
import { lockHolder } from './util/lock-holder.js';
import { tinyServingModel } from './util/serving-model.js';
import { tempDir } from './util/tmp.js';

const dir = tempDir('hm4sr-lock-');
const { hm4sr, ok } = cliRunner(dir);
const quiet = () => {};
const holderOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as LockHolder;

function refusedBy(f: () => unknown, pid: number, command: string): LockedError {
  try {
    f();
  } catch (e) {
    assert.instance(e, LockedError);
    assert.match((e as Error).message, new RegExp(`is being written by hm4sr ${command}\\b.*\\(pid ${pid} on `));
    return e as LockedError;
  }
  return assert.unreachable('the second writer was let in') as never;
}

test('a lock holds pid, host, command and start time; a second writer is refused naming it; release frees it', () => {
  const out = join(dir, 'run');
  const lock = lockDirectory(out, 'train', quiet);
  const h = holderOf(join(out, DIR_LOCK));
  assert.equal([h.pid, h.host, h.command], [process.pid, hostname(), 'train']);
  assert.ok(Math.abs(Date.parse(h.started) - Date.now()) < 60_000, `started ${h.started}`);
  const e = refusedBy(() => lockDirectory(out, 'export', quiet), process.pid, 'train');
  assert.match(e.message, new RegExp(`^${out} is being written by`));
  assert.match(e.message, /wait for that one to end, or stop it\. A lock whose process has gone .* is taken over by /);
  lock.release();
  assert.not.ok(existsSync(out), 'the directory the lock made, left empty, is removed again');
  const again = lockDirectory(out, 'train', quiet);
  writeFileSync(join(out, 'kept'), 'x');
  again.release();
  again.release();
  assert.equal(readdirSync(out), ['kept'], 'a directory with output stays; the lock goes');
});

test('release never removes a lock another process holds now', () => {
  const file = join(dir, 'other.lock');
  const mine = acquireLock(file, 'x', 'score', quiet);
  const theirs = JSON.stringify({ ...holderOf(file), pid: 1, started: 'later' });
  writeFileSync(file, theirs);
  mine.release();
  assert.is(readFileSync(file, 'utf8'), theirs);
});

test('a stale lock is taken over with a warning: holder killed, machine restarted, pid reused', async () => {
  const out = join(dir, 'stale');
  const holder = await lockHolder('lockDirectory', out, 'featurize');
  refusedBy(() => lockDirectory(out, 'featurize', quiet), holder.pid, 'featurize');
  await holder.kill9();
  const warnings: string[] = [];
  const lock = lockDirectory(out, 'featurize', (m) => warnings.push(m));
  assert.is(holderOf(lock.file).pid, process.pid);
  assert.is(warnings.length, 1);
  const pid = holder.pid;
  const want = `^${out}: taking over the lock of hm4sr featurize \\(pid ${pid} on .*: its process ${pid} has gone`;
  assert.match(warnings[0], new RegExp(want));
  lock.release();

  // This process is alive, so only the boot id or the process start time can tell these holders are gone.
  const live = (change: Partial<LockHolder>) => {
    const file = join(dir, `live-${Object.keys(change)[0]}.lock`);
    const l = acquireLock(file, 'x', 'train', quiet);
    const h = { ...holderOf(file), ...change };
    l.release();
    writeFileSync(file, JSON.stringify(h));
    const seen: string[] = [];
    acquireLock(file, 'x', 'train', (m) => seen.push(m)).release();
    return seen.join('\n');
  };
  assert.match(live({ bootId: 'an-earlier-boot' }), /the machine has restarted since/);
  assert.match(live({ processStart: '1' }), /the pid now belongs to another process/);
});

test('a lock from another host is never taken over (its processes cannot be seen); a foreign file is named', () => {
  const file = join(dir, 'remote.lock');
  acquireLock(file, 'x', 'train', quiet);
  const h = holderOf(file);
  writeFileSync(file, JSON.stringify({ ...h, host: 'elsewhere', pid: 999999999 }));
  const e = refusedBy(() => acquireLock(file, 'RUN', 'train', quiet), 999999999, 'train');
  const hint = `That host's processes cannot be seen from ${hostname()}: if that command has stopped, delete ${file}.`;
  assert.ok(e.message.endsWith(hint), e.message);
  writeFileSync(file, 'hello');
  const foreign = /remote\.lock: not an hm4sr lock file \("hello"\); delete it if no hm4sr command/;
  assert.throws(() => acquireLock(file, 'RUN', 'train', quiet), foreign);
});

test('processes racing to take over one stale lock: exactly one gets it', async () => {
  const file = join(dir, 'race.lock');
  const holder = await lockHolder('lockFile', join(dir, 'race'), 'score');
  await holder.kill9();
  const mod = new URL('../runtime/output-lock.js', import.meta.url).href;
  const done = join(dir, 'race.done');
  // Each racer sleeps until a common start time, tries once, says how it went, and holds what it got until
  // every racer has tried (the parent then writes race.done).
  const at = Date.now() + 3000;
  const code =
    `import { existsSync } from 'node:fs'; const m = await import(${JSON.stringify(mod)}); ` +
    `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, ${at} - Date.now() - 5)); ` +
    `while (Date.now() < ${at}); try { m.acquireLock(${JSON.stringify(file)}, 'race', 'score', () => {}); ` +
    `console.log('got'); } catch (e) { console.log(e.name); } ` +
    `setInterval(() => existsSync(${JSON.stringify(done)}) && process.exit(0), 20);`;
  const exits: Promise<void>[] = [];
  const racers = Array.from(
    { length: 5 },
    () =>
      new Promise<string>((res) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', code], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        c.stdout.on('data', (d) => res(String(d).trim()));
        exits.push(
          new Promise((e) =>
            c.on('exit', () => {
              res('exited without a word');
              e();
            }),
          ),
        );
      }),
  );
  const results = (await Promise.all(racers)).sort();
  writeFileSync(done, '');
  await Promise.all(exits);
  assert.equal(results, ['LockedError', 'LockedError', 'LockedError', 'LockedError', 'got']);
  assert.not.ok(existsSync(file), 'the winner released it on exit');
});

test('withLock releases after a result, a throw and a rejected promise', async () => {
  const target = join(dir, 'with');
  assert.is(
    withLock(lockFile(target, 'score', quiet), () => 1),
    1,
  );
  assert.throws(
    () =>
      withLock(lockFile(target, 'score', quiet), () => {
        throw new Error('boom');
      }),
    /boom/,
  );
  await withLock(lockFile(target, 'score', quiet), async () => {
    throw new Error('later');
  }).catch(() => {});
  assert.not.ok(existsSync(`${target}.lock`));
});

test('score: refused while another writer holds OUT, nothing written; once it is killed, taken over', async () => {
  const t = tinyServingModel(join(dir, 'serving'));
  const out = join(dir, 'scores', 'recs.jsonl');
  const args = ['score', '--model', t.model, '--data', t.data, '--out', out, '-k', '3'];
  const holder = await lockHolder('lockFile', out, 'score');
  const r = hm4sr(...args);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, new RegExp(`hm4sr: ${out} is being written by hm4sr score \\(pid ${holder.pid} on `));
  assert.equal(readdirSync(join(dir, 'scores')), ['recs.jsonl.lock'], 'no OUT, OUT.partial or state file');
  await holder.kill9();
  const res = hm4sr(...args);
  assert.is(res.code, 0, res.err);
  assert.match(res.err, new RegExp(`warning: ${out}: taking over the lock of hm4sr score \\(pid ${holder.pid}.*gone`));
  assert.is(JSON.parse(res.out).users, t.ds.numUsers);
  assert.equal(readdirSync(join(dir, 'scores')), ['recs.jsonl'], 'the lock is released at the end');
  const again = join(dir, 'scores', 'again.jsonl');
  ok('score', '--model', t.model, '--data', t.data, '--out', again, '-k', '3');
  assert.is(readFileSync(out, 'utf8'), readFileSync(again, 'utf8'), 'the same lines as a run that took no stale lock');
});

test('featurize: refused while another writer holds --out, nothing written; once killed, taken over', async () => {
  const data = join(dir, 'fdata'),
    out = join(dir, 'features');
  writeDataset(data);
  const args = ['featurize', '--data', data, '--text-model', 'tfidf', '--out', out];
  mkdirSync(out);
  writeFileSync(join(out, 'D.text.f32'), "the first writer's table");
  const holder = await lockHolder('lockDirectory', out, 'featurize');
  const r = hm4sr(...args);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, new RegExp(`hm4sr: ${out} is being written by hm4sr featurize \\(pid ${holder.pid} on `));
  assert.equal(readdirSync(out).sort(), [DIR_LOCK, 'D.text.f32']);
  assert.is(readFileSync(join(out, 'D.text.f32'), 'utf8'), "the first writer's table");
  await holder.kill9();
  const res = hm4sr(...args);
  assert.is(res.code, 0, res.err);
  assert.match(res.err, new RegExp(`warning: ${out}: taking over the lock of hm4sr featurize \\(pid ${holder.pid}.*`));
  assert.equal(readdirSync(out).sort(), ['D.text.f32', 'D.text.featurizer.json', 'D.text.report.json']);
  ok(...args.slice(0, -1), join(dir, 'features2'));
  assert.equal(readFileSync(join(out, 'D.text.f32')), readFileSync(join(dir, 'features2', 'D.text.f32')));
});

test.run();
