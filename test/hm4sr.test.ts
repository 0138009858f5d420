import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { Graph } from '../graph/graph.js';
import { saveModel } from '../graph/manifest.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildEvalGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { scoresGraph } from './util/scores-graph.js';
import { declareBatch } from '../graph/model.js';
import { buildTrainStep } from '../graph/train-step.js';
import { Rng as HostRng } from '../train/data/shuffle.js';
import { buildSamples } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';
import type { BatchOptions } from '../train/batch.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { checkModels } from './util/checker.js';
import { centralDiff, rng } from './util/gradcheck.js';
import { type Feed, compile } from './util/ort.js';
import { tinyDataset, tinyHm4sr } from './util/tiny-hm4sr.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-model-'));
const ds = tinyDataset(dir);
const samples = buildSamples(ds, 5);

const tiny: Hm4srConfig = tinyHm4sr(ds);

const packOpts = (layout: 'packed' | 'padded'): BatchOptions => ({
  layout,
  mu: 100,
  maxBucket: 1999,
  absTime: 'days',
  timeOrigin: ds.firstTimestamp,
  pclBeta: 0.3,
  rng: new HostRng(9),
  withTarget: true,
});

/** Random values for every parameter, frozen feature tables and category labels included. */
function values(c: Hm4srConfig) {
  const r = rng(11);
  const g = new Graph('probe');
  hm4srModel(c).loss(g, declareBatch(g, hm4srModel(c).batch));
  return new Map(
    [...g.params.values()].map(({ spec }) => {
      const n = spec.dims.reduce((a, b) => a * b, 1);
      const isLabel = spec.name === 'data.item_categories';
      return [spec.name, Float32Array.from({ length: n }, () => (isLabel ? (r() < 0.3 ? 1 : 0) : (r() * 2 - 1) * 0.5))];
    }),
  );
}

const idx = Array.from({ length: 8 }, (_, i) => (i * 3) % samples.train.size);

test('packed and padded layouts give the same losses', async () => {
  const vals = values(tiny);
  const losses: number[][] = [];
  for (const layout of ['packed', 'padded'] as const) {
    const b = packBatch(ds, samples.train, idx, tiny, packOpts(layout));
    if (layout === 'packed') assert.ok(b.rows < idx.length, `packing used ${b.rows} rows for ${idx.length} samples`);
    const tg = buildTrainStep(hm4srModel(tiny), { adam: ADAM_DEFAULTS, seed: 1 });
    const runner = await StepRunner.create(tg, freshState(tg.params, new Map(vals)), { threads: 1 });
    const out = await runner.run(b.feeds, 1e-3);
    losses.push(tg.losses.map((n) => out[n][0]));
  }
  assert.equal(losses[0].length, 5);
  losses[0].forEach((l, i) =>
    assert.ok(Math.abs(l - losses[1][i]) < 1e-4, `loss ${i}: packed ${l} vs padded ${losses[1][i]}`),
  );
});

test('every parameter gradient of the training step matches finite differences of the loss', async () => {
  const c = { ...tiny, tau: 1 };
  const vals = values(c);
  const b = packBatch(ds, samples.train, idx, c, packOpts('packed'));
  // Days since the origin reach ~10^3: scale them so a finite-difference step in time.weight stays small in radians.
  b.feeds.times = { data: (b.feeds.times.data as Float32Array).map((t) => t / 1000), dims: b.feeds.times.dims };
  // The step's first Adam moment from m = 0 is (1 - beta1) * gradient: read the gradient off it.
  const tg = buildTrainStep(hm4srModel(c), { adam: ADAM_DEFAULTS, seed: 1 });
  const runner = await StepRunner.create(tg, freshState(tg.params, new Map(vals)), { threads: 1 });
  await runner.run(b.feeds, 1e-3);
  const lossGraph = new Graph('loss');
  const { loss } = hm4srModel(c).loss(lossGraph, declareBatch(lossGraph, hm4srModel(c).batch));
  lossGraph.output(loss, 'loss');
  const run = await compile(lossGraph);
  const feeds: Record<string, Feed> = { ...b.feeds };
  for (const [k, v] of vals) feeds[k] = { data: v, dims: tg.params.find((p) => p.name === k)!.dims };
  const lossAt = async () => Number((await run(feeds)).loss.data[0]);
  const r = rng(5);
  const eps = 1e-2;
  let checked = 0;
  for (const spec of tg.params.filter((p) => p.trainable)) {
    const ana = runner.state.m.get(spec.name)!.map((x) => x / 0.1);
    const data = vals.get(spec.name)!;
    const picks = new Set([0, data.length - 1, Math.floor(r() * data.length), Math.floor(r() * data.length)]);
    // Gather-fed tables are sparse: also check rows the batch touches (the largest gradients).
    let best = 0;
    for (let i = 0; i < ana.length; i++) if (Math.abs(ana[i]) > Math.abs(ana[best])) best = i;
    picks.add(best);
    for (const k of picks) {
      const num = await centralDiff(data, k, eps, lossAt);
      assert.ok(
        Math.abs(num - ana[k]) <= 2e-3 + 3e-2 * Math.abs(num),
        `${spec.name}[${k}]: step-graph gradient ${ana[k]} vs finite difference ${num}`,
      );
      checked++;
    }
  }
  assert.ok(checked > 100, `checked ${checked}`);
});

test('evaluation ranks match host-side ranking of the inference scores; graphs pass the checker', async () => {
  const vals = values(tiny);
  const b = packBatch(
    ds,
    samples.test,
    Array.from({ length: samples.test.size }, (_, i) => i),
    tiny,
    { ...packOpts('packed'), rng: undefined },
  );
  const ev = buildEvalGraph(tiny),
    inf = scoresGraph(tiny, 5);
  const evRun = await compile(ev, { params: 'initializers', values: vals });
  const infRun = await compile(inf, { params: 'initializers', values: vals });
  const ranks = (await evRun(b.feeds)).rank.data as BigInt64Array;
  const { target, ...rest } = b.feeds;
  const out = await infRun(rest);
  const scores = out.scores.data as Float32Array,
    n = tiny.numItems + 1;
  const targets = target.data as BigInt64Array;
  for (let i = 0; i < b.size; i++) {
    const row = scores.subarray(i * n, (i + 1) * n),
      t = Number(targets[i]);
    // Items 1..N scoring >= the target, the target included.
    const host = row.reduce((a, x, j) => a + (j > 0 && x >= row[t] ? 1 : 0), 0);
    assert.is(Number(ranks[i]), host, `user ${i}`);
    const top = Number((out.top_items.data as BigInt64Array)[i * 5]);
    assert.ok(top > 0);
  }
  const tg = buildTrainStep(hm4srModel(tiny), { adam: ADAM_DEFAULTS, seed: 1 });
  saveModel(tg.graph, join(dir, 'train.onnx'), 'train-step', { params: 'inputs' });
  saveModel(ev, join(dir, 'eval.onnx'), 'eval', { params: 'inputs' });
  saveModel(inf, join(dir, 'inference.onnx'), 'inference', { params: 'initializers', values: vals });
  checkModels([join(dir, 'train.onnx'), join(dir, 'eval.onnx'), join(dir, 'inference.onnx')]);
});

test('every time-embedding variant, the reference flags and SASRec build, train a step and pass the checker', async () => {
  const variants: [string, Partial<Hm4srConfig>][] = [
    ['interval', { timeEmbedding: 'interval' }],
    ['absolute', { timeEmbedding: 'absolute' }],
    ['day-index', { timeEmbedding: 'day-index', calendarSize: 900 }],
    ['day-of-year', { timeEmbedding: 'day-of-year', calendarSize: 366 }],
    ['interval-cos', { timeEmbedding: 'interval-cos' }],
    ['reference', { frozenTemporalExperts: true, falseNegatives: 'zero', includePadInSoftmax: true }],
    ['sasrec', { modalities: ['id'], imoe: false, tmoe: false, lambdaCP: 0, lambdaIDCL: 0, lambdaPCL: 0 }],
  ];
  const files: string[] = [];
  for (const [name, over] of variants) {
    const c = { ...tiny, ...over };
    const b = packBatch(ds, samples.train, idx, c, packOpts('packed'));
    const tg = buildTrainStep(hm4srModel(c), { adam: ADAM_DEFAULTS, seed: 1 });
    const state = freshState(tg.params, values(c));
    const runner = await StepRunner.create(tg, state, { threads: 1 });
    const before = new Map([...state.params].map(([k, v]) => [k, v.slice()]));
    const out = await runner.run(b.feeds, 1e-2);
    assert.ok(Number.isFinite(out.loss[0]), name);
    for (const p of tg.params) {
      const moved = state.params.get(p.name)!.some((x, i) => x !== before.get(p.name)![i]);
      if (!p.trainable) assert.not.ok(moved, `${name}: frozen ${p.name} moved`);
    }
    if (name === 'reference') assert.ok(tg.params.some((p) => p.name === 'tmoe.experts' && !p.trainable));
    const f = join(dir, `variant-${name}.onnx`);
    saveModel(tg.graph, f, 'train-step', { params: 'inputs' });
    files.push(f);
  }
  checkModels(files);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
