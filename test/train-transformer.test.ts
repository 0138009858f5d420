import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { embedding } from '../graph/layers/embedding.js';
import { linear } from '../graph/layers/linear.js';
import { causalPaddingMask, transformerLayer } from '../graph/layers/transformer.js';
import type { LossModel } from '../graph/model.js';
import * as op from '../graph/ops/index.js';
import { Rng } from '../graph/rng.js';
import { buildTrainStep } from '../graph/train-step.js';
import { StepRunner } from '../train/step-runner.js';
import { initState } from './util/params.js';
import { crossEntropy } from './util/toy-models.js';

const V = 8,
  L = 6,
  D = 16;

/** Recall the first token at the last position: only attention can carry it there. */
const model: LossModel = {
  name: 'recall',
  batch: [
    { name: 'tokens', dtype: 'int64', shape: ['batch', 'seq'] },
    { name: 'label', dtype: 'int64', shape: ['batch'] },
  ],
  loss(g, b) {
    const pos = op.range(0, op.dimOf(b.tokens, 1), 1);
    const x = op.add(embedding(g, 'tok', b.tokens, V + 1, D), embedding(g, 'pos', pos, L, D));
    const h = transformerLayer(g, 'layer0', x, causalPaddingMask(b.tokens), { hidden: D, heads: 2, inner: 32 });
    const last = op.squeeze(op.slice(h, [-1], [2 ** 62], [1]), [1]);
    return { loss: crossEntropy(linear(g, 'head', last, D, V + 1), b.label) };
  },
};

function batch(r: Rng, n: number) {
  const tokens = new BigInt64Array(n * L),
    label = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < L; j++) tokens[i * L + j] = BigInt(1 + r.nextInt(V));
    label[i] = tokens[i * L];
  }
  return { tokens: { data: tokens, dims: [n, L] }, label: { data: label, dims: [n] } };
}

test('a one-layer transformer trained with the training-step graph learns to recall the first token', async () => {
  const tg = buildTrainStep(model, { adam: { ...ADAM_DEFAULTS, lr: 0.01 }, seed: 1 });
  const runner = await StepRunner.create(tg, initState(tg.params, 3), { threads: 1 });
  const r = new Rng(11);
  let first = 0,
    last = 0;
  for (let s = 0; s < 400; s++) {
    last = (await runner.run(batch(r, 64), 0.01)).loss[0];
    if (s === 0) first = last;
  }
  assert.ok(first > 1.5, `initial loss ${first} (chance is ln 9 = 2.2)`);
  assert.ok(last < 0.05, `final loss ${last}`);
});

test.run();
