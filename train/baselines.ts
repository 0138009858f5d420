import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';
import type { EvalConfig } from './config.js';
import { MetricAccumulator } from './metrics.js';

/**
 * Most-popular baseline: items scored by how often they are a training target or appear in a training
 * history, i.e. by their interactions before each user's validation and test items. Ranked with the
 * same pessimistic tie rule as the model.
 */
export function mostPopular(
  ds: Dataset,
  split: SampleSet,
  ev: Pick<EvalConfig, 'metrics' | 'topk'>,
): Record<string, number> {
  const counts = new Float64Array(ds.numItems + 1);
  for (let u = 0; u < ds.numUsers; u++) {
    const a = ds.offsets[u],
      n = ds.offsets[u + 1] - a;
    // A user's last two interactions are the validation and test targets.
    for (let p = a; p < a + Math.max(n - 2, 0); p++) counts[ds.items[p]] += 1;
  }
  // rank(target) = #items with count >= count(target): a sorted copy answers it by binary search.
  const sorted = Float64Array.from(counts.subarray(1)).sort();
  const acc = new MetricAccumulator(ev.metrics, ev.topk);
  for (let s = 0; s < split.size; s++) {
    const c = counts[ds.items[split.pos[s]]];
    let lo = 0,
      hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < c) lo = mid + 1;
      else hi = mid;
    }
    acc.add(sorted.length - lo);
  }
  return acc.result();
}
