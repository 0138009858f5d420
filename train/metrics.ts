// Full-ranking metrics from ranks. The ranks come from the eval graph (graph/models/hm4sr.ts,
// fullCatalogRank): 1-based and pessimistic, every item scoring >= the target (the target included)
// counts, so ties never help and a constant model ranks last. Which metrics, at which cut-offs, and
// which one selects the model: the run config's `eval` section (train/config.ts, EvalConfig).

export const METRIC_KINDS = ['ndcg', 'mrr', 'hr'] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];
export type MetricName = `${MetricKind}@${number}`;

export const ndcgAt = (rank: number, k: number): number => (rank <= k ? 1 / Math.log2(rank + 1) : 0);
export const mrrAt = (rank: number, k: number): number => (rank <= k ? 1 / rank : 0);
export const hitAt = (rank: number, k: number): number => (rank <= k ? 1 : 0);

const AT: Record<MetricKind, (rank: number, k: number) => number> = { ndcg: ndcgAt, mrr: mrrAt, hr: hitAt };

/** The metric names `metrics` at cut-offs `topk` give, in report order; refuses unknown metrics and bad cut-offs. */
export function metricNames(metrics: readonly MetricKind[], topk: readonly number[]): MetricName[] {
  for (const m of metrics)
    if (!METRIC_KINDS.includes(m)) throw new Error(`unknown metric "${m}" (known: ${METRIC_KINDS.join(', ')})`);
  for (const k of topk)
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`a cut-off must be a positive integer, got ${k}`);
  if (metrics.length === 0 || topk.length === 0)
    throw new Error('evaluation needs at least one metric and one cut-off');
  return topk.flatMap((k) => metrics.map((m) => `${m}@${k}` as MetricName));
}

export class MetricAccumulator {
  private readonly sums: Map<MetricName, number>;
  count = 0;

  constructor(
    readonly metrics: readonly MetricKind[],
    readonly topk: readonly number[],
  ) {
    this.sums = new Map(metricNames(metrics, topk).map((n) => [n, 0]));
  }

  add(rank: number): void {
    if (!(Number.isInteger(rank) && rank >= 1)) throw new Error(`rank must be an integer >= 1, got ${rank}`);
    for (const k of this.topk) for (const m of this.metrics) this.bump(`${m}@${k}`, AT[m](rank, k));
    this.count += 1;
  }

  private bump(name: MetricName, v: number): void {
    this.sums.set(name, this.sums.get(name)! + v);
  }

  /** Averages over the users added so far (0 when none). */
  result(): Record<MetricName, number> {
    const out: Record<MetricName, number> = {};
    for (const [name, sum] of this.sums) out[name] = this.count === 0 ? 0 : sum / this.count;
    return out;
  }
}
