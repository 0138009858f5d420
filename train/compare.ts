import { ndcgAt } from './metrics.js';
import { type LoadedRun, evaluateRun } from './run.js';
import { Rng } from './data/shuffle.js';

export interface PairedComparison {
  metric: string;
  users: number;
  a: number;
  b: number;
  /** mean(b - a) over users, with a 95% paired-bootstrap interval. */
  diff: number;
  ci95: [number, number];
  /** Relative change of b against a. */
  relative: number;
}

/**
 * Paired comparison of two models' per-user NDCG@k on the same users: the bootstrap resamples users, so
 * the interval reflects how much the difference depends on which users were drawn.
 */
export function comparePaired(ranksA: Int32Array, ranksB: Int32Array, k: number, resamples = 2000, seed = 1): PairedComparison {
  if (ranksA.length !== ranksB.length) throw new Error(`the runs ranked ${ranksA.length} and ${ranksB.length} users`);
  const n = ranksA.length;
  const d = Float64Array.from({ length: n }, (_, i) => ndcgAt(ranksB[i], k) - ndcgAt(ranksA[i], k));
  const mean = (f: (i: number) => number) => { let s = 0; for (let i = 0; i < n; i++) s += f(i); return s / n; };
  const a = mean((i) => ndcgAt(ranksA[i], k)), b = mean((i) => ndcgAt(ranksB[i], k));
  const rng = new Rng(seed);
  const boots = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.nextInt(n)];
    boots[r] = s / n;
  }
  boots.sort();
  return { metric: `ndcg@${k}`, users: n, a, b, diff: b - a, ci95: [boots[Math.floor(0.025 * resamples)], boots[Math.floor(0.975 * resamples)]], relative: a > 0 ? (b - a) / a : 0 };
}

/** `hm4sr compare`: both runs' best weights ranked on the same split of the same data, then comparePaired. */
export async function compareRuns(a: LoadedRun, b: LoadedRun, split: 'valid' | 'test', k: number): Promise<PairedComparison> {
  if (a.p.fingerprint !== b.p.fingerprint) throw new Error(`${a.run} and ${b.run} were trained on different data`);
  return comparePaired((await evaluateRun(a, split)).ranks, (await evaluateRun(b, split)).ranks, k);
}
