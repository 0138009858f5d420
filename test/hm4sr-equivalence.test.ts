// The production HM4SR (graph/models/hm4sr.ts: packed rows, last-layer read positions, per-distinct CP,
// head-by-head attention, fused Q/K/V, the featureless-modality shortcut) against the reference
// (graph/models/hm4sr-reference.ts: the paper read top to bottom on padded rows, plain ops): the same
// parameters, every loss term and every gradient, in the configurations that are run, on a batch whose targets
// collide (so the contrastive terms' false-negative rule is exercised); with dropout on under fixed draws; the
// production K-step Loop against K single steps; evaluation ranks and scores; and each false-negative rule of
// both InfoNCE forms against a host computation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { Graph } from '../graph/graph.js';
import { saveModel } from '../graph/manifest.js';
import type { LossModel } from '../graph/model.js';
import { FALSE_NEGATIVE_RULES, type Hm4srConfig, SASREC_OVERRIDES } from '../graph/models/hm4sr-config.js';
import { buildEvalGraph, contrastiveLoss, hm4srModel } from '../graph/models/hm4sr.js';
import {
  buildReferenceEvalGraph,
  hm4srReferenceModel,
  infoNCE,
  referenceBatchSpec,
} from '../graph/models/hm4sr-reference.js';
import type { Rng } from '../graph/rng.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import type { HostTensor } from '../runtime/session.js';
import type { TensorSpec } from '../graph/types.js';
import type { BatchOptions } from '../train/batch.js';
import { DEFAULT_CONFIG } from '../train/config.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { buildSamples } from '../train/data/samples.js';
import { Rng as HostRng } from '../train/data/shuffle.js';
import { generateSynthetic } from '../train/data/synth.js';
import { Evaluator } from '../train/evaluate.js';
import { packBatch, stackBatches } from '../train/pack.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';
import { checkModels } from './util/checker.js';
import { scoresGraph } from './util/scores-graph.js';
import { tinyHm4sr } from './util/tiny-hm4sr.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-equivalence-'));
generateSynthetic({
  dir,
  name: 'tiny',
  users: 16,
  items: 24,
  categories: 4,
  textDim: 6,
  minLen: 5,
  maxLen: 12,
  seed: 5,
});
const ds = loadAtomicDataset(dir, 'tiny', { kCore: 0 });
const samples = buildSamples(ds, 8);

// Two layers, so the picked last layer reads keys and values from a full first layer; dropout off unless a
// test turns it on.
const base: Hm4srConfig = tinyHm4sr(ds, { maxLen: 8, layers: 2 });
const configs: [string, Hm4srConfig][] = [
  ['ids + text + image', base],
  ['ids + text', { ...base, modalities: ['id', 'txt'] }],
  ['ids only with the temporal MoE', { ...base, modalities: ['id'] }],
  ['SASRec (the sasrec preset)', { ...base, ...SASREC_OVERRIDES }],
  [
    "images without features, item 0 in the softmax, the authors' false-negative rule",
    { ...base, zeroFeatures: ['img'], includePadInSoftmax: true, falseNegatives: 'zero' },
  ],
  // The main loss chunk by chunk (graph/lower/catalog-lse.ts): chunks of 7 of the 24 items (the last one short),
  // and of 5 with item 0 in the softmax (25 rows).
  ['ids + text, the catalog in chunks of 7 items', { ...base, modalities: ['id', 'txt'], catalogChunk: 7 }],
  ['ids + text + image, item 0 in the softmax, chunks of 5', { ...base, includePadInSoftmax: true, catalogChunk: 5 }],
  [
    "no features, frozen temporal experts, the paper's false-negative rule, one layer",
    { ...base, zeroFeatures: ['txt', 'img'], frozenTemporalExperts: true, falseNegatives: 'none', layers: 1 },
  ],
];
const withDropout = (c: Hm4srConfig): Hm4srConfig => ({ ...c, hiddenDropout: 0.5, attnDropout: 0.5, embDropout: 0.5 });

const targetOf = (s: number) => ds.items[samples.train.pos[s]];
/** 12 training samples, two of which share their target. */
function collidingBatch(offset: number): number[] {
  const spread = Array.from({ length: 10 }, (_, i) => (offset + i * 5) % samples.train.size);
  for (let a = 0; a < samples.train.size; a++) {
    for (let b = a + 1; b < samples.train.size; b++) {
      if (targetOf(a) === targetOf(b) && !spread.includes(a) && !spread.includes(b)) return [...spread, a, b];
    }
  }
  throw new Error('no two training samples share a target');
}
const idx = collidingBatch(0);
const packOpts: Omit<BatchOptions, 'layout'> = {
  mu: 100,
  maxBucket: 1999,
  absTime: 'days',
  timeOrigin: ds.firstTimestamp,
  pclBeta: 0.3,
  withTarget: true,
};
/** A packed batch (two read positions per query row: some rows take extra query rows) or a padded one. */
const batch = (c: Hm4srConfig, layout: 'packed' | 'padded', indices = idx) =>
  packBatch(ds, samples.train, indices, c, { ...packOpts, layout, rng: new HostRng(9), queriesPerRow: 2 });
/** The inputs a graph declares, out of a batch's feeds (the reference reads a padded batch's subset). */
const feedsOf = (specs: TensorSpec[], feeds: Record<string, HostTensor>) =>
  Object.fromEntries(specs.map((s) => [s.name, feeds[s.name]]));

/**
 * Every draw the same number: halfKeepMask then gives each entry the coin of its column (mod 16), whatever the
 * tensor's leading dims, so two graphs that draw for differently shaped tensors (the production's picked rows,
 * its heads one by one) still drop the same entries. Digits 1..16 of U: 1011 0010 1110 0101.
 */
const U = 0xb2e5 / 65536;
const fixedDraws = { fillUniform24: (out: Float32Array) => out.fill(U) } as unknown as Rng;

function values(c: Hm4srConfig): Map<string, Float32Array> {
  const r = rng(17);
  return new Map(
    probeParams(hm4srModel(c)).map((spec) => {
      const n = spec.dims.reduce((a, b) => a * b, 1);
      const isLabel = spec.name === 'data.item_categories';
      return [spec.name, Float32Array.from({ length: n }, () => (isLabel ? (r() < 0.3 ? 1 : 0) : (r() * 2 - 1) * 0.5))];
    }),
  );
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string, abs = 1e-5, rel = 1e-4): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= abs + rel * Math.abs(b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/**
 * One training step from `vals`: each loss output and each gradient (Adam's first moment after one step is
 * 0.1 g). `lower: false` emits onnxruntime's own LayerNormalization and Softplus kernels, so the expansions the
 * emitter writes instead are held to them too.
 */
type Feeds = Record<string, HostTensor>;
async function step(model: LossModel, vals: Map<string, Float32Array>, feeds: Feeds, lower = true) {
  const tg = buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true });
  const state = freshState(tg.params, new Map([...vals].map(([k, v]) => [k, v.slice()])));
  const runner = await StepRunner.create(tg, state, { threads: 1, lower });
  const out = await runner.run(runner.withDraws(feedsOf(model.batch, feeds), fixedDraws), 1e-2);
  const params = tg.params.map((p) => `${p.name}:${p.dims}:${p.trainable}`).sort();
  return { params, losses: new Map(tg.losses.map((n) => [n, out[n][0]])), grads: state.m, draws: tg.draws!.length };
}

/** Reference vs production on every loss output and every trainable parameter's gradient. */
async function compareStep(c: Hm4srConfig, prodFeeds: Feeds, refFeeds: Feeds) {
  const vals = values(c);
  const prod = await step(hm4srModel(c), vals, prodFeeds);
  const ref = await step(hm4srReferenceModel(c), vals, refFeeds, false);
  assert.equal(ref.params, prod.params, 'the same parameters');
  assert.equal([...ref.losses.keys()], [...prod.losses.keys()], 'the same loss terms');
  for (const [n, v] of prod.losses) close([v], [ref.losses.get(n)!], `loss ${n}`);
  for (const [n, g] of prod.grads) close(g, ref.grads.get(n)!, `gradient of ${n}`, 1e-6, 1e-3);
  assert.ok(prod.grads.size > 10, `compared ${prod.grads.size} gradients`);
  return { prod, ref };
}

for (const [name, c] of configs) {
  test(`reference vs production, every loss term and gradient, packed rows: ${name}`, async () => {
    const packed = batch(c, 'packed'),
      padded = batch(c, 'padded');
    const t = packed.feeds.target.data as BigInt64Array;
    assert.ok(
      t.some((x, i) => t.indexOf(x) !== i),
      'two samples of the batch share a target',
    );
    assert.ok(packed.rows < packed.size, 'the batch packs several histories in a row');
    assert.ok(packed.feeds.pick_more.dims[0] > 0, 'some packed rows take extra query rows');
    const pcl = packed.feeds.pcl_mask?.data as Float32Array | undefined;
    if (pcl)
      assert.ok(
        pcl.some((x) => x === 1),
        'PCL replaces some positions',
      );
    const { prod } = await compareStep(c, packed.feeds, padded.feeds);
    const on = { cp: c.lambdaCP > 0, idcl: c.lambdaIDCL > 0, pcl: pcl !== undefined };
    const terms = [
      'main',
      ...Object.entries(on)
        .filter(([, v]) => v)
        .map(([k]) => k),
    ];
    assert.equal([...prod.losses.keys()], ['loss', ...terms.map((t) => `loss.${t}`)]);
  });
}

test('the reference training step and evaluation graph pass onnx.checker (full check)', () => {
  const c = withDropout(base);
  const files = [join(dir, 'reference-train.onnx'), join(dir, 'reference-eval.onnx')];
  const tg = buildTrainStep(hm4srReferenceModel(c), { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true });
  saveModel(tg.graph, files[0], 'train-step', { params: 'inputs' });
  saveModel(buildReferenceEvalGraph(c), files[1], 'eval', { params: 'inputs' });
  checkModels(files);
});

test('reference vs production with dropout on, from fixed draws (padded rows, so the columns agree)', async () => {
  for (const [name, c0] of [configs[0], configs[3]]) {
    const c = withDropout(c0);
    const padded = batch(c, 'padded');
    const { prod, ref } = await compareStep(c, padded.feeds, padded.feeds);
    assert.ok(prod.draws > 0 && ref.draws > 0, `${name}: both graphs draw`);
    const off = await step(hm4srModel(c0), values(c0), padded.feeds);
    assert.ok(Math.abs(off.losses.get('loss')! - prod.losses.get('loss')!) > 1e-3, `${name}: dropout changes the loss`);
  }
});

for (const [label, c0] of [
  ['', base],
  [', the catalog in chunks of 7 (a Loop in the Loop)', { ...base, catalogChunk: 7 }],
] as const)
  test(`the production K-step Loop equals K single steps (dropout on, fixed draws)${label}`, async () => {
    const c = withDropout(c0),
      K = 2;
    const model = hm4srModel(c),
      vals = values(c);
    const batches = [batch(c, 'packed'), batch(c, 'packed', collidingBatch(3))];
    const sameShape = batches[0].width === batches[1].width && batches[0].rows === batches[1].rows;
    assert.not.ok(sameShape, 'the stacked batches are padded to a common shape');
    const run = async (loop: boolean) => {
      const tg = (loop ? buildTrainLoop : buildTrainStep)(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true });
      const state = freshState(tg.params, new Map([...vals].map(([k, v]) => [k, v.slice()])));
      const runner = await StepRunner.create(tg, state, { threads: 1 });
      const all = loop ? [stackBatches(batches)] : batches;
      const losses: number[] = [];
      for (const b of all) losses.push(...(await runner.run(runner.withDraws(b.feeds, fixedDraws), 1e-2)).loss);
      return { state, losses };
    };
    const single = await run(false),
      looped = await run(true);
    assert.is(looped.losses.length, K);
    close(looped.losses, single.losses, 'loss per step', 1e-6, 1e-5);
    assert.is(looped.state.step, K);
    for (const [n, m] of single.state.m) {
      close(looped.state.m.get(n)!, m, `adam.m.${n} after ${K} steps`, 1e-6, 1e-3);
      // Adam divides m by sqrt(v), which magnifies rounding where a gradient is near zero (the attention keys'
      // bias, which softmax cancels): the parameters are held where the gradient stands above rounding noise.
      const real = Array.from(m, (_x, i) => i).filter((i) => Math.abs(m[i]) > 1e-6);
      const p = single.state.params.get(n)!,
        lp = looped.state.params.get(n)!;
      close(
        real.map((i) => lp[i]),
        real.map((i) => p[i]),
        `${n} after ${K} steps`,
        1e-5,
        0,
      );
    }
  });

test('evaluation ranks and scores: reference vs production (eval graph, Evaluator, scores)', async () => {
  for (const [name, c] of configs) {
    const vals = values(c);
    const all = Array.from({ length: samples.test.size }, (_, i) => i);
    const packed = packBatch(ds, samples.test, all, c, { ...packOpts, layout: 'packed', queriesPerRow: 3 });
    const padded = packBatch(ds, samples.test, all, c, { ...packOpts, layout: 'padded' });
    const run = async (g: Graph, feeds: Feeds) => (await compile(g, { params: 'initializers', values: vals }))(feeds);
    const ref = await run(buildReferenceEvalGraph(c), feedsOf(referenceBatchSpec(c, 'eval'), padded.feeds));
    const refRank = [...(ref.rank.data as BigInt64Array)];
    const rank = (await run(buildEvalGraph(c), packed.feeds)).rank.data as BigInt64Array;
    assert.equal([...rank], refRank, `${name}: ranks`);
    const { target: _t, pick_more: _m, pick_col: _c, pick_slot: _s, ...infer } = packed.feeds;
    const s = (await run(scoresGraph(c, 5), infer)).scores.data as Float32Array;
    close(s, ref.scores.data as Float32Array, `${name}: scores`);
    if (c !== base) continue;
    // The Evaluator: the catalog computed once in its own session, fed to every batch (of 7 users).
    const evaluator = await Evaluator.create(c, { ...DEFAULT_CONFIG.eval, batchSize: 7 }, { threads: 1 });
    const { withTarget: _w, ...pack } = packOpts;
    const viaEvaluator = await evaluator.evaluate(ds, samples.test, vals, { ...pack, layout: 'packed' });
    assert.equal([...viaEvaluator.ranks], refRank.map(Number), `${name}: Evaluator ranks`);
  }
});

/** InfoNCE on the host: row i's positive is column i; a same-target j != i is kept ('none'), 0 ('zero') or left out. */
function hostInfoNCE(q: Float32Array, k: Float32Array, target: number[], d: number, tau: number, rule: string): number {
  const B = target.length;
  const unit = (x: Float32Array, i: number) => {
    const v = x.subarray(i * d, (i + 1) * d);
    const n = Math.sqrt(v.reduce((a, y) => a + y * y, 0) + 1e-12);
    return Array.from(v, (y) => y / n);
  };
  let total = 0;
  for (let i = 0; i < B; i++) {
    const qi = unit(q, i);
    const logits: number[] = [];
    for (let j = 0; j < B; j++) {
      const l = unit(k, j).reduce((a, y, t) => a + y * qi[t], 0) / tau;
      if (j === i || target[j] !== target[i] || rule === 'none') logits.push(l);
      else if (rule === 'zero') logits.push(0);
    }
    const own = unit(k, i).reduce((a, y, t) => a + y * qi[t], 0) / tau;
    total += Math.log(logits.reduce((a, l) => a + Math.exp(l), 0)) - own;
  }
  return total / B;
}

test('each false-negative rule of both InfoNCE forms matches the host on a batch with same-target rows', async () => {
  const B = 6,
    d = 5,
    target = [3, 1, 3, 2, 1, 3];
  const r = rng(4);
  const q = Float32Array.from({ length: B * d }, () => r() * 2 - 1);
  const k = Float32Array.from({ length: B * d }, () => r() * 2 - 1);
  for (const tau of [0.2, 1]) {
    const host = FALSE_NEGATIVE_RULES.map((rule) => hostInfoNCE(q, k, target, d, tau, rule));
    assert.is(new Set(host.map((x) => x.toFixed(4))).size, 3, `tau ${tau}: the three rules differ here (${host})`);
    const g = new Graph('infonce');
    const qv = g.input('q', 'float32', [B, d]),
      kv = g.input('k', 'float32', [B, d]);
    const tv = g.input('target', 'int64', [B]);
    for (const rule of FALSE_NEGATIVE_RULES) {
      const c = { ...base, falseNegatives: rule };
      g.output(contrastiveLoss(c, qv, kv, tv, tau), `production_${rule}`);
      g.output(infoNCE(c, qv, kv, tv, tau), `reference_${rule}`);
    }
    const tt = { data: BigInt64Array.from(target, BigInt), dims: [B] };
    const out = await (await compile(g))({ q: { data: q, dims: [B, d] }, k: { data: k, dims: [B, d] }, target: tt });
    FALSE_NEGATIVE_RULES.forEach((rule, i) => {
      for (const form of ['production', 'reference']) {
        close(out[`${form}_${rule}`].data as Float32Array, [host[i]], `tau ${tau}, ${form}, ${rule}`, 1e-5, 1e-5);
      }
    });
  }
});

test('an unknown false-negative rule is refused by name, and the old "reference" points to "zero"', () => {
  const c = { ...base, falseNegatives: 'reference' } as unknown as Hm4srConfig;
  const renamed = /falseNegatives must be one of "exclude", "zero", "none", got "reference" \("reference" is now/;
  assert.throws(() => probeParams(hm4srModel(c)), renamed);
  const unknown = { ...base, falseNegatives: 'all' } as unknown as Hm4srConfig;
  assert.throws(() => probeParams(hm4srReferenceModel(unknown)), /falseNegatives must be one of/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
