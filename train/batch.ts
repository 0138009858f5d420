import { type BatchKind, HM4SR_INPUTS, type Hm4srInput, batchInputs } from '../graph/models/hm4sr-batch.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import type { HostTensor } from '../runtime/session.js';
import { type LastLayerQueries, type Layout, type RowLayout, QUERIES_PER_ROW } from './batch-layout.js';
import { lastLayerQueries, packRows } from './batch-layout.js';

/** One user history: item ids and Unix-second timestamps (float64), oldest first. */
export interface History {
  items: ArrayLike<number>;
  times: ArrayLike<number>;
  target?: number;
}

/** A run's packing settings: everything but the per-batch target flag and PCL generator. */
export interface PackOptions {
  layout: Layout;
  mu: number;
  /** Interval-bucket table rows - 1: larger buckets clamp to the last row. */
  maxBucket: number;
  absTime: 'days' | 'seconds';
  timeOrigin: number;
  /** PCL: fraction of positions of each history (length >= 4) replaced by a time placeholder. */
  pclBeta: number;
  /** Read positions per query row of the last layer (default QUERIES_PER_ROW). */
  queriesPerRow?: number;
}

export interface BatchOptions extends PackOptions {
  withTarget: boolean;
  /** The PCL mask's generator: given for training batches, and only for those. */
  rng?: { nextInt(n: number): number };
}

export interface PackedBatch {
  feeds: Record<string, HostTensor>;
  size: number;
  rows: number;
  width: number;
  /** Real history tokens (what the batch pays for, beyond padding). */
  tokens: number;
}

/** Training batches carry a PCL generator and targets, evaluation batches targets, inference ones neither. */
export function batchKind(o: BatchOptions): BatchKind {
  if (o.rng && !o.withTarget) {
    throw new Error('packHistories: a training batch (one given a PCL generator) needs targets');
  }
  return o.rng ? 'train' : o.withTarget ? 'eval' : 'infer';
}

/** What an input is filled from: the batch's histories, its options and where packing put them. */
interface Packing {
  hs: History[];
  c: Hm4srConfig;
  o: BatchOptions;
  at: RowLayout;
  /** Flat index (row * width + column) of each history's first token. */
  base: Int32Array;
  queries: () => LastLayerQueries;
  distinctItems: () => { cp_items: HostTensor; cp_counts: HostTensor };
}

/**
 * How an input is filled. token: [rows, width], a value per token j of history i (padding stays 0); history:
 * [rows, width], a history's cells written together from `at`; sample: [batch], a value per history; whole:
 * the tensor, from the whole batch.
 */
type Fill =
  | { token: (h: History, i: number, j: number, p: Packing) => number }
  | { history: (out: Float32Array, at: number, h: History, p: Packing) => void }
  | { sample: (h: History, i: number, p: Packing) => number }
  | { whole: (p: Packing) => HostTensor };

/**
 * How an input is filled from histories, and what stacking it for the K-step Loop needs beyond its shape (see
 * stackBatches in pack.ts): an index re-pointed into the stacked rows, or a list's own padding (zeros if none).
 */
interface InputRule {
  fill: Fill;
  restack?: (v: number, b: PackedBatch, to: { rows: number; width: number }) => number;
  pad?: (list: BigInt64Array, n: number) => BigInt64Array;
}

const DAY = 86400;

/** floor(mu * log2(a + 1)) for a gap a > 0 seconds; 0 for the first position or a negative gap. */
export function intervalBucket(seconds: number, mu: number): number {
  return seconds > 0 ? Math.floor(mu * Math.log2(seconds + 1)) : 0;
}

const gapBefore = (h: History, j: number) => (j > 0 ? h.times[j] - h.times[j - 1] : 0);

/** Every HM4SR input (graph/models/hm4sr-batch.ts declares their specs): how it is filled and stacked. */
export const INPUT_RULES: { [K in Hm4srInput]: InputRule } = {
  items: {
    fill: {
      token: (h, _i, j, p) => {
        const item = h.items[j];
        const n = p.c.numItems;
        if (!(item >= 1 && item <= n)) throw new Error(`packHistories: item id ${item} is outside 1..${n}`);
        return item;
      },
    },
  },
  positions: { fill: { token: (_h, _i, j) => j } },
  segments: { fill: { token: (_h, i, _j, p) => p.at.segOf[i] } },
  buckets: {
    fill: { token: (h, _i, j, { o }) => (j > 0 ? Math.min(intervalBucket(gapBefore(h, j), o.mu), o.maxBucket) : 0) },
  },
  times: {
    fill: {
      token: (h, _i, j, { c, o }) => {
        if (c.timeEmbedding === 'interval-cos') return Math.max(gapBefore(h, j), 0) / DAY;
        return o.absTime === 'days' ? (h.times[j] - o.timeOrigin) / DAY : h.times[j];
      },
    },
  },
  calendar: { fill: { token: (h, _i, j, p) => calendarIndex(p.c, h.times[j], p.o.timeOrigin) } },
  last: {
    fill: { sample: (h, i, p) => p.base[i] + h.items.length - 1 },
    restack: (at, b, to) => Math.floor(at / b.width) * to.width + (at % b.width),
  },
  target: {
    fill: {
      sample: (h) => {
        if (h.target === undefined) throw new Error('packHistories: a history has no target');
        return h.target;
      },
    },
  },
  // Stacked query rows keep their layout (one per packed row, then the extra ones, each part padded): a slot
  // past the per-row part moves by the padding rows inserted before the extra part.
  pick_more: { fill: { whole: (p) => p.queries().pick_more } },
  pick_col: { fill: { whole: (p) => p.queries().pick_col } },
  pick_slot: {
    fill: { whole: (p) => p.queries().pick_slot },
    restack: (s, b, to) => {
      const P = b.feeds.pick_col.dims[1];
      return s < b.rows * P ? s : s + (to.rows - b.rows) * P;
    },
  },
  pcl_mask: { fill: { history: pclMask } },
  cp_items: { fill: { whole: (p) => p.distinctItems().cp_items }, pad: padUnheld },
  // Padded with count 0: the pad items add nothing to the category loss.
  cp_counts: { fill: { whole: (p) => p.distinctItems().cp_counts } },
};

/**
 * The graph inputs of a batch of histories: packs them in rows (batch-layout.ts packRows), then fills each
 * input the graph of this kind reads (batchKind) by its rule.
 */
export function packHistories(hs: History[], c: Hm4srConfig, o: BatchOptions): PackedBatch {
  const kind = batchKind(o);
  if (hs.length === 0) throw new Error('packHistories: empty batch');
  const lengths = hs.map((h) => h.items.length);
  for (const len of lengths) {
    if (len === 0) throw new Error('packHistories: a history is empty');
    if (len > c.maxLen) {
      throw new Error(`packHistories: a history has ${len} items, the model takes at most ${c.maxLen}`);
    }
  }
  const at = packRows(lengths, o.layout);
  const base = Int32Array.from(lengths, (_, i) => at.rowOf[i] * at.width + at.colOf[i]);
  const p: Packing = {
    hs,
    c,
    o,
    at,
    base,
    queries: once(() => lastLayerQueries(lengths, at, o.queriesPerRow ?? QUERIES_PER_ROW)),
    distinctItems: once(() => distinctItems(hs)),
  };
  const feeds: Record<string, HostTensor> = {};
  for (const name of batchInputs(c, kind)) feeds[name] = fillInput(name, p);
  return { feeds, size: hs.length, rows: at.rows, width: at.width, tokens: lengths.reduce((a, b) => a + b, 0) };
}

function fillInput(name: Hm4srInput, p: Packing): HostTensor {
  const { fill } = INPUT_RULES[name];
  if ('whole' in fill) return fill.whole(p);
  const perSample = 'sample' in fill;
  const dims = perSample ? [p.hs.length] : [p.at.rows, p.at.width];
  const n = dims.reduce((a, b) => a * b, 1);
  const float = HM4SR_INPUTS[name].dtype === 'float32';
  const f32 = float ? new Float32Array(n) : null,
    i64 = float ? null : new BigInt64Array(n);
  const put = (k: number, v: number) => {
    if (f32) f32[k] = v;
    else i64![k] = BigInt(v);
  };
  p.hs.forEach((h, i) => {
    if ('sample' in fill) put(i, fill.sample(h, i, p));
    else if ('token' in fill) for (let j = 0; j < h.items.length; j++) put(p.base[i] + j, fill.token(h, i, j, p));
    else if (f32) fill.history(f32, p.base[i], h, p);
    else throw new Error(`${name}: a per-history fill writes float32 cells`);
  });
  return { data: f32 ?? i64!, dims };
}

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

/** PCL: floor(beta * len) distinct positions of each history of 4 or more (partial Fisher-Yates). */
function pclMask(out: Float32Array, at: number, h: History, { o }: Packing): void {
  const len = h.items.length;
  if (len < 4) return;
  if (!o.rng) throw new Error('packHistories: the PCL mask needs a generator');
  const k = Math.floor(o.pclBeta * len);
  const idx = Array.from({ length: len }, (_, j) => j);
  for (let j = 0; j < k; j++) {
    const r = j + o.rng.nextInt(len - j);
    [idx[j], idx[r]] = [idx[r], idx[j]];
    out[at + idx[j]] = 1;
  }
}

/**
 * The category loss depends on a token only through its item, so the training graph evaluates it once per
 * distinct item of the batch (about 45% of the tokens on Beauty), weighted by how often the item occurs:
 * cp_items [U] in ascending order, cp_counts [U].
 */
function distinctItems(hs: History[]): { cp_items: HostTensor; cp_counts: HostTensor } {
  const count = new Map<number, number>();
  for (const h of hs) for (let j = 0; j < h.items.length; j++) count.set(h.items[j], (count.get(h.items[j]) ?? 0) + 1);
  const ids = [...count.keys()].sort((a, b) => a - b);
  return {
    cp_items: { data: BigInt64Array.from(ids, BigInt), dims: [ids.length] },
    cp_counts: { data: Float32Array.from(ids, (v) => count.get(v)!), dims: [ids.length] },
  };
}

/** Pads with ids the list does not hold (their cp_counts pad is 0): cp_items stays distinct (TensorSpec.distinct). */
function padUnheld(ids: BigInt64Array, n: number): BigInt64Array {
  const out = new BigInt64Array(n),
    held = new Set<bigint>(ids);
  out.set(ids);
  for (let i = ids.length, id = 0n; i < n; i++, id++) {
    while (held.has(id)) id++;
    out[i] = id;
  }
  return out;
}

function calendarIndex(c: Hm4srConfig, t: number, origin: number): number {
  if (c.timeEmbedding === 'day-of-year') {
    const d = new Date(t * 1000);
    return Math.floor(
      (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) /
        (DAY * 1000),
    );
  }
  return Math.min(Math.max(Math.floor((t - origin) / DAY), 0), c.calendarSize - 1);
}
