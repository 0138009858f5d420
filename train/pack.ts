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
 * (cp_items, cp_counts) adds nothing to the category loss. The last layer's query rows keep their layout
 * (one per packed row, then the extra ones): pick_col gets padding rows after each part, pick_slot is
 * re-indexed past them, and padded slots are read by no sample.
 */
export function stackBatches(bs: EncodedBatch[]): EncodedBatch {
  const K = bs.length, B = bs[0].size;
  if (bs.some((b) => b.size !== B)) throw new Error('stackBatches: batches differ in size');
  const R = Math.max(...bs.map((b) => b.rows)), W = Math.max(...bs.map((b) => b.width));
  const feeds: Record<string, HostTensor> = {};
  const lists = ['cp_items', 'cp_counts', 'pick_more'];
  const extra = (b: EncodedBatch) => b.feeds.pick_more?.dims[0] ?? 0;
  const E = Math.max(...bs.map(extra));
  for (const name of Object.keys(bs[0].feeds)) {
    const per = bs[0].feeds[name];
    const P = name === 'pick_col' ? per.dims[1] : 1;
    const n = name === 'pick_col' ? (R + E) * P : lists.includes(name) ? Math.max(...bs.map((b) => b.feeds[name].dims[0])) : per.dims.length === 2 ? R * W : B;
    const out = per.data instanceof Float32Array ? new Float32Array(K * n) : new BigInt64Array(K * n);
    bs.forEach((b, k) => {
      const src = b.feeds[name].data as Float32Array | BigInt64Array;
      const o = k * n;
      if (name === 'last') {
        for (let i = 0; i < B; i++) {
          const at = Number(src[i]);
          (out as BigInt64Array)[o + i] = BigInt(Math.floor(at / b.width) * W + (at % b.width));
        }
      } else if (name === 'pick_col') {
        (out as BigInt64Array).set((src as BigInt64Array).subarray(0, b.rows * P), o);
        (out as BigInt64Array).set((src as BigInt64Array).subarray(b.rows * P), o + R * P);
      } else if (name === 'pick_slot') {
        const P = b.feeds.pick_col.dims[1];
        for (let i = 0; i < B; i++) {
          const s = Number(src[i]);
          (out as BigInt64Array)[o + i] = BigInt(s < b.rows * P ? s : s + (R - b.rows) * P);
        }
      } else if (name === 'cp_items') {
        // Padded with ids this step does not hold (their cp_counts pad is 0, so they weigh nothing): cp_items
        // stays distinct (TensorSpec.distinct), as its gradient's ScatterND needs.
        const ids = src as BigInt64Array, held = new Set<bigint>(ids);
        (out as BigInt64Array).set(ids, o);
        for (let i = ids.length, id = 0n; i < n; i++, id++) {
          while (held.has(id)) id++;
          (out as BigInt64Array)[o + i] = id;
        }
      } else if (per.dims.length === 2) {
        for (let r = 0; r < b.rows; r++) (out as Float32Array).set(src.subarray(r * b.width, (r + 1) * b.width) as Float32Array, o + r * W);
      } else (out as Float32Array).set(src as Float32Array, o);
    });
    feeds[name] = { data: out, dims: name === 'pick_col' ? [K, R + E, P] : per.dims.length === 2 ? [K, R, W] : [K, n] };
  }
  return { feeds, size: B, rows: R, width: W, tokens: bs.reduce((a, b) => a + b.tokens, 0) };
}
