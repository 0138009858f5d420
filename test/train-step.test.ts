import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import type { LossModel } from '../graph/model.js';
import * as op from '../graph/ops/index.js';
import { buildTrainLoop, buildTrainStep } from '../graph/train-step.js';
import { StepRunner } from '../train/step-runner.js';
import { initState } from './util/params.js';
import { blobs, mlpModel } from './util/toy-models.js';

test('one Adam step equals a hand computation on 3 parameters', async () => {
  // loss = sum(w * c) + 0.5 * sum(w^2): gradient c + w.
  const c = [0.5, -2, 3];
  const model: LossModel = {
    name: 'quad',
    batch: [{ name: 'c', dtype: 'float32', shape: [3] }],
    loss: (g, b) => {
      const w = g.param('w', [3], { kind: 'data', data: Float32Array.of(1, -1, 0.25) });
      return { loss: op.add(op.reduceSum(op.mul(w, b.c)), op.mul(op.reduceSum(op.mul(w, w)), 0.5)) };
    },
  };
  const adam = { ...ADAM_DEFAULTS, lr: 0.1 };
  const tg = buildTrainStep(model, { adam, seed: 0 });
  const state = initState(tg.params, 0);
  const runner = await StepRunner.create(tg, state);
  // Start from a state mid-training so bias correction with t = 3 is exercised.
  state.step = 2;
  state.m.set('w', Float32Array.of(0.1, 0.2, -0.3));
  state.v.set('w', Float32Array.of(0.01, 0.04, 0.09));
  const w0 = [1, -1, 0.25],
    m0 = [0.1, 0.2, -0.3],
    v0 = [0.01, 0.04, 0.09];
  const out = await runner.run({ c: { data: Float32Array.from(c), dims: [3] } }, 0.1);
  const t = 3;
  for (let i = 0; i < 3; i++) {
    const gr = c[i] + w0[i];
    const m = 0.9 * m0[i] + 0.1 * gr;
    const v = 0.999 * v0[i] + 0.001 * gr * gr;
    const w = w0[i] - ((0.1 / (1 - 0.9 ** t)) * m) / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
    assert.ok(Math.abs(state.params.get('w')![i] - w) < 1e-6, `w[${i}] ${state.params.get('w')![i]} vs ${w}`);
    assert.ok(Math.abs(state.m.get('w')![i] - m) < 1e-7, `m[${i}]`);
    assert.ok(Math.abs(state.v.get('w')![i] - v) < 1e-7, `v[${i}]`);
  }
  assert.is(state.step, 3);
  const loss0 = c.reduce((s, ci, i) => s + ci * w0[i] + 0.5 * w0[i] * w0[i], 0);
  assert.ok(Math.abs(out.loss[0] - loss0) < 1e-5);
});

test('an MLP trained with the training-step graph drives its loss to near zero', async () => {
  const tg = buildTrainStep(mlpModel(), { adam: { ...ADAM_DEFAULTS, lr: 0.02 }, seed: 1 });
  const runner = await StepRunner.create(tg, initState(tg.params, 7), { threads: 1 });
  const data = blobs(256, 3);
  let first = 0,
    last = 0,
    acc = 0;
  for (let s = 0; s < 300; s++) {
    const out = await runner.run({ x: { data: data.x, dims: [256, 2] }, y: { data: data.y, dims: [256] } }, 0.02);
    if (s === 0) first = out.loss[0];
    last = out.loss[0];
    acc = out['loss.accuracy'][0];
  }
  assert.ok(first > 1, `initial loss ${first}`);
  assert.ok(last < 0.02, `final loss ${last}`);
  assert.is(acc, 1);
});

test('the Loop form with K steps gives the same parameters as K single steps', async () => {
  const model = mlpModel(8, 4);
  const adam = { ...ADAM_DEFAULTS, lr: 0.05 };
  const single = buildTrainStep(model, { adam, seed: 1 });
  const multi = buildTrainLoop(model, { adam, seed: 1 });
  const a = await StepRunner.create(single, initState(single.params, 5), { threads: 1 });
  const b = await StepRunner.create(multi, initState(multi.params, 5), { threads: 1 });
  const K = 6,
    B = 32;
  const stackX = new Float32Array(K * B * 2),
    stackY = new BigInt64Array(K * B);
  const losses: number[] = [];
  for (let k = 0; k < K; k++) {
    const d = blobs(B, 100 + k);
    stackX.set(d.x, k * B * 2);
    stackY.set(d.y, k * B);
    losses.push((await a.run({ x: { data: d.x, dims: [B, 2] }, y: { data: d.y, dims: [B] } }, 0.05)).loss[0]);
  }
  const out = await b.run({ x: { data: stackX, dims: [K, B, 2] }, y: { data: stackY, dims: [K, B] } }, 0.05);
  assert.is(out.loss.length, K);
  for (let k = 0; k < K; k++)
    assert.ok(Math.abs(out.loss[k] - losses[k]) < 1e-5, `loss at step ${k}: ${out.loss[k]} vs ${losses[k]}`);
  assert.is(b.state.step, K);
  for (const [name, p] of a.state.params) {
    const q = b.state.params.get(name)!;
    let err = 0;
    for (let i = 0; i < p.length; i++) err = Math.max(err, Math.abs(p[i] - q[i]));
    assert.ok(err < 1e-5, `${name} differs by ${err}`);
  }
});

test('a batch input declared distinct is checked on every run: a repeat or a negative entry is refused, naming it', async () => {
  const model: LossModel = {
    name: 'pick',
    batch: [{ name: 'rows', dtype: 'int64', shape: ['n'], distinct: true }],
    loss: (g, b) => ({ loss: op.reduceSum(op.gather(g.param('table', [5, 2], { kind: 'uniform', a: 1 }), b.rows)) }),
  };
  const tg = buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 0 });
  assert.equal(tg.distinct, ['rows']);
  const state = initState(tg.params, 1);
  const runner = await StepRunner.create(tg, state, { threads: 1 });
  const before = Float32Array.from(state.params.get('table')!);
  await runner.run({ rows: { data: BigInt64Array.of(4n, 0n, 2n), dims: [3] } }, 0.1);
  const after = state.params.get('table')!;
  for (let r = 0; r < 5; r++)
    assert.is(after[2 * r] !== before[2 * r], [0, 2, 4].includes(r), `row ${r} moves only if gathered`);
  let msg = '';
  await runner
    .run({ rows: { data: BigInt64Array.of(1n, 3n, 1n), dims: [3] } }, 0.1)
    .catch((e: Error) => (msg = e.message));
  assert.match(msg, 'batch input rows: entry 2 is 1, a repeat; rows must hold distinct non-negative indices');
  await runner.run({ rows: { data: BigInt64Array.of(-1n), dims: [1] } }, 0.1).catch((e: Error) => (msg = e.message));
  assert.match(msg, 'entry 0 is -1, negative');
  assert.is(state.step, 1, 'a refused batch runs nothing');
});

test.run();
