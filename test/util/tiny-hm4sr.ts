import { HM4SR_DEFAULTS, type Hm4srConfig } from '../../graph/models/hm4sr-config.js';
import type { Dataset } from '../../train/data/dataset.js';

/** The small HM4SR the model tests share: every block on, dropout off, sizes that run in milliseconds. */
export function tinyHm4sr(ds: Dataset, over: Partial<Hm4srConfig> = {}): Hm4srConfig {
  return {
    ...HM4SR_DEFAULTS,
    numItems: ds.numItems,
    numCategories: ds.categories?.names.length ?? 0,
    maxLen: 5,
    hidden: 8,
    heads: 2,
    layers: 1,
    inner: 16,
    hiddenDropout: 0,
    attnDropout: 0,
    embDropout: 0,
    k1: 2,
    k2: 2,
    textDim: 6,
    imageDim: 4,
    intervalBuckets: 2000,
    calendarSize: 1,
    ...over,
  };
}
