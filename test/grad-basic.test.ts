import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as op from '../graph/ops/index.js';
import { Graph } from '../graph/graph.js';
import { grad } from '../graph/grad.js';
import { gradCheck } from './util/gradcheck.js';
import { compile } from './util/ort.js';

test('Add broadcasts and sums the gradient back', async () => {
  const r = await gradCheck(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
    ],
  );
  assert.is(r.dtype, 'float64');
});

test('MatMul with broadcast batch dims', async () => {
  await gradCheck(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [2, 3, 4] },
      { name: 'b', dims: [4, 5] },
    ],
  );
});

test('LogSoftmax', async () => {
  await gradCheck((_g, [a]) => op.logSoftmax(a, -1), [{ name: 'a', dims: [2, 5] }]);
});

test('stopGradient: a constant for the gradient, x itself for the value', async () => {
  const g = new Graph('stop');
  const x = g.input('x', 'float32', [3]);
  // y = sum(stop(x) * x): value sum(x^2), gradient x (not 2x).
  const y = op.reduceSum(op.mul(op.stopGradient(x), x));
  g.output(y, 'y');
  g.output(grad(y, [x])[0], 'dx');
  const out = await (await compile(g))({ x: { data: Float32Array.of(1, -2, 3), dims: [3] } });
  assert.equal(Array.from(out.y.data as Float32Array), [14]);
  assert.equal(Array.from(out.dx.data as Float32Array), [1, -2, 3]);
});

test.run();
