import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricAccumulator, hitAt, mrrAt, ndcgAt, rankOf, ranksOf } from '../train/metrics.js';

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
  const acc = new MetricAccumulator();
  acc.addAll([1, 3, 6, 25]);
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
  assert.equal(Object.keys(r).sort(), ['hr@10', 'hr@20', 'hr@5', 'mrr@10', 'mrr@20', 'mrr@5', 'ndcg@10', 'ndcg@20', 'ndcg@5']);
  assert.equal(new MetricAccumulator([1]).result(), { 'ndcg@1': 0, 'mrr@1': 0, 'hr@1': 0 });
  assert.throws(() => acc.add(0), /rank/);
});

test('rankOf: pessimistic ties, item 0 excluded', () => {
  const scores = [99, 0.1, 0.5, 0.5, 0.2];
  assert.is(rankOf(scores, 2), 2);
  assert.is(rankOf(scores, 3), 2);
  assert.is(rankOf(scores, 4), 3);
  assert.is(rankOf(scores, 1), 4);
  assert.throws(() => rankOf(scores, 0), /outside/);
  assert.throws(() => rankOf(scores, 5), /outside/);
});

test('a constant model ranks every target last and scores zero', () => {
  const n = 100;
  const scores = new Float32Array(n + 1);
  const acc = new MetricAccumulator();
  for (let t = 1; t <= n; t++) {
    assert.is(rankOf(scores, t), n);
    acc.add(rankOf(scores, t));
  }
  for (const v of Object.values(acc.result())) assert.is(v, 0);
});

test('NaN scores never help the target', () => {
  assert.is(rankOf([0, NaN, 1, 2], 1), 3);
  assert.is(rankOf([0, 3, NaN, 2], 1), 2);
});

test('ranksOf over a score matrix', () => {
  const scores = Float32Array.from([0, 1, 2, 3, /* row 2 */ 0, 3, 2, 1]);
  assert.equal(Array.from(ranksOf(scores, 4, [3, 3])), [1, 3]);
  assert.equal(Array.from(ranksOf(scores, 4, BigInt64Array.from([1n, 1n]))), [3, 1]);
});

test.run();
