// Dropout at ratio 1/2 (every HM4SR site) multiplies by halfKeepMask: fair coins taken 16 to a uniform draw,
// seeded in the graph or fed by the host (graph/random.ts).
// These tests hold it to what Dropout promises: entries 0 or 2, each kept with probability 1/2 independently of
// its neighbours (within a draw and across draws), a new mask every run, the same sequence for the same seed,
// and a gradient that is the mask (finite differences with the drawn mask held fixed, as for Dropout).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../graph/grad.js';
import { Graph, type Value } from '../graph/graph.js';
import { dropout } from '../graph/layers/dropout.js';
import * as op from '../graph/ops/index.js';
import type { Shape } from '../graph/types.js';
import { centralDiff, rng } from './util/gradcheck.js';
import { DRAWS_INPUT, drawCount, feedDraws } from '../graph/random.js';
import { Rng } from '../graph/rng.js';
import { type Feed, compile } from './util/ort.js';

/**
 * A session whose output `y` is the layer's dropout of x at ratio 1/2: site seeds from `seed`, or (fed) draws
 * filled from Rng(seed) on the host, a new pool every run.
 */
async function maskSession(shape: Shape, seed: number, source: 'seeded' | 'fed' = 'seeded') {
  const g = new Graph('half_mask');
  g.randomSeed = seed;
  const fed = source === 'fed' ? feedDraws(g) : null;
  const x = g.input('x', 'float32', shape);
  g.output(dropout(g, x, { ratio: 0.5, training: true }), 'y');
  const run = await compile(g);
  const host = new Rng(seed);
  return async (dims: number[]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const feeds: Record<string, Feed> = { x: { data: new Float32Array(n).fill(1), dims } };
    if (fed) {
      const k = drawCount(fed.sites, (d) => dims[shape.indexOf(d)]);
      feeds[DRAWS_INPUT] = { data: host.fillUniform24(new Float32Array(k)), dims: [k] };
    }
    return Float32Array.from((await run(feeds)).y.data as Float32Array);
  };
}

/** |rate - 1/2| within z standard errors of a fair coin over n flips. */
const fair = (kept: number, n: number, z: number, what: string) => {
  const rate = kept / n;
  assert.ok(
    Math.abs(rate - 0.5) <= (z * 0.5) / Math.sqrt(n),
    `${what}: kept rate ${rate.toFixed(4)} over ${n} is not a fair coin`,
  );
};

for (const [label, shape, dims, source] of [
  ['static last dim, a multiple of 16', [128, 64], [128, 64], 'seeded'],
  ['symbolic dims, last dim 50 (the attention probabilities)', ['rows', 'w', 'w'], [40, 50, 50], 'seeded'],
  ['host-fed draws, symbolic dims, last dim 50', ['rows', 'w', 'w'], [40, 50, 50], 'fed'],
  ['host-fed draws, last dim 64', ['rows', 64], [128, 64], 'fed'],
] as [string, Shape, number[], 'seeded' | 'fed'][]) {
  test(`half keep-mask (${label}): 0 or 2, fair, independent of neighbours`, async () => {
    const m = await (await maskSession(shape, 7, source))(dims);
    const last = dims[dims.length - 1];
    assert.is(
      m.length,
      dims.reduce((a, b) => a * b, 1),
    );
    assert.ok(
      m.every((v) => v === 0 || v === 2),
      'every entry is 0 (dropped) or 2 (kept, scaled by 1 / (1 - 1/2))',
    );
    fair(m.filter((v) => v === 2).length, m.length, 4.5, 'all entries');
    // Each of the 16 coins of a draw (the entry's column mod 16) is fair on its own.
    for (let j = 0; j < 16; j++) {
      let kept = 0,
        n = 0;
      for (let i = 0; i < m.length; i++)
        if ((i % last) % 16 === j) {
          n++;
          kept += m[i] === 2 ? 1 : 0;
        }
      fair(kept, n, 4.5, `coin ${j} of each draw`);
    }
    // Neighbours agree half the time: the next coin of the same draw (lag 1) and the same coin of the next draw (lag 16).
    for (const lag of [1, 16]) {
      let agree = 0,
        n = 0;
      for (let i = 0; i + lag < m.length; i++)
        if ((i % last) + lag < last) {
          n++;
          agree += m[i] === m[i + lag] ? 1 : 0;
        }
      fair(agree, n, 4.5, `agreement at lag ${lag}`);
    }
  });
}

test('half keep-mask: a new mask every run, the same sequence for the same seed, another for another seed', async () => {
  const dims = [32, 64];
  const a = await maskSession([32, 64], 11),
    b = await maskSession([32, 64], 11),
    c = await maskSession([32, 64], 12);
  const [a1, a2] = [await a(dims), await a(dims)];
  const [b1, b2] = [await b(dims), await b(dims)];
  const c1 = await c(dims);
  const same = (p: Float32Array, q: Float32Array) => p.every((v, i) => v === q[i]);
  assert.ok(!same(a1, a2), 'the second run draws a new mask');
  assert.ok(same(a1, b1) && same(a2, b2), 'a second session with the same seed replays the sequence');
  assert.ok(!same(a1, c1), 'another seed draws another mask');
  const f = await maskSession([32, 64], 11, 'fed'),
    h = await maskSession([32, 64], 11, 'fed');
  const [f1, f2, h1] = [await f(dims), await f(dims), await h(dims)];
  assert.ok(!same(f1, f2) && same(f1, h1), 'fed: a new pool draws a new mask; the same host draws give the same mask');
});

// As for Dropout (grad-ops-misc): graph A draws the mask once and returns it with the analytic gradients; graph
// B is the same function with the mask fed in, whose central differences at A's mask must match them.
test('dropout at ratio 1/2: analytic gradient vs finite differences with the drawn mask held fixed (float64)', async () => {
  const dims = [4, 5],
    n = 20;
  const r = rng(31);
  const rand = (k: number) => Float64Array.from({ length: k }, () => 2 * r() - 1);
  const [xData, wData, rData] = [rand(n), rand(dims[1]), rand(n)];
  const f = (x: Value, w: Value, dropped: (v: Value) => Value, rr: Value) =>
    op.reduceSum(op.mul(op.tanh(op.mul(dropped(op.mul(x, w)), 1.5)), rr));

  const a = new Graph('half_a');
  a.randomSeed = 5;
  const [x, w, rr] = [a.input('x', 'float64', dims), a.input('w', 'float64', [dims[1]]), a.input('r', 'float64', dims)];
  let mask: Value | null = null;
  const loss = f(
    x,
    w,
    (v) => {
      const y = dropout(a, v, { ratio: 0.5, training: true });
      mask = y.producer!.inputs[1];
      return y;
    },
    rr,
  );
  const [dx, dw] = grad(loss, [x, w]);
  a.output(loss, 'loss');
  a.output(mask!, 'mask');
  a.output(dx, 'dx');
  a.output(dw, 'dw');
  const outA = await (
    await compile(a)
  )({ x: { data: xData, dims }, w: { data: wData, dims: [dims[1]] }, r: { data: rData, dims } });
  const m = outA.mask.data as Float64Array;
  assert.ok(m.some((v) => v === 0) && m.some((v) => v === 2), `the mask keeps some and drops some: ${Array.from(m)}`);

  const b = new Graph('half_b');
  const [xb, wb, mb, rb] = [
    b.input('x', 'float64', dims),
    b.input('w', 'float64', [dims[1]]),
    b.input('mask', 'float64', dims),
    b.input('r', 'float64', dims),
  ];
  b.output(
    f(xb, wb, (v) => op.mul(v, mb), rb),
    'loss',
  );
  const runB = await compile(b);
  const feeds = {
    x: { data: xData.slice(), dims },
    w: { data: wData.slice(), dims: [dims[1]] },
    mask: { data: m, dims },
    r: { data: rData, dims },
  };
  const lossB = async () => Number((await runB(feeds)).loss.data[0]);
  assert.ok(
    Math.abs((await lossB()) - Number(outA.loss.data[0])) <= 1e-12,
    'the mask output is the mask the forward applied',
  );
  for (const [name, ana] of [
    ['x', outA.dx.data],
    ['w', outA.dw.data],
  ] as const) {
    const data = feeds[name].data;
    for (let k = 0; k < data.length; k++) {
      const num = await centralDiff(data, k, 1e-6, lossB);
      const got = Number((ana as Float64Array)[k]);
      assert.ok(
        Math.abs(num - got) <= 1e-7 + 1e-5 * Math.abs(num),
        `d loss / d ${name}[${k}]: analytic ${got} vs numeric ${num}`,
      );
      if (name === 'x' && m[k] === 0) assert.is(got, 0);
    }
  }
});

test.run();
