// Finite-difference checks of the gradient rules of the shape, indexing and scatter ops. Each check
// asserts the precision it ran in (see gradCheck); all run in float64 on onnxruntime's CPU EP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modelProto } from '../graph/emit.js';
import type { Graph } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { type CheckInput, checkGrad, gradCheck } from './util/gradcheck.js';

/** Shape ops are cheap: check more entries per input. */
const check = (
  build: Parameters<typeof checkGrad>[0],
  inputs: CheckInput[],
  dtype: 'float32' | 'float64' = 'float64',
  opts: Parameters<typeof gradCheck>[2] = {},
) => checkGrad(build, inputs, dtype, { maxPerInput: 40, ...opts });

const OPEN = Infinity;

test('Reshape with 0 (copy) and -1 (infer)', async () => {
  await check((_g, [x]) => op.reshape(x, [0, -1]), [{ name: 'x', dims: [2, 3, 4] }]);
  await check((_g, [x]) => op.reshape(x, [4, -1, 2]), [{ name: 'x', dims: [2, 3, 4] }]);
  // A non-elementwise function after the reshape, so a wrong element order would show.
  await check((_g, [x]) => op.softmax(op.reshape(x, [3, 0, 2, -1]), 0), [{ name: 'x', dims: [6, 2] }]);
});

test('Squeeze and Unsqueeze', async () => {
  await check((_g, [x]) => op.squeeze(x, [1, 3]), [{ name: 'x', dims: [2, 1, 3, 1] }]);
  await check((_g, [x]) => op.squeeze(x, [-1]), [{ name: 'x', dims: [3, 1] }]);
  await check((_g, [x]) => op.unsqueeze(x, [0, -1]), [{ name: 'x', dims: [2, 3] }]);
  await check((_g, [x]) => op.unsqueeze(x, [1]), [{ name: 'x', dims: [2, 3] }]);
});

test('Transpose: rank 2, rank 3 cycles, transposeLast', async () => {
  await check((_g, [x]) => op.transpose(x, [1, 0]), [{ name: 'x', dims: [2, 3] }]);
  await check((_g, [x]) => op.transpose(x, [2, 0, 1]), [{ name: 'x', dims: [2, 3, 4] }]);
  await check((_g, [x]) => op.transpose(x, [1, 2, 0]), [{ name: 'x', dims: [2, 3, 4] }]);
  await check((_g, [x]) => op.transposeLast(x), [{ name: 'x', dims: [2, 3, 4] }]);
});

test('Expand: new leading dims and size-1 dims', async () => {
  await check((_g, [x]) => op.expand(x, [2, 3, 4]), [{ name: 'x', dims: [3, 1] }]);
  await check((_g, [x]) => op.expand(x, [2, 3]), [{ name: 'x', dims: [3] }]);
  await check((_g, [x]) => op.expand(x, [2, 1, 3]), [{ name: 'x', dims: [2, 4, 1] }]);
});

test('Concat: three operands of different sizes, middle and last axis', async () => {
  await check(
    (_g, [a, b, c]) => op.concat([a, b, c], 1),
    [
      { name: 'a', dims: [2, 1, 3] },
      { name: 'b', dims: [2, 3, 3] },
      { name: 'c', dims: [2, 2, 3] },
    ],
  );
  await check(
    (_g, [a, b]) => op.concat([a, b, a], -1),
    [
      { name: 'a', dims: [2, 2] },
      { name: 'b', dims: [2, 3] },
    ],
  );
});

test('Split: all outputs used, and one output unused', async () => {
  await check(
    (_g, [x]) => {
      const [p, q, r] = op.split(x, [2, 3, 2], 1);
      return op.concat([op.mul(p, 2), op.mul(q, -1), op.exp(r)], 1);
    },
    [{ name: 'x', dims: [2, 7] }],
  );
  // The middle part is never used: its gradient must be zero (Split's rule fills it in).
  await check(
    (_g, [x]) => {
      const [p, , r] = op.split(x, [2, 3, 2], 1);
      return op.concat([p, op.exp(r)], 1);
    },
    [{ name: 'x', dims: [2, 7] }],
  );
  await check((_g, [x]) => op.split(x, [1, 2], 0)[1], [{ name: 'x', dims: [3, 2] }]);
});

test('Slice: positive and negative starts, open ends, clamped bounds, two axes', async () => {
  await check((_g, [x]) => op.slice(x, [1], [3], [1]), [{ name: 'x', dims: [3, 5] }]);
  await check((_g, [x]) => op.slice(x, [-3], [OPEN], [1]), [{ name: 'x', dims: [3, 5] }]);
  await check((_g, [x]) => op.slice(x, [-2, 1], [OPEN, -1], [0, 1]), [{ name: 'x', dims: [3, 5] }]);
  await check((_g, [x]) => op.slice(x, [0], [-2], [-1]), [{ name: 'x', dims: [2, 3, 4] }]);
  // Out-of-range bounds clamp: start -10 -> 0, end 100 -> 5.
  await check((_g, [x]) => op.slice(x, [-10], [2], [1]), [{ name: 'x', dims: [3, 5] }]);
  await check((_g, [x]) => op.slice(x, [2], [100], [1]), [{ name: 'x', dims: [3, 5] }]);
});

test('Slice on a symbolic dim: negative start and open end (runtime pads)', async () => {
  await check((_g, [x]) => op.slice(x, [-2], [OPEN], [1]), [{ name: 'x', dims: [2, 5], shape: ['batch', 'seq'] }]);
  await check((_g, [x]) => op.slice(x, [1], [-1], [1]), [{ name: 'x', dims: [2, 5], shape: ['batch', 'seq'] }]);
  await check((_g, [x]) => op.slice(x, [1], [OPEN], [0]), [{ name: 'x', dims: [3, 2], shape: ['batch', 2] }]);
});

test('Slice with runtime starts/ends (sliceDynamic)', async () => {
  await check(
    (_g, [x, s, e]) => op.sliceDynamic(x, s, e, [1], [2, null]),
    [
      { name: 'x', dims: [2, 6] },
      { name: 's', dims: [1], int: [-4] },
      { name: 'e', dims: [1], int: [5] },
    ],
  );
});

test('Gather axis 0 with 2-D repeated indices (embedding lookup)', async () => {
  const r = await check(
    (_g, [table, idx]) => op.gather(table, idx, 0),
    [
      { name: 'table', dims: [6, 3] },
      { name: 'idx', dims: [2, 3], int: [0, 2, 2, 5, 0, 2] },
    ],
  );
  assert.is(r.checked, 18, 'every row of the table, used or not, is checked');
});

/** The op types of g as emitted: the kernels the lowering pass chose (graph/lower/scatter-add.ts). */
const emittedOps = (g: Graph) => modelProto(g, { params: 'inputs' }).graph!.node!.map((n) => n.opType!);

test('Gather by an index declared distinct (TensorSpec.distinct): one ScatterND writes the gradient rows, no sort or sums', async () => {
  for (const [dims, int] of [
    [[4], [5, 0, 3, 1]],
    [
      [2, 2],
      [2, 4, 0, 5],
    ],
  ] as [number[], number[]][]) {
    let graph: Graph | null = null;
    const r = await check(
      (g, [table, idx]) => {
        g.distinct.add(idx);
        graph = g;
        return op.gather(table, idx, 0);
      },
      [
        { name: 'table', dims: [6, 3] },
        { name: 'idx', dims, int },
      ],
    );
    assert.is(r.checked, 18, 'every row of the table, gathered or not, is checked');
    const ops = new Set(emittedOps(graph!));
    assert.ok(ops.has('ScatterND') && !ops.has('TopK') && !ops.has('CumSum'), `ops: ${[...ops].join(', ')}`);
  }
});

test('Gather gradient: a small static table takes a one-hot GEMM, a larger one the sort-and-sum scatter-add', async () => {
  for (const [rows, want, not] of [
    [6, 'MatMul', 'TopK'],
    [300, 'TopK', 'MatMul'],
  ] as const) {
    let graph: Graph | null = null;
    const r = await check(
      (g, [table, idx]) => {
        graph = g;
        return op.gather(table, idx, 0);
      },
      [
        { name: 'table', dims: [rows, 2] },
        { name: 'idx', dims: [2, 3], int: [0, 2, 2, rows - 1, -1, 2] },
      ],
    );
    assert.ok(r.checked > 0);
    const ops = emittedOps(graph!);
    assert.ok(
      ops.includes(want) && !ops.includes(not),
      `${rows} rows: ${want} and no ${not} in ${[...new Set(ops)].join(', ')}`,
    );
  }
});

test('Gather: scalar index, negative index, int32-free axis 1', async () => {
  await check(
    (_g, [x, i]) => op.gather(x, i, 0),
    [
      { name: 'x', dims: [4, 3] },
      { name: 'i', dims: [], int: [2] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gather(x, i, 0),
    [
      { name: 'x', dims: [4, 3] },
      { name: 'i', dims: [3], int: [-1, 0, -1] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gather(x, i, 1),
    [
      { name: 'x', dims: [3, 5] },
      { name: 'i', dims: [2, 2], int: [4, 0, 4, 1] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gather(x, i, 1),
    [
      { name: 'x', dims: [2, 4, 3] },
      { name: 'i', dims: [3], int: [3, 3, 0] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gather(x, i, -1),
    [
      { name: 'x', dims: [2, 2, 4] },
      { name: 'i', dims: [2, 1], int: [1, 1] },
    ],
  );
});

test('GatherElements with repeated indices', async () => {
  await check(
    (_g, [x, i]) => op.gatherElements(x, i, 1),
    [
      { name: 'x', dims: [3, 4] },
      { name: 'i', dims: [3, 2], int: [0, 0, 3, 1, 2, 2] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gatherElements(x, i, 0),
    [
      { name: 'x', dims: [3, 2] },
      { name: 'i', dims: [4, 2], int: [0, 2, 2, 2, 1, 0, 0, 0] },
    ],
  );
});

test('GatherND: element and slice lookups, repeated', async () => {
  await check(
    (_g, [x, i]) => op.gatherND(x, i),
    [
      { name: 'x', dims: [3, 4] },
      { name: 'i', dims: [3, 2], int: [0, 1, 2, 3, 0, 1] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gatherND(x, i),
    [
      { name: 'x', dims: [3, 4, 2] },
      { name: 'i', dims: [2, 2], int: [0, 1, 2, 3] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gatherND(x, i),
    [
      { name: 'x', dims: [3, 4] },
      { name: 'i', dims: [2, 1], int: [2, 2] },
    ],
  );
});

test('GatherND with negative components and 3-tuples; Gather from a vector', async () => {
  await check(
    (_g, [x, i]) => op.gatherND(x, i),
    [
      { name: 'x', dims: [2, 3, 4] },
      { name: 'i', dims: [3, 3], int: [1, -1, 0, 0, 2, 3, -2, 0, 0] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gatherND(x, i),
    [
      { name: 'x', dims: [2, 3, 4] },
      { name: 'i', dims: [2, 2, 2], int: [1, 2, -1, 2, 0, 0, 1, -1] },
    ],
  );
  await check(
    (_g, [x, i]) => op.gather(x, i, 0),
    [
      { name: 'x', dims: [5] },
      { name: 'i', dims: [4], int: [4, 1, 4, -1] },
    ],
  );
});

test('Gather gradient from float32: repeated rows are summed in float64, then rounded once', async () => {
  await check(
    (_g, [t, i]) => op.gather(t, i, 0),
    [
      { name: 't', dims: [4, 3] },
      { name: 'i', dims: [6], int: [3, 0, 3, 3, 1, 3] },
    ],
    'float32',
    { dtypes: ['float32'] },
  );
});

test('ScatterND reduction none: gradient wrt data and updates', async () => {
  await check(
    (_g, [d, i, u]) => op.scatterND(d, i, u),
    [
      { name: 'data', dims: [4, 3] },
      { name: 'idx', dims: [2, 1], int: [1, 3] },
      { name: 'upd', dims: [2, 3] },
    ],
  );
  await check(
    (_g, [d, i, u]) => op.scatterND(d, i, u),
    [
      { name: 'data', dims: [3, 4] },
      { name: 'idx', dims: [3, 2], int: [0, 0, 2, 3, 1, 1] },
      { name: 'upd', dims: [3] },
    ],
  );
});

test('ScatterND reduction add (repeated indices): gradient wrt data and updates', async () => {
  await check(
    (_g, [d, i, u]) => op.scatterND(d, i, u, 'add'),
    [
      { name: 'data', dims: [4, 3] },
      { name: 'idx', dims: [3, 1], int: [1, 1, 2] },
      { name: 'upd', dims: [3, 3] },
    ],
  );
});

test('ScatterElements, reduction none and add', async () => {
  await check(
    (_g, [d, i, u]) => op.scatterElements(d, i, u, 1),
    [
      { name: 'data', dims: [3, 4] },
      { name: 'idx', dims: [3, 2], int: [0, 2, 3, 1, 2, 0] },
      { name: 'upd', dims: [3, 2] },
    ],
  );
  await check(
    (_g, [d, i, u]) => op.scatterElements(d, i, u, 0, 'add'),
    [
      { name: 'data', dims: [3, 2] },
      { name: 'idx', dims: [2, 2], int: [1, 1, 1, 0] },
      { name: 'upd', dims: [2, 2] },
    ],
  );
});

test('Trilu: upper/lower with offsets, batched', async () => {
  await check((_g, [x]) => op.trilu(x, true), [{ name: 'x', dims: [3, 4] }]);
  await check((_g, [x]) => op.trilu(x, false, -1), [{ name: 'x', dims: [3, 4] }]);
  await check((_g, [x]) => op.trilu(x, true, 1), [{ name: 'x', dims: [2, 3, 3] }]);
});

test.run();
