import { ndcgAt } from './metrics.js';
import { type LoadedRun, evaluateRun } from './run.js';
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
export function comparePaired(ranksA: Int32Array[], ranksB: Int32Array[], k: number, resamples = 2000, seed = 1): PairedComparison {
  const all = [...ranksA, ...ranksB];
  if (ranksA.length === 0 || ranksB.length === 0) throw new Error('compare needs at least one run on each side');
  const n = all[0].length;
  for (const r of all) if (r.length !== n) throw new Error(`the runs ranked ${n} and ${r.length} users`);
  const ndcg = (rs: Int32Array[]) => rs.map((r) => Float64Array.from(r, (x) => ndcgAt(x, k)));
  const na = ndcg(ranksA), nb = ndcg(ranksB);
  const avg = (vs: Float64Array[]) => Float64Array.from({ length: n }, (_, i) => vs.reduce((s, v) => s + v[i], 0) / vs.length);
  const ma = avg(na), mb = avg(nb);
  const d = Float64Array.from({ length: n }, (_, i) => mb[i] - ma[i]);
  const rng = new Rng(seed);
  const boots = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.nextInt(n)];
    boots[r] = s / n;
  }
  boots.sort();
  const a = side(na), b = side(nb);
  return {
    metric: `ndcg@${k}`, users: n, a, b, diff: d.reduce((s, x) => s + x, 0) / n,
    ci95: [boots[Math.floor(0.025 * resamples)], boots[Math.floor(0.975 * resamples)]],
    relative: a.mean > 0 ? (b.mean - a.mean) / a.mean : 0,
  };
}

/** `hm4sr compare`: every run's best weights ranked on the same split of the same data, then comparePaired. */
export async function compareRuns(a: LoadedRun[], b: LoadedRun[], split: 'valid' | 'test', k: number): Promise<PairedComparison> {
  const all = [...a, ...b];
  for (const r of all) if (r.p.fingerprint !== all[0].p.fingerprint) throw new Error(`${all[0].run} and ${r.run} were trained on different data`);
  const ranks = async (rs: LoadedRun[]) => { const out: Int32Array[] = []; for (const r of rs) out.push((await evaluateRun(r, split)).ranks); return out; };
  return comparePaired(await ranks(a), await ranks(b), k);
}
