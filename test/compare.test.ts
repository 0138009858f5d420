import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { comparePaired } from '../train/compare.js';

test('paired comparison: identical runs give zero, a uniform gain shows in mean and interval', () => {
  const a = Int32Array.from({ length: 400 }, (_, i) => 1 + (i % 30));
  const same = comparePaired(a, a, 10);
  assert.equal([same.diff, ...same.ci95], [0, 0, 0]);
  const better = a.map((r) => Math.max(1, r - 1));
  const c = comparePaired(a, better, 10);
  assert.ok(c.diff > 0 && c.ci95[0] > 0 && c.ci95[1] >= c.diff, JSON.stringify(c));
  assert.ok(Math.abs(c.b - c.a - c.diff) < 1e-12);
  assert.throws(() => comparePaired(a, a.subarray(1), 10), /400 and 399 users/);
});

test.run();
