import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HM4SR_DEFAULTS, type Hm4srConfig, type Modality, autoCatalogChunk } from '../graph/models/hm4sr-config.js';
import { DATA_PARAMS } from '../graph/models/hm4sr.js';
import { type RunConfig, checkRunConfig, modelConfig } from './config.js';
import { type Dataset, loadAtomicDataset, multiHot } from './data/dataset.js';
import { readAlignedFeatures } from './data/features.js';
import { type SplitSamples, buildSamples, maxIntervalBucket } from './data/samples.js';

export interface Prepared {
  ds: Dataset;
  samples: SplitSamples;
  model: Hm4srConfig;
  /** Frozen tensors the graphs read as parameters: feature tables and category labels. */
  frozen: Map<string, Float32Array>;
  fingerprint: string;
  warnings: string[];
}

const featurePath = (dir: string, name: string, m: 'txt' | 'img') =>
  join(dir, `${name}.${m === 'txt' ? 'text' : 'image'}.f32`);

/** A short content hash: a checkpoint refuses to resume on a different dataset or split. */
export function fingerprintOf(ds: Dataset, maxLen: number): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(ds.items.buffer, ds.items.byteOffset, ds.items.byteLength));
  h.update(new Uint8Array(ds.timestamps.buffer, ds.timestamps.byteOffset, ds.timestamps.byteLength));
  h.update(new Uint8Array(ds.offsets.buffer, ds.offsets.byteOffset, ds.offsets.byteLength));
  h.update(`${ds.numItems}/${ds.numUsers}/${maxLen}`);
  return h.digest('hex').slice(0, 16);
}

/** A run's dataset: NAME.inter filtered, with category labels from NAME.item when it has a category column. */
export function loadRunDataset(
  dir: string,
  name: string,
  o: { kCore: number; dedupe: boolean; categoryColumn: string },
): Dataset {
  return loadAtomicDataset(dir, name, { kCore: o.kCore, dedupe: o.dedupe, categoryColumn: o.categoryColumn });
}

/** Loads the dataset, its samples and frozen features, and fixes the model's data-dependent sizes. */
export function prepare(rc: RunConfig, warn: (m: string) => void = () => {}): Prepared {
  checkRunConfig(rc);
  const { dir, name } = rc.data;
  const ds = loadRunDataset(dir, name, rc.data);
  const maxLen = rc.model.maxLen ?? HM4SR_DEFAULTS.maxLen;
  const samples = buildSamples(ds, maxLen);
  if (samples.train.size === 0)
    throw new Error(`${dir}/${name}: no training samples (every user needs at least 4 interactions)`);
  const warnings: string[] = [];
  const note = (m: string) => {
    warnings.push(m);
    warn(m);
  };
  const frozen = new Map<string, Float32Array>();
  const dims = { txt: 768, img: 768 };
  const numCategories = ds.categories?.names.length ?? 0;
  const spanDays = Math.floor((ds.lastTimestamp - ds.firstTimestamp) / 86400) + 1;
  const tv = rc.model.timeEmbedding ?? 'both';
  // Preset, ablations and overrides decide which modalities are wanted; the files decide which exist.
  const base = modelConfig(rc, {
    numItems: ds.numItems,
    numCategories,
    intervalBuckets: maxIntervalBucket(ds, samples.train, rc.optim.mu) + 1,
    calendarSize: tv === 'day-of-year' ? 366 : spanDays,
    textDim: 768,
    imageDim: 768,
  });
  const wanted = base.modalities;
  const modalities: Modality[] = ['id'];
  const zeroFeatures: Modality[] = [];
  for (const m of ['txt', 'img'] as const) {
    if (!wanted.includes(m)) continue;
    const path = featurePath(dir, name, m);
    if (existsSync(path)) {
      const aligned = readAlignedFeatures(path, ds.itemTokens, { known: ds.knownItemTokens });
      if (aligned.missing > 0)
        note(
          `${path}: ${aligned.missing} of ${ds.numItems} items have no features (zero vectors), e.g. ${aligned.missingTokens.slice(0, 3).join(', ')}`,
        );
      dims[m] = aligned.dim;
      frozen.set(DATA_PARAMS[m], aligned.data);
      modalities.push(m);
    } else if (rc.data.missingModality === 'zeros') {
      note(
        `no ${m === 'txt' ? 'text' : 'image'} features (${path}): the ${m} modality gets zero vectors (set data.missingModality to "drop" to leave it out)`,
      );
      zeroFeatures.push(m);
      modalities.push(m);
    } else {
      note(`no ${m === 'txt' ? 'text' : 'image'} features (${path}): the ${m} modality is left out`);
    }
  }
  if (base.lambdaCP > 0 && numCategories > 0) frozen.set(DATA_PARAMS.categories, multiHot(ds.categories!));
  const model: Hm4srConfig = {
    ...base,
    modalities,
    zeroFeatures,
    textDim: dims.txt,
    imageDim: dims.img,
    catalogChunk: base.catalogChunk || autoCatalogChunk(ds.numItems),
  };
  return { ds, samples, model, frozen, fingerprint: fingerprintOf(ds, maxLen), warnings };
}
