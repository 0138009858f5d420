import { HM4SR_DEFAULTS, type Hm4srConfig } from '../../graph/models/hm4sr-config.js';
import { type Dataset, loadAtomicDataset } from '../../train/data/dataset.js';
import { generateSynthetic } from '../../train/data/synth.js';

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

/** The tiny synthetic dataset of the model tests (12 users, 20 items, 4 categories, text features), written to dir. */
export function tinyDataset(dir: string): Dataset {
  generateSynthetic({
    dir,
    name: 'tiny',
    users: 12,
    items: 20,
    categories: 4,
    textDim: 6,
    minLen: 5,
    maxLen: 9,
    seed: 3,
  });
  return loadAtomicDataset(dir, 'tiny', { kCore: 0 });
}

/** The mini dataset the training-run tests train on (80 users, 40 items), written to dir as `mini`. */
export function writeMiniData(dir: string): void {
  generateSynthetic({
    dir,
    name: 'mini',
    users: 80,
    items: 40,
    categories: 4,
    textDim: 8,
    minLen: 6,
    maxLen: 12,
    seed: 4,
  });
}
