import { readFileSync } from 'node:fs';
import { ABLATIONS, HM4SR_DEFAULTS, type Hm4srConfig, SASREC_OVERRIDES } from '../graph/models/hm4sr-config.js';
import type { Layout } from './pack.js';

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
  /** Epochs without validation improvement before stopping. */
  patience: number;
  /** Model-selection metric, e.g. ndcg@20. */
  metric: string;
  layout: Layout;
  /** Group similar lengths into batches (not the reference's random batches). */
  lengthBucketing: boolean;
  evalBatchSize: number;
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

export type ModelOverrides = Partial<Omit<Hm4srConfig, 'numItems' | 'numCategories' | 'intervalBuckets' | 'calendarSize'>>;

export interface RunConfig {
  preset: 'hm4sr' | 'sasrec';
  ablations: string[];
  data: DataConfig;
  model: ModelOverrides;
  optim: OptimConfig;
}

export const DEFAULT_CONFIG: RunConfig = {
  preset: 'hm4sr',
  ablations: [],
  data: { dir: '', name: '', categoryColumn: 'auto', kCore: 5, dedupe: true, missingModality: 'zeros' },
  model: {},
  optim: {
    epochs: 200, batchSize: 1024, lr: 1e-3, weightDecay: 0, seed: 2025, patience: 10, metric: 'ndcg@20',
    layout: 'packed', lengthBucketing: false, evalBatchSize: 1024, mu: 100, pclBeta: 0.3, absTime: 'days', threads: 0, stepsPerRun: 1,
  },
};

/**
 * Defaults that differ on the CUDA EP (a config file or flag still wins): K steps per run keep parameters
 * and Adam moments on the device; evaluation ranks users in large batches, one copy in and out per batch.
 */
export const CUDA_DEFAULTS: Pick<OptimConfig, 'stepsPerRun' | 'evalBatchSize'> = { stepsPerRun: 16, evalBatchSize: 4096 };

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export function mergeConfig(base: RunConfig, over: DeepPartial<RunConfig>): RunConfig {
  return {
    preset: over.preset ?? base.preset,
    ablations: over.ablations ?? base.ablations,
    data: { ...base.data, ...(over.data as Partial<DataConfig>) },
    model: { ...base.model, ...(over.model as ModelOverrides) },
    optim: { ...base.optim, ...(over.optim as Partial<OptimConfig>) },
  };
}

export function readConfigFile(path: string): DeepPartial<RunConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a readable JSON config (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: a config must be a JSON object`);
  const known = new Set(['preset', 'ablations', 'data', 'model', 'optim']);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new Error(`${path}: unknown config section "${k}" (known: ${[...known].join(', ')})`);
  return raw as DeepPartial<RunConfig>;
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
