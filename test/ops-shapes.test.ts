// Build-time shape inference and errors of the op functions (graph/ops): mismatches throw a GraphError
// that names the op, the scope it was built in and the shapes involved; symbolic dims propagate; and
// inferred static shapes agree with what onnxruntime computes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../graph/grad.js';
import { Graph, GraphError, type Value } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import type { Shape } from '../graph/types.js';
import { compile } from './util/ort.js';

/** Runs fn inside g.withScope(scope) and returns the GraphError it must throw. */
function buildError(g: Graph, scope: string, fn: () => unknown): GraphError {
  try {
    g.withScope(scope, fn);
  } catch (e) {
    if (e instanceof GraphError) return e;
    throw new Error(`expected a GraphError, got ${(e as Error).stack}`);
  }
  throw new Error('expected a GraphError, nothing was thrown');
}

/** Asserts the error names the op, the scope and every given piece (shapes), in op-then-scope form. */
function expectError(e: GraphError, opName: string, scope: string, ...mentions: (string | RegExp)[]) {
  assert.is(e.op, opName);
  assert.is(e.scope, scope);
  assert.ok(e.message.startsWith(`${opName} in ${scope}: `), e.message);
  for (const m of mentions) {
    assert.ok(
      typeof m === 'string' ? e.message.includes(m) : m.test(e.message),
      `${JSON.stringify(e.message)} should mention ${m}`,
    );
  }
}

const shapeOfV = (v: Value): Shape | null => v.shape;

// ---- errors ----

test('MatMul inner-dim mismatch names op, scope and both shapes', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', ['batch', 2, 3]),
    b = g.input('b', 'float32', [4, 5]);
  expectError(
    buildError(g, 'encoder', () => op.matmul(a, b)),
    'MatMul',
    'encoder',
    '[batch, 2, 3]',
    '[4, 5]',
  );
});

test('MatMul: rank < 2, dtype mismatch, non-broadcastable batch dims', () => {
  const g = new Graph('m');
  const v = g.input('v', 'float32', [3]),
    m = g.input('m', 'float32', [3, 2]),
    d = g.input('d', 'float64', [2, 3]);
  expectError(
    buildError(g, 'encoder', () => op.matmul(v, m)),
    'MatMul',
    'encoder',
    'rank',
    '[3]',
  );
  expectError(
    buildError(g, 'encoder', () => op.matmul(d, m)),
    'MatMul',
    'encoder',
    'float64',
    'float32',
  );
  const p = g.input('p', 'float32', [2, 3, 4]),
    q = g.input('q', 'float32', [3, 4, 5]);
  expectError(
    buildError(g, 'encoder', () => op.matmul(p, q)),
    'MatMul',
    'encoder',
    '[2, 3, 4]',
    '[3, 4, 5]',
  );
});

test('Add (and other elementwise ops) non-broadcastable names both shapes', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', [2, 3]),
    b = g.input('b', 'float32', [4]);
  expectError(
    buildError(g, 'encoder', () => op.add(a, b)),
    'Add',
    'encoder',
    '[2, 3]',
    '[4]',
  );
  expectError(
    buildError(g, 'encoder', () => op.mul(b, a)),
    'Mul',
    'encoder',
    '[2, 3]',
    '[4]',
  );
  const c = g.input('c', 'bool', [2, 1]);
  expectError(
    buildError(g, 'encoder', () => op.where(c, a, b)),
    'Where',
    'encoder',
    '[2, 1]',
    '[2, 3]',
    '[4]',
  );
});

test('Add dtype mismatch names both operands', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', [2]),
    b = g.input('b', 'float64', [2]);
  expectError(
    buildError(g, 'encoder', () => op.add(a, b)),
    'Add',
    'encoder',
    'float32',
    'float64',
  );
});

test('Reshape element-count mismatch names both shapes and counts', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', [2, 3]);
  expectError(
    buildError(g, 'encoder', () => op.reshape(x, [4, 2])),
    'Reshape',
    'encoder',
    /\[2, ?3\]/,
    /\[4, ?2\]/,
    '6',
    '8',
  );
  expectError(
    buildError(g, 'encoder', () => op.reshape(x, [4, -1])),
    'Reshape',
    'encoder',
    /\[2, ?3\]/,
    /\[4, ?-1\]/,
  );
  expectError(
    buildError(g, 'encoder', () => op.reshape(x, [0, 0, 0])),
    'Reshape',
    'encoder',
    'rank-2',
  );
});

test('Concat dim mismatch names all shapes', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', [2, 3]),
    b = g.input('b', 'float32', [4, 5]);
  expectError(
    buildError(g, 'encoder', () => op.concat([a, b], 1)),
    'Concat',
    'encoder',
    '[2, 3]',
    '[4, 5]',
  );
  const c = g.input('c', 'float32', [2, 3, 1]);
  expectError(
    buildError(g, 'encoder', () => op.concat([a, c], 0)),
    'Concat',
    'encoder',
    '[2, 3]',
    '[2, 3, 1]',
  );
});

test('nested scopes are named in full', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', [2, 3]),
    b = g.input('b', 'float32', [2, 3]);
  let e: GraphError | null = null;
  try {
    g.withScope('encoder', () => g.withScope('layer0', () => op.matmul(a, b)));
  } catch (err) {
    e = err as GraphError;
  }
  assert.ok(e instanceof GraphError);
  expectError(e!, 'MatMul', 'encoder.layer0', '[2, 3]');
  // Outside any scope the graph's name stands in.
  try {
    op.matmul(a, b);
    assert.unreachable();
  } catch (err) {
    assert.is((err as GraphError).scope, 'm');
  }
});

test('other build-time errors: Split, Squeeze, Transpose, axes, Gather, Where, Slice', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', [2, 6]),
    f = g.input('f', 'float32', [3]),
    c = g.input('c', 'float32', [2, 6]);
  expectError(
    buildError(g, 'encoder', () => op.split(x, [2, 3], 1)),
    'Split',
    'encoder',
    '[2,3]',
    '6',
  );
  expectError(
    buildError(g, 'encoder', () => op.squeeze(x, [0])),
    'Squeeze',
    'encoder',
    '[2, 6]',
  );
  expectError(
    buildError(g, 'encoder', () => op.transpose(x, [0, 0])),
    'Transpose',
    'encoder',
    '[0,0]',
    '[2, 6]',
  );
  expectError(
    buildError(g, 'encoder', () => op.softmax(x, 2)),
    'Softmax',
    'encoder',
    'axis 2',
    'rank 2',
  );
  expectError(
    buildError(g, 'encoder', () => op.reduceSum(x, [-3])),
    'ReduceSum',
    'encoder',
    'axis -3',
  );
  expectError(
    buildError(g, 'encoder', () => op.gather(x, f)),
    'Gather',
    'encoder',
    'int64',
  );
  expectError(
    buildError(g, 'encoder', () => op.where(c, x, x)),
    'Where',
    'encoder',
    'bool',
    'float32',
  );
  expectError(
    buildError(g, 'encoder', () => op.slice(x, [0, 1], [1], [0])),
    'Slice',
    'encoder',
    'length',
  );
  expectError(
    buildError(g, 'encoder', () => op.expand(x, [3, 6])),
    'Expand',
    'encoder',
    '[2, 6]',
    '[3, 6]',
  );
});

test('a missing gradient rule is a GraphError naming the op and the scope of the node', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', [1, 1, 4, 4]),
    w = g.input('w', 'float32', [2, 1, 2, 2]);
  const y = g.withScope('encoder', () => op.conv2d(x, w, null, [1, 1]));
  let e: GraphError | null = null;
  try {
    grad(op.reduceSum(y), [x]);
  } catch (err) {
    e = err as GraphError;
  }
  assert.ok(e instanceof GraphError, 'expected a GraphError');
  assert.is(e!.op, 'Conv');
  assert.ok(e!.message.includes('scope encoder'), e!.message);
});

// ---- symbolic dims ----

test('Reshape propagates symbolic dims through 0 and -1', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', ['batch', 'seq', 8]);
  assert.equal(shapeOfV(op.reshape(x, [0, 0, 2, 4])), ['batch', 'seq', 2, 4]);
  assert.equal(shapeOfV(op.reshape(x, [-1, 8])), ['batch*seq', 8]);
  assert.equal(shapeOfV(op.reshape(x, [0, -1])), ['batch', '8*seq']);
  assert.equal(shapeOfV(op.reshape(x, [0, -1, 4])), ['batch', '2*seq', 4]);
  assert.equal(shapeOfV(op.reshape(op.reshape(x, [-1, 8]), [-1, 8])), ['batch*seq', 8]);
});

test('elementwise broadcasting, MatMul, reductions and softmax keep symbolic dims', () => {
  const g = new Graph('m');
  const a = g.input('a', 'float32', ['batch', 1, 4]),
    b = g.input('b', 'float32', ['seq', 1]);
  assert.equal(shapeOfV(op.add(a, b)), ['batch', 'seq', 4]);
  assert.equal(shapeOfV(op.where(g.input('c', 'bool', ['batch', 'seq', 1]), a, 0)), ['batch', 'seq', 4]);
  const x = g.input('x', 'float32', ['batch', 'seq', 8]),
    w = g.input('w', 'float32', [8, 3]);
  assert.equal(shapeOfV(op.matmul(x, w)), ['batch', 'seq', 3]);
  assert.equal(shapeOfV(op.matmul(x, op.transposeLast(x))), ['batch', 'seq', 'seq']);
  assert.equal(shapeOfV(op.reduceMean(x, [1])), ['batch', 8]);
  assert.equal(shapeOfV(op.reduceSum(x, [0, 2], true)), [1, 'seq', 1]);
  assert.equal(shapeOfV(op.reduceMax(x)), []);
  assert.equal(shapeOfV(op.softmax(x, 1)), ['batch', 'seq', 8]);
  assert.equal(shapeOfV(op.argMax(x, -1)), ['batch', 'seq']);
  assert.equal(shapeOfV(op.topK(x, 3, -1)[0]), ['batch', 'seq', 3]);
  assert.equal(shapeOfV(op.layerNormalization(x, g.input('s', 'float32', [8]), g.input('bb', 'float32', [8]), 1e-5)), [
    'batch',
    'seq',
    8,
  ]);
});

test('shape ops keep symbolic dims', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', ['batch', 'seq', 8]);
  assert.equal(shapeOfV(op.transpose(x, [1, 0, 2])), ['seq', 'batch', 8]);
  assert.equal(shapeOfV(op.unsqueeze(x, [1, -1])), ['batch', 1, 'seq', 8, 1]);
  assert.equal(shapeOfV(op.squeeze(op.unsqueeze(x, [0]), [0])), ['batch', 'seq', 8]);
  assert.equal(op.split(x, [3, 5], -1).map(shapeOfV), [
    ['batch', 'seq', 3],
    ['batch', 'seq', 5],
  ]);
  assert.equal(shapeOfV(op.concat([x, x], -1)), ['batch', 'seq', 16]);
  assert.equal(shapeOfV(op.concat([x, x], 1)), ['batch', null, 8]);
  assert.equal(shapeOfV(op.expand(g.input('e', 'float32', [1, 8]), [3, 1, 8])), [3, 1, 8]);
  assert.equal(shapeOfV(op.slice(x, [0], [4], [2])), ['batch', 'seq', 4]);
  assert.equal(shapeOfV(op.slice(x, [-1], [Infinity], [1])), ['batch', 1, 8]);
  assert.equal(shapeOfV(op.slice(x, [0], [Number.MAX_SAFE_INTEGER], [1])), ['batch', 'seq', 8]);
  assert.equal(shapeOfV(op.slice(x, [1], [Infinity], [1])), ['batch', null, 8]);
  const table = g.input('t', 'float32', [100, 8]),
    ids = g.input('ids', 'int64', ['batch', 'seq']);
  assert.equal(shapeOfV(op.gather(table, ids)), ['batch', 'seq', 8]);
  assert.equal(shapeOfV(op.gather(x, g.input('i', 'int64', [2]), 1)), ['batch', 2, 8]);
  assert.equal(shapeOfV(op.gatherND(x, g.input('nd', 'int64', ['k', 2]))), ['k', 8]);
  assert.equal(shapeOfV(op.oneHot(ids, 5)), ['batch', 'seq', 5]);
  assert.equal(shapeOfV(op.dimOf(x, 1)), []);
  assert.equal(shapeOfV(op.shapeOf(x)), [3]);
});

test('Transpose accepts permutations of rank >= 11 (numeric, not lexicographic, check)', () => {
  const g = new Graph('m');
  const dims = Array<number>(12).fill(1);
  const perm = [...dims.keys()].reverse();
  assert.equal(shapeOfV(op.transpose(g.input('x', 'float32', dims), perm)), dims);
});

// ---- inferred shapes agree with the runtime ----

test('inferred static shapes match the shapes onnxruntime produces', async () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', [2, 3, 4]);
  const ids = g.input('ids', 'int64', [2, 2]);
  const outs: Record<string, Value> = {
    reshape: op.reshape(x, [0, -1]),
    reshape2: op.reshape(x, [4, -1, 2]),
    transpose: op.transpose(x, [2, 0, 1]),
    slice: op.slice(x, [-2, 1], [Infinity, 100], [1, 2]),
    slice2: op.slice(x, [-10], [-1], [2]),
    unsq: op.unsqueeze(x, [0, 4]),
    reduce: op.reduceMean(x, [0, 2], true),
    matmul: op.matmul(x, op.transposeLast(x)),
    gather: op.gather(x, ids, 1),
    concat: op.concat([x, x], 2),
    expand: op.expand(op.slice(x, [0], [1], [0]), [3, 2, 3, 4]),
    topk: op.topK(x, 2, 1)[0],
    cumsum: op.cumsum(x, 1, { exclusive: true }),
    dim: op.dimOf(x, 2),
  };
  for (const [k, v] of Object.entries(outs)) g.output(v, k);
  const res = await (
    await compile(g)
  )({
    x: { data: new Float32Array(24).map((_, i) => i), dims: [2, 3, 4] },
    ids: { data: BigInt64Array.of(0n, 2n, 1n, 1n), dims: [2, 2] },
  });
  for (const [k, v] of Object.entries(outs))
    assert.equal(
      res[k].dims.map(Number),
      v.shape,
      `${k}: inferred ${JSON.stringify(v.shape)}, runtime ${JSON.stringify(res[k].dims)}`,
    );
  assert.is(Number((res.dim.data as BigInt64Array)[0]), 4);
});

test.run();
