// A hyper-parameter search space (hm4sr tune --space FILE): for each setting path of the run config a list of
// choices or a numeric range, checked against the settings table (train/settings.ts) before any trial runs,
// and trials drawn from it deterministically by seed.
import { InputError, readJsonFile } from '../graph/input-file.js';
import { Rng } from '../graph/rng.js';
import { type DeepPartial, type RunConfig, mergeConfig, refusal } from './config.js';
import { type Setting, allSettings } from './settings.js';

export interface SpaceRange {
  min: number;
  max: number;
  scale: 'log' | 'linear';
}

/** Setting path (model.tau, optim.lr, ...) to its choices or its range. */
export type Space = Record<string, unknown[] | SpaceRange>;

/** Settings the search itself sets or that name the data: a trial may not draw them. */
const NOT_SEARCHED: Record<string, string> = {
  'optim.epochs': "the rungs set each trial's epochs (the full schedule is --epochs)",
  'data.dir': 'the data is --data',
  'data.name': 'the data is --data',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a range is not one of setting s's values, or null. */
function rangeRefusal(s: Setting, r: Record<string, unknown>): string | null {
  if (s.kind !== 'int' && s.kind !== 'number') return `is a ${s.kind} setting: give a list of choices, not a range`;
  const extra = Object.keys(r).filter((k) => !['min', 'max', 'scale'].includes(k));
  if (extra.length) return `range has unknown key "${extra[0]}" (known: min, max, scale)`;
  for (const k of ['min', 'max'] as const) {
    const why = refusal(s, r[k]);
    if (why) return `range ${k} ${why}`;
  }
  if ((r.min as number) > (r.max as number)) return `range min ${r.min} is above max ${r.max}`;
  if (r.scale !== 'log' && r.scale !== 'linear')
    return `range scale must be "log" or "linear", got ${JSON.stringify(r.scale)}`;
  if (r.scale === 'log' && (r.min as number) <= 0) return `range min must be above 0 on a log scale, got ${r.min}`;
  return null;
}

/** Throws naming the first entry of a space that is not a set of values of its setting (where: the file). */
export function checkSpace(raw: unknown, where: string): Space {
  if (!isObject(raw))
    throw new InputError(where, 'a search space must be a JSON object {"setting.path": [...] | {min, max, scale}}');
  const table = new Map(allSettings());
  if (Object.keys(raw).length === 0) throw new InputError(where, 'the search space names no setting');
  for (const [path, entry] of Object.entries(raw)) {
    const s = table.get(path);
    if (!s) throw new InputError(where, `unknown setting "${path}" (a run config path, e.g. model.tau or optim.lr)`);
    if (NOT_SEARCHED[path]) throw new InputError(where, `${path} cannot be searched: ${NOT_SEARCHED[path]}`);
    let why: string | null;
    if (Array.isArray(entry)) {
      const bad = entry.map((v) => refusal(s, v)).findIndex((r) => r !== null);
      why =
        entry.length === 0
          ? 'is an empty list of choices'
          : bad >= 0
            ? `choice ${bad + 1} ${refusal(s, entry[bad])}`
            : null;
    } else if (isObject(entry)) why = rangeRefusal(s, entry);
    else why = `must be a list of choices or a range {min, max, scale}, got ${JSON.stringify(entry)}`;
    if (why) throw new InputError(where, `${path} ${why}`);
  }
  return raw as Space;
}

export const readSpace = (file: string): Space => checkSpace(readJsonFile(file, 'a JSON search space'), file);

/** One value of a range: uniform in the value (linear) or in its logarithm (log); an int setting's is rounded. */
function drawRange(r: SpaceRange, isInt: boolean, rng: Rng): number {
  const u = rng.nextU32() / 2 ** 32;
  const v =
    r.scale === 'log'
      ? Math.exp(Math.log(r.min) + u * (Math.log(r.max) - Math.log(r.min)))
      : r.min + u * (r.max - r.min);
  // Rounded to 4 significant digits so the trials table and config.json read as the values they are.
  return isInt
    ? Math.min(r.max, Math.max(r.min, Math.round(v)))
    : Math.min(r.max, Math.max(r.min, Number(v.toPrecision(4))));
}

/** n trials' settings (path to value), the same for the same space and seed (paths in the space's order). */
export function drawTrials(space: Space, n: number, seed: number): Record<string, unknown>[] {
  const rng = new Rng(seed);
  const table = new Map(allSettings());
  return Array.from({ length: n }, () =>
    Object.fromEntries(
      Object.entries(space).map(([path, e]) => [
        path,
        Array.isArray(e) ? e[rng.nextU32() % e.length] : drawRange(e, table.get(path)!.kind === 'int', rng),
      ]),
    ),
  );
}

/** The run config with a trial's settings laid over it (a path's value replaces the section's field). */
export function withSettings(rc: RunConfig, settings: Record<string, unknown>): RunConfig {
  const over: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(settings)) {
    const [sec, key] = path.split('.');
    if (key === undefined) over[sec] = v;
    else ((over[sec] ??= {}) as Record<string, unknown>)[key] = v;
  }
  return mergeConfig(rc, over as DeepPartial<RunConfig>);
}
