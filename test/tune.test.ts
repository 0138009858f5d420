import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CONFIG, type RunConfig, checkRunConfig, mergeConfig } from '../train/config.js';
import { type EpochLog, runFiles } from '../train/run.js';
import { type SearchSettings, type TuneState, checkSearch, readTuneState, tune } from '../train/tune.js';
import { type Space, checkSpace, readSpace } from '../train/tune-space.js';
import { rejects } from './util/rejects.js';
import { tempDir } from './util/tmp.js';
import { cliRunner } from './util/cli.js';
import { lockDirectory } from '../runtime/output-lock.js';
import { writeMiniData } from './util/tiny-hm4sr.js';

const dir = tempDir('hm4sr-tune-');
writeMiniData(join(dir, 'data'));

const base: RunConfig = mergeConfig(DEFAULT_CONFIG, {
  data: { dir: join(dir, 'data'), name: 'mini' },
  model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 10 },
  eval: { batchSize: 64 },
  optim: { epochs: 2, batchSize: 128, patience: 10, threads: 1, seed: 7 },
});
// Four trials, two rungs: 1 epoch each, then the best two to the full 2 epochs.
const space: Space = { 'optim.lr': { min: 1e-4, max: 5e-2, scale: 'log' }, 'model.tau': [0.1, 0.5, 1] };
const search: SearchSettings = { space, seed: 11, budget: 4, eta: 2, minEpochs: 1, base };
const quiet = { ep: 'cpu' as const };
const logOf = (out: string, name: string) => readFileSync(runFiles(join(out, 'trials', name)).log, 'utf8');
const lines = (out: string, name: string) =>
  logOf(out, name)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochLog);
const metric = base.eval.validMetric;

// The uninterrupted search, shared: whichever test runs first runs it.
const full = join(dir, 'full');
const progress: string[] = [];
let fullRun: Promise<TuneState> | null = null;
const fullSearch = () => (fullRun ??= tune({ ...quiet, out: full, log: (m) => progress.push(m) }, search));

test('a search halves by the validation metric its trials logged, and trains the survivors to the full schedule', async () => {
  const st = await fullSearch();
  assert.is(st.trials.length, 4);
  // Rung 0 keeps the best half by the metric each trial logged after its one epoch (ties: the earlier trial).
  const firstEpoch = st.trials.map((t) => ({ name: t.name, v: lines(full, t.name)[0].valid[metric] }));
  const kept = [...firstEpoch].sort((a, b) => b.v - a.v || a.name.localeCompare(b.name)).slice(0, 2);
  for (const t of st.trials) {
    const log = lines(full, t.name);
    const survived = kept.some((k) => k.name === t.name);
    assert.is(t.state, survived ? 'done' : 'stopped', t.name);
    assert.is(log.length, survived ? 2 : 1, `${t.name} epochs`);
    assert.is(t.epochs, log.length);
    assert.is(t.best, Math.max(...log.map((l) => l.valid[metric])), `${t.name} best`);
  }
  assert.equal(readTuneState(full), st, 'trials.json holds the search as it ended');
  // best.json: the base with the best trial's settings, a config train --config reads as it is.
  const best = [...st.trials].sort((a, b) => (b.best ?? 0) - (a.best ?? 0))[0];
  const bestConfig = JSON.parse(readFileSync(join(full, 'best.json'), 'utf8')) as RunConfig;
  assert.is(bestConfig.optim.lr, best.settings['optim.lr']);
  assert.is(bestConfig.model.tau, best.settings['model.tau']);
  assert.is(bestConfig.optim.epochs, 2, 'the full schedule');
  assert.equal(mergeConfig(DEFAULT_CONFIG, bestConfig), bestConfig, 'every section complete');
  checkRunConfig(bestConfig);
  for (const l of ['rung 0 start', 'rung 0 end', 'rung 1 end', 'trial t0 start', 'trial t3 finish'])
    assert.ok(
      progress.some((p) => p.startsWith(l)),
      `progress line "${l}"`,
    );
  // Every trial is an ordinary run with its own config: its drawn settings and the rung's epochs.
  const saved = JSON.parse(readFileSync(runFiles(join(full, 'trials', 't0')).config, 'utf8'));
  assert.is(saved.run.optim.lr, st.trials[0].settings['optim.lr']);
  assert.is(saved.run.optim.epochs, st.trials[0].state === 'done' ? 2 : 1);
});

test('an interrupted search continues where it stopped without training a finished trial again', async () => {
  const out = join(dir, 'cut');
  const part = await tune({ ...quiet, out, log: () => {}, stopAfterTrainings: 2 }, search);
  assert.not.ok(existsSync(join(out, 'best.json')), 'an unfinished search names no best');
  assert.equal(
    part.trials.map((t) => t.state),
    ['waiting', 'waiting', 'pending', 'pending'],
  );
  const before = { t0: logOf(out, 't0'), t1: logOf(out, 't1') };
  await rejects(tune({ ...quiet, out, log: () => {} }, search), /already holds a search/);
  const trained: string[] = [];
  const st = await tune({ ...quiet, out, log: (m) => trained.push(m) });
  assert.equal(
    trained.filter((m) => / start: rung 0/.test(m)).map((m) => m.split(' ')[1]),
    ['t2', 't3'],
  );
  for (const name of ['t0', 't1'] as const) {
    const t = st.trials.find((x) => x.name === name)!;
    // A trial that finished rung 0 keeps that epoch's log line as it was; a promoted one only gains epoch 2.
    if (t.state === 'stopped') assert.is(logOf(out, name), before[name]);
    else assert.ok(logOf(out, name).startsWith(before[name]), `${name} epoch 1 redone`);
  }
  const full = await fullSearch();
  const table = (s: TuneState) =>
    s.trials.map(({ name, settings, epochs, best, state }) => ({ name, settings, epochs, best, state }));
  assert.equal(table(st), table(full), 'the same trials, standings and states as the uninterrupted search');
  // A finished search run again trains nothing.
  const again: string[] = [];
  await tune({ ...quiet, out, log: (m) => again.push(m) });
  assert.not.ok(
    again.some((m) => m.startsWith('trial ')),
    again.join('\n'),
  );
});

test('continuing needs a search; a bad space is refused naming the setting before anything runs', async () => {
  await rejects(tune({ ...quiet, out: join(dir, 'none'), log: () => {} }), /no search to continue/);
  const refused: [unknown, RegExp][] = [
    [{ 'model.nope': [1] }, /unknown setting "model\.nope"/],
    [{ 'model.tau': [] }, /model\.tau is an empty list/],
    [{ 'model.tau': [0.2, -1] }, /model\.tau choice 2 must be a number from/],
    [{ 'model.k1': [2, 2.5] }, /model\.k1 choice 2 must be an integer/],
    [{ 'optim.lr': { min: 1e-3, max: 20, scale: 'log' } }, /optim\.lr range max must be a number from/],
    [{ 'model.lambdaCP': { min: 0, max: 1, scale: 'log' } }, /model\.lambdaCP range min must be above 0 on a log/],
    [{ 'optim.lr': { min: 0.1, max: 0.01, scale: 'linear' } }, /optim\.lr range min 0\.1 is above max 0\.01/],
    [{ 'optim.lr': { min: 0.01, max: 0.1 } }, /optim\.lr range scale must be "log" or "linear"/],
    [{ 'model.falseNegatives': { min: 0, max: 1, scale: 'linear' } }, /model\.falseNegatives is a choice setting/],
    [
      { 'model.falseNegatives': ['exclude', 'reference'] },
      /model\.falseNegatives choice 2 must be one of exclude, zero, none/,
    ],
    [{ 'optim.epochs': [1, 2] }, /optim\.epochs cannot be searched/],
    [{ 'model.tau': 0.2 }, /model\.tau must be a list of choices or a range/],
    [{}, /names no setting/],
    [[], /must be a JSON object/],
  ];
  for (const [raw, re] of refused) assert.throws(() => checkSpace(raw, 'space.json'), re, JSON.stringify(raw));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ 'model.lambdaCP': [1, 'high'] }));
  assert.throws(
    () => readSpace(file),
    (e: Error) => e.message.startsWith(`${file}: model.lambdaCP choice 2`),
  );
  assert.throws(() => checkSearch({ ...search, eta: 1 }, 'space.json'), /eta must be an integer of at least 2/);
  assert.throws(() => checkSearch({ ...search, budget: 0 }, 'space.json'), /budget must be an integer of at least 1/);
  // The shipped spaces are valid spaces.
  for (const f of ['hm4sr', 'sasrec']) readSpace(new URL(`../../experiments/tune/${f}.json`, import.meta.url).pathname);
});

test('a continued search may take another thread count: the trainings from then on use it', async () => {
  const out = join(dir, 'threads');
  await tune({ ...quiet, out, log: () => {}, stopAfterTrainings: 1 }, search);
  const threadsOf = (name: string) =>
    (JSON.parse(readFileSync(runFiles(join(out, 'trials', name)).config, 'utf8')) as { run: RunConfig }).run.optim
      .threads;
  assert.is(threadsOf('t0'), 1);
  const r = cliRunner(dir).hm4sr('tune', '--out', out, '--threads', '2');
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /continuing the search in .* at rung 0 on 2 threads/);
  assert.is(threadsOf('t1'), 2, 'a trial first trained after the change');
  assert.ok(readTuneState(out).trials.every((t) => t.state === 'stopped' || t.state === 'done'));
});

test('the command refuses a bad space before anything runs, and a continued search takes no new settings', async () => {
  await fullSearch();
  const { hm4sr } = cliRunner(dir);
  const bad = join(dir, 'bad-space.json');
  writeFileSync(bad, JSON.stringify({ 'model.tau': [] }));
  const fresh = join(dir, 'cli-new');
  const data = ['--data', join(dir, 'data'), '--name', 'mini'];
  const r = hm4sr('tune', ...data, '--space', bad, '--out', fresh);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, `${bad}: model.tau is an empty list`);
  assert.not.ok(existsSync(fresh), 'a refused search leaves no directory');
  assert.match(hm4sr('tune', ...data, '--out', fresh).err, /--space FILE is required/);
  const table = readFileSync(join(full, 'trials.json'), 'utf8');
  for (const [flags, named] of [
    [['--budget', '8'], '--budget'],
    [['--lr', '0.1'], 'lr'],
    [['--space', bad], '--space'],
  ] as const) {
    const c = hm4sr('tune', '--out', full, ...flags);
    assert.is(c.code, 1, c.err);
    assert.match(c.err, /already holds a search .* leave out/);
    assert.match(c.err, named);
  }
  assert.is(readFileSync(join(full, 'trials.json'), 'utf8'), table);
  // The tune directory is locked while a search writes it.
  const lock = lockDirectory(full, 'test', () => {});
  try {
    await rejects(tune({ ...quiet, out: full, log: () => {} }), /is being written by .*test/);
  } finally {
    lock.release();
  }
});

test.run();
