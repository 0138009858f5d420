import type { ConstTensor } from '../graph.js';
import { Graph, type Value } from '../graph.js';
import * as op from '../ops/index.js';
import { type Chunk, chunkedTopK } from './catalog-chunks.js';
import { type Hm4srConfig, type Modality, usesCalendar, usesInterval, usesTimes } from './hm4sr-config.js';
import { type Encoded, catalogWidth, encode, rowConstant, scores, userVector } from './hm4sr.js';

/**
 * The serving signature of model.onnx: inputs any application has (item indices and Unix seconds), every
 * piece of hm4sr's encoding (positions, interval buckets, time features, the last-position gather) inside
 * the graph, built from the same `encode` as the training and evaluation graphs.
 */
export const SERVE_INPUTS = { items: 'item_ids', times: 'timestamps', excludeSeen: 'exclude_seen' } as const;
export const SERVE_OUTPUTS = { items: 'top_items', scores: 'top_scores' } as const;
export const userVectorOutput = (m: Modality) => `user_vector_${m}`;

/** How histories were encoded for training: the graph reproduces it exactly. */
export interface ServeEncoding {
  mu: number;
  /** Interval-bucket table rows - 1: larger buckets clamp to the last row. */
  maxBucket: number;
  absTime: 'days' | 'seconds';
  timeOrigin: number;
}

export interface ServingGraph {
  graph: Graph;
  /** Defaults of optional inputs (emit as `inputDefaults`). */
  defaults: Record<string, ConstTensor>;
  /** K of the TopK output. */
  topK: number;
}

const DAY = 86400;
const HUGE = 2n ** 62n;

/**
 * thr[k] = the smallest gap (seconds) whose bucket is >= k, for k = 0..maxBucket+2 (thr[0] below every gap):
 * the graph estimates a bucket in float32 and corrects it against these exact integer thresholds, so its
 * buckets equal `bucketOf` for every int64 gap, however large (float32 cannot even hold Unix seconds).
 */
export function bucketThresholds(bucketOf: (seconds: number) => number, maxBucket: number): BigInt64Array {
  const thr = new BigInt64Array(maxBucket + 3);
  thr[0] = -HUGE;
  const top = 2 ** 53;
  for (let k = 1; k < thr.length; k++) {
    if (bucketOf(top) < k) {
      thr[k] = HUGE;
      continue;
    }
    let lo = 1,
      hi = top;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (bucketOf(mid) >= k) hi = mid;
      else lo = mid + 1;
    }
    thr[k] = BigInt(lo);
  }
  return thr;
}

/** [B, S] -> the same shifted right by one column, `first` in column 0. */
function shiftRight(x: Value, first: Value): Value {
  return op.concat([first, op.slice(x, [0], [-1], [1])], 1);
}

/** Day of the year (0-based, UTC) of Unix seconds, in int64 (H. Hinnant's civil-from-days). */
function dayOfYear(g: Graph, t: Value): Value {
  const mod = (a: Value, b: number) =>
    g.node('Mod', [a, op.scalar(g, b, 'int64')], [{ dtype: 'int64', shape: a.shape }], {})[0];
  const days = op.div(op.sub(t, mod(t, DAY)), DAY);
  const z = op.add(days, 719468);
  const era = op.div(z, 146097);
  const doe = op.sub(z, op.mul(era, 146097));
  const yoe = op.div(op.add(op.sub(doe, op.div(doe, 1460)), op.sub(op.div(doe, 36524), op.div(doe, 146096))), 365);
  const doyMar = op.sub(doe, op.add(op.mul(yoe, 365), op.sub(op.div(yoe, 4), op.div(yoe, 100))));
  const y = op.add(yoe, op.mul(era, 400));
  const isZero = (a: Value, b: number) => op.equal(mod(a, b), 0);
  const leap = op.cast(op.or(op.and(isZero(y, 4), op.not(isZero(y, 100))), isZero(y, 400)), 'int64');
  // doyMar counts from March 1: 306 days later is January 1 of the next year.
  return op.where(op.greaterOrEqual(doyMar, 306), op.sub(doyMar, 306), op.add(op.add(doyMar, 59), leap));
}

/** The time inputs the model reads (interval buckets, times, calendar indices), from the kept items' timestamps. */
function timeInputs(
  g: Graph,
  c: Hm4srConfig,
  enc: ServeEncoding,
  bucketOf: (seconds: number) => number,
  keep: Value,
  timesIn: Value,
  b: Record<string, Value>,
): void {
  // Gaps in int64 (exact for any Unix seconds); 0 at the first kept item, as for a history's first item.
  const both = op.mul(keep, shiftRight(keep, op.mul(op.slice(keep, [0], [1], [1]), 0)));
  const gap = op.mul(op.sub(timesIn, shiftRight(timesIn, op.slice(timesIn, [0], [1], [1]))), both);
  const t64 = op.cast(timesIn, 'float64');
  if (usesInterval(c)) {
    const thr = g.constant(bucketThresholds(bucketOf, enc.maxBucket), 'int64', [enc.maxBucket + 3]);
    const gapF = op.cast(op.max(gap, 0), 'float32');
    const est = op.min(
      op.cast(op.floor(op.mul(op.log(op.add(gapF, 1)), enc.mu / Math.LN2)), 'int64'),
      enc.maxBucket + 1,
    );
    const down = op.cast(op.less(gap, op.gather(thr, est)), 'int64');
    const up = op.cast(op.greaterOrEqual(gap, op.gather(thr, op.add(est, 1))), 'int64');
    b.buckets = op.min(op.add(op.sub(est, down), up), enc.maxBucket);
  }
  if (usesTimes(c)) {
    // float64 arithmetic, then one rounding to float32: bit-identical to the host encoder.
    const x =
      c.timeEmbedding === 'interval-cos'
        ? op.div(op.cast(op.max(gap, 0), 'float64'), DAY)
        : enc.absTime === 'days'
          ? op.div(op.sub(t64, enc.timeOrigin), DAY)
          : t64;
    b.times = op.cast(x, 'float32');
  }
  if (usesCalendar(c)) {
    b.calendar =
      c.timeEmbedding === 'day-of-year'
        ? dayOfYear(g, timesIn)
        : op.min(op.max(op.cast(op.floor(op.div(op.sub(t64, enc.timeOrigin), DAY)), 'int64'), 0), c.calendarSize - 1);
  }
}

/**
 * The rank scope's TopK over catalog chunks of `chunk` rows, the padding row riding in the first (so a
 * catalog the setting does not split keeps the whole form, though the rows scored are N + 1): the whole form's
 * values and indices. Each chunk's columns get what the whole form gives them: the row constant of bias-only
 * modalities, -inf at the padding item, and under exclude_seen -inf at the history's items. The whole form's
 * pad adds +0 to the other columns; later chunks skip that add, which could only turn a -0 score into +0, an
 * equal value to TopK.
 */
function chunkedServingTopK(e: Encoded, chunk: number, itemsIn: Value, excludeSeen: Value, K: number): [Value, Value] {
  const g = itemsIn.graph;
  const user = userVector(e);
  const rowConst = rowConstant(e);
  const unseen = op.constantOfShape(op.shapeOf(itemsIn), 'float32', -Infinity, itemsIn.shape ?? undefined);
  const score = (ch: Chunk, head: boolean) => {
    let s = op.matmul(user, op.transposeLast(ch.rows));
    if (rowConst) s = op.add(s, rowConst);
    if (head) {
      const pad = new Float32Array(ch.rows.dim(0) as number);
      pad[0] = -Infinity;
      s = op.add(s, g.constant(pad, 'float32', [pad.length]));
    }
    return op.where(excludeSeen, withoutSeen(s, itemsIn, ch.start, unseen), s);
  };
  return chunkedTopK(e.catalog, chunk, K, score);
}

/** A chunk's scores s [B, len] from catalog row `start` with the history's items in it set to -inf (`unseen`). */
function withoutSeen(s: Value, itemsIn: Value, start: Value, unseen: Value): Value {
  const width = op.dimOf(s, 1);
  const local = op.sub(itemsIn, start);
  const inside = op.and(op.greaterOrEqual(local, 0), op.less(local, width));
  // ScatterElements cannot skip an index: items of other chunks write to a spare column, dropped after.
  const spare = op.concat([s, op.slice(s, [0], [1], [1])], 1);
  const hit = op.scatterElements(spare, op.where(inside, local, width), unseen, 1);
  return op.slice(hit, [0], [-1], [1]);
}

/**
 * Serving scores a request's few histories (the Node runtime runs 64 at a time, Triton batches up to 256), not a
 * training batch of 1,024: its TopK takes the whole catalog up to SERVING_WHOLE_MAX items (256 x 262,144 scores
 * are 256 MB), where chunks only cost time (measured 1.8x at 96,083 items), and chunks of that size beyond.
 */
export const SERVING_WHOLE_MAX = 262144;
export const servingChunk = (numItems: number) => (numItems <= SERVING_WHOLE_MAX ? 0 : SERVING_WHOLE_MAX);

/**
 * The serving model's catalog: 'features' holds the frozen feature tables and the projections (ORT folds them
 * at load; add-items can extend the tables), 'precomputed' holds their product, the catalog [N+1, V*d], under
 * SERVING_CATALOG: a million items x 768 features is 3 GB a modality, past what one ONNX file can hold, while
 * its catalog at d = 64 is 256 MB a modality.
 */
export type CatalogForm = 'features' | 'precomputed';
export const SERVING_CATALOG = 'serving.catalog';

/**
 * Inputs: item_ids [batch, seq] int64 (0 = padding, oldest first, padding on either side), timestamps
 * [batch, seq] int64 Unix seconds (only when the model reads time), exclude_seen [batch, 1] bool (default
 * [[false]], an overridable initializer; see `requireInputs` for runtimes that cannot override one).
 * Only the last maxLen items of a history are encoded, as in training; exclude_seen drops every item of
 * the input. Outputs: top_items / top_scores [batch, K] and one user vector [batch, hidden] per modality
 * (scores are their summed dot products with the item's per-modality representations).
 */
export function buildServingGraph(
  c: Hm4srConfig,
  enc: ServeEncoding,
  topK: number,
  bucketOf: (seconds: number) => number,
  name = 'hm4sr',
  chunk = servingChunk(c.numItems),
  form: CatalogForm = 'features',
): ServingGraph {
  const g = new Graph(`${name}_serving`);
  const itemsIn = g.input(SERVE_INPUTS.items, 'int64', ['batch', 'seq']);
  const readsTime = usesInterval(c) || usesTimes(c) || usesCalendar(c);
  const timesIn = readsTime ? g.input(SERVE_INPUTS.times, 'int64', ['batch', 'seq']) : null;
  // [batch, 1] rather than a scalar: Triton's dynamic batching gives every input a batch axis. The default
  // [[false]] broadcasts over any batch.
  const excludeSeen = g.input(SERVE_INPUTS.excludeSeen, 'bool', ['batch', 1]);

  const b: Record<string, Value> = {};
  g.withScope('signature', () => {
    const real = op.cast(op.not(op.equal(itemsIn, 0)), 'int64');
    const total = op.reduceSum(real, [1], true);
    // Items after position p in the history (0 for its last item): keep the last maxLen, as training does.
    const after = op.sub(total, op.cumsum(real, 1));
    const keep = op.mul(real, op.cast(op.less(after, c.maxLen), 'int64'));
    const kept = op.cumsum(keep, 1);
    b.items = op.mul(itemsIn, keep);
    b.segments = keep;
    b.positions = op.max(op.sub(kept, 1), 0);
    const rows = op.dimOf(itemsIn, 0),
      width = op.dimOf(itemsIn, 1);
    // ArgMax over float32 (exact for counts): onnxruntime-web has no int64 ArgMax. The first maximum of
    // the running count is the last kept item.
    b.last = op.add(op.mul(op.range(0, rows, 1), width), op.argMax(op.cast(kept, 'float32'), 1));
    if (!timesIn) return;
    timeInputs(g, c, enc, bucketOf, keep, timesIn, b);
  });

  const what = { kind: 'external', what: 'the precomputed catalog' } as const;
  const catalog =
    form === 'precomputed'
      ? g.param(SERVING_CATALOG, [c.numItems + 1, catalogWidth(c)], what, { trainable: false })
      : undefined;
  const e = encode(g, c, b, false, { catalog });
  const K = Math.min(topK, c.numItems);
  g.withScope('rank', () => {
    if (chunk > 0 && chunk < c.numItems) {
      const [vals, idx] = chunkedServingTopK(e, chunk, itemsIn, excludeSeen, K);
      g.output(idx, SERVE_OUTPUTS.items);
      g.output(vals, SERVE_OUTPUTS.scores);
      return;
    }
    const pad = new Float32Array(c.numItems + 1);
    pad[0] = -Infinity;
    const s = op.add(scores(c, e), g.constant(pad, 'float32', [c.numItems + 1]));
    const seen = op.scatterElements(
      s,
      itemsIn,
      op.constantOfShape(op.shapeOf(itemsIn), 'float32', -Infinity, itemsIn.shape ?? undefined),
      1,
    );
    const [vals, idx] = op.topK(op.where(excludeSeen, seen, s), K, 1);
    g.output(idx, SERVE_OUTPUTS.items);
    g.output(vals, SERVE_OUTPUTS.scores);
  });
  for (const m of c.modalities) g.output(e.H.get(m)!, userVectorOutput(m));
  return {
    graph: g,
    defaults: { [SERVE_INPUTS.excludeSeen]: { dtype: 'bool', dims: [1, 1], data: new Uint8Array([0]) } },
    topK: K,
  };
}
