// Dataset statistics in the shape of the paper's Table 2, plus the time span.
import type { Dataset } from './dataset.js';

export interface DatasetStats {
  users: number;
  items: number;
  interactions: number;
  avgSeqLen: number;
  /** 1 - interactions / (users * items). */
  sparsity: number;
  categories: number | null;
  firstTimestamp: number;
  lastTimestamp: number;
  spanDays: number;
}

export function datasetStats(ds: Dataset): DatasetStats {
  return {
    users: ds.numUsers,
    items: ds.numItems,
    interactions: ds.numInteractions,
    avgSeqLen: ds.numInteractions / ds.numUsers,
    sparsity: 1 - ds.numInteractions / (ds.numUsers * ds.numItems),
    categories: ds.categories?.names.length ?? null,
    firstTimestamp: ds.firstTimestamp,
    lastTimestamp: ds.lastTimestamp,
    spanDays: (ds.lastTimestamp - ds.firstTimestamp) / 86400,
  };
}

const isoDate = (t: number): string => new Date(t * 1000).toISOString().slice(0, 10);

export function formatStats(s: DatasetStats): string {
  return [
    `#users ${s.users}`,
    `#items ${s.items}`,
    `#interactions ${s.interactions}`,
    `avg. length ${s.avgSeqLen.toFixed(2)}`,
    `sparsity ${(s.sparsity * 100).toFixed(2)}%`,
    `#categories ${s.categories ?? 'n/a'}`,
    `time ${isoDate(s.firstTimestamp)} .. ${isoDate(s.lastTimestamp)} (${s.spanDays.toFixed(0)} days)`,
  ].join(', ');
}
