// Host-fed randomness (graph/random.ts): random sites read consecutive slices of the input random.draws, so a
// training step is a function of its feeds alone. These tests hold the slices to the sites, the host's count
// to what the graph reads, and the trainer's premise: a step's result does not depend on the session's history.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { Graph } from '../graph/graph.js';
import { dropout } from '../graph/layers/dropout.js';
import type { LossModel } from '../graph/model.js';
import * as op from '../graph/ops/index.js';
import { DRAWS_INPUT, drawCount, feedDraws } from '../graph/random.js';
import { Rng } from '../graph/rng.js';
import { buildTrainLoop, buildTrainStep } from '../graph/train-step.js';
import { StepRunner } from '../train/step-runner.js';
import { compile } from './util/ort.js';
import { initState } from './util/params.js';
import { blobs, crossEntropy } from './util/toy-models.js';

/** Digit j (1-based) of u in [0, 1). */
const digit = (u: number, j: number) => Math.floor(u * 2 ** j) % 2;

test('fed sites read consecutive slices in build order: ratio 1/2 as 16 coins per draw, other ratios one draw per entry', async () => {
  const g = new Graph('fed_sites');
  const fed = feedDraws(g);
  const a = g.input('a', 'float32', ['rows', 'w', 20]);
  const b = g.input('b', 'float32', ['rows', 'w', 'w']);
  g.output(dropout(g, a, { ratio: 0.5, training: true }), 'ya');
  g.output(dropout(g, b, { ratio: 0.3, training: true }), 'yb');
  assert.equal(
    fed.sites.map((s) => [s.lead, s.last, s.per]),
    [
      [['rows', 'w'], 20, 16],
      [['rows', 'w'], 'w', 1],
    ],
  );
  const [rows, w] = [3, 5];
  const n = drawCount(fed.sites, (d) => ({ rows, w })[d as 'rows' | 'w']);
  assert.is(n, rows * w * 2 + rows * w * w, 'ceil(20 / 16) = 2 draws per row of a, one per entry of b');
  const pool = new Rng(3).fillUniform24(new Float32Array(n));
  const run = await compile(g);
  const ones = (k: number) => new Float32Array(k).fill(1);
  const out = await run({
    a: { data: ones(rows * w * 20), dims: [rows, w, 20] },
    b: { data: ones(rows * w * w), dims: [rows, w, w] },
    [DRAWS_INPUT]: { data: pool, dims: [n] },
  });
  const ya = out.ya.data as Float32Array,
    yb = out.yb.data as Float32Array;
  for (let r = 0; r < rows * w; r++) {
    for (let c = 0; c < 20; c++) {
      const u = pool[r * 2 + Math.floor(c / 16)];
      assert.is(
        ya[r * 20 + c],
        2 * digit(u, (c % 16) + 1),
        `a[${r}, ${c}] is coin ${c % 16} of draw ${r * 2 + Math.floor(c / 16)}`,
      );
    }
  }
  const off = rows * w * 2;
  for (let i = 0; i < rows * w * w; i++) {
    const want = pool[off + i] >= 0.3 ? 1 / 0.7 : 0;
    assert.ok(
      Math.abs(yb[i] - want) < 1e-6,
      `b[${i}]: draw ${pool[off + i]} against ratio 0.3 gives ${yb[i]}, expected ${want}`,
    );
  }
  // The graph reads exactly n draws: a longer pool changes nothing, a shorter one is refused by the runtime.
  const longer = new Float32Array(n + 7);
  longer.set(pool);
  const again = await run({
    a: { data: ones(rows * w * 20), dims: [rows, w, 20] },
    b: { data: ones(rows * w * w), dims: [rows, w, w] },
    [DRAWS_INPUT]: { data: longer, dims: [n + 7] },
  });
  assert.equal(Array.from(again.yb.data as Float32Array), Array.from(yb));
  let failed = false;
  try {
    await run({
      a: { data: ones(rows * w * 20), dims: [rows, w, 20] },
      b: { data: ones(rows * w * w), dims: [rows, w, w] },
      [DRAWS_INPUT]: { data: pool.subarray(0, n - 1), dims: [n - 1] },
    });
  } catch {
    failed = true;
  }
  assert.ok(failed, 'a pool one draw short fails instead of reusing or inventing draws');
});

test('a fed site needs named or fixed dims; fillUniform24 gives k / 2^24 from the generator in order', () => {
  const g = new Graph('fed_unknown');
  feedDraws(g);
  const x = g.input('x', 'float32', [null, 8]);
  assert.throws(() => dropout(g, x, { ratio: 0.5, training: true }), /fed draws need every dim/);
  const r1 = new Rng(9),
    r2 = new Rng(9);
  const u = r1.fillUniform24(new Float32Array(1000));
  assert.ok(
    u.every((v) => v === (r2.nextU32() >>> 8) / 2 ** 24),
    'each value is the next 32-bit output, top 24 bits',
  );
  assert.is(r1.nextU32(), r2.nextU32(), 'and the generators stay in step');
});

/** A small model with dropout at ratio 1/2 on a [batch, 16] hidden layer and a general ratio on the logits. */
const dropModel: LossModel = {
  name: 'drop_mlp',
  batch: [
    { name: 'x', dtype: 'float32', shape: ['batch', 2] },
    { name: 'y', dtype: 'int64', shape: ['batch'] },
  ],
  loss(g, b) {
    const h = dropout(g, op.relu(op.matmul(b.x, g.param('w1', [2, 16], { kind: 'uniform', a: 0.7 }))), {
      ratio: 0.5,
      training: true,
    });
    const logits = dropout(g, op.matmul(h, g.param('w2', [16, 4], { kind: 'uniform', a: 0.25 })), {
      ratio: 0.2,
      training: true,
    });
    return { loss: crossEntropy(logits, b.y) };
  },
};

test('a fed training step depends on its feeds alone: the same step after other runs equals it in a fresh session', async () => {
  const data = blobs(64, 1);
  const batch = { x: { data: data.x, dims: [64, 2] }, y: { data: data.y, dims: [64] } };
  const tg = buildTrainStep(dropModel, { adam: ADAM_DEFAULTS, seed: 0, fedDraws: true });
  assert.is(tg.draws!.length, 2);
  const used = initState(tg.params, 4),
    fresh = initState(tg.params, 4);
  const runner = await StepRunner.create(tg, used, { threads: 1 });
  // Three runs that move the state, then the state is put back and a fourth run is compared with a new session's.
  const saved = { params: new Map(used.params), m: new Map(used.m), v: new Map(used.v), step: used.step };
  for (let i = 0; i < 3; i++) await runner.run(runner.withDraws(batch, new Rng(100 + i)), 1e-2);
  Object.assign(used, { step: saved.step });
  for (const k of ['params', 'm', 'v'] as const) for (const [n, v] of saved[k]) used[k].set(n, v);
  const a = await runner.run(runner.withDraws(batch, new Rng(7)), 1e-2);
  const other = await StepRunner.create(tg, fresh, { threads: 1 });
  const b = await other.run(other.withDraws(batch, new Rng(7)), 1e-2);
  assert.is(a.loss[0], b.loss[0]);
  for (const [n, v] of used.params)
    assert.ok(
      v.every((x, i) => x === fresh.params.get(n)![i]),
      `${n} after the step`,
    );
  const c = await other.run(other.withDraws(batch, new Rng(8)), 1e-2);
  assert.is.not(c.loss[0], b.loss[0], 'other draws, another step');
  let msg = '';
  await other.run(batch, 1e-2).catch((e: Error) => (msg = e.message));
  assert.match(msg, /reads its dropout draws from the input random\.draws/);
  const seeded = await StepRunner.create(
    buildTrainStep(dropModel, { adam: ADAM_DEFAULTS, seed: 0 }),
    initState(tg.params, 4),
    { threads: 1 },
  );
  assert.throws(() => seeded.withDraws(batch, new Rng(1)), /seeded ops; it takes no random\.draws/);
  assert.throws(
    () => runner.withDraws({}, new Rng(1)),
    /a random site needs dim 'batch', which no batch input given has/,
  );
  assert.throws(
    () => runner.withDraws({ x: batch.x, y: { data: data.y.subarray(1), dims: [63] } }, new Rng(1)),
    /batch inputs x and y disagree on dim 'batch' \(64 vs 63\)/,
  );
});

test('the K-step Loop reads one row of [steps, draws] per step: K fed steps in one run equal K single steps', async () => {
  const data = blobs(32, 2);
  const one = { x: { data: data.x, dims: [32, 2] }, y: { data: data.y, dims: [32] } };
  const K = 3;
  const stacked = {
    x: { data: new Float32Array(K * 64).map((_, i) => data.x[i % 64]), dims: [K, 32, 2] },
    y: { data: new BigInt64Array(K * 32).map((_, i) => data.y[i % 32]), dims: [K, 32] },
  };
  const st = buildTrainStep(dropModel, { adam: ADAM_DEFAULTS, seed: 0, fedDraws: true }),
    lt = buildTrainLoop(dropModel, { adam: ADAM_DEFAULTS, seed: 0, fedDraws: true });
  const s1 = initState(st.params, 5),
    s2 = initState(lt.params, 5);
  const single = await StepRunner.create(st, s1, { threads: 1 }),
    looped = await StepRunner.create(lt, s2, { threads: 1 });
  const rs = new Rng(11),
    rl = new Rng(11);
  const losses: number[] = [];
  for (let k = 0; k < K; k++) losses.push((await single.run(single.withDraws(one, rs), 1e-2)).loss[0]);
  const feeds = looped.withDraws(stacked, rl);
  assert.equal(feeds[DRAWS_INPUT].dims, [K, drawCount(lt.draws!, (d) => ({ batch: 32 })[d as 'batch'])]);
  const out = await looped.run(feeds, 1e-2);
  for (let k = 0; k < K; k++)
    assert.ok(
      Math.abs(out.loss[k] - losses[k]) <= 1e-6 * Math.abs(losses[k]),
      `step ${k}: loop ${out.loss[k]} vs single ${losses[k]}`,
    );
  for (const [n, v] of s1.params)
    assert.ok(
      v.every((x, i) => Math.abs(x - s2.params.get(n)![i]) <= 1e-6),
      `${n} after ${K} steps`,
    );
});

test.run();
