import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { onnx } from '../graph/onnx-proto.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SERVING_CATALOG } from '../graph/models/hm4sr-serve.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { addItems } from '../featurize/add-items.js';
import { type UserHistory, Recommender, readServingMeta } from '../runtime/recommender.js';
import { computeCatalog } from '../train/evaluate.js';
import { INLINE_FEATURES_MAX, catalogFormOf, inlineFeatureBytes, writeServingModel } from '../train/export.js';
import { checkModels } from './util/checker.js';
import { rejects } from './util/rejects.js';
import { tinyServingModel } from './util/serving-model.js';
import { tempDir } from './util/tmp.js';

const dir = tempDir('hm4sr-serving-catalog-');
const tiny = tinyServingModel(dir, { users: 60, items: 40, topK: 12 });
const precomputed = join(dir, 'precomputed.onnx');

function histories(): UserHistory[] {
  const { ds } = tiny;
  return Array.from({ length: ds.numUsers }, (_, u) => {
    const a = ds.offsets[u],
      b = ds.offsets[u + 1];
    return {
      items: Array.from(ds.items.subarray(a, b), (i) => ds.itemTokens[i]),
      times: Array.from(ds.timestamps.subarray(a, b)),
    };
  });
}

test('a precomputed catalog serves the same top-K as the feature tables it was computed from', async () => {
  const meta = readServingMeta(tiny.model).meta;
  writeServingModel(precomputed, {
    model: tiny.config,
    values: tiny.values,
    tokens: tiny.ds.itemTokens,
    topK: meta.topK,
    encode: meta.encode,
    data: meta.data,
    catalog: await computeCatalog(tiny.config, tiny.values),
  });
  checkModels([precomputed]);
  const pre = readServingMeta(precomputed).meta;
  assert.is(pre.catalog, 'precomputed');
  assert.is(meta.catalog, undefined, 'the features form is the default');
  const a = await Recommender.load(tiny.model),
    b = await Recommender.load(precomputed);
  const users = histories();
  for (const excludeSeen of [false, true]) {
    const ra = await a.recommend(users, 12, { excludeSeen }),
      rb = await b.recommend(users, 12, { excludeSeen });
    let worst = 0;
    ra.forEach((r, u) => {
      assert.equal(rb[u].ids, r.ids, `user ${u}, exclude_seen ${excludeSeen}`);
      r.scores.forEach((s, j) => (worst = Math.max(worst, Math.abs(s - rb[u].scores[j]))));
    });
    assert.ok(worst < 1e-5, `scores differ by ${worst}`);
  }
  await a.release();
  await b.release();
});

test('the precomputed model holds the catalog instead of the feature table and projection', () => {
  const names = (path: string) =>
    new Set(onnx.ModelProto.decode(readFileSync(path)).graph!.initializer!.map((t) => t.name!));
  const features = names(tiny.model),
    pre = names(precomputed);
  for (const n of ['features.text', 'item.txt.proj.weight', 'item.id.embedding']) {
    assert.ok(features.has(n), `the features form holds ${n}`);
    assert.not.ok(pre.has(n), `the precomputed form drops ${n}`);
  }
  assert.ok(pre.has(SERVING_CATALOG) && !features.has(SERVING_CATALOG));
});

test('--catalog auto keeps the feature tables while they fit, and precomputes beyond', () => {
  const c = (numItems: number): Hm4srConfig => ({ ...tiny.config, numItems, textDim: 768, zeroFeatures: ['img'] });
  const fit = Math.floor(INLINE_FEATURES_MAX / (768 * 4)) - 1;
  assert.is(inlineFeatureBytes(c(fit)), (fit + 1) * 768 * 4);
  assert.is(catalogFormOf(c(fit), 'auto'), 'features');
  assert.is(catalogFormOf(c(fit + 1), 'auto'), 'precomputed');
  assert.is(catalogFormOf(c(1_000_000), 'features'), 'features', 'an explicit form is kept');
  assert.is(catalogFormOf(c(10), 'precomputed'), 'precomputed');
});

test('add-items refuses a precomputed model, naming the form it needs', async () => {
  await rejects(
    addItems({
      model: precomputed,
      data: tiny.data,
      out: join(dir, 'more.onnx'),
      idRule: 'nearest',
      neighbours: 3,
      log: () => {},
    } as never),
    /holds a precomputed catalog.*--catalog features/,
  );
});

test.run();
