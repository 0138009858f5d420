// The lowering pass (graph/lower/): each rewrite holds the emitted graph to the graph as built (lower: false) in
// value and gradient on small inputs, fires where it should (the emitted node types say so), and where it
// rewrites a gradient, the lowered gradient also matches finite differences.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { modelProto } from '../graph/emit.js';
import { grad } from '../graph/grad.js';
import { Graph, type Value } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { buildTrainLoop } from '../graph/train-step.js';
import { StepRunner } from '../train/step-runner.js';
import { type CheckInput, checkGrad, rng } from './util/gradcheck.js';
import { type Feed, compile } from './util/ort.js';
import { initState } from './util/params.js';
import { blobs, mlpModel } from './util/toy-models.js';

type Build = (g: Graph, x: Value[]) => Value;

interface Emitted {
  /** Op types of the emitted nodes, lowered and as built (with ScatterND's reduction: 'ScatterND:add'). */
  lowered: string[];
  built: string[];
}

const opsOf = (g: Graph, lower: boolean) =>
  modelProto(g, { params: 'inputs', lower }).graph!.node!.map((n) => {
    const red = n.attribute?.find((a) => a.name === 'reduction');
    return red ? `${n.opType}:${new TextDecoder().decode(red.s!)}` : n.opType!;
  });

const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

/**
 * Emits y = build(inputs) and the gradient of sum(y * r) (r fixed, random) lowered and as built, runs both on the
 * same random inputs, and holds every output of one to the other: y and the gradient of each float input.
 */
async function agree(build: Build, inputs: CheckInput[], dtype: 'float32' | 'float64' = 'float32'): Promise<Emitted> {
  const g = new Graph('lowering');
  const xs = inputs.map((i) => g.input(i.name, i.int ? 'int64' : dtype, i.dims));
  const y = build(g, xs);
  const r = g.input('r', dtype, y.shape as number[]);
  const floats = xs.filter((_, k) => !inputs[k].int);
  const grads = grad(op.reduceSum(op.mul(y, r)), floats);
  g.output(y, 'y');
  grads.forEach((d, k) => g.output(d, `d_${floats[k].name}`));
  const rand = rng(3);
  const data = (n: number) => Array.from({ length: n }, () => rand() * 2 - 1);
  const feeds: Record<string, Feed> = {};
  for (const v of [...xs, r]) {
    const i = inputs.find((c) => c.name === v.name);
    const dims = i?.dims ?? (v.shape as number[]);
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[v.name] = i?.int
      ? { data: BigInt64Array.from(i.int.map(BigInt)), dims }
      : { data: dtype === 'float64' ? Float64Array.from(data(n)) : Float32Array.from(data(n)), dims };
  }
  const nodes = g.nodes.length;
  const lowered = await (await compile(g))(feeds);
  const built = await (await compile(g, { params: 'inputs', lower: false }))(feeds);
  assert.is(g.nodes.length, nodes, 'emission leaves the graph as built');
  for (const name of ['y', ...floats.map((f) => `d_${f.name}`)]) {
    const a = lowered[name].data as Float32Array,
      b = built[name].data as Float32Array;
    assert.is(a.length, b.length, `${name}: length`);
    assert.ok(
      b.some((v) => v !== 0),
      `${name} is not all zeros`,
    );
    for (let i = 0; i < a.length; i++) {
      const close = Math.abs(a[i] - b[i]) <= 1e-6 + 1e-5 * Math.abs(b[i]);
      assert.ok(close, `${name}[${i}]: lowered ${a[i]}, as built ${b[i]}`);
    }
  }
  return { lowered: opsOf(g, true), built: opsOf(g, false) };
}

test('softplus: relu(x) + log(1 + exp(-|x|)) in place of the Softplus node, same values and gradient', async () => {
  const e = await agree((_g, [x]) => op.softplus(op.mul(x, 6)), [{ name: 'x', dims: [3, 4] }]);
  assert.is(count(e.built, 'Softplus'), 1);
  assert.is(count(e.lowered, 'Softplus'), 0);
  assert.ok(e.lowered.includes('Relu') && e.lowered.includes('Abs'), e.lowered.join());
});

test('layer-norm: float32 LayerNormalization expanded, writing the Mean and InvStdDev its gradient reads', async () => {
  const inputs = [
    { name: 'x', dims: [3, 2, 5] },
    { name: 'scale', dims: [5] },
    { name: 'bias', dims: [5] },
  ];
  const ln: Build = (_g, [x, s, b]) => op.layerNormalization(x, s, b, 1e-5);
  const e = await agree(ln, inputs);
  assert.is(count(e.built, 'LayerNormalization'), 1);
  assert.is(count(e.lowered, 'LayerNormalization'), 0);
  assert.is(count(e.lowered, 'Reciprocal'), 1);
  // float64 keeps onnxruntime's kernel: the expansion writes Mean and InvStdDev in x's type, not float32.
  const d = await agree(ln, inputs, 'float64');
  assert.is(count(d.lowered, 'LayerNormalization'), 1);
});

test('expanded-mul: the gradient of a sum of exp(x) multiplies by the adjoint, not its expanded copy', async () => {
  const sumExp: Build = (_g, [x]) => op.log(op.reduceSum(op.exp(x), [1], true));
  const e = await agree(sumExp, [{ name: 'x', dims: [3, 4] }]);
  // As built, two Expands: the loss's sum and this one; lowered, the exp gradient reads the sum's adjoint directly.
  assert.is(count(e.built, 'Expand'), 2);
  assert.is(count(e.lowered, 'Expand'), 1);
  await checkGrad(sumExp, [{ name: 'x', dims: [3, 4] }]);
});

test('weight-grad: a Linear weight gradient as one GEMM over flattened rows, not batched and summed', async () => {
  const inputs = [
    { name: 'x', dims: [2, 3, 4] },
    { name: 'w', dims: [4, 5] },
  ];
  const linear: Build = (_g, [x, w]) => op.matmul(x, w);
  const e = await agree(linear, inputs);
  // As built, ReduceSums for the loss and for dW over x's two leading axes; lowered, the loss's alone.
  assert.is(count(e.built, 'ReduceSum'), 2);
  assert.is(count(e.lowered, 'ReduceSum'), 1);
  await checkGrad(linear, inputs);
});

test('bias-grad: a bias gradient (a sum over leading axes) as ones @ d; a forward sum stays a ReduceSum', async () => {
  const bias: Build = (_g, [x, b]) => op.add(x, b);
  const inputs = [
    { name: 'x', dims: [2, 3, 4] },
    { name: 'b', dims: [4] },
  ];
  const e = await agree(bias, inputs);
  assert.is(count(e.built, 'ReduceSum'), 2);
  assert.is(count(e.built, 'MatMul'), 0);
  // gradientOnly: the loss's own sum (forward) stays a ReduceSum.
  assert.is(count(e.lowered, 'ReduceSum'), 1);
  assert.is(count(e.lowered, 'MatMul'), 1);
  // A scalar operand sums over every axis: ones[1, 24] @ d[24, 1].
  const scalar = await agree(
    (_g, [x, s]) => op.mul(x, s),
    [
      { name: 'x', dims: [2, 3, 4] },
      { name: 's', dims: [] },
    ],
  );
  assert.is(count(scalar.lowered, 'MatMul'), 1);
  await checkGrad(bias, inputs);
});

// A Gather gradient: ScatterND for distinct indices, a one-hot GEMM for a small table, else the sort-and-sum.
test('scatter-add: each of the three kernels where it applies', async () => {
  const cases: [string, number, number[], boolean, string, string[]][] = [
    ['distinct', 6, [5, 0, 3, 1], true, 'ScatterND', ['ScatterND:add', 'TopK', 'MatMul']],
    ['small', 6, [0, 2, 2, 5, -1, 2], false, 'MatMul', ['ScatterND:add', 'TopK']],
    ['large', 300, [0, 2, 2, 299, -1, 2], false, 'TopK', ['ScatterND:add', 'MatMul']],
  ];
  for (const [what, rows, int, distinct, want, not] of cases) {
    const lookup: Build = (g, [table, idx]) => {
      if (distinct) g.distinct.add(idx);
      return op.gather(table, idx, 0);
    };
    const inputs = [
      { name: 'table', dims: [rows, 2] },
      { name: 'idx', dims: [int.length], int },
    ];
    const e = await agree(lookup, inputs);
    assert.is(count(e.built, 'ScatterND:add'), 1, `${what}: as built, one ScatterND with reduction add`);
    const fired = e.lowered.includes(want) && not.every((o) => !e.lowered.includes(o));
    assert.ok(fired, `${what}: ${want}, none of ${not} in ${e.lowered.join()}`);
    await checkGrad(lookup, inputs);
  }
});

test("a Loop body is lowered too: an MLP's K-step training Loop takes the same steps either way", async () => {
  const tg = buildTrainLoop(mlpModel(8, 4), { adam: { ...ADAM_DEFAULTS, lr: 0.05 }, seed: 1 });
  const body = (lower: boolean) => {
    const loop = modelProto(tg.graph, { params: 'inputs', lower }).graph!.node!.find((n) => n.opType === 'Loop')!;
    return loop.attribute!.find((a) => a.name === 'body')!.g!.node!.map((n) => n.opType!);
  };
  // The two bias gradients: a ReduceSum each as built, a GEMM each lowered.
  assert.is(count(body(false), 'ReduceSum') - count(body(true), 'ReduceSum'), 2);
  const K = 3,
    B = 16,
    d = blobs(K * B, 4);
  const run = async (lower: boolean) => {
    const runner = await StepRunner.create(tg, initState(tg.params, 5), { threads: 1, lower });
    const out = await runner.run({ x: { data: d.x, dims: [K, B, 2] }, y: { data: d.y, dims: [K, B] } }, 0.05);
    return { loss: Array.from(out.loss), params: runner.state.params };
  };
  const a = await run(true),
    b = await run(false);
  a.loss.forEach((l, k) => assert.ok(Math.abs(l - b.loss[k]) < 1e-6, `loss at step ${k}: ${l} vs ${b.loss[k]}`));
  for (const [name, p] of b.params) {
    const q = a.params.get(name)!;
    for (let i = 0; i < p.length; i++) {
      assert.ok(Math.abs(p[i] - q[i]) < 1e-5, `${name}[${i}]: lowered ${q[i]}, as built ${p[i]}`);
    }
  }
});

test("a rewrite in a Loop body may compute on the enclosing graph's values (a LayerNorm of an outer x)", async () => {
  const g = new Graph('outer');
  const x = g.input('x', 'float32', [3, 5]);
  const s0 = g.input('s', 'float32', [5]);
  const { scans } = op.loop(g, op.int64s(g, [2]), [s0], (_body, _iter, [s]) => {
    const y = op.layerNormalization(x, s, s, 1e-5);
    return { carried: [op.mul(s, 2)], scans: [y] };
  });
  g.output(scans[0], 'y');
  const feeds = {
    x: { data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i)), dims: [3, 5] },
    s: { data: Float32Array.of(1, 2, 3, 4, 5), dims: [5] },
  };
  const a = (await (await compile(g))(feeds)).y.data as Float32Array;
  const b = (await (await compile(g, { params: 'inputs', lower: false }))(feeds)).y.data as Float32Array;
  assert.is(a.length, 30);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])), `y[${i}]: ${v} vs ${b[i]}`));
  const loop = modelProto(g, { params: 'inputs' }).graph!.node!.find((n) => n.opType === 'Loop')!;
  const body = loop.attribute!.find((a) => a.name === 'body')!.g!.node!.map((n) => n.opType!);
  assert.ok(!body.includes('LayerNormalization') && body.includes('Reciprocal'), body.join());
});

test.run();
