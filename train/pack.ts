import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { type EncodeOptions, type EncodedBatch, type History, encodeHistories } from '../graph/models/hm4sr-batch.js';
import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';

export type { Layout } from '../graph/models/hm4sr-batch.js';
export type PackOptions = EncodeOptions;
export type PackedBatch = EncodedBatch;

/** Encodes samples (views into the dataset's arrays, never copies of the histories) for the graphs. */
export function packBatch(ds: Dataset, set: SampleSet, indices: ArrayLike<number>, c: Hm4srConfig, o: PackOptions): PackedBatch {
  const hs: History[] = new Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i];
    if (!(s >= 0 && s < set.size)) throw new Error(`sample index ${s} out of range 0..${set.size - 1}`);
    const end = set.pos[s], start = end - set.length[s];
    hs[i] = { items: ds.items.subarray(start, end), times: ds.timestamps.subarray(start, end), target: ds.items[end] };
  }
  return encodeHistories(hs, c, o);
}
