import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as op from '../graph/ops/index.js';
import { gradCheck } from './util/gradcheck.js';

test('Add broadcasts and sums the gradient back', async () => {
  const r = await gradCheck((_g, [a, b]) => op.add(a, b), [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [3] }]);
  assert.is(r.dtype, 'float64');
});

test('MatMul with broadcast batch dims', async () => {
  await gradCheck((_g, [a, b]) => op.matmul(a, b), [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [4, 5] }]);
});

test('LogSoftmax', async () => {
  await gradCheck((_g, [a]) => op.logSoftmax(a, -1), [{ name: 'a', dims: [2, 5] }]);
});

test.run();
