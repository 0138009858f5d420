// model.catalogChunk in evaluation and serving: ranks and top-K over catalog chunks equal the whole-catalog
// graphs' exactly (ties included), every chunked model passes the checker, runs in onnxruntime (node and web)
// and has a CUDA kernel for every node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { serialize } from '../graph/emit.js';
import { saveModel } from '../graph/manifest.js';
import { DATA_PARAMS } from '../graph/models/hm4sr-blocks.js';
import { type Hm4srConfig, chunked } from '../graph/models/hm4sr-config.js';
import { SERVING_WHOLE_MAX, buildServingGraph, servingChunk } from '../graph/models/hm4sr-serve.js';
import { buildCatalogGraph, buildEvalGraph } from '../graph/models/hm4sr.js';
import { cudaCoverage, describeFailure } from '../runtime/cuda-coverage.js';
import { requireInputs } from '../runtime/model-bytes.js';
import { loadOrtWeb } from '../runtime/ort-web.js';
import { createSession, ort } from '../runtime/session.js';
import { intervalBucket } from '../train/batch.js';
import { COVERAGE_MODEL, cudaGraphFamilies } from '../train/cuda-graphs.js';
import { buildSamples } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';
import { checkModels } from './util/checker.js';
import { type Feed, compile } from './util/ort.js';
import { modelValues } from './util/params.js';
import { tempDir } from './util/tmp.js';
import { tinyDataset, tinyHm4sr } from './util/tiny-hm4sr.js';

const dir = tempDir('hm4sr-chunks-');
const ds = tinyDataset(dir);
const samples = buildSamples(ds, 5);
const N = ds.numItems;
const MU = 100;
const tiny: Hm4srConfig = tinyHm4sr(ds, { calendarSize: 400 });

/** Chunks that divide the catalog and chunks that do not, down to one item and up to N - 1. */
const CHUNKS = [1, 3, 4, 7, N - 1];

const values = modelValues;

/** Item j takes item src(j)'s row in every per-item table: equal scores, chunks apart. */
function withDuplicates(vals: Map<string, Float32Array>, src: (j: number) => number): Map<string, Float32Array> {
  const out = new Map(vals);
  for (const name of ['item.id.embedding', DATA_PARAMS.txt, DATA_PARAMS.img]) {
    const v = vals.get(name);
    if (!v) continue;
    const w = v.length / (N + 1),
      copy = v.slice();
    for (let j = 1; j <= N; j++) copy.set(v.subarray(src(j) * w, (src(j) + 1) * w), j * w);
    out.set(name, copy);
  }
  return out;
}

/** Items 10, 15 and 20 repeat items 3, 4 and 1: ties across chunk borders. */
const dupOf = (j: number) => (j > 5 && j % 5 === 0 ? 1 + (j % 4) : j);

const evalBatch = () =>
  packBatch(
    ds,
    samples.test,
    Array.from({ length: samples.test.size }, (_, i) => i),
    tiny,
    {
      layout: 'packed',
      mu: MU,
      maxBucket: tiny.intervalBuckets - 1,
      absTime: 'days',
      timeOrigin: ds.firstTimestamp,
      pclBeta: 0,
      withTarget: true,
    },
  );

async function ranks(c: Hm4srConfig, vals: Map<string, Float32Array>, feeds: Record<string, Feed>): Promise<number[]> {
  const run = await compile(buildEvalGraph(c), { params: 'initializers', values: vals });
  return Array.from((await run(feeds)).rank.data as BigInt64Array, Number);
}

test('chunked evaluation ranks equal the whole-catalog ranks, for chunks that do and do not divide the catalog', async () => {
  const b = evalBatch();
  for (const [what, vals] of [
    ['random weights', values(tiny)],
    ['duplicated items (ties)', withDuplicates(values(tiny), dupOf)],
  ] as const) {
    const whole = await ranks(tiny, vals, b.feeds);
    if (what.startsWith('dup'))
      assert.ok(
        whole.some((r, i) => r > 1 && whole.indexOf(r) !== i),
        'the duplicated items tie with targets',
      );
    for (const chunk of CHUNKS) {
      const c = { ...tiny, catalogChunk: chunk };
      assert.ok(chunked(c, N));
      assert.equal(await ranks(c, vals, b.feeds), whole, `${what}, chunk ${chunk}`);
    }
  }
});

test('the catalog-input evaluation graph (what the Evaluator runs) ranks the same chunked, ties included', async () => {
  const b = evalBatch();
  const vals = values(tiny);
  const cat = await (await compile(buildCatalogGraph(tiny), { params: 'initializers', values: vals }))({});
  // Many items share a row: ties in every chunk and across chunk borders.
  const items = cat.catalog_items.data as Float32Array,
    w = cat.catalog_items.dims[1];
  const tied = items.slice();
  for (let j = 0; j < N; j++) if (j % 3 === 2) tied.set(items.subarray((j % 4) * w, (j % 4) * w + w), j * w);
  const feeds: Record<string, Feed> = {
    ...b.feeds,
    catalog: { data: cat.catalog.data as Float32Array, dims: [...cat.catalog.dims] },
    catalog_items: { data: tied, dims: [N, w] },
  };
  const run = async (c: Hm4srConfig) =>
    Array.from(
      (
        await (
          await compile(buildEvalGraph(c, 'hm4sr', { catalogInput: true }), { params: 'initializers', values: vals })
        )(feeds)
      ).rank.data as BigInt64Array,
      Number,
    );
  const whole = await run(tiny);
  for (const chunk of CHUNKS) assert.equal(await run({ ...tiny, catalogChunk: chunk }), whole, `chunk ${chunk}`);
});

/** Every user's full history, one that holds half the catalog, and a single item. */
function signature() {
  const hs: { items: number[]; times: number[] }[] = [];
  for (let u = 0; u < ds.numUsers; u++) {
    const a = ds.offsets[u],
      b = ds.offsets[u + 1];
    hs.push({ items: Array.from(ds.items.subarray(a, b)), times: Array.from(ds.timestamps.subarray(a, b)) });
  }
  const half = Array.from({ length: Math.floor(N / 2) }, (_, i) => 2 * i + 1);
  hs.push({ items: half, times: half.map((_, i) => 1_600_000_000 + i * 3600) });
  hs.push({ items: [N], times: [1_600_000_000] });
  const S = Math.max(...hs.map((h) => h.items.length));
  const items = new BigInt64Array(hs.length * S),
    times = new BigInt64Array(hs.length * S);
  hs.forEach((h, n) =>
    h.items.forEach((it, j) => {
      items[n * S + j] = BigInt(it);
      times[n * S + j] = BigInt(h.times[j]);
    }),
  );
  return { items, times, dims: [hs.length, S] };
}

/** Writes the serving model of c (top k) and returns its path and a runner. */
async function serving(c: Hm4srConfig, vals: Map<string, Float32Array>, k: number, label: string) {
  const enc = { mu: MU, maxBucket: c.intervalBuckets - 1, absTime: 'days' as const, timeOrigin: ds.firstTimestamp };
  // The chunk given explicitly: by itself serving scores catalogs this small whole (servingChunk).
  const sg = buildServingGraph(c, enc, k, (s) => intervalBucket(s, MU), 'hm4sr', c.catalogChunk);
  const path = join(dir, `serve-${label}-k${k}-chunk${c.catalogChunk}.onnx`);
  saveModel(sg.graph, path, 'inference', {
    params: 'initializers',
    values: new Map([...sg.graph.params.keys()].map((p) => [p, vals.get(p)!])),
    inputDefaults: sg.defaults,
  });
  const session = await createSession(requireInputs(path, ['exclude_seen']), { threads: 1 });
  const run = async (exclude: boolean) => {
    const s = signature();
    const out = await session.run({
      item_ids: new ort.Tensor('int64', s.items, s.dims),
      timestamps: new ort.Tensor('int64', s.times, s.dims),
      exclude_seen: new ort.Tensor('bool', [exclude], [1, 1]),
    });
    return Object.fromEntries(
      Object.entries(out).map(([name, t]) => [name, Array.from(t.data as ArrayLike<number | bigint>, Number)]),
    );
  };
  return { path, run };
}

const servingCases: [string, Hm4srConfig, (v: Map<string, Float32Array>) => Map<string, Float32Array>][] = [
  ['default', tiny, (v) => v],
  ['duplicated items', tiny, (v) => withDuplicates(v, dupOf)],
  // A bias-only modality adds a row constant to every chunk's scores.
  ['featureless image', { ...tiny, zeroFeatures: ['img'] }, (v) => v],
];

const chunkedModels: string[] = [];

for (const [label, base, prepare] of servingCases) {
  test(`chunked serving top-K equals the whole catalog's, values, indices and ties: ${label}`, async () => {
    const vals = prepare(values(base));
    for (const k of [5, N]) {
      const whole = await serving(base, vals, k, label);
      const want = { on: await whole.run(true), off: await whole.run(false) };
      if (k === N) {
        // Excluding half the catalog leaves -inf scores in the top N: ties between the padding and seen items.
        const scores = want.on.top_scores;
        assert.ok(scores.filter((x) => x === -Infinity).length > 1);
      }
      for (const chunk of CHUNKS) {
        const c = { ...base, catalogChunk: chunk };
        const sv = await serving(c, vals, k, label);
        chunkedModels.push(sv.path);
        assert.equal(await sv.run(true), want.on, `chunk ${chunk}, k ${k}, exclude_seen`);
        assert.equal(await sv.run(false), want.off, `chunk ${chunk}, k ${k}`);
      }
    }
  });
}

test('a catalog chunk of at least the catalog leaves the graphs as they were', () => {
  const enc = { mu: MU, maxBucket: tiny.intervalBuckets - 1, absTime: 'days' as const, timeOrigin: 0 };
  const bytes = (c: Hm4srConfig) => [
    serialize(buildEvalGraph(c), { params: 'inputs' }),
    serialize(buildEvalGraph(c, 'hm4sr', { catalogInput: true }), { params: 'inputs' }),
    serialize(buildServingGraph(c, enc, 5, (s) => intervalBucket(s, MU), 'hm4sr', c.catalogChunk).graph, {
      params: 'inputs',
    }),
  ];
  const whole = bytes(tiny);
  for (const chunk of [N, N + 1, 1000]) assert.equal(bytes({ ...tiny, catalogChunk: chunk }), whole, `chunk ${chunk}`);
  assert.not.equal(bytes({ ...tiny, catalogChunk: N - 1 }), whole);
});

test("serving chooses its own chunk: the whole catalog up to 262,144 items, whatever the run's catalogChunk", () => {
  assert.equal([servingChunk(N), servingChunk(SERVING_WHOLE_MAX), servingChunk(SERVING_WHOLE_MAX + 1)], [0, 0, 262144]);
  const enc = { mu: MU, maxBucket: tiny.intervalBuckets - 1, absTime: 'days' as const, timeOrigin: 0 };
  const served = (c: Hm4srConfig) =>
    serialize(buildServingGraph(c, enc, 5, (s) => intervalBucket(s, MU)).graph, { params: 'inputs' });
  assert.equal(served({ ...tiny, catalogChunk: 3 }), served(tiny));
});

test('chunked evaluation and serving models pass the checker', () => {
  assert.ok(chunkedModels.length > 0);
  const evals = CHUNKS.flatMap((chunk) => {
    const c = { ...tiny, catalogChunk: chunk };
    return [false, true].map((catalogInput) => {
      const path = join(dir, `eval-chunk${chunk}-${catalogInput}.onnx`);
      saveModel(buildEvalGraph(c, 'hm4sr', { catalogInput }), path, 'eval', { params: 'inputs' });
      return path;
    });
  });
  checkModels([...evals, ...chunkedModels]);
});

test('onnxruntime-web (WASM) runs a chunked serving model to the same top-K', async () => {
  const vals = withDuplicates(values(tiny), dupOf);
  const sv = await serving({ ...tiny, catalogChunk: 3 }, vals, 8, 'web');
  const node = await sv.run(true);
  const web = loadOrtWeb();
  const session = await web.InferenceSession.create(requireInputs(readFileSync(sv.path), ['exclude_seen']));
  const s = signature();
  const out = await session.run({
    item_ids: new web.Tensor('int64', s.items, s.dims),
    timestamps: new web.Tensor('int64', s.times, s.dims),
    exclude_seen: new web.Tensor('bool', [true], [1, 1]),
  });
  assert.equal(Array.from(out.top_items.data as BigInt64Array, Number), node.top_items);
  const a = out.top_scores.data as Float32Array;
  node.top_scores.forEach((x, i) => assert.ok(Math.abs(a[i] - x) <= 1e-5 * (1 + Math.abs(x)), `score ${i}`));
  await session.release();
});

test('chunked graphs have a CUDA kernel for every node, Loop bodies included', () => {
  for (const chunk of [1, 7]) {
    const c = { ...COVERAGE_MODEL, catalogChunk: chunk };
    for (const f of cudaGraphFamilies(c).filter((x) => x.name === 'eval' || x.name === 'serving')) {
      const cov = cudaCoverage(f.name, f.bytes);
      assert.ok(cov.nodes > 0);
      assert.equal(cov.failing.map(describeFailure), [], `${f.name}, chunk ${chunk}`);
    }
  }
});

test.run();
