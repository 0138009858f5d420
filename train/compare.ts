import { ndcgAt } from './metrics.js';
import { type RankedRun, type Split, runRanks } from './ranks.js';
import { Rng } from './data/shuffle.js';

/** One side of a comparison: its runs' mean NDCG@k each (seeds), their mean and sample standard deviation. */
export interface Side {
  runs: number[];
  mean: number;
  /** Sample standard deviation over the runs (0 for one run). */
  sd: number;
}

export interface PairedComparison {
  metric: string;
  users: number;
  a: Side;
  b: Side;
  /**
   * mean(b - a) over users of the per-user NDCG averaged over each side's runs, with a 95% paired-bootstrap
   * interval: resampling users keeps every user's pairing across all runs of both sides.
   */
  diff: number;
  ci95: [number, number];
  /** Relative change of b's mean against a's. */
  relative: number;
}

function side(perRun: Float64Array[]): Side {
  const runs = perRun.map((v) => v.reduce((s, x) => s + x, 0) / v.length);
  const mean = runs.reduce((s, x) => s + x, 0) / runs.length;
  const sd = runs.length > 1 ? Math.sqrt(runs.reduce((s, x) => s + (x - mean) ** 2, 0) / (runs.length - 1)) : 0;
  return { runs, mean, sd };
}

/**
 * Paired comparison of two models' per-user NDCG@k on the same users, each model given as one or more runs
 * (seeds). A user's score on a side is its NDCG averaged over that side's runs; the bootstrap resamples
 * users, so the interval reflects how much the difference depends on which users were drawn.
 */
export function comparePaired(
  ranksA: Int32Array[],
  ranksB: Int32Array[],
  k: number,
  resamples = 2000,
  seed = 1,
): PairedComparison {
  const all = [...ranksA, ...ranksB];
  if (ranksA.length === 0 || ranksB.length === 0) throw new Error('compare needs at least one run on each side');
  const n = all[0].length;
  for (const r of all) if (r.length !== n) throw new Error(`the runs ranked ${n} and ${r.length} users`);
  const ndcg = (rs: Int32Array[]) => rs.map((r) => Float64Array.from(r, (x) => ndcgAt(x, k)));
  const na = ndcg(ranksA),
    nb = ndcg(ranksB);
  const avg = (vs: Float64Array[]) =>
    Float64Array.from({ length: n }, (_, i) => vs.reduce((s, v) => s + v[i], 0) / vs.length);
  const ma = avg(na),
    mb = avg(nb);
  const d = Float64Array.from({ length: n }, (_, i) => mb[i] - ma[i]);
  const rng = new Rng(seed);
  const boots = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.nextInt(n)];
    boots[r] = s / n;
  }
  boots.sort();
  const a = side(na),
    b = side(nb);
  return {
    metric: `ndcg@${k}`,
    users: n,
    a,
    b,
    diff: d.reduce((s, x) => s + x, 0) / n,
    ci95: [boots[Math.floor(0.025 * resamples)], boots[Math.floor(0.975 * resamples)]],
    relative: a.mean > 0 ? (b.mean - a.mean) / a.mean : 0,
  };
}

/**
 * `hm4sr compare`: every run's ranks on the same split of the same data (its ranks.json, else its best
 * checkpoint ranked now), then comparePaired.
 */
export async function compareRuns(
  a: string[],
  b: string[],
  split: Split,
  k: number,
  warn?: (m: string) => void,
): Promise<PairedComparison & { sources: Record<string, RankedRun['source']> }> {
  const ranked = async (runs: string[]) => {
    const out: RankedRun[] = [];
    for (const r of runs) out.push(await runRanks(r, split, warn));
    return out;
  };
  const ra = await ranked(a),
    rb = await ranked(b);
  const all = [...ra, ...rb];
  for (const r of all)
    if (r.fingerprint !== all[0].fingerprint)
      throw new Error(`${all[0].run} and ${r.run} were trained on different data`);
  return {
    ...comparePaired(
      ra.map((r) => r.ranks),
      rb.map((r) => r.ranks),
      k,
    ),
    sources: Object.fromEntries(all.map((r) => [r.run, r.source])),
  };
}
