import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { inputDecl } from '../graph/models/hm4sr-batch.js';
import type { HostTensor } from '../runtime/session.js';
import { type BatchOptions, type History, type PackOptions, type PackedBatch } from './batch.js';
import { INPUT_RULES, packHistories } from './batch.js';
import type { RunConfig } from './config.js';
import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';
import type { Prepared } from './prepare.js';

export function packOptions(rc: RunConfig, p: Prepared): PackOptions {
  const { layout, mu, absTime, pclBeta } = rc.optim;
  return { layout, mu, maxBucket: p.model.intervalBuckets - 1, absTime, timeOrigin: p.ds.firstTimestamp, pclBeta };
}

/** Packs samples (views into the dataset's arrays, never copies of the histories) as a batch of graph inputs. */
export function packBatch(
  ds: Dataset,
  set: SampleSet,
  indices: ArrayLike<number>,
  c: Hm4srConfig,
  o: BatchOptions,
): PackedBatch {
  const hs: History[] = new Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i];
    if (!(s >= 0 && s < set.size)) throw new Error(`sample index ${s} out of range 0..${set.size - 1}`);
    const end = set.pos[s],
      start = end - set.length[s];
    hs[i] = { items: ds.items.subarray(start, end), times: ds.timestamps.subarray(start, end), target: ds.items[end] };
  }
  return packHistories(hs, c, o);
}

/** A training run's steps: K same-size batches share one run of the K-step Loop graph, the rest run alone. */
export interface StepGroup {
  batches: Int32Array[];
  looped: boolean;
}

/** Groups an epoch's batches for the K-step Loop (K 1: every batch alone); an epoch's tail takes single steps. */
export function stepGroups(batches: Int32Array[], K: number): StepGroup[] {
  const groups: StepGroup[] = [];
  for (let i = 0; i < batches.length;) {
    const group = batches.slice(i, i + K);
    const looped = K > 1 && group.length === K && group.every((b) => b.length === group[0].length);
    groups.push({ batches: looped ? group : [batches[i]], looped });
    i += looped ? K : 1;
  }
  return groups;
}

/**
 * K packed batches of the same size stacked for the K-step Loop graph ([K, ...] each), by each input's shape:
 * [rows, width] inputs are padded to the largest rows and width among them (padding is segment 0, which
 * attention ignores); [batch] ones are copied; lists are padded to the longest (zeros, or the input's own
 * pad); pick_col's query rows get padding rows after each of their two parts. An input whose indices point
 * into these (`last`, `pick_slot`) is re-pointed by its rule (batch.ts INPUT_RULES).
 */
export function stackBatches(bs: PackedBatch[]): PackedBatch {
  const B = bs[0].size;
  if (bs.some((b) => b.size !== B)) throw new Error('stackBatches: batches differ in size');
  const to = { rows: Math.max(...bs.map((b) => b.rows)), width: Math.max(...bs.map((b) => b.width)) };
  const extra = Math.max(...bs.map((b) => b.feeds.pick_more?.dims[0] ?? 0));
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(bs[0].feeds)) feeds[name] = stackInput(name, bs, to, extra);
  return { feeds, size: B, rows: to.rows, width: to.width, tokens: bs.reduce((a, b) => a + b.tokens, 0) };
}

type Flat = Float32Array | BigInt64Array;

/** out.set(src, at) for arrays of one element type (every batch's tensor has the first one's). */
const copy = (out: Flat, src: Flat, at: number) => (out as Float32Array).set(src as Float32Array, at);

function stackInput(name: string, bs: PackedBatch[], to: { rows: number; width: number }, extra: number): HostTensor {
  const K = bs.length,
    R = to.rows,
    W = to.width;
  const axis = inputDecl(name).shape[0],
    rule = INPUT_RULES[name as keyof typeof INPUT_RULES];
  const first = bs[0].feeds[name];
  const P = axis === 'queries' ? first.dims[1] : 1;
  const longest = () => Math.max(...bs.map((b) => b.feeds[name].dims[0]));
  const n = axis === 'rows' ? R * W : axis === 'queries' ? (R + extra) * P : axis === 'batch' ? bs[0].size : longest();
  const out = first.data instanceof Float32Array ? new Float32Array(K * n) : new BigInt64Array(K * n);
  bs.forEach((b, k) => {
    let src = b.feeds[name].data as Flat;
    const o = k * n;
    if (axis === 'rows') {
      for (let r = 0; r < b.rows; r++) copy(out, src.subarray(r * b.width, (r + 1) * b.width), o + r * W);
    } else if (axis === 'queries') {
      copy(out, src.subarray(0, b.rows * P), o);
      copy(out, src.subarray(b.rows * P), o + R * P);
    } else {
      const { restack, pad } = rule;
      if (restack) src = BigInt64Array.from(src as BigInt64Array, (v) => BigInt(restack(Number(v), b, to)));
      if (pad) src = pad(src as BigInt64Array, n);
      copy(out, src, o);
    }
  });
  return { data: out, dims: axis === 'rows' ? [K, R, W] : axis === 'queries' ? [K, R + extra, P] : [K, n] };
}
