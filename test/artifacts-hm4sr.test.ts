import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { ARTIFACT_FILES, writeArtifacts } from '../graph/artifacts/write.js';
import {
  type OrtWebTensor,
  evalStep,
  loadOrtWebTraining,
  openTrainingSession,
  trainStep,
} from '../runtime/ort-web-training.js';
import { Graph } from '../graph/graph.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { encode, hm4srModel, scores } from '../graph/models/hm4sr.js';
import { batchSpec } from '../graph/models/hm4sr-batch.js';
import { scoresGraph } from './util/scores-graph.js';
import { declareBatch } from '../graph/model.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { readCheckpoint } from '../graph/artifacts/checkpoint.js';
import { Rng as HostRng } from '../train/data/shuffle.js';
import { buildSamples } from '../train/data/samples.js';
import { packBatch } from '../train/pack.js';
import type { BatchOptions } from '../train/batch.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import type { HostTensor } from '../runtime/session.js';
import { checkModels } from './util/checker.js';
import { rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';
import { tinyDataset, tinyHm4sr } from './util/tiny-hm4sr.js';

/**
 * Tolerance: ORT's WASM kernels and onnxruntime-node's native ones sum in different orders (MatMul,
 * LayerNormalization, Softmax over the catalog); observed differences after 3 steps are <= 1e-6. The checks
 * allow 2e-5 absolute + 1e-4 relative on losses, scores and parameters (see below for zero-gradient ones).
 */
const TOL = { abs: 2e-5, rel: 1e-4 };
const close = (a: number, b: number) => Math.abs(a - b) <= TOL.abs + TOL.rel * Math.abs(b);
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (!close(a[i], b[i])) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-artifacts-model-'));
const ds = tinyDataset(dir);
const samples = buildSamples(ds, 5);
const ort = loadOrtWebTraining();

const tiny: Hm4srConfig = tinyHm4sr(ds, { frozenTemporalExperts: true });
const model = hm4srModel(tiny);
const specs = probeParams(model);

const packOpts = (seed: number): BatchOptions => ({
  layout: 'packed',
  mu: 100,
  maxBucket: 1999,
  absTime: 'days',
  timeOrigin: ds.firstTimestamp,
  pclBeta: 0.3,
  rng: new HostRng(seed),
  withTarget: true,
});

/** Random values for every parameter, frozen feature tables, 0/1 category labels and frozen experts included. */
function values(): Map<string, Float32Array> {
  const r = rng(11);
  return new Map(
    specs.map((s) => {
      const n = s.dims.reduce((a, b) => a * b, 1);
      const isLabel = s.name.endsWith('item_categories');
      return [s.name, Float32Array.from({ length: n }, () => (isLabel ? (r() < 0.3 ? 1 : 0) : (r() * 2 - 1) * 0.5))];
    }),
  );
}

const toOrt = (feeds: Record<string, HostTensor>): Record<string, OrtWebTensor> =>
  Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [
      k,
      new ort.Tensor(t.data instanceof BigInt64Array ? 'int64' : 'float32', t.data, t.dims),
    ]),
  );

const batches = [0, 1, 2].map(
  (k) =>
    packBatch(
      ds,
      samples.train,
      Array.from({ length: 6 }, (_, i) => (i * 5 + k * 7) % samples.train.size),
      tiny,
      packOpts(9 + k),
    ).feeds,
);
const flat = (vals: Map<string, Float32Array>, trainableOnly: boolean) =>
  Float32Array.from(specs.filter((p) => !trainableOnly || p.trainable).flatMap((p) => Array.from(vals.get(p.name)!)));

test("tiny HM4SR: frozen tables and experts go to frozen_params; ORT trains 3 steps like hm4sr's training-step graph", async () => {
  const frozen = specs
    .filter((s) => !s.trainable)
    .map((s) => s.name)
    .sort();
  assert.ok(frozen.includes('features.text') && frozen.includes('features.image'), `frozen: ${frozen}`);
  assert.ok(
    frozen.some((n) => n.endsWith('item_categories')),
    `frozen: ${frozen}`,
  );
  assert.ok(
    frozen.some((n) => n.endsWith('experts')),
    `frozen: ${frozen}`,
  );
  const adam = { ...ADAM_DEFAULTS, lr: 1e-3, weightDecay: 0.01 };
  const vals = values();
  const out = join(dir, 'artifacts');
  writeArtifacts(model, out, {
    adam,
    values: vals,
    properties: { epoch: 0, seed: 1, config: JSON.stringify(tiny), dataset: 'synthetic:tiny' },
  });
  const ck = readCheckpoint(join(out, ARTIFACT_FILES.checkpoint));
  assert.equal(
    ck.params
      .filter((p) => !p.trainable)
      .map((p) => p.name)
      .sort(),
    frozen,
  );
  assert.is(JSON.parse(ck.properties.config as string).hidden, 8);

  const tg = buildTrainStep(model, { adam, seed: 1 });
  const runner = await StepRunner.create(
    tg,
    freshState(tg.params, new Map([...vals].map(([k, v]) => [k, Float32Array.from(v)]))),
    { threads: 1 },
  );
  const s = await openTrainingSession(out);
  const total = specs.reduce((n, p) => n + p.dims.reduce((a, b) => a * b, 1), 0);
  assert.is(await s.getParametersSize(false), total);
  assertClose((await s.getContiguousParameters(false)).data as Float32Array, flat(vals, false), 'parameters as loaded');
  assert.equal([...s.trainingOutputNames], tg.losses);
  for (const [k, feeds] of batches.entries()) {
    const theirs = await trainStep(s, toOrt(feeds));
    await s.runOptimizerStep();
    await s.lazyResetGrad();
    const ours = await runner.run(feeds, adam.lr);
    for (const name of tg.losses) {
      const a = (theirs[name].data as Float32Array)[0],
        b = ours[name][0];
      assert.ok(close(a, b), `${name} at step ${k}: ORT ${a} vs hm4sr ${b}`);
    }
  }
  // Parameters after 3 steps. The attention key biases have an exactly zero gradient (softmax ignores a
  // shift shared by all keys of a query), so both runtimes compute round-off noise (~1e-10) for them, which
  // Adam's normalisation turns into steps of up to ~lr in a noise-driven direction: elements whose gradient
  // RMS is below 1e-6 are held only to Adam's step bound (|diff| <= 2 * steps * lr); the rest to TOL.
  const got = (await s.getContiguousParameters(false)).data as Float32Array;
  let off = 0,
    noisy = 0;
  const noisyParams = new Set<string>();
  for (const p of specs) {
    const n = p.dims.reduce((a, b) => a * b, 1);
    const want = runner.state.params.get(p.name)!,
      v = runner.state.v.get(p.name);
    for (let i = 0; i < n; i++) {
      const a = got[off + i],
        b = want[i];
      const rms = v ? Math.sqrt(v[i] / (1 - adam.beta2 ** batches.length)) : Infinity;
      if (rms > 0 && rms < 1e-6) {
        noisy++;
        if (!close(a, b)) noisyParams.add(p.name);
        assert.ok(
          Math.abs(a - b) <= 2 * batches.length * adam.lr,
          `${p.name}[${i}] (round-off gradient): ${a} vs ${b}`,
        );
      } else if (!close(a, b)) assert.unreachable(`${p.name}[${i}] after 3 steps: ORT ${a} vs hm4sr ${b}`);
    }
    off += n;
  }
  assert.is(off, total);
  for (const name of noisyParams)
    assert.ok(name.endsWith('attn.k.bias'), `${name} has round-off-level gradients that differ`);
  assert.ok(noisy < 100, `${noisy} elements with round-off gradients`);

  // ORT's eval step against hm4sr's loss graph, at the trained parameters.
  const g = new Graph('loss');
  const lo = model.loss(g, declareBatch(g, model.batch));
  g.output(lo.loss, 'loss');
  const run = await compile(g);
  const feeds: Parameters<typeof run>[0] = { ...batches[0] };
  for (const p of specs) feeds[p.name] = { data: runner.state.params.get(p.name)!, dims: p.dims };
  const ev = await evalStep(s, toOrt(batches[0]));
  const want = ((await run(feeds)).loss.data as Float32Array)[0];
  assert.ok(close((ev.loss.data as Float32Array)[0], want), `eval loss ${ev.loss.data[0]} vs ${want}`);
  await s.release();
  checkModels([ARTIFACT_FILES.training, ARTIFACT_FILES.eval, ARTIFACT_FILES.optimizer].map((f) => join(out, f)));
});

test("with the catalog in chunks (Loops in the training model), ORT's TrainingSession trains like hm4sr", async () => {
  const chunkedModel = hm4srModel({ ...tiny, catalogChunk: 5 });
  assert.equal(probeParams(chunkedModel), specs, 'chunks change no parameter');
  const adam = { ...ADAM_DEFAULTS, lr: 1e-3 };
  const vals = values();
  const out = join(dir, 'artifacts-chunks');
  writeArtifacts(chunkedModel, out, { adam, values: vals, properties: { epoch: 0, seed: 1 } });
  const tg = buildTrainStep(chunkedModel, { adam, seed: 1 });
  const runner = await StepRunner.create(
    tg,
    freshState(tg.params, new Map([...vals].map(([k, v]) => [k, Float32Array.from(v)]))),
    { threads: 1 },
  );
  const s = await openTrainingSession(out);
  for (const feeds of batches.slice(0, 2)) {
    const theirs = await trainStep(s, toOrt(feeds));
    await s.runOptimizerStep();
    await s.lazyResetGrad();
    const ours = await runner.run(feeds, adam.lr);
    for (const name of tg.losses) assertClose(theirs[name].data as Float32Array, [ours[name][0]], name);
  }
});

test("an eval model with scores instead of the loss matches hm4sr's inference graph", async () => {
  const adam = { ...ADAM_DEFAULTS };
  const vals = values();
  const out = join(dir, 'artifacts-scores');
  writeArtifacts(model, out, {
    adam,
    values: vals,
    evalOutputs: {
      batch: batchSpec(tiny, 'infer'),
      outputs: (g, b) => ({ scores: scores(tiny, encode(g, tiny, b, false)) }),
    },
  });
  const s = await openTrainingSession(out);
  assert.equal([...s.evalOutputNames], ['scores']);
  // The inference signature: the history inputs only (no target, PCL mask, category or last-layer lists).
  const { target, pcl_mask, cp_items, cp_counts, pick_more, pick_col, pick_slot, ...infer } = batches[1];
  (void target, void pcl_mask, void cp_items, void cp_counts, void pick_more, void pick_col, void pick_slot);
  const theirs = (await evalStep(s, toOrt(infer))).scores.data as Float32Array;
  const inf = await compile(scoresGraph(tiny, 3), { params: 'initializers', values: vals });
  const ours = (await inf(infer)).scores.data as Float32Array;
  assertClose(theirs, ours, 'scores');
  await s.release();
  checkModels([join(out, ARTIFACT_FILES.eval)]);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
