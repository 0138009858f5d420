import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { type EncodeOptions, type EncodedBatch, type History, encodeHistories } from '../runtime/encode.js';
import type { HostTensor } from '../runtime/session.js';
import type { RunConfig } from './config.js';
import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';
import type { Prepared } from './prepare.js';

/** Encoding settings of a run: everything but the per-batch target flag and PCL generator. */
export type PackOptions = Omit<EncodeOptions, 'withTarget' | 'rng'>;

export function packOptions(rc: RunConfig, p: Prepared): PackOptions {
  return { layout: rc.optim.layout, mu: rc.optim.mu, maxBucket: p.model.intervalBuckets - 1, absTime: rc.optim.absTime, timeOrigin: p.ds.firstTimestamp, pclBeta: rc.optim.pclBeta };
}

/** Encodes samples (views into the dataset's arrays, never copies of the histories) for the graphs. */
export function packBatch(ds: Dataset, set: SampleSet, indices: ArrayLike<number>, c: Hm4srConfig, o: EncodeOptions): EncodedBatch {
  const hs: History[] = new Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i];
    if (!(s >= 0 && s < set.size)) throw new Error(`sample index ${s} out of range 0..${set.size - 1}`);
    const end = set.pos[s], start = end - set.length[s];
    hs[i] = { items: ds.items.subarray(start, end), times: ds.timestamps.subarray(start, end), target: ds.items[end] };
  }
  return encodeHistories(hs, c, o);
}

/**
 * K encoded batches of the same size stacked for the K-step Loop graph: every [rows, width] input is padded
 * to the largest rows and width among them (padding is segment 0, which attention ignores) and `last` is
 * re-indexed for the common width. Per-batch lists are padded with zeros to the longest: item 0 with count 0
 * (cp_items, cp_counts) adds nothing to the category loss, and padded query rows (pick_row, pick_col) are
 * read by no pick_slot.
 */
export function stackBatches(bs: EncodedBatch[]): EncodedBatch {
  const K = bs.length, B = bs[0].size;
  if (bs.some((b) => b.size !== B)) throw new Error('stackBatches: batches differ in size');
  const R = Math.max(...bs.map((b) => b.rows)), W = Math.max(...bs.map((b) => b.width));
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(bs[0].feeds)) {
    const per = bs[0].feeds[name];
    const grid = per.dims.length === 2 && name !== 'pick_col';
    // Lists whose length varies per batch (distinct items, query rows) are padded at the end with zeros.
    const len = Math.max(...bs.map((b) => b.feeds[name].dims[0]));
    const inner = per.dims.length === 2 && !grid ? per.dims[1] : 1;
    const n = grid ? R * W : len * inner;
    const out = per.data instanceof Float32Array ? new Float32Array(K * n) : new BigInt64Array(K * n);
    bs.forEach((b, k) => {
      const src = b.feeds[name].data as Float32Array | BigInt64Array;
      if (!grid) {
        if (name === 'last') {
          for (let i = 0; i < B; i++) {
            const at = Number(src[i]);
            (out as BigInt64Array)[k * n + i] = BigInt(Math.floor(at / b.width) * W + (at % b.width));
          }
        } else (out as BigInt64Array).set(src as BigInt64Array, k * n);
        return;
      }
      for (let r = 0; r < b.rows; r++) (out as Float32Array).set(src.subarray(r * b.width, (r + 1) * b.width) as Float32Array, k * n + r * W);
    });
    feeds[name] = { data: out, dims: grid ? [K, R, W] : per.dims.length === 2 ? [K, len, inner] : [K, len] };
  }
  return { feeds, size: B, rows: R, width: W, tokens: bs.reduce((a, b) => a + b.tokens, 0) };
}
