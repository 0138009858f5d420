import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { comparePaired } from '../train/compare.js';

const base = Int32Array.from({ length: 400 }, (_, i) => 1 + (i % 30));
const better = base.map((r) => Math.max(1, r - 1));

test('paired comparison: identical runs give zero, a uniform gain shows in mean and interval', () => {
  const same = comparePaired([base], [base], 10);
  assert.equal([same.diff, ...same.ci95], [0, 0, 0]);
  const c = comparePaired([base], [better], 10);
  assert.ok(c.diff > 0 && c.ci95[0] > 0 && c.ci95[1] >= c.diff, JSON.stringify(c));
  assert.ok(Math.abs(c.b.mean - c.a.mean - c.diff) < 1e-12);
  assert.equal([c.a.sd, c.b.sd], [0, 0]);
  assert.throws(() => comparePaired([base], [base.subarray(1)], 10), /400 and 399 users/);
  assert.throws(() => comparePaired([], [base], 10), /at least one run on each side/);
});

test('several runs per side: per-run means, their spread, and the difference of the seed-averaged users', () => {
  const worse = base.map((r) => r + 3);
  // Side b: one run better than a, one worse; the pair averages per user before the bootstrap.
  const c = comparePaired([base, base], [better, worse], 10);
  const one = (r: Int32Array) => comparePaired([base], [r], 10);
  assert.equal(c.b.runs, [one(better).b.mean, one(worse).b.mean]);
  assert.ok(Math.abs(c.diff - (one(better).diff + one(worse).diff) / 2) < 1e-12);
  const m = (c.b.runs[0] + c.b.runs[1]) / 2;
  assert.ok(Math.abs(c.b.mean - m) < 1e-12);
  assert.ok(Math.abs(c.b.sd - Math.abs(c.b.runs[0] - c.b.runs[1]) / Math.SQRT2) < 1e-12);
  assert.ok(c.ci95[0] <= c.diff && c.diff <= c.ci95[1]);
  assert.throws(() => comparePaired([base, base.subarray(2)], [base], 10), /400 and 398 users/);
});

test.run();
