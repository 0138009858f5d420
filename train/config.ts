import { ADAM_DEFAULTS, type AdamConfig } from '../graph/adam.js';
import { InputError, readJsonFile } from '../graph/input-file.js';
import { ABLATIONS, HM4SR_DEFAULTS, type Hm4srConfig, SASREC_OVERRIDES } from '../graph/models/hm4sr-config.js';
import type { Layout } from './batch-layout.js';
import type { MetricKind } from './metrics.js';

export interface DataConfig {
  /** Directory with NAME.inter (+ NAME.item, NAME.text.f32, NAME.image.f32). */
  dir: string;
  name: string;
  /** token_seq column of NAME.item holding category labels (Beauty: attr_ids); 'auto' detects it. */
  categoryColumn: string;
  kCore: number;
  dedupe: boolean;
  /** What to do when a modality's feature table is absent: zero features (with a warning) or drop it. */
  missingModality: 'zeros' | 'drop';
}

export interface OptimConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  /** Epochs without validation improvement (in eval.validMetric) before stopping. */
  patience: number;
  layout: Layout;
  /** Group similar lengths into batches (not the reference's random batches). */
  lengthBucketing: boolean;
  mu: number;
  pclBeta: number;
  absTime: 'days' | 'seconds';
  threads: number;
  /**
   * Training steps per onnxruntime run: above 1, K same-size batches go through the K-step Loop graph, so
   * parameters and moments stay inside the session between steps (what keeps them on a GPU).
   */
  stepsPerRun: number;
}

/**
 * The evaluator's settings, in one place as RecBole keeps them (metrics, topk, valid_metric). The eval
 * graph ranks each target against the whole catalog (graph/models/hm4sr.ts, fullCatalogRank); train/metrics.ts
 * turns the ranks into these metrics at these cut-offs.
 */
export interface EvalConfig {
  metrics: MetricKind[];
  /** Cut-offs K: every metric is reported as metric@K. */
  topk: number[];
  /** Model selection and early stopping on the validation split: one of metrics@topk, e.g. ndcg@20. */
  validMetric: string;
  /** Users per evaluation batch. */
  batchSize: number;
}

export type ModelOverrides = Partial<Omit<Hm4srConfig, 'numItems' | 'numCategories' | 'intervalBuckets' | 'calendarSize'>>;

export interface RunConfig {
  preset: 'hm4sr' | 'sasrec';
  ablations: string[];
  data: DataConfig;
  model: ModelOverrides;
  optim: OptimConfig;
  eval: EvalConfig;
}

export const DEFAULT_CONFIG: RunConfig = {
  preset: 'hm4sr',
  ablations: [],
  data: { dir: '', name: '', categoryColumn: 'auto', kCore: 5, dedupe: true, missingModality: 'zeros' },
  model: {},
  optim: {
    epochs: 200, batchSize: 1024, lr: 1e-3, weightDecay: 0, seed: 2025, patience: 10,
    layout: 'packed', lengthBucketing: false, mu: 100, pclBeta: 0.3, absTime: 'days', threads: 0, stepsPerRun: 1,
  },
  eval: { metrics: ['ndcg', 'mrr', 'hr'], topk: [5, 10, 20], validMetric: 'ndcg@20', batchSize: 1024 },
};

/**
 * Defaults that differ on the CUDA EP (a config file or flag still wins): K steps per run keep parameters
 * and Adam moments on the device; evaluation ranks users in large batches, one copy in and out per batch.
 */
export const CUDA_DEFAULTS = { stepsPerRun: 16, evalBatchSize: 4096 } as const;

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

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
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InputError(path, 'a config must be a JSON object');
  const known = new Set(['preset', 'ablations', 'data', 'model', 'optim', 'eval']);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new InputError(path, `unknown config section "${k}" (known: ${[...known].join(', ')})`);
  // A misspelt or moved field would otherwise leave its setting at the default without a word.
  const fields: Record<string, readonly string[]> = {
    data: Object.keys(DEFAULT_CONFIG.data),
    optim: Object.keys(DEFAULT_CONFIG.optim),
    eval: Object.keys(DEFAULT_CONFIG.eval),
    model: Object.keys(HM4SR_DEFAULTS),
  };
  for (const [section, names] of Object.entries(fields)) {
    const v = (raw as Record<string, unknown>)[section];
    if (v === undefined) continue;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(path, `"${section}" must be a JSON object`);
    for (const k of Object.keys(v)) {
      if (!names.includes(k)) throw new InputError(path, `unknown field ${section}.${k}${MOVED[`${section}.${k}`] ? ` (now ${MOVED[`${section}.${k}`]})` : ''} (known: ${names.join(', ')})`);
    }
  }
  return raw as DeepPartial<RunConfig>;
}

/** The run's Adam settings (`lr` overrides the configured learning rate). */
export function adamConfig(rc: RunConfig, lr = rc.optim.lr): AdamConfig {
  return { ...ADAM_DEFAULTS, lr, weightDecay: rc.optim.weightDecay };
}

type Range = [min: number, max: number, integer: boolean];
/**
 * Accepted ranges of the numeric settings. Finite values beyond them are rejected by name before any
 * work starts, so a value is refused alike by train, build-graph and baseline (and never reaches an
 * allocation or a Date as an unreadable runtime error).
 */
const RANGES: Record<string, Record<string, Range>> = {
  data: { kCore: [0, 1e6, true] },
  eval: { batchSize: [1, 1 << 20, true] },
  optim: {
    epochs: [1, 1e6, true], batchSize: [1, 1 << 20, true], lr: [1e-12, 10, false], weightDecay: [0, 10, false],
    seed: [-(2 ** 31), 2 ** 32 - 1, true], patience: [1, 1e6, true], mu: [1e-6, 1e6, false],
    pclBeta: [0, 1, false], threads: [0, 1024, true], stepsPerRun: [1, 1e4, true],
  },
  model: {
    maxLen: [2, 4096, true], hidden: [1, 4096, true], heads: [1, 256, true], layers: [1, 64, true], inner: [1, 65536, true],
    hiddenDropout: [0, 0.999, false], attnDropout: [0, 0.999, false], embDropout: [0, 0.999, false], k1: [1, 64, true], k2: [1, 64, true],
    lambdaCP: [0, 1e6, false], lambdaIDCL: [0, 1e6, false], lambdaPCL: [0, 1e6, false], tau: [1e-6, 1e6, false], pclTau: [1e-6, 1e6, false],
  },
};

/** Command-line flags of the settings, so an error names what the user typed. */
const FLAGS: Record<string, string> = {
  'optim.epochs': '--epochs', 'optim.batchSize': '--batch-size', 'optim.lr': '--lr', 'optim.seed': '--seed', 'optim.patience': '--patience',
  'optim.threads': '--threads', 'optim.stepsPerRun': '--steps-per-run',
};

/** Throws naming the first setting that is not a number in its range (see RANGES). */
export function checkRunConfig(rc: RunConfig): void {
  for (const [section, ranges] of Object.entries(RANGES)) {
    const values = rc[section as 'data' | 'optim' | 'model' | 'eval'] as Record<string, unknown>;
    for (const [k, [min, max, integer]] of Object.entries(ranges)) {
      const v = values[k];
      if (v === undefined) continue;
      const name = `${section}.${k}${FLAGS[`${section}.${k}`] ? ` (${FLAGS[`${section}.${k}`]})` : ''}`;
      if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${name} must be a number, got ${typeof v === 'number' ? v : JSON.stringify(v) ?? String(v)}${Number.isNaN(v) ? ' (not a number)' : ''}`);
      if (!(v >= min && v <= max) || (integer && !Number.isInteger(v))) throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`);
    }
  }
}

/** The model config for a dataset: defaults, preset, ablations, then explicit overrides. */
export function modelConfig(rc: RunConfig, dims: { numItems: number; numCategories: number; intervalBuckets: number; calendarSize: number; textDim: number; imageDim: number }): Hm4srConfig {
  let c: Hm4srConfig = { ...HM4SR_DEFAULTS, ...dims };
  if (rc.preset === 'sasrec') c = { ...c, ...SASREC_OVERRIDES };
  for (const a of rc.ablations) {
    // "-TMoE", "TMoE" and "tmoe" all name the same ablation (a leading dash is awkward on a command line).
    const key = Object.keys(ABLATIONS).find((k) => k.slice(1).toLowerCase() === a.replace(/^-/, '').toLowerCase());
    const ab = key && ABLATIONS[key];
    if (!ab) throw new Error(`unknown ablation "${a}" (known: ${Object.keys(ABLATIONS).map((k) => k.slice(1)).join(', ')})`);
    c = { ...c, ...ab };
  }
  c = { ...c, ...rc.model };
  if (c.numCategories === 0) c.lambdaCP = 0;
  return c;
}
