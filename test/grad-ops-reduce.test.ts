// Finite-difference checks of the gradient rules for MatMul, reductions (Sum, Mean, Max, LogSumExp),
// (log-)softmax, CumSum, TopK
// and LayerNormalization. Each check asserts the precision it ran in (see gradCheck): all of these
// have float64 CPU kernels in onnxruntime 1.29 and run in float64. (LayerNormalization's double
// kernel keeps its Mean/InvStdDev outputs in float32, stash_type; its rule recomputes them in float64.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modelProto } from '../graph/emit.js';
import { grad } from '../graph/grad.js';
import { Graph } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { checkGrad, rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';

const check = checkGrad;

/** n distinct values in about (-1, 1), pairwise at least 0.8/n apart, shuffled: no ties for max/top-k. */
function distinct(n: number, seed = 3): number[] {
  const r = rng(seed);
  const xs = Array.from({ length: n }, (_, i) => -1 + (2 * i + 0.5) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

test('MatMul 2-D', async () => {
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [3, 4] },
      { name: 'b', dims: [4, 2] },
    ],
  );
});

test('MatMul batched (same batch dims)', async () => {
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [2, 3, 4] },
      { name: 'b', dims: [2, 4, 5] },
    ],
  );
});

test('MatMul with broadcast batch dims (missing, size-1 and both)', async () => {
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [2, 3, 4] },
      { name: 'b', dims: [4, 5] },
    ],
  );
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [3, 4] },
      { name: 'b', dims: [2, 4, 2] },
    ],
  );
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [1, 3, 4] },
      { name: 'b', dims: [2, 4, 2] },
    ],
  );
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [2, 1, 3, 4] },
      { name: 'b', dims: [3, 4, 2] },
    ],
  );
});

const REDUCTIONS: [number[] | undefined, boolean][] = [
  [[1], false],
  [[1], true],
  [[0, 2], false],
  [[0, 2], true],
  [[-1], false],
  [undefined, false],
  [undefined, true],
];

test('ReduceSum: several axes, keepdims both ways', async () => {
  for (const [axes, keep] of REDUCTIONS) {
    await check((_g, [x]) => op.reduceSum(x, axes, keep), [{ name: 'x', dims: [2, 3, 4] }]);
  }
});

test('ReduceMean: several axes, keepdims both ways', async () => {
  for (const [axes, keep] of REDUCTIONS) {
    await check((_g, [x]) => op.reduceMean(x, axes, keep), [{ name: 'x', dims: [2, 3, 4] }]);
  }
});

test('ReduceMean over symbolic dims: the count comes from the runtime shape (a float ReduceProd, as CUDA has)', async () => {
  for (const [axes, keep] of REDUCTIONS) {
    await check((_g, [x]) => op.reduceMean(x, axes, keep), [{ name: 'x', dims: [2, 3, 4], shape: ['a', 'b', 4] }]);
  }
});

test('ReduceMax: distinct values, several axes, keepdims both ways', async () => {
  for (const [axes, keep] of REDUCTIONS) {
    await check((_g, [x]) => op.reduceMax(x, axes, keep), [{ name: 'x', dims: [2, 3, 4], values: distinct(24) }]);
  }
});

test('ReduceLogSumExp: several axes, keepdims both ways', async () => {
  for (const [axes, keep] of REDUCTIONS) {
    await check((_g, [x]) => op.reduceLogSumExp(op.mul(x, 3), axes, keep), [{ name: 'x', dims: [2, 3, 4] }]);
  }
});

test('ReduceMax: tied maxima share the gradient (it sums to dy)', async () => {
  const g = new Graph('ties');
  const x = g.input('x', 'float64', [2, 3]);
  const loss = op.reduceSum(op.mul(op.reduceMax(x, [1]), op.constantOfShape(op.int64s(g, [2]), 'float64', 3)));
  g.output(grad(loss, [x])[0], 'dx');
  const run = await compile(g);
  const out = await run({ x: { data: Float64Array.of(0.5, 0.5, 0.1, -1, 0.2, 0.2), dims: [2, 3] } });
  assert.equal(Array.from(out.dx.data as Float64Array), [1.5, 1.5, 0, 0, 1.5, 1.5]);
});

test('Softmax over each axis', async () => {
  for (const axis of [-1, 0, 1]) {
    await check((_g, [x]) => op.softmax(op.mul(x, 2), axis), [{ name: 'x', dims: [2, 3, 4] }]);
  }
});

test('LogSoftmax over each axis', async () => {
  for (const axis of [-1, 0, 1, 2]) {
    await check((_g, [x]) => op.logSoftmax(op.mul(x, 2), axis), [{ name: 'x', dims: [2, 3, 4] }]);
  }
});

test('CumSum: inclusive/exclusive x forward/reverse, two axes', async () => {
  for (const exclusive of [false, true]) {
    for (const reverse of [false, true]) {
      await check((_g, [x]) => op.cumsum(x, 1, { exclusive, reverse }), [{ name: 'x', dims: [2, 4, 3] }]);
      await check((_g, [x]) => op.cumsum(x, -1, { exclusive, reverse }), [{ name: 'x', dims: [2, 4, 3] }]);
    }
  }
});

test('TopK values: largest along the last axis, smallest along axis 0', async () => {
  await check((_g, [x]) => op.topK(x, 3, -1)[0], [{ name: 'x', dims: [2, 5], values: distinct(10) }]);
  await check((_g, [x]) => op.topK(x, 2, 0, false)[0], [{ name: 'x', dims: [4, 3], values: distinct(12, 9) }]);
});

test('TopK: using only the indices gives the input no gradient', async () => {
  await check(
    (_g, [x]) => op.add(op.mul(x, 0), op.cast(op.topK(x, 1, -1)[1], x.dtype)),
    [{ name: 'x', dims: [2, 3], values: distinct(6) }],
  );
});

test('LayerNormalization: gradient wrt x, scale and bias', async () => {
  const scale = { name: 'scale', dims: [6], values: Array.from({ length: 6 }, (_, i) => 0.5 + 0.2 * i) };
  await check(
    (_g, [x, s, b]) => op.layerNormalization(x, s, b, 1e-5),
    [{ name: 'x', dims: [4, 6] }, scale, { name: 'bias', dims: [6] }],
  );
});

test('LayerNormalization on x [2, 3, 5]', async () => {
  await check(
    (_g, [x, s, b]) => op.layerNormalization(x, s, b, 1e-5),
    [
      { name: 'x', dims: [2, 3, 5] },
      { name: 'scale', dims: [5] },
      { name: 'bias', dims: [5] },
    ],
  );
});

test('LayerNormalization in float32 (emitted as its eight primitive kernels): y, Mean and InvStdDev against the host in double', async () => {
  const [rows, d, eps] = [5, 64, 1e-12];
  const r = rng(41);
  // Rows far from 0 with a small spread: a one-pass E[x^2] - E[x]^2 would lose the variance here.
  const x = Float32Array.from({ length: rows * d }, (_, i) => 1000 * (Math.floor(i / d) - 2) + 0.01 + r());
  const scale = Float32Array.from({ length: d }, () => 0.5 + r()),
    bias = Float32Array.from({ length: d }, () => r() - 0.5);
  const g = new Graph('ln_values');
  const y = op.layerNormalization(
    g.input('x', 'float32', ['rows', d]),
    g.input('s', 'float32', [d]),
    g.input('b', 'float32', [d]),
    eps,
  );
  g.output(y, 'y');
  g.output(y.producer!.outputs[1], 'mean');
  g.output(y.producer!.outputs[2], 'inv_std');
  assert.not.ok(
    modelProto(g, { params: 'inputs' }).graph!.node!.some((n) => n.opType === 'LayerNormalization'),
    'emitted as primitives',
  );
  const out = await (
    await compile(g)
  )({ x: { data: x, dims: [rows, d] }, s: { data: scale, dims: [d] }, b: { data: bias, dims: [d] } });
  const [yv, mv, iv] = [out.y.data, out.mean.data, out.inv_std.data] as Float32Array[];
  for (let i = 0; i < rows; i++) {
    const row = Array.from(x.subarray(i * d, (i + 1) * d));
    const mean = row.reduce((a, b) => a + b, 0) / d;
    const inv = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / d + eps);
    assert.ok(Math.abs(mv[i] - mean) <= 1e-6 * Math.abs(mean) + 1e-6, `mean of row ${i}: ${mv[i]} vs ${mean}`);
    assert.ok(Math.abs(iv[i] - inv) <= 2e-3 * inv, `inverse std of row ${i}: ${iv[i]} vs ${inv}`);
    for (let j = 0; j < d; j++) {
      const want = (row[j] - mean) * inv * scale[j] + bias[j];
      assert.ok(
        Math.abs(yv[i * d + j] - want) <= 2e-3 * Math.max(1, Math.abs(want)),
        `y[${i}, ${j}] = ${yv[i * d + j]}, want ${want}`,
      );
    }
  }
});

test.run();
