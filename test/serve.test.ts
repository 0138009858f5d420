import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onnx } from '../graph/onnx-proto.js';
import { saveModel } from '../graph/manifest.js';
import { type History, packHistories, intervalBucket } from '../train/batch.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildServingGraph, bucketThresholds } from '../graph/models/hm4sr-serve.js';
import { buildEvalGraph } from '../graph/models/hm4sr.js';
import { scoresGraph } from './util/scores-graph.js';
import { requireInputs } from '../runtime/model-bytes.js';
import { loadOrtWeb } from '../runtime/ort-web.js';
import { createSession, ort } from '../runtime/session.js';
import { checkModels } from './util/checker.js';
import { compile } from './util/ort.js';
import { modelValues } from './util/params.js';
import { tempDir } from './util/tmp.js';
import { tinyDataset, tinyHm4sr } from './util/tiny-hm4sr.js';

const dir = tempDir('hm4sr-serve-');
const ds = tinyDataset(dir);
const MU = 100,
  K = 8;

const tiny: Hm4srConfig = tinyHm4sr(ds, { calendarSize: 400 });

const values = modelValues;

/** Every user's full history, plus crafted ones: gaps at exact bucket thresholds, a huge gap, one item. */
function histories(c: Hm4srConfig): History[] {
  const hs: History[] = [];
  for (let u = 0; u < ds.numUsers; u++) {
    const a = ds.offsets[u],
      b = ds.offsets[u + 1];
    hs.push({ items: Array.from(ds.items.subarray(a, b)), times: Array.from(ds.timestamps.subarray(a, b)) });
  }
  const thr = bucketThresholds((s) => intervalBucket(s, MU), c.intervalBuckets - 1);
  const gaps = [Number(thr[1500]), Number(thr[1500]) - 1, Number(thr[1999]), 1e9, 0, 1, Number(thr[1234])];
  let t = 1_700_000_000;
  const times = [t, ...gaps.map((g) => (t += g))];
  hs.push({ items: times.map((_, i) => 1 + ((i * 7) % c.numItems)), times });
  hs.push({ items: [3], times: [1_456_790_400] });
  // Day-of-year edge: the last second of a leap year's Dec 31 and the first of Jan 1.
  hs.push({ items: [4, 5, 6], times: [1_483_228_799 - 86400 * 306, 1_483_228_799, 1_483_228_800] });
  return hs;
}

const enc = (c: Hm4srConfig) => ({
  mu: MU,
  maxBucket: c.intervalBuckets - 1,
  absTime: 'days' as const,
  timeOrigin: ds.firstTimestamp,
});

/** [B, S] signature tensors, right- or left-padded. */
function signature(hs: History[], side: 'right' | 'left', extra = 2) {
  const S = Math.max(...hs.map((h) => h.items.length)) + extra;
  const items = new BigInt64Array(hs.length * S),
    times = new BigInt64Array(hs.length * S);
  hs.forEach((h, n) => {
    const off = side === 'right' ? 0 : S - h.items.length;
    for (let j = 0; j < h.items.length; j++) {
      items[n * S + off + j] = BigInt(h.items[j]);
      times[n * S + off + j] = BigInt(h.times[j]);
    }
  });
  return { items, times, dims: [hs.length, S] };
}

async function serving(c: Hm4srConfig, vals: Map<string, Float32Array>, absTime: 'days' | 'seconds' = 'days') {
  const sg = buildServingGraph(c, { ...enc(c), absTime }, K, (s) => intervalBucket(s, MU));
  const path = join(dir, `serve-${c.timeEmbedding}-${c.modalities.length}-${absTime}.onnx`);
  saveModel(sg.graph, path, 'inference', {
    params: 'initializers',
    values: new Map([...sg.graph.params.keys()].map((k) => [k, vals.get(k)!])),
    inputDefaults: sg.defaults,
  });
  const session = await createSession(requireInputs(path, ['exclude_seen']), { threads: 1 });
  const run = async (s: ReturnType<typeof signature>, exclude?: boolean) => {
    const feeds: Record<string, ort.Tensor> = { item_ids: new ort.Tensor('int64', s.items, s.dims) };
    if (session.inputNames.includes('timestamps')) feeds.timestamps = new ort.Tensor('int64', s.times, s.dims);
    feeds.exclude_seen = new ort.Tensor('bool', [exclude ?? false], [1, 1]);
    return session.run(feeds);
  };
  return { path, run, session };
}

/** The training pipeline's encoding (padded or packed) and inference graph over the last maxLen items. */
async function reference(
  c: Hm4srConfig,
  vals: Map<string, Float32Array>,
  hs: History[],
  layout: 'padded' | 'packed',
  absTime: 'days' | 'seconds' = 'days',
) {
  const cut = hs.map((h) => ({
    items: Array.from(h.items).slice(-c.maxLen),
    times: Array.from(h.times).slice(-c.maxLen),
  }));
  const b = packHistories(cut, c, { layout, ...enc(c), absTime, pclBeta: 0, withTarget: false });
  const run = await compile(scoresGraph(c, K), { params: 'initializers', values: vals });
  return run(b.feeds);
}

const variants: [string, Partial<Hm4srConfig>, 'days' | 'seconds'][] = [
  ['both (default)', {}, 'days'],
  ['both, raw seconds', {}, 'seconds'],
  ['interval', { timeEmbedding: 'interval' }, 'days'],
  ['interval-cos', { timeEmbedding: 'interval-cos' }, 'days'],
  ['day-index', { timeEmbedding: 'day-index' }, 'days'],
  ['day-of-year', { timeEmbedding: 'day-of-year', calendarSize: 366 }, 'days'],
  ['sasrec', { modalities: ['id'], imoe: false, tmoe: false, lambdaCP: 0, lambdaIDCL: 0, lambdaPCL: 0 }, 'days'],
];

for (const [label, over, absTime] of variants) {
  test(`serving signature = training encoding, bit for bit: ${label}`, async () => {
    const c = { ...tiny, ...over };
    const vals = values(c);
    const hs = histories(c);
    const sv = await serving(c, vals, absTime);
    assert.is(
      sv.session.inputNames.includes('timestamps'),
      c.tmoe,
      'a timestamps input exactly when the model reads time',
    );
    const ref = await reference(c, vals, hs, 'padded', absTime);
    const n = c.numItems + 1;
    const refScores = ref.scores.data as Float32Array;
    // Same width as the training encoding: bit-identical. Longer histories, extra padding on either side:
    // the same top-K, scores equal up to float32 summation order (attention and matmuls over other widths).
    const cut = hs.map((h) => ({
      items: Array.from(h.items).slice(-c.maxLen),
      times: Array.from(h.times).slice(-c.maxLen),
    }));
    const cases = [
      ['same width', signature(cut, 'right', 0), 0],
      ['full histories, right-padded', signature(hs, 'right'), 2e-6],
      ['full histories, left-padded', signature(hs, 'left'), 2e-6],
    ] as const;
    for (const [what, sig, tol] of cases) {
      const out = await sv.run(sig);
      const ids = out.top_items.data as BigInt64Array,
        sc = out.top_scores.data as Float32Array;
      assert.equal(Array.from(ids), Array.from(ref.top_items.data as BigInt64Array), `${what}: top-K items`);
      hs.forEach((_, u) => {
        for (let j = 0; j < K; j++) {
          const i = Number(ids[u * K + j]),
            want = refScores[u * n + i];
          if (tol === 0) assert.is(sc[u * K + j], want, `${what}: user ${u} item ${i}`);
          else
            assert.ok(
              Math.abs(sc[u * K + j] - want) <= tol * (1 + Math.abs(want)),
              `${what}: user ${u} item ${i}: ${sc[u * K + j]} vs ${want}`,
            );
        }
      });
      for (const m of c.modalities) assert.equal(out[`user_vector_${m}`].dims, [hs.length, c.hidden]);
    }
  });
}

test('exported model passes the checker; the packed evaluation path ranks its top-K at 1..K', async () => {
  const vals = values(tiny);
  const hs = histories(tiny);
  const sv = await serving(tiny, vals);
  checkModels([sv.path]);
  const proto = onnx.ModelProto.decode(readFileSync(sv.path));
  assert.equal(
    proto.graph!.input!.map((i) => i.name),
    ['item_ids', 'timestamps', 'exclude_seen'],
  );
  const dflt = proto.graph!.initializer!.find((t) => t.name === 'exclude_seen')!;
  assert.equal(
    [Array.from(dflt.dims!, Number), Array.from(dflt.rawData!)],
    [[1, 1], [0]],
    'exclude_seen defaults to [[false]]',
  );
  const out = await sv.run(signature(hs, 'right'));
  const top = out.top_items.data as BigInt64Array;
  // The evaluation graph (packed batches, pessimistic ties) with each served item as the target.
  const samples: History[] = [];
  hs.forEach((h, u) => {
    const cut = { items: Array.from(h.items).slice(-tiny.maxLen), times: Array.from(h.times).slice(-tiny.maxLen) };
    for (let j = 0; j < K; j++) samples.push({ ...cut, target: Number(top[u * K + j]) });
  });
  const b = packHistories(samples, tiny, { layout: 'packed', ...enc(tiny), pclBeta: 0, withTarget: true });
  assert.ok(b.rows < samples.length, 'histories were packed several to a row');
  const ranks = (await (await compile(buildEvalGraph(tiny), { params: 'initializers', values: vals }))(b.feeds)).rank
    .data as BigInt64Array;
  assert.equal(
    Array.from(ranks, Number),
    samples.map((_, i) => (i % K) + 1),
  );
});

test('exclude_seen drops every item of the input history; its default is false', async () => {
  const vals = values(tiny);
  const hs = histories(tiny);
  const sv = await serving(tiny, vals);
  const s = signature(hs, 'right');
  const on = await sv.run(s, true);
  const ref = await reference(tiny, vals, hs, 'padded');
  const n = tiny.numItems + 1,
    scores = ref.scores.data as Float32Array,
    ids = on.top_items.data as BigInt64Array;
  hs.forEach((h, u) => {
    const seen = new Set(Array.from(h.items));
    const expect = Array.from({ length: n - 1 }, (_, i) => i + 1)
      .filter((i) => !seen.has(i))
      .sort((a, b) => scores[u * n + b] - scores[u * n + a])
      .slice(0, K);
    assert.equal(Array.from(ids.subarray(u * K, u * K + expect.length), Number), expect, `user ${u}`);
  });
});

test('onnxruntime-web (WASM) gives the same top-K as onnxruntime-node', async () => {
  const vals = values(tiny);
  const hs = histories(tiny);
  const sv = await serving(tiny, vals);
  const s = signature(hs, 'right');
  const node = await sv.run(s, true);
  const web = loadOrtWeb();
  const session = await web.InferenceSession.create(requireInputs(sv.path, ['exclude_seen']));
  const out = await session.run({
    item_ids: new web.Tensor('int64', s.items, s.dims),
    timestamps: new web.Tensor('int64', s.times, s.dims),
    exclude_seen: new web.Tensor('bool', [true], [1, 1]),
  });
  assert.equal(Array.from(out.top_items.data as BigInt64Array), Array.from(node.top_items.data as BigInt64Array));
  const a = out.top_scores.data as Float32Array,
    b = node.top_scores.data as Float32Array;
  a.forEach((x, i) =>
    assert.ok(Math.abs(x - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), `score ${i}: web ${x}, node ${b[i]}`),
  );
  await session.release();
});

test.run();
