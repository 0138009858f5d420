// Full-ranking metrics. Ranks are 1-based and pessimistic: every item scoring >= the target
// (the target included) counts, so ties never help and a constant model ranks last.

export const DEFAULT_KS: readonly number[] = [5, 10, 20];

export const ndcgAt = (rank: number, k: number): number => (rank <= k ? 1 / Math.log2(rank + 1) : 0);
export const mrrAt = (rank: number, k: number): number => (rank <= k ? 1 / rank : 0);
export const hitAt = (rank: number, k: number): number => (rank <= k ? 1 : 0);

/**
 * Rank of `target` among items 1..N of one score row laid out by item id (index 0 = padding,
 * ignored). A NaN target score ranks last; NaN competitors count as beating it.
 */
export function rankOf(scores: ArrayLike<number>, target: number, offset: number = 0, numCols: number = scores.length - offset): number {
  if (!(target >= 1 && target < numCols)) throw new Error(`target ${target} outside items 1..${numCols - 1}`);
  const ts = scores[offset + target];
  if (Number.isNaN(ts)) return numCols - 1;
  let rank = 0;
  for (let j = 1; j < numCols; j++) {
    const s = scores[offset + j];
    if (s >= ts || Number.isNaN(s)) rank += 1;
  }
  return rank;
}

/** Ranks for a row-major [rows x numCols] score matrix, one target per row. */
export function ranksOf(scores: ArrayLike<number>, numCols: number, targets: ArrayLike<number | bigint>): Int32Array {
  const out = new Int32Array(targets.length);
  for (let r = 0; r < targets.length; r++) out[r] = rankOf(scores, Number(targets[r]), r * numCols, numCols);
  return out;
}

export type MetricName = `${'ndcg' | 'mrr' | 'hr'}@${number}`;

export class MetricAccumulator {
  private readonly sums: Map<MetricName, number>;
  count = 0;

  constructor(readonly ks: readonly number[] = DEFAULT_KS) {
    this.sums = new Map();
    for (const k of ks) for (const m of ['ndcg', 'mrr', 'hr'] as const) this.sums.set(`${m}@${k}`, 0);
  }

  add(rank: number): void {
    if (!(Number.isInteger(rank) && rank >= 1)) throw new Error(`rank must be an integer >= 1, got ${rank}`);
    for (const k of this.ks) {
      this.bump(`ndcg@${k}`, ndcgAt(rank, k));
      this.bump(`mrr@${k}`, mrrAt(rank, k));
      this.bump(`hr@${k}`, hitAt(rank, k));
    }
    this.count += 1;
  }

  addAll(ranks: ArrayLike<number>): void {
    for (let i = 0; i < ranks.length; i++) this.add(ranks[i]);
  }

  private bump(name: MetricName, v: number): void {
    this.sums.set(name, (this.sums.get(name) ?? 0) + v);
  }

  /** Averages over the users added so far (0 when none). */
  result(): Record<MetricName, number> {
    const out: Record<MetricName, number> = {};
    for (const [name, sum] of this.sums) out[name] = this.count === 0 ? 0 : sum / this.count;
    return out;
  }
}
