import { join } from 'node:path';
import { Graph } from '../../graph/graph.js';
import type { Hm4srConfig } from '../../graph/models/hm4sr-config.js';
import { hm4srModel } from '../../graph/models/hm4sr.js';
import { declareBatch } from '../../graph/model.js';
import { type Dataset, loadAtomicDataset } from '../../train/data/dataset.js';
import { generateSynthetic } from '../../train/data/synth.js';
import { writeServingModel } from '../../train/export.js';
import { rng } from './gradcheck.js';
import { paramValues } from './params.js';
import { tinyHm4sr } from './tiny-hm4sr.js';

/** A synthetic dataset (with item titles) and an exported model.onnx over it with random weights. */
export function tinyServingModel(
  dir: string,
  opts: { users?: number; items?: number; topK?: number } = {},
): { model: string; data: string; name: string; ds: Dataset; config: Hm4srConfig; values: Map<string, Float32Array> } {
  const data = join(dir, 'data'),
    name = 'mini';
  generateSynthetic({
    dir: data,
    name,
    users: opts.users ?? 40,
    items: opts.items ?? 30,
    categories: 5,
    textDim: 6,
    minLen: 5,
    maxLen: 14,
    seed: 5,
  });
  const ds = loadAtomicDataset(data, name, { kCore: 5, itemFile: false });
  const config: Hm4srConfig = tinyHm4sr(ds, {
    numCategories: 0,
    maxLen: 10,
    imageDim: 6,
    zeroFeatures: ['img'],
    intervalBuckets: 3000,
  });
  const g = new Graph('probe');
  hm4srModel(config).loss(g, declareBatch(g, hm4srModel(config).batch));
  const values = paramValues(g, rng(17));
  const model = join(dir, 'model.onnx');
  writeServingModel(model, {
    model: config,
    values,
    tokens: ds.itemTokens,
    topK: opts.topK ?? 20,
    encode: { mu: 100, maxBucket: config.intervalBuckets - 1, absTime: 'days', timeOrigin: ds.firstTimestamp },
    data: { kCore: 5, dedupe: true },
  });
  return { model, data, name, ds, config, values };
}
