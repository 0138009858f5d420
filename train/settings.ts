// The run config's settings, each declared once: the section types below say what a config holds, and
// SETTINGS says, for every field, its default, accepted values, command-line flag, help text and whether a
// resumed run may change it. train/config.ts derives DEFAULT_CONFIG, the CUDA defaults, the range checks
// and the config-file field names from it; cli/ and bench/ derive their yargs options from it (settingFlags).
import {
  FALSE_NEGATIVE_RULES,
  HM4SR_DEFAULTS,
  type Hm4srConfig,
  type Modality,
  type TimeEmbedding,
} from '../graph/models/hm4sr-config.js';
import type { Layout } from './batch-layout.js';
import { METRIC_KINDS, type MetricKind } from './metrics.js';

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

export type ModelOverrides = Partial<
  Omit<Hm4srConfig, 'numItems' | 'numCategories' | 'intervalBuckets' | 'calendarSize'>
>;

export interface RunConfig {
  preset: 'hm4sr' | 'sasrec';
  ablations: string[];
  data: DataConfig;
  model: ModelOverrides;
  optim: OptimConfig;
  eval: EvalConfig;
}

/** Which commands take a setting's flag: every command that builds a model for a dataset, or train alone (default). */
export type FlagScope = 'build' | 'train';

export interface Setting<V = unknown> {
  kind: 'int' | 'number' | 'boolean' | 'string' | 'choice' | 'list';
  /** The run config's default (a model setting's is HM4SR_DEFAULTS', filled in by allSettings). */
  default: V;
  help: string;
  /** Inclusive bounds of a number (of each element of a number list). */
  range?: readonly [min: number, max: number];
  /** Accepted values of a choice (of each element of a choice list). */
  choices?: readonly string[];
  /** Element kind of a list. */
  of?: 'int' | 'string' | 'choice';
  /** Command-line flag (without the dashes) and the commands that take it; none: config files only. */
  flag?: string;
  scope?: FlagScope;
  /** How the default reads in --help when its value alone would mislead (0 threads: all cores). */
  shown?: string;
  /** The default on the CUDA EP (a config file or flag still wins). */
  cuda?: V;
  /** A resumed run may change it: how long the run goes on, where its data lies, how it runs; never what it computes. */
  resumable?: boolean;
}

type More<V> = Partial<Pick<Setting<V>, 'flag' | 'scope' | 'shown' | 'cuda' | 'resumable'>>;
type Range = readonly [number, number];
type ListMore<E> = More<E[]> & Pick<Setting, 'range' | 'choices'>;
const int = (d: number, range: Range, help: string, m: More<number> = {}): Setting<number> => ({
  kind: 'int',
  default: d,
  range,
  help,
  ...m,
});
const num = (d: number, range: Range, help: string, m: More<number> = {}): Setting<number> => ({
  kind: 'number',
  default: d,
  range,
  help,
  ...m,
});
const bool = (d: boolean, help: string, m: More<boolean> = {}): Setting<boolean> => ({
  kind: 'boolean',
  default: d,
  help,
  ...m,
});
const str = (d: string, help: string, m: More<string> = {}): Setting<string> => ({
  kind: 'string',
  default: d,
  help,
  ...m,
});
const choice = <C extends string>(d: C, choices: readonly C[], help: string, m: More<C> = {}): Setting<C> => ({
  kind: 'choice',
  default: d,
  choices,
  help,
  ...m,
});
const list = <E>(d: E[], of: 'int' | 'string' | 'choice', help: string, m: ListMore<E> = {}): Setting<E[]> => ({
  kind: 'list',
  of,
  default: d,
  help,
  ...m,
});

/** A model setting: its default is the model's own (HM4SR_DEFAULTS, graph/models/hm4sr-config.ts). */
type ModelEntry = Omit<Setting, 'default'>;
const PROB = [0, 0.999] as const,
  POSITIVE = [1e-6, 1e6] as const,
  WEIGHT = [0, 1e6] as const;
const MODALITIES = ['id', 'txt', 'img'] as const satisfies readonly Modality[];
const TIME_EMBEDDINGS = [
  'both',
  'interval',
  'absolute',
  'day-index',
  'day-of-year',
  'interval-cos',
] as const satisfies readonly TimeEmbedding[];
const BUILD = { scope: 'build' } as const;

type Section<T> = { [K in keyof T]-?: Setting<T[K]> };

/**
 * Every setting of a run config (the fields of a section in config.json's order). A field of the types above
 * without an entry here, or an entry without a field, does not compile (a model setting added to HM4SR_DEFAULTS
 * asks for its entry).
 */
export const SETTINGS: {
  preset: Setting<RunConfig['preset']>;
  ablations: Setting<string[]>;
  data: Section<DataConfig>;
  optim: Section<OptimConfig>;
  eval: Section<EvalConfig>;
  model: { [K in keyof ModelOverrides]-?: ModelEntry };
} = {
  preset: choice('hm4sr', ['hm4sr', 'sasrec'] as const, 'model preset', { flag: 'preset', ...BUILD }),
  ablations: list(
    [],
    'string',
    "ablations (the paper's -IMoE ... written without the dash): IMoE TMoE CP IDCL PCL Text Image; applied after the model settings, so they win over them",
    { flag: 'ablate', ...BUILD },
  ),
  data: {
    // The flags --data and --name name a built-in dataset or a directory: cli/options.ts resolves them.
    dir: str('', 'dataset directory', { resumable: true }),
    name: str('', 'dataset name (NAME.inter)', { resumable: true }),
    categoryColumn: str('auto', 'NAME.item column with category labels', { flag: 'category-column', ...BUILD }),
    kCore: int(5, [0, 1e6], 'k-core filter: users and items with fewer interactions are dropped', {
      flag: 'k-core',
      ...BUILD,
    }),
    dedupe: bool(true, 'drop repeated (user, item) interactions'),
    missingModality: choice(
      'zeros',
      ['zeros', 'drop'] as const,
      'absent feature table: zero features or drop the modality',
      { flag: 'missing-modality', ...BUILD },
    ),
  },
  optim: {
    epochs: int(200, [1, 1e6], 'maximum epochs (early stopping after --patience)', { flag: 'epochs', resumable: true }),
    batchSize: int(1024, [1, 1 << 20], 'training batch size', { flag: 'batch-size' }),
    lr: num(1e-3, [1e-12, 10], 'Adam learning rate', { flag: 'lr' }),
    weightDecay: num(0, [0, 10], 'Adam weight decay'),
    seed: int(2025, [-(2 ** 31), 2 ** 32 - 1], 'random seed', { flag: 'seed', ...BUILD }),
    patience: int(10, [1, 1e6], 'epochs without validation improvement', { flag: 'patience' }),
    layout: choice('packed', ['packed', 'padded'] as const, 'batch layout: pack histories into rows or one per row', {
      flag: 'layout',
    }),
    lengthBucketing: bool(false, 'batch similar lengths together, not at random', { flag: 'length-bucketing' }),
    mu: num(100, [1e-6, 1e6], 'interval bucket scale: floor(mu * log2(interval + 1))'),
    pclBeta: num(0.3, [0, 1], "PCL: fraction of each history's positions replaced by a time placeholder"),
    absTime: choice(
      'days',
      ['days', 'seconds'] as const,
      'absolute times in days since the first interaction, or Unix seconds',
    ),
    threads: int(0, [0, 1024], 'onnxruntime intra-op threads', {
      flag: 'threads',
      shown: 'all cores',
      resumable: true,
    }),
    stepsPerRun: int(1, [1, 1e4], 'training steps per onnxruntime run through the K-step Loop graph', {
      flag: 'steps-per-run',
      cuda: 16,
    }),
  },
  eval: {
    metrics: list(['ndcg', 'mrr', 'hr'], 'choice', 'metrics reported at every cut-off', { choices: METRIC_KINDS }),
    topk: list([5, 10, 20], 'int', 'cut-offs K of the metrics', { range: [1, 1e6] }),
    validMetric: str('ndcg@20', 'metric@K that selects the best epoch and stops early'),
    batchSize: int(1024, [1, 1 << 20], 'users ranked per evaluation batch', {
      flag: 'eval-batch-size',
      cuda: 4096,
      resumable: true,
    }),
  },
  model: {
    maxLen: { kind: 'int', range: [2, 4096], help: 'longest history read (older items are dropped)' },
    hidden: { kind: 'int', range: [1, 4096], help: 'hidden size d' },
    heads: { kind: 'int', range: [1, 256], help: 'attention heads' },
    layers: { kind: 'int', range: [1, 64], help: 'transformer layers' },
    inner: { kind: 'int', range: [1, 65536], help: 'feed-forward inner size' },
    hiddenDropout: { kind: 'number', range: PROB, help: 'dropout of hidden states' },
    attnDropout: { kind: 'number', range: PROB, help: 'dropout of attention weights' },
    embDropout: { kind: 'number', range: PROB, help: "dropout after each modality's input LayerNorm" },
    modalities: { kind: 'list', of: 'choice', choices: MODALITIES, help: 'modalities that take part (id is required)' },
    textDim: { kind: 'int', range: [1, 65536], help: 'text feature size (set from NAME.text.f32)' },
    imageDim: { kind: 'int', range: [1, 65536], help: 'image feature size (set from NAME.image.f32)' },
    zeroFeatures: {
      kind: 'list',
      of: 'choice',
      choices: MODALITIES,
      help: 'modalities without a feature table (from the data)',
    },
    imoe: { kind: 'boolean', help: 'interest mixture of experts (IMoE)' },
    k1: { kind: 'int', range: [1, 64], help: 'IMoE experts' },
    tmoe: { kind: 'boolean', help: 'temporal mixture of experts (TMoE)' },
    k2: { kind: 'int', range: [1, 64], help: 'TMoE experts' },
    timeEmbedding: { kind: 'choice', choices: TIME_EMBEDDINGS, help: 'TMoE time embedding' },
    frozenTemporalExperts: { kind: 'boolean', help: 'temporal experts stay at their random init (the reference code)' },
    lambdaCP: { kind: 'number', range: WEIGHT, help: 'weight of category prediction (CP)' },
    lambdaIDCL: { kind: 'number', range: WEIGHT, help: 'weight of ID contrastive learning (IDCL)' },
    lambdaPCL: { kind: 'number', range: WEIGHT, help: 'weight of placeholder contrastive learning (PCL)' },
    tau: { kind: 'number', range: POSITIVE, help: 'IDCL temperature' },
    pclTau: { kind: 'number', range: POSITIVE, help: 'PCL temperature' },
    falseNegatives: {
      kind: 'choice',
      choices: FALSE_NEGATIVE_RULES,
      help: 'same-target rows in IDCL/PCL: exclude (left out), zero (logit 0, the authors), none (the paper)',
    },
    includePadInSoftmax: { kind: 'boolean', help: 'item 0 (padding) stays in the softmax (the reference code)' },
    catalogChunk: {
      kind: 'int',
      flag: 'catalog-chunk',
      ...BUILD,
      range: [0, 2 ** 30],
      help:
        'items per catalog chunk in the loss and evaluation (memory grows with the chunk, not the catalog); ' +
        '0: the whole catalog up to 32,768 items, else 16,384',
    },
  },
};

export type SectionName = 'data' | 'optim' | 'eval' | 'model';
export const SECTIONS: readonly SectionName[] = ['data', 'model', 'optim', 'eval'];

/** Every setting with its path in the run config (preset, optim.epochs, model.tau, ...), in the table's order. */
export function allSettings(): [path: string, s: Setting][] {
  const top: [string, Setting][] = [
    ['preset', SETTINGS.preset],
    ['ablations', SETTINGS.ablations],
  ];
  const entry = (sec: SectionName, k: string, s: Setting | ModelEntry): Setting =>
    sec === 'model' ? { ...s, default: HM4SR_DEFAULTS[k as keyof typeof HM4SR_DEFAULTS] } : (s as Setting);
  const section = (sec: SectionName) =>
    Object.entries(SETTINGS[sec]).map(([k, s]): [string, Setting] => [`${sec}.${k}`, entry(sec, k, s)]);
  return top.concat(SECTIONS.flatMap(section));
}
