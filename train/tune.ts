// hm4sr tune: successive halving over a search space (train/tune-space.ts). Every trial is an ordinary run
// directory OUT/trials/NAME; rung r trains the live trials to minEpochs * eta^r epochs (at most the full
// schedule, optim.epochs) by resuming them, and keeps the best 1/eta by their best validation metric so far.
// OUT/trials.json holds the whole search (its settings, the rung, every trial's standing), rewritten
// atomically after every change, so running the search again continues it where it stopped. A finished
// search writes OUT/best.json, the best trial's run config (the base with its settings, the full schedule).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { InputError, readJsonFile } from '../graph/input-file.js';
import type { ExecutionProvider } from '../runtime/session.js';
import { lockDirectory } from '../runtime/output-lock.js';
import { type RunConfig, checkRunConfig } from './config.js';
import { recordedDataDirPath } from './data/builtin.js';
import { type EpochLog, recordedRunConfig, runFiles } from './run.js';
import { train } from './trainer.js';
import { type Space, checkSpace, drawTrials, withSettings } from './tune-space.js';

/** pending: in the current rung, not started; waiting: finished its rung, the others not yet. */
export type TrialState = 'pending' | 'running' | 'waiting' | 'promoted' | 'stopped' | 'done';

export interface Trial {
  name: string;
  settings: Record<string, unknown>;
  /** The rung the trial is in (its last, once stopped or done). */
  rung: number;
  epochs: number;
  /** Best validation metric (search.base.eval.validMetric) so far, and its epoch; null before any epoch. */
  best: number | null;
  bestEpoch: number;
  /** Early stopping by patience ended the trial before its rung's epochs: later rungs train it no further. */
  earlyStopped: boolean;
  state: TrialState;
}

export interface SearchSettings {
  space: Space;
  seed: number;
  budget: number;
  eta: number;
  minEpochs: number;
  /** The settings every trial starts from (its data recorded as in a run's config.json). */
  base: RunConfig;
}

export interface TuneState {
  search: SearchSettings;
  rung: number;
  trials: Trial[];
}

export interface TuneOptions {
  out: string;
  ep: ExecutionProvider;
  log: (line: string) => void;
  /** The trials' own log lines (data, model, epochs): off by default, the search reports per trial. */
  trialLog?: (line: string) => void;
  /** onnxruntime threads of the trainings from now on, instead of the search's base setting. */
  threads?: number;
  /** Tests: return after this many trainings, as an interrupted search would stop. */
  stopAfterTrainings?: number;
}

export const tuneFiles = (out: string) => ({
  table: join(out, 'trials.json'),
  trials: join(out, 'trials'),
  best: join(out, 'best.json'),
});

/** Epochs of rung r: minEpochs * eta^r, at most the full schedule. */
export const rungEpochs = (s: SearchSettings, r: number) => Math.min(s.base.optim.epochs, s.minEpochs * s.eta ** r);

/** Checks a search's settings before anything runs: its space, its numbers, and every trial's run config. */
export function checkSearch(s: SearchSettings, where: string): void {
  checkSpace(s.space, where);
  const positiveInt = (k: 'budget' | 'minEpochs' | 'eta', min: number) => {
    if (!Number.isInteger(s[k]) || s[k] < min)
      throw new Error(`tune: ${k} must be an integer of at least ${min}, got ${s[k]}`);
  };
  positiveInt('budget', 1);
  positiveInt('minEpochs', 1);
  positiveInt('eta', 2);
  if (!Number.isSafeInteger(s.seed)) throw new Error(`tune: seed must be an integer, got ${s.seed}`);
  for (const settings of drawTrials(s.space, s.budget, s.seed)) checkRunConfig(withSettings(s.base, settings));
}

/** A new search's state: its trials drawn, all pending in rung 0. */
export function newSearch(s: SearchSettings): TuneState {
  const width = String(s.budget).length;
  const trials = drawTrials(s.space, s.budget, s.seed).map((settings, i): Trial => ({
    name: `t${String(i).padStart(width, '0')}`,
    settings,
    rung: 0,
    epochs: 0,
    best: null,
    bestEpoch: 0,
    earlyStopped: false,
    state: 'pending',
  }));
  return { search: { ...s, base: recordedRunConfig(s.base) }, rung: 0, trials };
}

export function readTuneState(out: string): TuneState {
  const f = tuneFiles(out).table;
  const st = readJsonFile(f, 'a tune state') as TuneState;
  if (!Array.isArray(st?.trials) || typeof st.search?.base?.data?.dir !== 'string')
    throw new InputError(f, 'not an hm4sr tune table (no search.base or trials)');
  checkSpace(st.search.space, `${f} (search.space)`);
  return st;
}

const save = (out: string, st: TuneState) => writeFileAtomic(tuneFiles(out).table, JSON.stringify(st, null, 2) + '\n');

/** A trial's epochs and best validation metric, as its log.jsonl records them. */
export function trialStanding(dir: string, metric: string): Pick<Trial, 'epochs' | 'best' | 'bestEpoch'> {
  const text = readFileSync(runFiles(dir).log, 'utf8').trim();
  const lines = text ? text.split('\n').map((l) => JSON.parse(l) as EpochLog) : [];
  let best: number | null = null,
    bestEpoch = 0;
  for (const l of lines) {
    const v = l.valid[metric];
    if (typeof v !== 'number') throw new Error(`${runFiles(dir).log}: epoch ${l.epoch} has no valid ${metric}`);
    if (best === null || v > best) [best, bestEpoch] = [v, l.epoch];
  }
  return { epochs: lines.at(-1)?.epoch ?? 0, best, bestEpoch };
}

/** The trials a rung keeps: the best ceil(n / eta) by best validation metric (ties: the earlier trial). */
export function promoted(members: Trial[], eta: number): Set<string> {
  const ranked = [...members].sort(
    (a, b) => (b.best ?? -Infinity) - (a.best ?? -Infinity) || a.name.localeCompare(b.name),
  );
  return new Set(ranked.slice(0, Math.ceil(members.length / eta)).map((t) => t.name));
}

const fmt = (v: number | null) => (v === null ? '-' : v.toFixed(4));
const shown = (t: Trial) =>
  Object.entries(t.settings)
    .map(([k, v]) => `${k.replace(/^\w+\./, '')}=${JSON.stringify(v)}`)
    .join(' ');

/** Trains one trial to its rung's epochs (resuming its run directory), then records its standing. */
async function runTrial(out: string, st: TuneState, t: Trial, opts: TuneOptions): Promise<void> {
  const s = st.search;
  const target = rungEpochs(s, st.rung);
  const dir = join(tuneFiles(out).trials, t.name);
  t.state = 'running';
  save(out, st);
  opts.log(`trial ${t.name} start: rung ${st.rung}, to epoch ${target}: ${shown(t)}`);
  const base = { ...s.base, data: { ...s.base.data, dir: recordedDataDirPath(s.base.data.dir, opts.log) } };
  const threads = opts.threads === undefined ? {} : { 'optim.threads': opts.threads };
  const rc = withSettings(base, { ...t.settings, 'optim.epochs': target, ...threads });
  const resume = existsSync(runFiles(dir).last);
  await train(rc, { out: dir, resume, ep: opts.ep, progress: false, log: opts.trialLog ?? (() => {}) });
  Object.assign(t, trialStanding(dir, s.base.eval.validMetric));
  t.earlyStopped = t.epochs < target;
  t.state = 'waiting';
  save(out, st);
  const stopped = t.earlyStopped ? ' (early stop)' : '';
  opts.log(
    `trial ${t.name} finish: epoch ${t.epochs}${stopped}, best ${s.base.eval.validMetric} ${fmt(t.best)} at epoch ${t.bestEpoch}`,
  );
}

/** Ends a rung: its best trials go on to the next rung (or, at the full schedule, all are done). */
function endRung(out: string, st: TuneState, opts: TuneOptions): void {
  const s = st.search;
  const members = st.trials.filter((t) => t.rung === st.rung && t.state === 'waiting');
  const last = rungEpochs(s, st.rung) >= s.base.optim.epochs;
  const kept = last ? new Set<string>() : promoted(members, s.eta);
  for (const t of members) {
    t.state = last ? 'done' : kept.has(t.name) ? 'promoted' : 'stopped';
    if (kept.has(t.name)) t.rung = st.rung + 1;
  }
  const summary = last ? 'search done' : `${kept.size} of ${members.length} promoted: ${[...kept].join(' ')}`;
  opts.log(`rung ${st.rung} end (epoch ${rungEpochs(s, st.rung)}): ${summary}`);
  if (!last) st.rung += 1;
  save(out, st);
}

/** The search's result: its best trial by best validation metric, over the trials of the last rung reached. */
export function bestTrial(st: TuneState): Trial | undefined {
  return [...st.trials].sort((a, b) => b.rung - a.rung || (b.best ?? -Infinity) - (a.best ?? -Infinity))[0];
}

/**
 * Runs (or continues) the search in OUT, holding OUT's lock: a new search when state is given, else the one
 * OUT/trials.json holds. A trial found running was interrupted and resumes from its last checkpoint; a trial
 * that finished its rung is never trained again for it.
 */
export async function tune(opts: TuneOptions, fresh?: SearchSettings): Promise<TuneState> {
  const lock = lockDirectory(opts.out, 'tune', (m) => opts.log(`warning: ${m}`));
  try {
    const exists = existsSync(tuneFiles(opts.out).table);
    if (fresh && exists)
      throw new Error(
        `${opts.out} already holds a search (${tuneFiles(opts.out).table}); run tune --out ${opts.out} alone to continue it`,
      );
    if (!fresh && !exists)
      throw new Error(`${opts.out}: no search to continue (no trials.json); give --space and --data to start one`);
    const st = fresh ? newSearch(fresh) : readTuneState(opts.out);
    if (fresh) save(opts.out, st);
    else
      opts.log(
        `continuing the search in ${opts.out} at rung ${st.rung}${opts.threads ? ` on ${opts.threads} threads` : ''}`,
      );
    return await runSearch(opts, st);
  } finally {
    lock.release();
  }
}

async function runSearch(opts: TuneOptions, st: TuneState): Promise<TuneState> {
  let trainings = 0;
  const finished = () => st.trials.every((t) => t.state === 'stopped' || t.state === 'done');
  while (!finished()) {
    const s = st.search;
    const members = st.trials.filter((t) => t.rung === st.rung && t.state !== 'stopped' && t.state !== 'done');
    const todo = members.filter((t) => t.state !== 'waiting');
    if (todo.length === members.length)
      opts.log(`rung ${st.rung} start: ${members.length} trials to epoch ${rungEpochs(s, st.rung)}`);
    for (const t of todo) {
      if (opts.stopAfterTrainings !== undefined && trainings >= opts.stopAfterTrainings) return st;
      if (t.earlyStopped) {
        // Patience ended it in an earlier rung: it competes with the epochs it has.
        t.state = 'waiting';
        save(opts.out, st);
        continue;
      }
      await runTrial(opts.out, st, t, opts);
      trainings += 1;
    }
    endRung(opts.out, st, opts);
  }
  const b = bestTrial(st);
  if (b) {
    opts.log(`best: ${b.name} (${st.search.base.eval.validMetric} ${fmt(b.best)}): ${shown(b)}`);
    // What to train with from here on (other seeds, the final model): train --config OUT/best.json.
    const rc = withSettings(st.search.base, b.settings);
    writeFileAtomic(tuneFiles(opts.out).best, JSON.stringify(rc, null, 2) + '\n');
    opts.log(`its settings: ${tuneFiles(opts.out).best} (hm4sr train --config ${tuneFiles(opts.out).best})`);
  }
  return st;
}
