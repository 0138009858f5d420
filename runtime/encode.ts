import { type Hm4srConfig, usesCP, usesCalendar, usesInterval, usesPCL, usesTimes } from '../graph/models/hm4sr-config.js';
import type { HostTensor } from './session.js';


/** One user history: item ids and Unix-second timestamps (float64), oldest first. */
export interface History { items: ArrayLike<number>; times: ArrayLike<number>; target?: number }

export type Layout = 'packed' | 'padded';

export interface EncodeOptions {
  layout: Layout;
  mu: number;
  /** Interval-bucket table rows - 1: larger buckets clamp to the last row. */
  maxBucket: number;
  absTime: 'days' | 'seconds';
  timeOrigin: number;
  /** PCL: fraction of positions of each history (length >= 4) replaced by a time placeholder. */
  pclBeta: number;
  /** Present for training batches that need a PCL mask. */
  rng?: { nextInt(n: number): number };
  withTarget: boolean;
  /** Read positions per query row of the last layer (default QUERIES_PER_ROW). */
  queriesPerRow?: number;
}

export interface EncodedBatch {
  feeds: Record<string, HostTensor>;
  size: number;
  rows: number;
  width: number;
  /** Real history tokens (what the batch pays for, beyond padding). */
  tokens: number;
}

const DAY = 86400;

/** floor(mu * log2(a + 1)) for a gap a > 0 seconds; 0 for the first position or a negative gap. */
export function intervalBucket(seconds: number, mu: number): number {
  return seconds > 0 ? Math.floor(mu * Math.log2(seconds + 1)) : 0;
}

/**
 * Lays histories out as the HM4SR graphs' inputs. 'packed' puts several histories in one row (best fit,
 * longest first) so a batch costs about its real tokens; 'padded' gives each history its own row, trimmed
 * to the longest. Both give the same result: attention is confined to a segment.
 */
export function encodeHistories(hs: History[], c: Hm4srConfig, o: EncodeOptions): EncodedBatch {
  const B = hs.length;
  if (B === 0) throw new Error('encodeHistories: empty batch');
  let width = 0, tokens = 0;
  for (const h of hs) {
    if (h.items.length === 0) throw new Error('encodeHistories: a history is empty');
    if (h.items.length > c.maxLen) throw new Error(`encodeHistories: a history has ${h.items.length} items, the model takes at most ${c.maxLen}`);
    width = Math.max(width, h.items.length);
    tokens += h.items.length;
  }
  const rowOf = new Int32Array(B), colOf = new Int32Array(B), segOf = new Int32Array(B).fill(1);
  let rows = 0;
  if (o.layout === 'padded') {
    for (let i = 0; i < B; i++) rowOf[i] = i;
    rows = B;
  } else {
    const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => hs[b].items.length - hs[a].items.length || a - b);
    // free[k] lists rows with exactly k free slots; best fit takes the tightest row that holds the history.
    const free: number[][] = Array.from({ length: width + 1 }, () => []);
    const used: number[] = [], segs: number[] = [];
    for (const i of order) {
      const len = hs[i].items.length;
      let k = len;
      while (k <= width && free[k].length === 0) k++;
      let r: number;
      if (k > width) {
        r = rows++;
        used.push(0);
        segs.push(0);
      } else r = free[k].pop()!;
      rowOf[i] = r;
      colOf[i] = used[r];
      segOf[i] = ++segs[r];
      used[r] += len;
      const left = width - used[r];
      if (left > 0) free[left].push(r);
    }
  }
  const n = rows * width;
  const items = new BigInt64Array(n), positions = new BigInt64Array(n), segments = new BigInt64Array(n);
  const buckets = usesInterval(c) ? new BigInt64Array(n) : null;
  const times = usesTimes(c) ? new Float32Array(n) : null;
  const calendar = usesCalendar(c) ? new BigInt64Array(n) : null;
  const pcl = o.rng && usesPCL(c) ? new Float32Array(n) : null;
  const last = new BigInt64Array(B), target = new BigInt64Array(B);
  const intervalDays = c.timeEmbedding === 'interval-cos';
  for (let i = 0; i < B; i++) {
    const h = hs[i], len = h.items.length;
    const base = rowOf[i] * width + colOf[i];
    const seg = BigInt(segOf[i]);
    for (let j = 0; j < len; j++) {
      const at = base + j, t = h.times[j];
      const gap = j > 0 ? t - h.times[j - 1] : 0;
      const item = h.items[j];
      if (!(item >= 1 && item <= c.numItems)) throw new Error(`encodeHistories: item id ${item} is outside 1..${c.numItems}`);
      items[at] = BigInt(item);
      positions[at] = BigInt(j);
      segments[at] = seg;
      if (buckets && j > 0) buckets[at] = BigInt(Math.min(intervalBucket(gap, o.mu), o.maxBucket));
      if (times) times[at] = intervalDays ? Math.max(gap, 0) / DAY : o.absTime === 'days' ? (t - o.timeOrigin) / DAY : t;
      if (calendar) calendar[at] = BigInt(calendarIndex(c, t, o.timeOrigin));
    }
    if (pcl && len >= 4) {
      // floor(beta * len) distinct positions (partial Fisher-Yates over the history).
      const k = Math.floor(o.pclBeta * len);
      const idx = Array.from({ length: len }, (_, j) => j);
      for (let j = 0; j < k; j++) {
        const r = j + o.rng!.nextInt(len - j);
        [idx[j], idx[r]] = [idx[r], idx[j]];
        pcl[base + idx[j]] = 1;
      }
    }
    last[i] = BigInt(base + len - 1);
    if (o.withTarget) {
      if (h.target === undefined) throw new Error('encodeHistories: a history has no target');
      target[i] = BigInt(h.target);
    }
  }
  const rw = [rows, width];
  const feeds: Record<string, HostTensor> = {
    items: { data: items, dims: rw },
    positions: { data: positions, dims: rw },
    segments: { data: segments, dims: rw },
    last: { data: last, dims: [B] },
  };
  if (buckets) feeds.buckets = { data: buckets, dims: rw };
  if (times) feeds.times = { data: times, dims: rw };
  if (calendar) feeds.calendar = { data: calendar, dims: rw };
  if (o.withTarget) feeds.target = { data: target, dims: [B] };
  if (pcl) feeds.pcl_mask = { data: pcl, dims: rw };
  if (o.rng && usesCP(c)) Object.assign(feeds, categoryItems(items));
  if (o.withTarget) Object.assign(feeds, lastLayerQueries(hs, rowOf, colOf, rows, o.queriesPerRow ?? QUERIES_PER_ROW));
  return { feeds, size: B, rows, width, tokens };
}

/** Read positions per query row of the last encoder layer (see lastLayerQueries). */
export const QUERIES_PER_ROW = 8;

/**
 * Only each history's last position leaves the encoder, so the training and evaluation graphs run the last
 * layer's attention for those positions alone, grouped by packed row, P = QUERIES_PER_ROW at a time. Query
 * row r < R holds the first P read positions of packed row r; a row with more takes further query rows,
 * appended after the R first ones, whose packed rows are pick_more [Q - R]. pick_col [Q, P] holds the columns
 * (slots past a row's last history repeat its first column) and pick_slot [B] sample i's slot in the
 * flattened [Q * P]. Attention then costs Q x P x W scores instead of R x W x W, and only the few extra query
 * rows gather keys and values (whose gradient is a sorted scatter-add).
 */
function lastLayerQueries(hs: History[], rowOf: Int32Array, colOf: Int32Array, rows: number, P: number): Record<string, HostTensor> {
  if (!(Number.isInteger(P) && P >= 1)) throw new Error(`encodeHistories: queriesPerRow must be a positive integer, got ${P}`);
  const B = hs.length;
  const byRow: number[][] = Array.from({ length: rows }, () => []);
  for (let i = 0; i < B; i++) byRow[rowOf[i]].push(i);
  const more: number[] = [], pcol: number[] = [];
  const slot = new BigInt64Array(B);
  const chunk = (r: number, k: number, q: number) => {
    const part = byRow[r].slice(k, k + P);
    const cols = part.map((i) => colOf[i] + hs[i].items.length - 1);
    part.forEach((i, j) => { slot[i] = BigInt(q * P + j); });
    for (let j = 0; j < P; j++) pcol.push(j < cols.length ? cols[j] : cols[0]);
  };
  for (let r = 0; r < rows; r++) {
    byRow[r].sort((a, b) => colOf[a] - colOf[b]);
    chunk(r, 0, r);
  }
  for (let r = 0; r < rows; r++) {
    for (let k = P; k < byRow[r].length; k += P) {
      chunk(r, k, rows + more.length);
      more.push(r);
    }
  }
  return {
    pick_more: { data: BigInt64Array.from(more, BigInt), dims: [more.length] },
    pick_col: { data: BigInt64Array.from(pcol, BigInt), dims: [rows + more.length, P] },
    pick_slot: { data: slot, dims: [B] },
  };
}

/**
 * The category loss depends on a token only through its item, so the training graph evaluates it once per
 * distinct item of the batch (about 45% of the tokens on Beauty), weighted by how often the item occurs:
 * cp_items [U] in ascending order, cp_counts [U].
 */
function categoryItems(items: BigInt64Array): Record<string, HostTensor> {
  const count = new Map<bigint, number>();
  for (const v of items) if (v !== 0n) count.set(v, (count.get(v) ?? 0) + 1);
  const ids = [...count.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const U = ids.length;
  return {
    cp_items: { data: BigInt64Array.from(ids), dims: [U] },
    cp_counts: { data: Float32Array.from(ids, (v) => count.get(v)!), dims: [U] },
  };
}

function calendarIndex(c: Hm4srConfig, t: number, origin: number): number {
  if (c.timeEmbedding === 'day-of-year') {
    const d = new Date(t * 1000);
    return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / (DAY * 1000));
  }
  return Math.min(Math.max(Math.floor((t - origin) / DAY), 0), c.calendarSize - 1);
}
