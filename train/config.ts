import { ADAM_DEFAULTS, type AdamConfig } from '../graph/adam.js';
import { InputError, readJsonFile } from '../graph/input-file.js';
import { ABLATIONS, HM4SR_DEFAULTS, type Hm4srConfig, SASREC_OVERRIDES } from '../graph/models/hm4sr-config.js';
import {
  type DataConfig,
  type EvalConfig,
  type ModelOverrides,
  type OptimConfig,
  type RunConfig,
  type Setting,
  SECTIONS,
  SETTINGS,
  allSettings,
} from './settings.js';

export type { DataConfig, EvalConfig, ModelOverrides, OptimConfig, RunConfig } from './settings.js';

type Defaults<T> = { [K in keyof T]: T[K] extends Setting<infer V> ? V : never };
const defaultsOf = <T extends Record<string, Setting>>(section: T): Defaults<T> =>
  Object.fromEntries(Object.entries(section).map(([k, s]) => [k, s.default])) as Defaults<T>;

/** The table's defaults, in its order (config.json lists a run's settings in this order). */
export const DEFAULT_CONFIG: RunConfig = {
  preset: SETTINGS.preset.default,
  ablations: SETTINGS.ablations.default,
  data: defaultsOf(SETTINGS.data),
  model: {},
  optim: defaultsOf(SETTINGS.optim),
  eval: defaultsOf(SETTINGS.eval),
};

/**
 * Defaults that differ on the CUDA EP (a config file or flag still wins): K steps per run keep parameters
 * and Adam moments on the device; evaluation ranks users in large batches, one copy in and out per batch.
 */
export const CUDA_DEFAULTS = {
  stepsPerRun: SETTINGS.optim.stepsPerRun.cuda!,
  evalBatchSize: SETTINGS.eval.batchSize.cuda!,
} as const;

/** The settings whose CUDA default differs, as a partial config to lay over the defaults. */
export function cudaDefaults(): DeepPartial<RunConfig> {
  const over: Record<string, Record<string, unknown>> = {};
  for (const [path, s] of allSettings()) {
    const [sec, key] = path.split('.');
    if (s.cuda !== undefined) (over[sec] ??= {})[key] = s.cuda;
  }
  return over as DeepPartial<RunConfig>;
}

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

export function mergeConfig(base: RunConfig, over: DeepPartial<RunConfig>): RunConfig {
  return {
    preset: over.preset ?? base.preset,
    ablations: over.ablations ?? base.ablations,
    data: { ...base.data, ...(over.data as Partial<DataConfig>) },
    model: { ...base.model, ...(over.model as ModelOverrides) },
    optim: { ...base.optim, ...(over.optim as Partial<OptimConfig>) },
    eval: { ...base.eval, ...(over.eval as Partial<EvalConfig>) },
  };
}

/** Fields that moved to another section. */
const MOVED: Record<string, string> = { 'optim.metric': 'eval.validMetric', 'optim.evalBatchSize': 'eval.batchSize' };

export function readConfigFile(path: string): DeepPartial<RunConfig> {
  const raw = readJsonFile(path, 'a JSON config');
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) throw new InputError(path, 'a config must be a JSON object');
  const known = ['preset', 'ablations', ...SECTIONS];
  for (const k of Object.keys(raw as object)) {
    if (!known.includes(k)) throw new InputError(path, `unknown config section "${k}" (known: ${known.join(', ')})`);
  }
  // A misspelt or moved field would otherwise leave its setting at the default without a word.
  for (const section of SECTIONS) {
    const v = (raw as Record<string, unknown>)[section];
    if (v === undefined) continue;
    if (!isObject(v)) throw new InputError(path, `"${section}" must be a JSON object`);
    const names = Object.keys(SETTINGS[section]);
    for (const k of Object.keys(v as object).filter((f) => !names.includes(f))) {
      const moved = MOVED[`${section}.${k}`] ? ` (now ${MOVED[`${section}.${k}`]})` : '';
      throw new InputError(path, `unknown field ${section}.${k}${moved} (known: ${names.join(', ')})`);
    }
  }
  return raw as DeepPartial<RunConfig>;
}

/** The run's Adam settings (`lr` overrides the configured learning rate). */
export function adamConfig(rc: RunConfig, lr = rc.optim.lr): AdamConfig {
  return { ...ADAM_DEFAULTS, lr, weightDecay: rc.optim.weightDecay };
}

/** The value at a setting's path (preset, optim.epochs, ...); undefined where a config leaves it unset. */
export function valueAt(rc: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], rc);
}

const shown = (v: unknown) => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));

/** Why v is not a value of setting s (each entry of a list is checked as its element kind), or null. */
export function refusal(s: Pick<Setting, 'kind' | 'range' | 'choices' | 'of'>, v: unknown): string | null {
  const isInt = s.kind === 'int';
  switch (s.kind) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || Number.isNaN(v)) {
        return `must be a number, got ${shown(v)}${Number.isNaN(v) ? ' (not a number)' : ''}`;
      }
      const [min, max] = s.range!;
      const inside = v >= min && v <= max && (!isInt || Number.isInteger(v));
      return inside ? null : `must be ${isInt ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`;
    }
    case 'boolean':
      return typeof v === 'boolean' ? null : `must be true or false, got ${shown(v)}`;
    case 'string':
      return typeof v === 'string' ? null : `must be a string, got ${shown(v)}`;
    case 'choice':
      return s.choices!.includes(v as string) ? null : `must be one of ${s.choices!.join(', ')}, got ${shown(v)}`;
    case 'list': {
      if (!Array.isArray(v)) return `must be a list, got ${shown(v)}`;
      const bad = v.map((x) => refusal({ ...s, kind: s.of! }, x));
      const i = bad.findIndex((r) => r !== null);
      return i < 0 ? null : `entry ${i + 1} ${bad[i]}`;
    }
  }
}

/** The name of a setting in an error: its path, and the flag the user may have typed. */
export const settingName = (path: string, s: Setting) => `${path}${s.flag ? ` (--${s.flag})` : ''}`;

/**
 * Throws naming the first setting that is not a value it accepts (see SETTINGS), so a value is refused
 * alike by train, build-graph and baseline before any work starts (and never reaches an allocation or a
 * Date as an unreadable runtime error).
 */
export function checkRunConfig(rc: RunConfig): void {
  for (const [path, s] of allSettings()) {
    const v = valueAt(rc, path);
    const why = v === undefined ? null : refusal(s, v);
    if (why) throw new Error(`${settingName(path, s)} ${why}`);
  }
}

/** What a resumed run may change (the resumable settings): how long it goes on, where its data lies, how it runs. */
export const RESUMABLE: readonly string[] = allSettings()
  .filter(([, s]) => s.resumable)
  .map(([p]) => p);

const leaves = (x: unknown, at = ''): [string, string][] =>
  x !== null && typeof x === 'object' && !Array.isArray(x)
    ? Object.entries(x).flatMap(([k, v]) => leaves(v, at ? `${at}.${k}` : k))
    : [[at, JSON.stringify(x)]];

/**
 * A resumed run's settings against those it was started with: an error naming each setting that would
 * change what the run computes, never a silently different run.
 */
export function checkResume(started: RunConfig, resumed: RunConfig, configFile: string): void {
  const was = new Map(leaves(started));
  const changed = leaves(resumed).filter(([k, v]) => was.get(k) !== v && !RESUMABLE.includes(k));
  if (changed.length === 0) return;
  const list = changed.map(([k, v]) => `${k} ${v} (the run's: ${was.get(k) ?? 'unset'})`).join(', ');
  throw new Error(
    `--resume: ${configFile} holds the settings the run was started with, and these would change them: ${list}. ` +
      `A resumed run keeps its settings; only ${RESUMABLE.join(', ')} may change. Leave those options out (or start a new run).`,
  );
}

/**
 * The model config for a dataset: defaults, preset, explicit overrides, then ablations. Ablations come last so
 * that a tuned config plus an ablation removes the part (a tuned lambdaCP must not bring back an ablated CP).
 */
export function modelConfig(
  rc: RunConfig,
  dims: {
    numItems: number;
    numCategories: number;
    intervalBuckets: number;
    calendarSize: number;
    textDim: number;
    imageDim: number;
  },
): Hm4srConfig {
  let c: Hm4srConfig = { ...HM4SR_DEFAULTS, ...dims };
  if (rc.preset === 'sasrec') c = { ...c, ...SASREC_OVERRIDES };
  c = { ...c, ...rc.model };
  for (const a of rc.ablations) {
    // "-TMoE", "TMoE" and "tmoe" all name the same ablation (a leading dash is awkward on a command line).
    const key = Object.keys(ABLATIONS).find((k) => k.slice(1).toLowerCase() === a.replace(/^-/, '').toLowerCase());
    const ab = key && ABLATIONS[key];
    if (!ab)
      throw new Error(
        `unknown ablation "${a}" (known: ${Object.keys(ABLATIONS)
          .map((k) => k.slice(1))
          .join(', ')})`,
      );
    c = { ...c, ...ab };
  }
  if (c.numCategories === 0) c.lambdaCP = 0;
  return c;
}
