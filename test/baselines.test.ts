import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mostPopular } from '../train/baselines.js';
import { DEFAULT_CONFIG } from '../train/config.js';
import { buildDataset } from '../train/data/dataset.js';
import { buildSamples } from '../train/data/samples.js';

test('most-popular ranks by pre-split counts with pessimistic ties', () => {
  // Users: u1 a b c d | u2 a b d c | u3 a c b d. Counts before the last two: a 3, b 2, c 1, d 0.
  const rows = [
    ['u1', 'a'],
    ['u1', 'b'],
    ['u1', 'c'],
    ['u1', 'd'],
    ['u2', 'a'],
    ['u2', 'b'],
    ['u2', 'd'],
    ['u2', 'c'],
    ['u3', 'a'],
    ['u3', 'c'],
    ['u3', 'b'],
    ['u3', 'd'],
  ];
  const ds = buildDataset(
    {
      path: 'mem',
      users: rows.map((r) => r[0]),
      items: rows.map((r) => r[1]),
      timestamps: Float64Array.from(rows, (_, i) => i),
      lines: Int32Array.from(rows, (_, i) => i + 2),
    },
    null,
    { kCore: 0 },
  );
  const s = buildSamples(ds, 10);
  // Test targets d, c, d: ranks 4 (d ties nothing; all 4 items >= 0), 3, 4.
  const m = mostPopular(ds, s.test, DEFAULT_CONFIG.eval);
  assert.ok(Math.abs(m['hr@5'] - 1) < 1e-12);
  assert.ok(Math.abs(m['mrr@5'] - (1 / 4 + 1 / 3 + 1 / 4) / 3) < 1e-12);
  // Validation targets c, d, b: counts 1, 0, 2 -> ranks 3, 4, 2.
  const v = mostPopular(ds, s.valid, DEFAULT_CONFIG.eval);
  assert.ok(Math.abs(v['mrr@5'] - (1 / 3 + 1 / 4 + 1 / 2) / 3) < 1e-12);
  assert.is(v['hr@2'], undefined);
});

test.run();
