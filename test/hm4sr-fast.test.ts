// The 'fast' HM4SR graphs (last encoder layer on the read positions only, fused Q/K/V, bias-only modalities
// kept off the catalog and the tokens) against the 'plain' ones they replace: same parameters, same losses,
// same gradients and Adam updates, same ranks and scores, on fixed batches with dropout off. The plain training
// step is also emitted without lowering (onnxruntime's own LayerNormalization and Softplus kernels), so the
// expansions the emitter writes instead are held to the kernels too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { type Hm4srConfig, HM4SR_DEFAULTS } from '../graph/models/hm4sr-config.js';
import { type GraphForm, buildEvalGraph, buildInferenceGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { Rng as HostRng } from '../train/data/shuffle.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { buildSamples } from '../train/data/samples.js';
import { generateSynthetic } from '../train/data/synth.js';
import type { BatchOptions } from '../train/batch.js';
import { packBatch } from '../train/pack.js';
import { Evaluator } from '../train/evaluate.js';
import { DEFAULT_CONFIG } from '../train/config.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-fast-'));
generateSynthetic({ dir, name: 'tiny', users: 16, items: 24, categories: 4, textDim: 6, minLen: 5, maxLen: 12, seed: 5 });
const ds = loadAtomicDataset(dir, 'tiny', { kCore: 0 });
const samples = buildSamples(ds, 8);

// Two layers, so the picked last layer reads keys and values from a full first layer; no dropout, so both
// forms compute the same function draw for draw.
const base: Hm4srConfig = {
  ...HM4SR_DEFAULTS, numItems: ds.numItems, numCategories: ds.categories!.names.length, maxLen: 8, hidden: 8, heads: 2, layers: 2, inner: 16,
  hiddenDropout: 0, attnDropout: 0, embDropout: 0, k1: 2, k2: 2, textDim: 6, imageDim: 4, intervalBuckets: 2000, calendarSize: 1,
};
const variants: [string, Hm4srConfig][] = [
  ['every modality with features', base],
  ['images without features (bias only)', { ...base, zeroFeatures: ['img'] }],
  ['text and images without features, pad in softmax', { ...base, zeroFeatures: ['txt', 'img'], includePadInSoftmax: true }],
  ['one layer, pre-existing reference flags', { ...base, layers: 1, falseNegatives: 'reference', frozenTemporalExperts: true }],
];

const packOpts: BatchOptions = { layout: 'packed', mu: 100, maxBucket: 1999, absTime: 'days', timeOrigin: ds.firstTimestamp, pclBeta: 0.3, rng: new HostRng(9), withTarget: true };
const idx = Array.from({ length: 12 }, (_, i) => (i * 5) % samples.train.size);

function values(c: Hm4srConfig) {
  const r = rng(17);
  return new Map(probeParams(hm4srModel(c, 'hm4sr', 'plain')).map((spec) => {
    const n = spec.dims.reduce((a, b) => a * b, 1);
    const isLabel = spec.name === 'data.item_categories';
    return [spec.name, Float32Array.from({ length: n }, () => (isLabel ? (r() < 0.3 ? 1 : 0) : (r() * 2 - 1) * 0.5))];
  }));
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string, abs = 1e-5, rel = 1e-4): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= abs + rel * Math.abs(b[i]), `${what}[${i}]: fast ${a[i]} vs plain ${b[i]}`);
}

for (const [name, c] of variants) {
  test(`training step, fast vs plain graph: ${name}`, async () => {
    // Two read positions per query row, so packed rows with more histories take extra query rows and some
    // slots are padding; the last variant has room for all (no extra rows).
    const P = c.layers === 1 ? 8 : 2;
    const b = packBatch(ds, samples.train, idx, c, { ...packOpts, rng: new HostRng(9), queriesPerRow: P });
    assert.is(b.feeds.pick_more.dims[0] > 0, P === 2, 'extra query rows exactly when packed rows hold more reads than a query row');
    assert.ok(b.rows < b.size, 'the batch packs several histories in a row');
    assert.ok((b.feeds.pcl_mask.data as Float32Array).some((x) => x === 1), 'PCL replaces some positions');
    const vals = values(c);
    const run = async (form: GraphForm, lower: boolean) => {
      const tg = buildTrainStep(hm4srModel(c, 'hm4sr', form), { adam: ADAM_DEFAULTS, seed: 1 });
      const state = freshState(tg.params, new Map([...vals].map(([k, v]) => [k, v.slice()])));
      const runner = await StepRunner.create(tg, state, { threads: 1, lower });
      // Two steps: the second starts from the first's updated parameters and moments.
      const l1 = await runner.run(b.feeds, 1e-2), l2 = await runner.run(b.feeds, 1e-2);
      return { tg, state, losses: tg.losses.map((n) => [l1[n][0], l2[n][0]]) };
    };
    const fast = await run('fast', true), plain = await run('plain', false);
    assert.equal(fast.tg.params.map((p) => `${p.name}:${p.dims}:${p.trainable}`), plain.tg.params.map((p) => `${p.name}:${p.dims}:${p.trainable}`));
    assert.equal(fast.tg.losses, plain.tg.losses);
    fast.losses.forEach((l, i) => close(l, plain.losses[i], `loss ${fast.tg.losses[i]}`));
    let compared = 0;
    for (const p of plain.tg.params) {
      const fp = fast.state.params.get(p.name)!, pp = plain.state.params.get(p.name)!;
      if (!p.trainable) { close(fp, pp, p.name, 0, 0); continue; }
      // m after two steps from zero mixes both steps' gradients: the gradients themselves, compared first.
      const fm = fast.state.m.get(p.name)!, pm = plain.state.m.get(p.name)!;
      close(fm, pm, `adam.m.${p.name}`, 1e-6, 1e-3);
      // Adam divides m by sqrt(v), which magnifies rounding where the gradient is near zero (the attention
      // keys' bias, which softmax cancels, moves by about lr in a direction set by rounding noise) or where
      // the two steps' gradients nearly cancel. So the updated values are held to 1% of one step (lr 1e-2),
      // on the entries whose gradient stands above rounding noise.
      const real = Array.from(pm, (_m, i) => i).filter((i) => Math.abs(pm[i]) > 1e-6);
      close(real.map((i) => fp[i]), real.map((i) => pp[i]), `${p.name} after two steps (entries with a gradient)`, 1e-4, 0);
      compared += real.length;
    }
    assert.ok(compared > 1000, `compared ${compared} updated parameter entries`);
  });
}

test('evaluation ranks and inference scores, fast vs plain graph', async () => {
  for (const [name, c] of variants) {
    const vals = values(c);
    const b = packBatch(ds, samples.test, Array.from({ length: samples.test.size }, (_, i) => i), c, { ...packOpts, rng: undefined, queriesPerRow: 3 });
    const { target: _t, pick_more: _r, pick_col: _c, pick_slot: _s, ...feeds } = b.feeds;
    const out = async (form: GraphForm) => {
      const ev = await compile(buildEvalGraph(c, 'hm4sr', form), { params: 'initializers', values: vals });
      const inf = await compile(buildInferenceGraph(c, 5, 'hm4sr', form), { params: 'initializers', values: vals });
      return { rank: (await ev(b.feeds)).rank.data as BigInt64Array, scores: (await inf(feeds)).scores.data as Float32Array };
    };
    const fast = await out('fast'), plain = await out('plain');
    assert.equal([...fast.rank], [...plain.rank], `${name}: ranks`);
    close(fast.scores, plain.scores, `${name}: scores`);
    // The Evaluator's fast path: the catalog computed once in its own session, fed to every batch (of 7 users).
    const evaluator = await Evaluator.create(c, { ...DEFAULT_CONFIG.eval, batchSize: 7 }, { threads: 1 }, 'fast');
    const { rng: _rng, withTarget: _wt, ...pack } = packOpts;
    const viaEvaluator = await evaluator.evaluate(ds, samples.test, vals, pack);
    assert.equal([...viaEvaluator.ranks], [...plain.rank].map(Number), `${name}: Evaluator ranks`);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
