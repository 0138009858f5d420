// model.catalogChunk in evaluation: ranks over catalog chunks equal the whole-catalog graph's exactly (ties
// included), every chunked model passes the checker, runs in onnxruntime and has a CUDA kernel for every node.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import { saveModel } from '../graph/manifest.js';
import { declareBatch } from '../graph/model.js';
import { DATA_PARAMS } from '../graph/models/hm4sr-blocks.js';
import { type Hm4srConfig, chunked } from '../graph/models/hm4sr-config.js';
import { buildCatalogGraph, buildEvalGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { cudaCoverage, describeFailure } from '../runtime/cuda-coverage.js';
import { COVERAGE_MODEL, cudaGraphFamilies } from '../train/cuda-graphs.js';
import { buildSamples } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';
import { checkModels } from './util/checker.js';
import { rng } from './util/gradcheck.js';
import { type Feed, compile } from './util/ort.js';
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

/** Random values for every parameter (feature tables included). */
function values(c: Hm4srConfig, seed = 11): Map<string, Float32Array> {
  const r = rng(seed);
  const g = new Graph('probe');
  hm4srModel(c).loss(g, declareBatch(g, hm4srModel(c).batch));
  return new Map(
    [...g.params.values()].map(({ spec }) => {
      const n = spec.dims.reduce((a, b) => a * b, 1);
      return [spec.name, Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.5)];
    }),
  );
}

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

test('a catalog chunk of at least the catalog leaves the graphs as they were', () => {
  const bytes = (c: Hm4srConfig) => [
    serialize(buildEvalGraph(c), { params: 'inputs' }),
    serialize(buildEvalGraph(c, 'hm4sr', { catalogInput: true }), { params: 'inputs' }),
  ];
  const whole = bytes(tiny);
  for (const chunk of [N, N + 1, 1000]) assert.equal(bytes({ ...tiny, catalogChunk: chunk }), whole, `chunk ${chunk}`);
  assert.not.equal(bytes({ ...tiny, catalogChunk: N - 1 }), whole);
});

test('chunked evaluation models pass the checker', () => {
  const evals = CHUNKS.flatMap((chunk) => {
    const c = { ...tiny, catalogChunk: chunk };
    return [false, true].map((catalogInput) => {
      const path = join(dir, `eval-chunk${chunk}-${catalogInput}.onnx`);
      saveModel(buildEvalGraph(c, 'hm4sr', { catalogInput }), path, 'eval', { params: 'inputs' });
      return path;
    });
  });
  checkModels(evals);
});

test('chunked graphs have a CUDA kernel for every node, Loop bodies included', () => {
  for (const chunk of [1, 7]) {
    const c = { ...COVERAGE_MODEL, catalogChunk: chunk };
    for (const f of cudaGraphFamilies(c).filter((x) => x.name === 'eval')) {
      const cov = cudaCoverage(f.name, f.bytes);
      assert.ok(cov.nodes > 0);
      assert.equal(cov.failing.map(describeFailure), [], `${f.name}, chunk ${chunk}`);
    }
  }
});

test.run();
