// One writer per run directory, through the CLI as a user runs it: a second `train` on a directory that
// another is training is refused and changes nothing of it, and a run killed with kill -9 resumes with
// plain --resume (its stale lock taken over) and ends with the bytes of an uninterrupted run.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DIR_LOCK } from '../runtime/output-lock.js';
import { readCheckpoint } from '../graph/artifacts/checkpoint.js';
import { type EpochLog, runFiles } from '../train/run.js';
import { cliRunner } from './util/cli.js';
import { tempDir } from './util/tmp.js';
import { writeMiniData } from './util/tiny-hm4sr.js';

const dir = tempDir('hm4sr-run-lock-');
const { hm4sr, ok } = cliRunner(dir);
const main = new URL('../cli/main.js', import.meta.url).pathname;
writeMiniData(join(dir, 'data'));
const EPOCHS = 6;
writeFileSync(
  join(dir, 'config.json'),
  JSON.stringify({
    model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 10 },
    eval: { batchSize: 64 },
    optim: { epochs: EPOCHS, batchSize: 128, patience: 10, threads: 1, seed: 7 },
  }),
);
const trainArgs = (out: string) => [
  'train',
  '--config',
  join(dir, 'config.json'),
  '--data',
  join(dir, 'data'),
  '--out',
  out,
  '--no-progress',
];

/** A training in the background, as in another terminal. */
function background(out: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const env = { ...process.env, CI: 'true', HM4SR_CACHE: join(dir, 'cache') };
  const child = spawn(process.execPath, [main, ...trainArgs(out)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  process.on('exit', () => child.kill('SIGKILL'));
  return { child, exited, stderr: () => err };
}

async function until(what: string, cond: () => boolean, child: ChildProcess): Promise<void> {
  while (!cond()) {
    if (child.exitCode !== null) assert.unreachable(`the training ended before ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every file of a directory and its bytes. */
const snapshot = (d: string) =>
  Object.fromEntries(
    readdirSync(d)
      .sort()
      .map((f) => [f, readFileSync(join(d, f)).toString('base64')]),
  );
/** log.jsonl and metrics.json without their wall-clock fields. */
const logValues = (out: string) =>
  readFileSync(runFiles(out).log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { trainSeconds: _t, samplesPerSecond: _s, evalSeconds: _e, ...rest } = JSON.parse(l) as EpochLog;
      return rest;
    });
const metricValues = (out: string) => {
  const { wallSeconds: _w, testEvalSeconds: _t, ...rest } = JSON.parse(readFileSync(runFiles(out).metrics, 'utf8'));
  return rest;
};

const reference = join(dir, 'reference');
let referenceRun: string | null = null;
const uninterrupted = () => (referenceRun ??= ok(...trainArgs(reference)));

function assertSameRun(out: string): void {
  uninterrupted();
  assert.equal(logValues(out), logValues(reference));
  assert.equal(metricValues(out), metricValues(reference));
  for (const f of ['last', 'best', 'model', 'ranks'] as const) {
    const same = readFileSync(runFiles(out)[f]).equals(readFileSync(runFiles(reference)[f]));
    assert.ok(same, `${f} differs from the uninterrupted run's`);
  }
  assert.not.ok(existsSync(join(out, DIR_LOCK)), 'the lock is released when training ends');
}

test('a second train or an export into a run being trained is refused naming it, changing nothing', async () => {
  const out = join(dir, 'shared');
  const first = background(out);
  await until('its first epoch', () => existsSync(runFiles(out).last), first.child);
  // Stopped (still alive) so the directory holds still while the second writers try.
  first.child.kill('SIGSTOP');
  try {
    const before = snapshot(out);
    assert.ok(DIR_LOCK in before);
    const exported = hm4sr('export', '--run', out);
    assert.is(exported.code, 1, `export into the run was let in:\n${exported.err}`);
    const holder = `hm4sr: ${out} is being written by hm4sr train .*\\(pid ${first.child.pid} on `;
    assert.match(exported.err, new RegExp(holder));
    for (const extra of [['--resume'], []]) {
      const r = hm4sr(...trainArgs(out), ...extra);
      assert.is(r.code, 1, `train ${extra.join(' ')} was let in:\n${r.err}`);
      const line = `hm4sr train --config \\S+ --data \\S+ --out ${out} --no-progress`;
      assert.match(r.err, new RegExp(`hm4sr: ${out} is being written by ${line} \\(pid ${first.child.pid} on `));
      assert.equal(snapshot(out), before, 'the second writer changed the directory');
    }
  } catch (e) {
    // A stopped child would keep this suite waiting for ever.
    first.child.kill('SIGKILL');
    throw e;
  } finally {
    first.child.kill('SIGCONT');
  }
  assert.is(await first.exited, 0, first.stderr());
  assert.is(logValues(out).length, EPOCHS, 'each epoch logged once');
  assertSameRun(out);
});

test('kill -9 mid-run, then --resume: the stale lock is taken over, the run ends byte-identical', async () => {
  const out = join(dir, 'killed');
  const run = background(out);
  await until('its first epoch', () => existsSync(runFiles(out).last), run.child);
  run.child.kill('SIGKILL');
  await run.exited;
  const lock = JSON.parse(readFileSync(join(out, DIR_LOCK), 'utf8'));
  assert.is(lock.pid, run.child.pid, 'the killed run left its lock');
  const epoch = Number(readCheckpoint(runFiles(out).last).properties.epoch);
  const unfinished = epoch < EPOCHS && !existsSync(runFiles(out).metrics);
  assert.ok(unfinished, `the run finished (epoch ${epoch}) before it was killed`);
  const r = hm4sr(...trainArgs(out), '--resume');
  assert.is(r.code, 0, r.err);
  const pid = run.child.pid;
  const want = `warning: ${out}: taking over the lock of hm4sr train .*\\(pid ${pid} on .*: its process ${pid} has`;
  assert.match(r.err, new RegExp(want));
  assert.match(r.err, new RegExp(`resuming after epoch ${epoch} `));
  assertSameRun(out);
});

test.run();
