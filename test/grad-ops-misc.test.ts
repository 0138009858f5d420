// Gradient checks beyond single ops: Dropout (whose mask changes from run to run), composites built
// from primitives (no rule of their own), integer and unused inputs, and symbolic dims.
// Precision: float64 throughout except where Erf is in the graph (GELU), which has no float64 CPU
// kernel in onnxruntime and so runs in float32 (asserted per test), with tolerances tighter than
// gradCheck's float32 default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../graph/grad.js';
import { Graph, type Value } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { centralDiff, checkGrad, rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';

const check = checkGrad;

const randoms = (n: number, seed: number, lo = -1, hi = 1) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
};

// ---- Dropout ----
//
// Finite differences cannot be taken through Dropout directly: onnxruntime seeds the kernel's generator
// once per session from the `seed` attribute and advances it on every run, so each of the 2N+1 runs a
// finite-difference check makes would see a different mask (checked: three runs of one session on the
// same input drew three different masks). Instead:
//   1. Graph A (the real one) runs Dropout once and returns the loss, the mask it drew and the analytic
//      gradients (through Dropout's rule, which reads that mask output).
//   2. Graph B is the same function with the mask fed as an input (x * mask / (1 - ratio)); at A's mask,
//      B's loss must equal A's (so the mask output really is the mask the forward applied), and central
//      differences of B, taken with the mask held fixed, must match A's analytic gradients.
test('Dropout (training): analytic gradient vs finite differences with the drawn mask held fixed', async () => {
  const ratio = 0.4,
    dims = [4, 5];
  const n = dims[0] * dims[1];
  const xData = Float64Array.from(randoms(n, 21)),
    wData = Float64Array.from(randoms(dims[1], 22)),
    rData = Float64Array.from(randoms(n, 23));
  const f = (x: Value, w: Value, dropped: (v: Value) => Value, r: Value) =>
    op.reduceSum(op.mul(op.tanh(op.mul(dropped(op.mul(x, w)), 1.5)), r));

  const a = new Graph('dropout_a');
  const [x, w, r] = [a.input('x', 'float64', dims), a.input('w', 'float64', [dims[1]]), a.input('r', 'float64', dims)];
  let maskOut: Value | null = null;
  const lossA = f(
    x,
    w,
    (v) => {
      const y = op.dropout(v, ratio, 1234);
      maskOut = y.producer!.outputs[1];
      return y;
    },
    r,
  );
  const [dx, dw] = grad(lossA, [x, w]);
  a.output(lossA, 'loss');
  a.output(maskOut!, 'mask');
  a.output(dx, 'dx');
  a.output(dw, 'dw');
  const runA = await compile(a);
  const outA = await runA({ x: { data: xData, dims }, w: { data: wData, dims: [dims[1]] }, r: { data: rData, dims } });
  const mask = Array.from(outA.mask.data as unknown as ArrayLike<boolean | number>, (b) => Boolean(b));
  const kept = mask.filter(Boolean).length;
  assert.ok(kept > 0 && kept < n, `mask should keep some and drop some, kept ${kept}/${n}`);

  const b = new Graph('dropout_b');
  const [xb, wb, mb, rb] = [
    b.input('x', 'float64', dims),
    b.input('w', 'float64', [dims[1]]),
    b.input('mask', 'bool', dims),
    b.input('r', 'float64', dims),
  ];
  b.output(
    f(xb, wb, (v) => op.mul(op.mul(v, op.cast(mb, 'float64')), 1 / (1 - ratio)), rb),
    'loss',
  );
  const runB = await compile(b);
  const feeds = {
    x: { data: xData.slice(), dims },
    w: { data: wData.slice(), dims: [dims[1]] },
    mask: { data: Uint8Array.from(mask.map(Number)), dims },
    r: { data: rData, dims },
  };
  const lossB = async () => Number((await runB(feeds)).loss.data[0]);
  // Same loss at A's mask. Not to 1e-12: onnxruntime's double Dropout kernel scales by 1.66666660044
  // (1/(1 - 0.4) rounded through single precision, 4e-8 relative off); a different mask would move the
  // loss by orders of magnitude more. (In float32, the training dtype, its scale equals the rule's.)
  const lb = await lossB(),
    la = Number(outA.loss.data[0]);
  assert.ok(
    Math.abs(lb - la) <= 1e-6 * Math.abs(la),
    `the mask output is the mask the forward applied: ${lb} vs ${la}`,
  );

  const eps = 1e-6;
  let checked = 0;
  for (const [name, ana] of [
    ['x', outA.dx.data],
    ['w', outA.dw.data],
  ] as const) {
    const data = feeds[name].data;
    for (let k = 0; k < data.length; k++) {
      const num = await centralDiff(data, k, eps, lossB);
      const got = Number((ana as Float64Array)[k]);
      assert.ok(
        Math.abs(num - got) <= 1e-7 + 1e-5 * Math.abs(num),
        `d loss / d ${name}[${k}]: analytic ${got} vs numeric ${num}`,
      );
      checked++;
      // Dropped entries of x get exactly zero gradient.
      if (name === 'x' && !mask[k]) assert.is(got, 0);
    }
  }
  assert.is(checked, n + dims[1]);
});

// ---- composites (no rules of their own) ----

test('erf-GELU x * 0.5 * (1 + erf(x / sqrt 2)) (float32: Erf)', async () => {
  await check(
    (_g, [x]) => op.mul(op.mul(x, 0.5), op.add(1, op.erf(op.mul(x, Math.SQRT1_2)))),
    [{ name: 'x', dims: [3, 4], values: randoms(12, 5, -3, 3) }],
    'float32',
    { tol: { rtol: 2e-3, atol: 3e-4 } },
  );
});

test('masked softmax attention softmax(q k^T / sqrt d + mask) v', async () => {
  const keep = [true, false, false, true, true, false, true, true, true]; // causal [3, 3]
  await check(
    (_g, [q, k, v, keepV]) => {
      const scores = op.div(op.matmul(q, op.transposeLast(k)), Math.sqrt(4));
      const mask = op.mul(op.cast(op.not(keepV), q.dtype), -1e9);
      return op.matmul(op.softmax(op.add(scores, mask), -1), v);
    },
    [
      { name: 'q', dims: [2, 3, 4] },
      { name: 'k', dims: [2, 3, 4] },
      { name: 'v', dims: [2, 3, 4] },
      { name: 'keep', dims: [3, 3], bool: keep },
    ],
    'float64',
    { maxPerInput: 24 },
  );
});

test('L2-normalize x / sqrt(sum x^2 + eps)', async () => {
  await check(
    (_g, [x]) => op.div(x, op.sqrt(op.add(op.reduceSum(op.mul(x, x), [-1], true), 1e-12))),
    [{ name: 'x', dims: [3, 4] }],
  );
});

test('BCE with logits max(x, 0) - x t + log(1 + exp(-|x|)), wrt logits and targets', async () => {
  await check(
    (_g, [x, t]) => op.add(op.sub(op.max(x, 0), op.mul(x, t)), op.log(op.add(1, op.exp(op.neg(op.abs(x)))))),
    [
      { name: 'x', dims: [2, 3], values: randoms(6, 8, -4, 4) },
      { name: 't', dims: [2, 3], values: randoms(6, 9, 0, 1) },
    ],
  );
});

// ---- integer and unused inputs ----

test('integer inputs get no gradient: Gather indices and a cast int factor', async () => {
  await check(
    (_g, [w, i]) => op.mul(w, op.cast(i, w.dtype)),
    [
      { name: 'w', dims: [2, 3] },
      { name: 'i', dims: [2, 3], int: [1, -2, 3, 0, 5, 2] },
    ],
  );
  // Asking for the gradient of an int64 input directly gives int64 zeros.
  const g = new Graph('ints');
  const table = g.input('table', 'float64', [4, 2]),
    idx = g.input('idx', 'int64', [3]);
  const loss = op.reduceSum(op.mul(op.gather(table, idx), op.unsqueeze(op.cast(idx, 'float64'), [1])));
  const [dTable, dIdx] = grad(loss, [table, idx]);
  assert.is(dIdx.dtype, 'int64');
  g.output(dTable, 'dt');
  g.output(dIdx, 'di');
  const out = await (
    await compile(g)
  )({
    table: { data: new Float64Array(8).fill(1), dims: [4, 2] },
    idx: { data: BigInt64Array.of(3n, 1n, 3n), dims: [3] },
  });
  assert.equal(Array.from(out.di.data as BigInt64Array, Number), [0, 0, 0]);
  assert.equal(Array.from(out.dt.data as Float64Array), [0, 0, 1, 1, 0, 0, 6, 6]);
});

test('unused inputs get zero gradients', async () => {
  // b is an input of the graph that y does not depend on; c feeds a value that is not used downstream.
  await check(
    (_g, [a, , c]) => {
      op.exp(c);
      return op.mul(a, 2);
    },
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
      { name: 'c', dims: [2] },
    ],
  );
  // A loss that depends on none of the requested values: grad() returns zeros of their shapes.
  const g = new Graph('unused');
  const u = g.input('u', 'float64', [2, 2]),
    v = g.input('v', 'float64', [3]);
  const [du] = grad(op.reduceSum(op.mul(v, v)), [u]);
  g.output(du, 'du');
  const out = await (
    await compile(g)
  )({ u: { data: Float64Array.of(1, 2, 3, 4), dims: [2, 2] }, v: { data: Float64Array.of(1, 2, 3), dims: [3] } });
  assert.equal(out.du.dims, [2, 2]);
  assert.equal(Array.from(out.du.data as Float64Array), [0, 0, 0, 0]);
});

// ---- symbolic dims (declared shapes like ['batch', 3], fed static data) ----

test('symbolic dims: Add broadcasting', async () => {
  await check(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [2, 3], shape: ['batch', 3] },
      { name: 'b', dims: [3] },
    ],
  );
  await check(
    (_g, [a, b]) => op.mul(a, b),
    [
      { name: 'a', dims: [2, 3], shape: ['batch', 3] },
      { name: 'b', dims: [2, 1], shape: ['batch', 1] },
    ],
  );
});

test('symbolic dims: ReduceMean over symbolic axes (count = product of runtime dims)', async () => {
  await check((_g, [x]) => op.reduceMean(x, [0]), [{ name: 'x', dims: [2, 3], shape: ['batch', 3] }]);
  await check((_g, [x]) => op.reduceMean(x, [0, 1]), [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4] }]);
  await check(
    (_g, [x]) => op.reduceMean(x, [1, 2], true),
    [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4] }],
  );
  await check(
    (_g, [x]) => op.reduceMax(x, [1]),
    [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4], values: randoms(24, 4).map((v, i) => v + i) }],
  );
});

test('symbolic dims: Reshape with 0 and -1', async () => {
  await check((_g, [x]) => op.reshape(x, [0, -1]), [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4] }]);
  await check(
    (_g, [x]) => op.softmax(op.reshape(x, [-1, 4]), 0),
    [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4] }],
  );
  await check((_g, [x]) => op.reshape(x, [0, 0, 2, 2]), [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 'seq', 4] }]);
});

test('symbolic dims: Concat along a symbolic axis, MatMul, LayerNorm, Gather', async () => {
  await check(
    (_g, [a, b]) => op.concat([a, b], 1),
    [
      { name: 'a', dims: [2, 3, 2], shape: ['batch', 'seq', 2] },
      { name: 'b', dims: [2, 1, 2], shape: ['batch', 1, 2] },
    ],
  );
  await check(
    (_g, [a, b]) => op.matmul(a, b),
    [
      { name: 'a', dims: [2, 3, 4], shape: ['batch', 3, 4] },
      { name: 'b', dims: [4, 2] },
    ],
  );
  await check(
    (_g, [x, s, b]) => op.layerNormalization(x, s, b, 1e-5),
    [
      { name: 'x', dims: [2, 3, 5], shape: ['batch', 'seq', 5] },
      { name: 's', dims: [5] },
      { name: 'b', dims: [5] },
    ],
  );
  await check(
    (_g, [t, i]) => op.gather(t, i),
    [
      { name: 't', dims: [5, 2] },
      { name: 'i', dims: [2, 3], shape: ['batch', 'seq'], int: [4, 1, 4, 0, 0, 2] },
    ],
  );
});

test.run();
