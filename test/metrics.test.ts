import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../graph/graph.js';
import { fullCatalogRank } from '../graph/models/hm4sr.js';
import { DEFAULT_CONFIG } from '../train/config.js';
import { MetricAccumulator, type MetricKind, hitAt, metricNames, mrrAt, ndcgAt } from '../train/metrics.js';
import { compile } from './util/ort.js';

const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-12, msg ?? `${a} != ${b}`);

test('per-rank values', () => {
  close(ndcgAt(1, 5), 1);
  close(ndcgAt(3, 5), 0.5);
  close(ndcgAt(5, 5), 1 / Math.log2(6));
  close(ndcgAt(6, 5), 0);
  close(mrrAt(4, 5), 0.25);
  close(mrrAt(6, 5), 0);
  close(hitAt(5, 5), 1);
  close(hitAt(6, 5), 0);
});

test('accumulator averages over users for K = 5, 10, 20', () => {
  const acc = new MetricAccumulator(['ndcg', 'mrr', 'hr'], [5, 10, 20]);
  for (const r of [1, 3, 6, 25]) acc.add(r);
  const r = acc.result();
  assert.is(acc.count, 4);
  close(r['ndcg@5'], (1 + 0.5) / 4);
  close(r['ndcg@10'], (1 + 0.5 + 1 / Math.log2(7)) / 4);
  close(r['ndcg@20'], r['ndcg@10']);
  close(r['mrr@5'], (1 + 1 / 3) / 4);
  close(r['mrr@10'], (1 + 1 / 3 + 1 / 6) / 4);
  close(r['hr@5'], 0.5);
  close(r['hr@10'], 0.75);
  close(r['hr@20'], 0.75);
  assert.equal(Object.keys(r).sort(), [
    'hr@10',
    'hr@20',
    'hr@5',
    'mrr@10',
    'mrr@20',
    'mrr@5',
    'ndcg@10',
    'ndcg@20',
    'ndcg@5',
  ]);
  assert.equal(new MetricAccumulator(['ndcg', 'mrr', 'hr'], [1]).result(), { 'ndcg@1': 0, 'mrr@1': 0, 'hr@1': 0 });
  assert.throws(() => acc.add(0), /rank/);
});

/** Ranks of the eval graph's ranking rule for score rows of width N + 1 (column 0 is padding). */
async function graphRanks(rows: number[][], targets: number[]): Promise<number[]> {
  const n = rows[0].length - 1;
  const g = new Graph('rank');
  const s = g.input('scores', 'float32', ['batch', n + 1]),
    t = g.input('target', 'int64', ['batch']);
  g.output(fullCatalogRank(s, t, n), 'rank');
  const run = await compile(g);
  const out = await run({
    scores: { data: Float32Array.from(rows.flat()), dims: [rows.length, n + 1] },
    target: { data: BigInt64Array.from(targets.map(BigInt)), dims: [targets.length] },
  });
  return Array.from(out.rank.data as BigInt64Array, Number);
}

test('the eval graph ranks pessimistically: ties count against the target, item 0 never counts', async () => {
  const scores = [99, 0.1, 0.5, 0.5, 0.2];
  assert.equal(await graphRanks([scores, scores, scores, scores], [2, 3, 4, 1]), [2, 2, 3, 4]);
});

test('a constant model ranks every target last and scores zero', async () => {
  const n = 100;
  const targets = Array.from({ length: n }, (_, i) => i + 1);
  const ranks = await graphRanks(
    targets.map(() => new Array(n + 1).fill(0)),
    targets,
  );
  assert.equal(ranks, new Array(n).fill(n));
  const acc = new MetricAccumulator(DEFAULT_CONFIG.eval.metrics, DEFAULT_CONFIG.eval.topk);
  for (const r of ranks) acc.add(r);
  for (const v of Object.values(acc.result())) assert.is(v, 0);
});

test('each row ranks its own target', async () => {
  assert.equal(
    await graphRanks(
      [
        [0, 1, 2, 3],
        [0, 3, 2, 1],
      ],
      [3, 3],
    ),
    [1, 3],
  );
  assert.equal(
    await graphRanks(
      [
        [0, 1, 2, 3],
        [0, 3, 2, 1],
      ],
      [1, 1],
    ),
    [3, 1],
  );
});

test('metric names follow the eval config; unknown metrics and bad cut-offs are refused', () => {
  assert.equal(metricNames(['ndcg', 'hr'], [10, 1]), ['ndcg@10', 'hr@10', 'ndcg@1', 'hr@1']);
  assert.throws(() => metricNames(['ndcg', 'auc' as MetricKind], [10]), /unknown metric "auc"/);
  assert.throws(() => metricNames(['ndcg'], [0]), /cut-off must be a positive integer, got 0/);
  assert.throws(() => metricNames([], [5]), /at least one metric/);
});

test.run();
