// Placement on CUDA checked without a GPU: every node of every graph the product runs on CUDA has a kernel in
// ONNX Runtime's CUDA kernel table (runtime/ort-kernels, vendored) for its opset and types. The checker itself
// is held to hand-built graphs that must fail, so a pass means something.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { SHAPE_ALLOW, cudaCoverage, describeFailure, kernelProblem } from '../runtime/cuda-coverage.js';
import { cudaKernelTable, parseKernelTable } from '../runtime/cuda-kernels.js';
import { COVERAGE_MODEL, cudaGraphFamilies } from '../train/cuda-graphs.js';

test('the vendored table parses into rows with opset ranges, signatures and types per constraint', () => {
  const t = cudaKernelTable();
  assert.ok(t.length > 300, `${t.length} rows`);
  const rows = (o: string) => t.filter((r) => r.op === o);
  assert.equal(
    rows('Add').map((r) => [r.since, r.until]),
    [
      [14, null],
      [13, 13],
      [7, 12],
    ],
  );
  assert.ok(rows('Add')[0].types.T.includes('tensor(int64)'));
  const prod17 = rows('ReduceProd').find((r) => r.since === 1)!;
  assert.is(prod17.until, 17);
  assert.not.ok(prod17.types.T.includes('tensor(int64)'));
  assert.equal(rows('Gather')[0].signatures[0].inputs, [
    { name: 'data', type: 'T' },
    { name: 'indices', type: 'Tind' },
  ]);
  // Alternatives joined by "or" stay separate signatures; a literal type is kept as written.
  assert.is(rows('Reshape')[0].signatures.length, 2);
  assert.equal(rows('Reshape')[0].signatures[0].inputs[1], { name: 'shape', type: 'tensor(int64)' });
  assert.ok(t.every((r) => r.domain === 'ai.onnx'));
});

test('a table it cannot read is an error naming the line, not a shorter table', () => {
  const head = '|**Operator Domain:** *ai.onnx*||||\n';
  assert.throws(
    () => parseKernelTable(`${head}|Abs|*in* X:**T**|13 or so|**T** = tensor(float)|`, 'k.md'),
    /k\.md:2: cannot read the opset version "13 or so"/,
  );
  assert.throws(
    () => parseKernelTable('|Abs|*in* X:**T**|13+|**T** = tensor(float)|', 'k.md'),
    /k\.md:1: a kernel row before any "Operator Domain" row/,
  );
  assert.throws(
    () => parseKernelTable(`${head}|||13|**T** = tensor(float)|`, 'k.md'),
    /k\.md:2: a continuation row needs an op above it/,
  );
  assert.throws(() => parseKernelTable('nothing here', 'k.md'), /k\.md: no kernel rows/);
});

test('a kernel is looked up by op, opset and the types of inputs and outputs', () => {
  const f = 'tensor(float)',
    i64 = 'tensor(int64)';
  assert.is(kernelProblem('Add', 'ai.onnx', 17, [i64, i64], [i64]), null);
  assert.match(
    kernelProblem('ReduceProd', 'ai.onnx', 17, [i64], [i64])!,
    /no CUDA ReduceProd-1 kernel for these types \(T: tensor\(double\) tensor\(float\) tensor\(float16\) tensor\(int32\)\)/,
  );
  assert.is(kernelProblem('ReduceProd', 'ai.onnx', 17, [f], [f]), null);
  assert.match(kernelProblem('Gelu', 'ai.onnx', 17, [f], [f])!, /no CUDA Gelu kernel for opset 17 \(it has 20\+\)/);
  assert.match(
    kernelProblem('Unique', 'ai.onnx', 17, [f], [f, i64, i64, i64])!,
    /the CUDA EP has no Unique kernel at all/,
  );
  // A literal parameter type must match exactly: Reshape's shape is int64 only.
  assert.ok(kernelProblem('Reshape', 'ai.onnx', 17, [f, 'tensor(int32)'], [f]) !== null);
  // Variadic inputs (Concat) all take the constraint of the last parameter.
  assert.is(kernelProblem('Concat', 'ai.onnx', 17, [f, f, f], [f]), null);
  assert.ok(kernelProblem('Concat', 'ai.onnx', 17, [f, f, 'tensor(string)'], ['tensor(string)']) !== null);
});

/** x [n, 4] float; its element count as int64 ReduceProd over its shape, used as a shape or as a value. */
function prodGraph(asShape: boolean): Uint8Array {
  const g = new Graph('toy');
  const x = g.input('x', 'float32', ['n', 4]);
  g.withScope('count', () => {
    const n = op.reduceProd(op.shapeOf(x), [0], true);
    g.output(asShape ? op.reshape(x, n, [null]) : op.div(x, op.cast(n, 'float32')), 'y');
  });
  return serialize(g, { params: 'inputs' });
}

test('a node without a kernel fails naming the node, op, opset, types and scope; the allow list takes shape computations only', () => {
  const c = cudaCoverage('toy', prodGraph(false));
  assert.is(c.failing.length, 1);
  assert.match(
    describeFailure(c.failing[0]),
    /^toy: node count\/ReduceProd_0 \(ReduceProd, opset 17; data: tensor\(int64\)\) built in scope count: no CUDA ReduceProd-1 kernel for these types/,
  );
  assert.is(c.covered + c.failing.length, c.nodes);
  const allow = { ReduceProd: 'element counts of a shape, read on the host' };
  // Feeding Div (a device input) it is not a shape computation: the allow list does not take it.
  assert.is(cudaCoverage('toy', prodGraph(false), undefined, allow).failing.length, 1);
  const shaped = cudaCoverage('toy', prodGraph(true), undefined, allow);
  assert.equal(shaped.failing, []);
  assert.equal(
    shaped.allowed.map((a) => [a.node, a.reason]),
    [['count/ReduceProd_0', allow.ReduceProd]],
  );
  assert.is(cudaCoverage('toy', prodGraph(true)).failing.length, 1, 'the real allow list must not take it');
});

test('every graph family the product runs on CUDA has a CUDA kernel for every node', () => {
  const families = cudaGraphFamilies();
  assert.equal(
    families.map((f) => f.name),
    ['train-step', 'train-loop', 'eval', 'catalog', 'serving', 'bert', 'vit'],
  );
  const lines: string[] = [];
  for (const f of families) {
    const c = cudaCoverage(f.name, f.bytes);
    assert.ok(c.nodes > 0 && c.covered + c.allowed.length + c.failing.length === c.nodes, JSON.stringify(c));
    lines.push(
      `${c.graph}: ${c.nodes} nodes, ${c.covered} covered, ${c.allowed.length} allowed, ${c.failing.length} failing`,
    );
    assert.equal(c.failing.map(describeFailure), [], `${f.name} has nodes the CUDA EP cannot run`);
    for (const a of c.allowed) assert.ok(SHAPE_ALLOW[a.op], a.node);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
});

test('with the catalog in chunks (Loops over catalog rows), every family still has a CUDA kernel for every node', () => {
  const families = cudaGraphFamilies({ ...COVERAGE_MODEL, catalogChunk: 16 });
  for (const f of families) {
    const c = cudaCoverage(f.name, f.bytes);
    assert.equal(c.failing.map(describeFailure), [], `${f.name} (catalog chunks) has nodes the CUDA EP cannot run`);
  }
  // The chunks are there: the training step holds the catalog Loops (40 items, chunks of 16).
  const step = new TextDecoder('latin1').decode(families[0].bytes);
  assert.ok(step.includes('catalog_lse') && step.includes('catalog_lse_grad'), 'the step has the chunk Loops');
});

test('the Loop body is checked too: a body node without a kernel fails and names its subgraph', () => {
  const loop = cudaGraphFamilies().find((f) => f.name === 'train-loop')!;
  const step = cudaGraphFamilies().find((f) => f.name === 'train-step')!;
  // Without ReduceMean in the table every body ReduceMean fails, each naming the Loop body it sits in.
  const table = cudaKernelTable().filter((r) => r.op !== 'ReduceMean');
  const c = cudaCoverage('train-loop', loop.bytes, table);
  assert.ok(c.failing.length > 0);
  assert.ok(
    c.failing.every((f) => f.op === 'ReduceMean' && /^train-loop > Loop_\d+\.body$/.test(f.graph)),
    describeFailure(c.failing[0]),
  );
  assert.ok(cudaCoverage('train-loop', loop.bytes).nodes > cudaCoverage('train-step', step.bytes).nodes);
});

test.run();
