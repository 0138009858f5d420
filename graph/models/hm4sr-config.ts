/** Every switch of the model the spec names; host-side sampling options live in the training config. */
export type Modality = 'id' | 'txt' | 'img';
export type TimeEmbedding = 'both' | 'interval' | 'absolute' | 'day-index' | 'day-of-year' | 'interval-cos';

/**
 * 'none': the paper (eqs. 23 and 25 sum over every sample of the batch, no masking). 'zero': the authors' code
 * (a same-target sample's logit set to 0, so it adds exp(0) = 1 to the denominator). 'exclude' (default, kept
 * from this project's first runs so they stay reproducible): a same-target sample leaves the denominator (its
 * logit set to -10000 / tau).
 */
export const FALSE_NEGATIVE_RULES = ['exclude', 'zero', 'none'] as const;
export type FalseNegativeRule = (typeof FALSE_NEGATIVE_RULES)[number];

export interface Hm4srConfig {
  /** Items are 1..numItems; 0 is padding. */
  numItems: number;
  /** Category classes for CP (0 disables CP). */
  numCategories: number;
  maxLen: number;
  hidden: number;
  heads: number;
  layers: number;
  inner: number;
  hiddenDropout: number;
  attnDropout: number;
  /** Dropout after each modality's input LayerNorm. */
  embDropout: number;
  /** Modalities that take part (SASRec: id only; -Text / -Image drop one). */
  modalities: Modality[];
  textDim: number;
  imageDim: number;
  /** Modalities without a feature table: their item representation is the projection's bias alone. */
  zeroFeatures: Modality[];
  imoe: boolean;
  k1: number;
  tmoe: boolean;
  k2: number;
  /** Rows of the interval-bucket table: floor(mu*log2(max training interval + 1)) + 1. */
  intervalBuckets: number;
  /** Rows of the calendar table (day index / day of year variants). */
  calendarSize: number;
  timeEmbedding: TimeEmbedding;
  /** Reference: temporal experts stay at their random init N(0, 0.1). */
  frozenTemporalExperts: boolean;
  lambdaCP: number;
  lambdaIDCL: number;
  lambdaPCL: number;
  tau: number;
  pclTau: number;
  /**
   * The false-negative rule of the contrastive terms, IDCL (eq. 23) and PCL (eq. 25) alike: how another sample
   * of the batch with the same target enters a row's InfoNCE denominator. See FALSE_NEGATIVE_RULES.
   */
  falseNegatives: FalseNegativeRule;
  /** Reference training leaves item 0 in the softmax. */
  includePadInSoftmax: boolean;
  /**
   * Items per catalog chunk where a step or an evaluation scores the whole catalog (the main loss's
   * log-sum-exp, evaluation ranks; serving has its own, servingChunk): memory then grows with the chunk, not the catalog. 0 or
   * at least the catalog: the whole catalog at once. Runs resolve 0 from the catalog size (autoCatalogChunk).
   */
  catalogChunk: number;
}

export const HM4SR_DEFAULTS: Omit<Hm4srConfig, 'numItems' | 'numCategories' | 'intervalBuckets' | 'calendarSize'> = {
  maxLen: 50,
  hidden: 64,
  heads: 2,
  layers: 2,
  inner: 256,
  hiddenDropout: 0.5,
  attnDropout: 0.5,
  embDropout: 0.5,
  modalities: ['id', 'txt', 'img'],
  textDim: 768,
  imageDim: 768,
  zeroFeatures: [],
  imoe: true,
  k1: 4,
  tmoe: true,
  k2: 4,
  timeEmbedding: 'both',
  frozenTemporalExperts: false,
  lambdaCP: 1,
  lambdaIDCL: 1,
  lambdaPCL: 1,
  tau: 0.2,
  pclTau: 1,
  falseNegatives: 'exclude',
  includePadInSoftmax: false,
  catalogChunk: 0,
};

/** Catalogs up to this size are scored whole; larger ones in chunks of AUTO_CHUNK items. */
export const WHOLE_CATALOG_MAX = 32768;
export const AUTO_CHUNK = 16384;

/** The chunk a run uses for catalogChunk 0: the whole catalog when it is small, else AUTO_CHUNK items. */
export const autoCatalogChunk = (numItems: number) => (numItems <= WHOLE_CATALOG_MAX ? numItems : AUTO_CHUNK);

/** Whether scoring `rows` catalog rows goes chunk by chunk under c.catalogChunk. */
export const chunked = (c: Pick<Hm4srConfig, 'catalogChunk'>, rows: number) =>
  c.catalogChunk > 0 && c.catalogChunk < rows;

/** SASRec in the same framework: ID only, no MoE, no auxiliary losses. */
export const SASREC_OVERRIDES: Partial<Hm4srConfig> = {
  modalities: ['id'],
  imoe: false,
  tmoe: false,
  lambdaCP: 0,
  lambdaIDCL: 0,
  lambdaPCL: 0,
};

/** Ablations of the paper's Figure 3, by the names it uses. */
export const ABLATIONS: Record<string, Partial<Hm4srConfig>> = {
  '-IMoE': { imoe: false },
  '-TMoE': { tmoe: false, lambdaPCL: 0 },
  '-CP': { lambdaCP: 0 },
  '-IDCL': { lambdaIDCL: 0 },
  '-PCL': { lambdaPCL: 0 },
  '-Text': { modalities: ['id', 'img'] },
  '-Image': { modalities: ['id', 'txt'] },
};

export const usesPCL = (c: Hm4srConfig) => c.tmoe && c.lambdaPCL > 0 && c.modalities.some((m) => m !== 'id');
export const usesCP = (c: Hm4srConfig) => c.lambdaCP > 0 && c.numCategories > 0;
export const usesInterval = (c: Hm4srConfig) =>
  c.tmoe && (c.timeEmbedding === 'both' || c.timeEmbedding === 'interval');
export const usesTimes = (c: Hm4srConfig) =>
  c.tmoe && (c.timeEmbedding === 'both' || c.timeEmbedding === 'absolute' || c.timeEmbedding === 'interval-cos');
export const usesCalendar = (c: Hm4srConfig) =>
  c.tmoe && (c.timeEmbedding === 'day-index' || c.timeEmbedding === 'day-of-year');

export function validateConfig(c: Hm4srConfig): void {
  const bad = (m: string): never => {
    throw new Error(`invalid model config: ${m}`);
  };
  if (!c.modalities.includes('id')) bad('the id modality is required');
  if (c.hidden % c.heads !== 0) bad(`hidden ${c.hidden} is not a multiple of heads ${c.heads}`);
  if (c.numItems < 1) bad('numItems must be >= 1');
  if (c.tmoe && usesInterval(c) && c.intervalBuckets < 1) bad('intervalBuckets must be >= 1');
  if (!FALSE_NEGATIVE_RULES.includes(c.falseNegatives)) {
    const was = (c.falseNegatives as string) === 'reference' ? ' ("reference" is now "zero", the authors\' rule)' : '';
    const rules = FALSE_NEGATIVE_RULES.map((r) => `"${r}"`).join(', ');
    bad(`falseNegatives must be one of ${rules}, got ${JSON.stringify(c.falseNegatives)}${was}`);
  }
  if (!(Number.isInteger(c.catalogChunk) && c.catalogChunk >= 0)) bad('catalogChunk must be an integer >= 0');
  for (const k of ['hiddenDropout', 'attnDropout', 'embDropout'] as const)
    if (!(c[k] >= 0 && c[k] < 1)) bad(`${k} must be in [0, 1)`);
}
