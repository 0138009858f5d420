// Same seed, same bits at 2 intra-op threads: op family by op family (forward and gradient graphs), one
// HM4SR training step, whole training runs and a resumed run. Sizes are chosen so that onnxruntime
// actually splits the work across its threads (its cost model runs small kernels on one thread).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { modelProto, serialize } from '../graph/emit.js';
import { grad } from '../graph/grad.js';
import { Graph, type Value } from '../graph/graph.js';
import { HM4SR_DEFAULTS, type Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import * as op from '../graph/ops/index.js';
import { buildTrainStep } from '../graph/train-step.js';
import { createSession, ort } from '../runtime/session.js';
import { DEFAULT_CONFIG, type RunConfig, mergeConfig } from '../train/config.js';
import { Rng } from '../train/data/shuffle.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { buildSamples } from '../train/data/samples.js';
import { generateSynthetic } from '../train/data/synth.js';
import { packBatch } from '../train/pack.js';
import { type EpochLog, runFiles } from '../train/run.js';
import { train } from '../train/trainer.js';
import { rng } from './util/gradcheck.js';
import type { Feed } from './util/ort.js';
import { toOrtTensor as tensor } from '../runtime/session.js';

const THREADS = 2;
const dir = mkdtempSync(join(tmpdir(), 'hm4sr-determinism-'));
const bytes = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

/** Runs a model `runs` times at THREADS threads (a fresh session each time: random ops restart their
 * streams) and returns the outputs whose bytes differ from the first run's. */
async function differing(model: Uint8Array, feeds: Record<string, ort.Tensor>, runs: number): Promise<string[]> {
  let first: ort.InferenceSession.ReturnType | null = null;
  const bad = new Set<string>();
  for (let r = 0; r < runs; r++) {
    const out = await (await createSession(model, { threads: THREADS })).run(feeds);
    if (!first) first = out;
    else
      for (const k of Object.keys(first))
        if (!bytes(out[k].data as ArrayBufferView).equals(bytes(first[k].data as ArrayBufferView))) bad.add(k);
  }
  return [...bad];
}

type Build = (g: Graph, x: Record<string, Value>) => Value;

/** y = build(inputs) and the gradient of sum(y * r) with respect to every float input, as outputs. */
async function familyDiffers(
  build: Build,
  inputs: Record<string, { dims: number[]; int?: (i: number) => number }>,
  runs = 5,
): Promise<string[]> {
  const g = new Graph('family');
  const x = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, g.input(k, v.int ? 'int64' : 'float32', v.dims)]),
  );
  const y = build(g, x);
  const r = g.input('r', 'float32', y.shape as number[]);
  const floats = Object.keys(inputs).filter((k) => !inputs[k].int);
  const grads = grad(
    op.reduceSum(op.mul(y, r)),
    floats.map((k) => x[k]),
  );
  g.output(y, 'y');
  grads.forEach((d, i) => g.output(d, `d_${floats[i]}`));
  const rand = rng(3);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const n = v.dims.reduce((a, b) => a * b, 1);
    const f: Feed = v.int
      ? { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(v.int!(i))), dims: v.dims }
      : { data: Float32Array.from({ length: n }, () => rand() * 2 - 1), dims: v.dims };
    feeds[k] = tensor(f);
  }
  feeds.r = tensor({
    data: Float32Array.from({ length: (y.shape as number[]).reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1),
    dims: y.shape as number[],
  });
  return differing(serialize(g, { params: 'inputs' }), feeds, runs);
}

// Skewed indices with many repeats, as item, position and interval ids are in a batch.
const skewed = (rows: number) => (i: number) => Math.floor(rows * ((i * 0.6180339887) % 1) ** 3);

test('op family: Gather, GatherND and their scatter-add gradients (embedding lookups)', async () => {
  assert.equal(
    await familyDiffers((_g, x) => op.gather(x.table, x.idx, 0), {
      table: { dims: [50, 64] },
      idx: { dims: [40, 250], int: skewed(50) },
    }),
    [],
  );
  assert.equal(
    await familyDiffers((_g, x) => op.gather(x.table, x.idx, 0), {
      table: { dims: [3000, 96] },
      idx: { dims: [9000], int: skewed(3000) },
    }),
    [],
  );
  assert.equal(
    await familyDiffers((_g, x) => op.gather(x.table, x.idx, 1), {
      table: { dims: [64, 40] },
      idx: { dims: [4000], int: skewed(40) },
    }),
    [],
  );
  assert.equal(
    await familyDiffers((_g, x) => op.gatherND(x.table, x.idx), {
      table: { dims: [8, 6, 64] },
      idx: { dims: [5000, 2], int: (i) => (i % 2 ? skewed(6)(i) : skewed(8)(i)) },
    }),
    [],
  );
});

test('op family: MatMul (Linear) and its gradients', async () => {
  assert.equal(
    await familyDiffers((_g, x) => op.add(op.matmul(x.x, x.w), x.b), {
      x: { dims: [8, 256, 192] },
      w: { dims: [192, 192] },
      b: { dims: [192] },
    }),
    [],
  );
  assert.equal(
    await familyDiffers((_g, x) => op.matmul(x.a, op.transposeLast(x.c)), {
      a: { dims: [1024, 192] },
      c: { dims: [3000, 192] },
    }),
    [],
  );
});

test('op family: reductions (ReduceSum, ReduceMean, ReduceMax, ReduceLogSumExp) and their gradients', async () => {
  const x = { x: { dims: [768, 1024] } };
  assert.equal(await familyDiffers((_g, v) => op.reduceSum(v.x), x), []);
  assert.equal(await familyDiffers((_g, v) => op.reduceSum(v.x, [0]), x), []);
  assert.equal(await familyDiffers((_g, v) => op.reduceMean(v.x, [1]), x), []);
  assert.equal(await familyDiffers((_g, v) => op.reduceMax(v.x, [1]), x), []);
  assert.equal(await familyDiffers((_g, v) => op.reduceLogSumExp(v.x, [1]), x), []);
});

test('op family: Softmax, LogSoftmax, LayerNormalization, CumSum and their gradients', async () => {
  const x = { x: { dims: [512, 16, 64] } };
  assert.equal(await familyDiffers((_g, v) => op.softmax(v.x, -1), x), []);
  assert.equal(await familyDiffers((_g, v) => op.logSoftmax(v.x, 1), x), []);
  assert.equal(
    await familyDiffers((_g, v) => op.layerNormalization(v.x, v.s, v.b, 1e-12), {
      ...x,
      s: { dims: [64] },
      b: { dims: [64] },
    }),
    [],
  );
  assert.equal(await familyDiffers((_g, v) => op.cumsum(v.x, 1), x), []);
});

// A dataset and model big enough that the embedding-gradient scatters run on both threads.
generateSynthetic({
  dir: join(dir, 'data'),
  name: 'mid',
  users: 300,
  items: 60,
  categories: 4,
  textDim: 8,
  minLen: 8,
  maxLen: 16,
  seed: 5,
});
const modelOverrides = { hidden: 16, heads: 2, layers: 1, inner: 32, k1: 2, k2: 2, maxLen: 16 };

test('the HM4SR training step, run on the same batch from the same state, gives the same bytes', async () => {
  const ds = loadAtomicDataset(join(dir, 'data'), 'mid', { kCore: 0 });
  const samples = buildSamples(ds, 16);
  const c: Hm4srConfig = {
    ...HM4SR_DEFAULTS,
    ...modelOverrides,
    numItems: ds.numItems,
    numCategories: ds.categories!.names.length,
    textDim: 8,
    imageDim: 4,
    intervalBuckets: 3000,
    calendarSize: 1,
  };
  const tg = buildTrainStep(hm4srModel(c), { adam: ADAM_DEFAULTS, seed: 3 });
  const idx = Int32Array.from({ length: Math.min(samples.train.size, 2048) }, (_, i) => i);
  const b = packBatch(ds, samples.train, idx, c, {
    layout: 'packed',
    mu: 100,
    maxBucket: 2999,
    absTime: 'days',
    timeOrigin: ds.firstTimestamp,
    pclBeta: 0.3,
    rng: new Rng(9),
    withTarget: true,
  });
  assert.ok(b.tokens > 10000, `the batch holds ${b.tokens} tokens`);
  const rand = rng(5);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(b.feeds)) feeds[k] = tensor(t as Feed);
  for (const s of tg.params) {
    const n = s.dims.reduce((p, q) => p * q, 1);
    const isLabel = s.name === 'data.item_categories';
    feeds[s.name] = tensor({
      data: Float32Array.from({ length: n }, () => (isLabel ? (rand() < 0.3 ? 1 : 0) : (rand() * 2 - 1) * 0.1)),
      dims: s.dims,
    });
    if (!s.trainable) continue;
    feeds[`adam.m.${s.name}`] = tensor({ data: new Float32Array(n), dims: s.dims });
    feeds[`adam.v.${s.name}`] = tensor({ data: new Float32Array(n), dims: s.dims });
  }
  feeds['adam.step'] = tensor({ data: BigInt64Array.of(0n), dims: [] });
  feeds['adam.lr'] = tensor({ data: Float32Array.of(1e-3), dims: [] });
  assert.equal(await differing(serialize(tg.graph, { params: 'inputs' }), feeds, 4), []);
});

test('no emitted gradient uses ScatterND with reduction (onnxruntime adds into it from several threads at once)', () => {
  const c: Hm4srConfig = {
    ...HM4SR_DEFAULTS,
    ...modelOverrides,
    numItems: 60,
    numCategories: 4,
    textDim: 8,
    imageDim: 4,
    intervalBuckets: 3000,
    calendarSize: 1,
  };
  const g = buildTrainStep(hm4srModel(c), { adam: ADAM_DEFAULTS, seed: 3 }).graph;
  // The graph as built states each Gather gradient as one (racy) ScatterND add; the lowering pass rewrites them.
  assert.ok(g.nodes.some((n) => n.op === 'ScatterND' && n.attrs.reduction !== undefined));
  const nodes = modelProto(g, { params: 'inputs' }).graph!.node!;
  const racy = nodes.filter((n) => n.opType === 'ScatterND' && n.attribute!.some((a) => a.name === 'reduction'));
  assert.equal(
    racy.map((n) => n.name),
    [],
  );
  assert.ok(
    nodes.some((n) => n.opType === 'ScatterND'),
    'the embedding gradients scatter their combined rows',
  );
});

const rc: RunConfig = mergeConfig(DEFAULT_CONFIG, {
  data: { dir: join(dir, 'data'), name: 'mid' },
  model: modelOverrides,
  optim: { epochs: 2, batchSize: 2048, patience: 10, threads: THREADS, seed: 11 },
  eval: { batchSize: 256 },
});
const quiet = { ep: 'cpu' as const, progress: false, log: () => {} };
/** Everything in log.jsonl but the wall-clock fields. */
const logValues = (out: string) =>
  readFileSync(runFiles(out).log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { trainSeconds: _t, samplesPerSecond: _s, evalSeconds: _e, ...rest } = JSON.parse(l) as EpochLog;
      return JSON.stringify(rest);
    });
/** metrics.json without its two timings. */
const metricsBytes = (out: string) => {
  const { wallSeconds: _w, testEvalSeconds: _t, ...rest } = JSON.parse(readFileSync(runFiles(out).metrics, 'utf8'));
  return JSON.stringify(rest);
};

test('two 2-epoch trainings at 2 threads log the same losses and metrics, and write the same metrics.json', async () => {
  await train(rc, { ...quiet, out: join(dir, 'a'), resume: false });
  await train(rc, { ...quiet, out: join(dir, 'b'), resume: false });
  const a = logValues(join(dir, 'a'));
  assert.is(a.length, 2);
  assert.equal(logValues(join(dir, 'b')), a);
  assert.is(metricsBytes(join(dir, 'b')), metricsBytes(join(dir, 'a')));
  for (const f of ['last', 'best', 'model'] as const)
    assert.ok(
      readFileSync(runFiles(join(dir, 'b'))[f]).equals(readFileSync(runFiles(join(dir, 'a'))[f])),
      `${f} differs`,
    );
});

test('at 2 threads, a run stopped after one epoch and resumed ends with the same bytes as an uninterrupted one', async () => {
  const part = join(dir, 'c');
  await train({ ...rc, optim: { ...rc.optim, epochs: 1 } }, { ...quiet, out: part, resume: false });
  await train(rc, { ...quiet, out: part, resume: true });
  assert.equal(logValues(part), logValues(join(dir, 'a')));
  assert.is(metricsBytes(part), metricsBytes(join(dir, 'a')));
  for (const f of ['last', 'best', 'model'] as const)
    assert.ok(readFileSync(runFiles(part)[f]).equals(readFileSync(runFiles(join(dir, 'a'))[f])), `${f} differs`);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
