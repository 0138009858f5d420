import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { usesCalendar, usesInterval, usesPCL, usesTimes } from '../graph/models/hm4sr-config.js';
import type { Dataset } from './data/dataset.js';
import { type SampleSet, intervalBucket } from './data/samples.js';
import type { Rng } from './data/shuffle.js';
import type { HostTensor } from './step-runner.js';

export type Layout = 'packed' | 'padded';

export interface PackOptions {
  layout: Layout;
  mu: number;
  /** Interval-bucket table rows - 1: larger buckets clamp to the last row. */
  maxBucket: number;
  absTime: 'days' | 'seconds';
  timeOrigin: number;
  /** PCL: fraction of positions of each history (length >= 4) replaced by a time placeholder. */
  pclBeta: number;
  /** Present for training batches that need a PCL mask. */
  rng?: Rng;
  withTarget: boolean;
}

const DAY = 86400;

export interface PackedBatch {
  feeds: Record<string, HostTensor>;
  size: number;
  rows: number;
  width: number;
  /** Real history tokens (what the batch pays for beyond padding). */
  tokens: number;
}

/**
 * Lays a batch of samples out for the HM4SR graphs. 'packed' puts several histories in one row (best fit,
 * longest first) so a batch costs about its real tokens; 'padded' gives each history its own row, trimmed
 * to the batch's longest. Both produce the same losses: attention is confined to a segment.
 */
export function packBatch(ds: Dataset, set: SampleSet, indices: ArrayLike<number>, c: Hm4srConfig, o: PackOptions): PackedBatch {
  const B = indices.length;
  if (B === 0) throw new Error('packBatch: empty batch');
  let width = 0, tokens = 0;
  for (let i = 0; i < B; i++) {
    const len = set.length[indices[i]];
    width = Math.max(width, len);
    tokens += len;
  }
  // rowOf/colOf: where sample i starts.
  const rowOf = new Int32Array(B), colOf = new Int32Array(B), segOf = new Int32Array(B);
  let rows = 0;
  if (o.layout === 'padded') {
    for (let i = 0; i < B; i++) rowOf[i] = i;
    rows = B;
  } else {
    const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => set.length[indices[b]] - set.length[indices[a]] || a - b);
    // free[k] lists rows with exactly k free slots; best fit takes the tightest row that holds the history.
    const free: number[][] = Array.from({ length: width + 1 }, () => []);
    const used: number[] = [], segs: number[] = [];
    for (const i of order) {
      const len = set.length[indices[i]];
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
    const s = indices[i];
    const end = set.pos[s], len = set.length[s], start = end - len;
    const base = rowOf[i] * width + colOf[i];
    const seg = BigInt(o.layout === 'padded' ? 1 : segOf[i]);
    for (let j = 0; j < len; j++) {
      const at = base + j, t = ds.timestamps[start + j];
      const gap = j > 0 ? t - ds.timestamps[start + j - 1] : 0;
      items[at] = BigInt(ds.items[start + j]);
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
    target[i] = BigInt(ds.items[end]);
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
  return { feeds, size: B, rows, width, tokens };
}

function calendarIndex(c: Hm4srConfig, t: number, origin: number): number {
  if (c.timeEmbedding === 'day-of-year') {
    const d = new Date(t * 1000);
    return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / (DAY * 1000));
  }
  return Math.min(Math.max(Math.floor((t - origin) / DAY), 0), c.calendarSize - 1);
}
