import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph, type Value } from '../graph/graph.js';
import { erfSeries, gelu } from '../graph/layers/activations.js';
import { selfAttention } from '../graph/layers/attention.js';
import { dropout } from '../graph/layers/dropout.js';
import { embedding } from '../graph/layers/embedding.js';
import { linear } from '../graph/layers/linear.js';
import {
  causalPaddingMask,
  keyPaddingMask,
  transformerEncoder,
  transformerLayer,
} from '../graph/layers/transformer.js';
import { rng } from './util/gradcheck.js';
import { type Feed, compile } from './util/ort.js';
import { compileWith, paramValues } from './util/params.js';

/** A dropout site's random node: ONNX Dropout, or the uniform draws of the ratio-1/2 keep-mask. */
const isRandom = (op: string) => op === 'Dropout' || op === 'RandomUniformLike';

const B = 2,
  L = 4,
  D = 8,
  H = 2,
  DH = D / H,
  INNER = 16;
// Right-padded item ids: lengths 4 and 2.
const IDS = [3, 1, 4, 2, 5, 6, 0, 0];
const int64 = (xs: number[], dims: number[]): Feed => ({ data: BigInt64Array.from(xs.map(BigInt)), dims });

/** Random values for every parameter of g (ones-init around 1, the rest uniform(-0.5, 0.5)), float32. */

// ---- host-side reference (float64) ----
type P = Map<string, Float32Array>;
function lin(x: number[][], p: P, name: string): number[][] {
  const w = p.get(`${name}.weight`)!,
    b = p.get(`${name}.bias`);
  const nin = x[0].length,
    nout = w.length / nin;
  return x.map((row) =>
    Array.from({ length: nout }, (_, o) => row.reduce((s, v, i) => s + v * w[i * nout + o], b ? b[o] : 0)),
  );
}
function ln(x: number[][], p: P, name: string, eps = 1e-12): number[][] {
  const w = p.get(`${name}.weight`)!,
    b = p.get(`${name}.bias`)!;
  return x.map((row) => {
    const mu = row.reduce((s, v) => s + v, 0) / row.length;
    const vr = row.reduce((s, v) => s + (v - mu) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mu) / Math.sqrt(vr + eps)) * w[i] + b[i]);
  });
}
function erfRef(x: number): number {
  // Kummer's series (all positive terms), exact to float64 rounding for |x| <= 6.
  const u = Math.max(-6, Math.min(6, x)),
    z = 2 * u * u;
  let t = 1,
    term = 1;
  for (let n = 1; n < 200; n++) {
    term *= z / (2 * n + 1);
    t += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-u * u) * u * t;
}
const geluRef = (v: number) => 0.5 * v * (1 + erfRef(v / Math.SQRT2));
const allowed = (b: number, i: number, j: number) => j <= i && IDS[b * L + j] !== 0;

/** Multi-head attention of one sequence [L, D] (batch row b), with the causal + padding mask. */
function attnRef(x: number[][], b: number, p: P, name: string): { out: number[][]; probs: number[][][] } {
  const q = lin(x, p, `${name}.q`),
    k = lin(x, p, `${name}.k`),
    v = lin(x, p, `${name}.v`);
  const ctx = x.map(() => Array<number>(D).fill(0));
  const probs: number[][][] = [];
  for (let h = 0; h < H; h++) {
    const ph: number[][] = [];
    for (let i = 0; i < L; i++) {
      const s = Array.from({ length: L }, (_, j) => {
        let dot = 0;
        for (let e = 0; e < DH; e++) dot += q[i][h * DH + e] * k[j][h * DH + e];
        return dot / Math.sqrt(DH) + (allowed(b, i, j) ? 0 : -10000);
      });
      const mx = Math.max(...s),
        ex = s.map((z) => Math.exp(z - mx)),
        sum = ex.reduce((a, c) => a + c, 0);
      const pr = ex.map((e) => e / sum);
      ph.push(pr);
      for (let e = 0; e < DH; e++) ctx[i][h * DH + e] = pr.reduce((acc, w, j) => acc + w * v[j][h * DH + e], 0);
    }
    probs.push(ph);
  }
  return { out: lin(ctx, p, `${name}.out`), probs };
}

function layerRef(x: number[][], b: number, p: P, name: string, norm: 'post' | 'pre'): number[][] {
  const add = (a: number[][], c: number[][]) => a.map((r, i) => r.map((v, j) => v + c[i][j]));
  const ffn = (v: number[][]) =>
    lin(
      lin(v, p, `${name}.ffn.dense1`).map((r) => r.map(geluRef)),
      p,
      `${name}.ffn.dense2`,
    );
  if (norm === 'pre') {
    const h = add(x, attnRef(ln(x, p, `${name}.attn_norm`), b, p, `${name}.attn`).out);
    return add(h, ffn(ln(h, p, `${name}.ffn_norm`)));
  }
  const h = ln(add(x, attnRef(x, b, p, `${name}.attn`).out), p, `${name}.attn_norm`);
  return ln(add(h, ffn(h)), p, `${name}.ffn_norm`);
}

const rows = (data: ArrayLike<number>, b: number, n: number, d: number): number[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: d }, (_, j) => Number(data[(b * n + i) * d + j])));

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let worst = 0,
    at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(Number(actual[i]) - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (rel err ${worst.toExponential(2)})`,
  );
}

function xFeed(rand: () => number, b = B, l = L): Feed {
  return { data: Float32Array.from({ length: b * l * D }, () => rand() * 2 - 1), dims: [b, l, D] };
}

function attentionGraph(): { g: Graph; out: Value; probs: Value; mask: Value } {
  const g = new Graph('attn');
  const x = g.input('x', 'float32', ['batch', 'seq', D]);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const mask = causalPaddingMask(ids);
  const { out, probs } = selfAttention(g, 'attn', x, mask, { hidden: D, heads: H });
  g.output(out, 'out');
  g.output(probs, 'probs');
  g.output(mask, 'mask');
  return { g, out, probs, mask };
}

test('attention output equals softmax(QK^T/sqrt(dh) + mask) V computed on the host', async () => {
  const { g, out, probs, mask } = attentionGraph();
  assert.equal(out.shape, ['batch', 'seq', D]);
  assert.equal(probs.shape, ['batch', H, 'seq', 'seq']);
  assert.equal(mask.shape, ['batch', 1, 'seq', 'seq']);
  const rand = rng(11);
  const p = paramValues(g, rand);
  const x = xFeed(rand);
  const r = await (await compileWith(g, p))({ x, ids: int64(IDS, [B, L]) });
  assert.equal(r.out.dims, [B, L, D]);
  for (let b = 0; b < B; b++) {
    const ref = attnRef(rows(x.data as Float32Array, b, L, D), b, p, 'attn');
    close((r.out.data as Float32Array).subarray(b * L * D, (b + 1) * L * D), ref.out.flat(), 1e-5, `out[${b}]`);
    close(
      (r.probs.data as Float32Array).subarray(b * H * L * L, (b + 1) * H * L * L),
      ref.probs.flat(2),
      1e-5,
      `probs[${b}]`,
    );
  }
});

test('mask: future positions and padded keys get exactly zero probability; the mask is 0 / -10000', async () => {
  const { g } = attentionGraph();
  const rand = rng(12);
  const run = await compileWith(g, paramValues(g, rand));
  const r = await run({ x: xFeed(rand), ids: int64(IDS, [B, L]) });
  const probs = r.probs.data as Float32Array,
    mask = r.mask.data as Float32Array;
  assert.equal(r.mask.dims, [B, 1, L, L]);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < L; j++) {
        assert.is(mask[(b * L + i) * L + j], allowed(b, i, j) ? 0 : -10000, `mask[${b},0,${i},${j}]`);
        for (let h = 0; h < H; h++) {
          const pr = probs[((b * H + h) * L + i) * L + j];
          if (allowed(b, i, j)) assert.ok(pr > 0, `probs[${b},${h},${i},${j}] = ${pr} should be > 0`);
          else assert.is(pr, 0, `probs[${b},${h},${i},${j}] must be exactly 0`);
        }
      }
    }
  }
  // Symbolic batch and sequence: the same session takes other sizes.
  const ids2 = [1, 2, 3, 0, 0, 4, 0, 0, 0, 0, 5, 6, 7, 8, 9];
  const r2 = await run({ x: xFeed(rand, 3, 5), ids: int64(ids2, [3, 5]) });
  assert.equal(r2.out.dims, [3, 5, D]);
  assert.equal(r2.probs.dims, [3, H, 5, 5]);
  const p2 = r2.probs.data as Float32Array;
  // Second sequence has length 1: every query attends to key 0 only.
  for (let h = 0; h < H; h++)
    for (let i = 0; i < 5; i++) assert.is(p2[((1 * H + h) * 5 + i) * 5], 1, `row ${i} of a length-1 sequence`);
});

test('keyPaddingMask: [B, 1, 1, T], -10000 at attention_mask 0', async () => {
  const g = new Graph('kpm');
  const am = g.input('attention_mask', 'int64', ['batch', 'sequence']);
  const m = keyPaddingMask(am);
  assert.equal(m.shape, ['batch', 1, 1, 'sequence']);
  g.output(m, 'm');
  const r = await (await compile(g))({ attention_mask: int64([1, 1, 0, 1, 0, 0], [2, 3]) });
  assert.equal(r.m.dims, [2, 1, 1, 3]);
  assert.equal(Array.from(r.m.data as Float32Array), [0, 0, -10000, 0, -10000, -10000]);
});

for (const norm of ['post', 'pre'] as const) {
  test(`${norm}-LN transformer layer equals the host reference`, async () => {
    const g = new Graph('layer');
    const x = g.input('x', 'float32', ['batch', 'seq', D]);
    const ids = g.input('ids', 'int64', ['batch', 'seq']);
    const y = transformerLayer(g, 'layer0', x, causalPaddingMask(ids), {
      hidden: D,
      heads: H,
      inner: INNER,
      norm,
      hiddenDropout: 0.5,
      attnDropout: 0.5,
    });
    assert.equal(y.shape, ['batch', 'seq', D]);
    assert.not.ok(
      g.nodes.some((n) => isRandom(n.op)),
      'no dropout node at evaluation',
    );
    g.output(y, 'y');
    const rand = rng(norm === 'post' ? 13 : 14);
    const p = paramValues(g, rand);
    const xf = xFeed(rand);
    const r = await (await compileWith(g, p))({ x: xf, ids: int64(IDS, [B, L]) });
    for (let b = 0; b < B; b++) {
      const ref = layerRef(rows(xf.data as Float32Array, b, L, D), b, p, 'layer0', norm);
      close((r.y.data as Float32Array).subarray(b * L * D, (b + 1) * L * D), ref.flat(), 2e-5, `y[${b}]`);
    }
  });
}

test('2-layer encoder: exact dotted parameter names, shapes and inits', () => {
  const g = new Graph('enc');
  const x = g.input('x', 'float32', ['batch', 'seq', D]);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const y = transformerEncoder(g, 'encoder', x, causalPaddingMask(ids), {
    layers: 2,
    hidden: D,
    heads: H,
    inner: INNER,
  });
  assert.equal(y.shape, ['batch', 'seq', D]);
  const expected: [string, number[]][] = [];
  for (let i = 0; i < 2; i++) {
    const s = `encoder.layer${i}`;
    for (const n of ['q', 'k', 'v', 'out'])
      expected.push([`${s}.attn.${n}.weight`, [D, D]], [`${s}.attn.${n}.bias`, [D]]);
    expected.push([`${s}.attn_norm.weight`, [D]], [`${s}.attn_norm.bias`, [D]]);
    expected.push([`${s}.ffn.dense1.weight`, [D, INNER]], [`${s}.ffn.dense1.bias`, [INNER]]);
    expected.push([`${s}.ffn.dense2.weight`, [INNER, D]], [`${s}.ffn.dense2.bias`, [D]]);
    expected.push([`${s}.ffn_norm.weight`, [D]], [`${s}.ffn_norm.bias`, [D]]);
  }
  assert.equal(
    [...g.params.values()].map(({ spec }) => [spec.name, spec.dims]),
    expected,
  );
  for (const { spec, value } of g.params.values()) {
    assert.is(value.name, spec.name);
    assert.ok(spec.trainable);
    const want = spec.name.includes('norm.weight')
      ? { kind: 'ones' }
      : spec.name.endsWith('.weight')
        ? { kind: 'normal', std: 0.02 }
        : { kind: 'zeros' };
    assert.equal(spec.init, want, spec.name);
  }
  // Training mode: three dropout sites per layer (attention probs, attention output, FFN output), distinct seeds.
  const t = new Graph('enc_train');
  t.randomSeed = 3;
  const tx = t.input('x', 'float32', ['batch', 'seq', D]);
  const tids = t.input('ids', 'int64', ['batch', 'seq']);
  transformerEncoder(t, 'encoder', tx, causalPaddingMask(tids), {
    layers: 2,
    hidden: D,
    heads: H,
    inner: INNER,
    hiddenDropout: 0.5,
    attnDropout: 0.5,
    training: true,
  });
  const drops = t.nodes.filter((nd) => isRandom(nd.op));
  assert.is(drops.length, 6);
  assert.is(new Set(drops.map((nd) => (nd.attrs.seed as { v: number }).v)).size, 6);
  assert.equal(
    [...t.params.keys()],
    expected.map(([nm]) => nm),
    'training adds no parameters',
  );
});

test('Linear init options and Embedding', () => {
  const g = new Graph('lin');
  const x = g.input('x', 'float32', ['batch', 'seq', 6]);
  const y = g.withScope('head', () => linear(g, 'cp', x, 6, 4, { init: 'torch' }));
  assert.equal(y.shape, ['batch', 'seq', 4]);
  const a = 1 / Math.sqrt(6);
  assert.equal(g.params.get('head.cp.weight')!.spec.init, { kind: 'uniform', a });
  assert.equal(g.params.get('head.cp.bias')!.spec.init, { kind: 'uniform', a });
  linear(g, 'nb', x, 6, 3, { bias: false });
  assert.ok(g.params.has('nb.weight') && !g.params.has('nb.bias'));
  assert.throws(() => linear(g, 'bad', x, 5, 3), /6 features/);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const e = embedding(g, 'item', ids, 10, 6);
  assert.equal(e.shape, ['batch', 'seq', 6]);
  assert.equal(g.params.get('item.weight')!.spec.dims, [10, 6]);
  assert.equal(g.params.get('item.weight')!.spec.init, { kind: 'normal', std: 0.02 });
});

test('dropout layer: identity at eval and ratio 0; in training a seeded site dropping about half, scaled by 2', async () => {
  const build = (training: boolean, ratio: number, base = 5) => {
    const g = new Graph('drop');
    g.randomSeed = base;
    const x = g.input('x', 'float32', [4, 256]);
    const y = dropout(g, dropout(g, x, { ratio, training }), { ratio, training });
    g.output(y, 'y');
    return { g, x, y };
  };
  for (const [training, ratio] of [
    [false, 0.5],
    [true, 0],
  ] as const) {
    const { x, y, g } = build(training, ratio);
    assert.is(y, x);
    assert.is(g.nodes.filter((n) => isRandom(n.op)).length, 0);
  }
  const { g } = build(true, 0.5);
  const seeds = g.nodes.filter((n) => isRandom(n.op)).map((n) => (n.attrs.seed as { v: number }).v);
  assert.is(seeds.length, 2);
  assert.is.not(seeds[0], seeds[1]);
  assert.equal(
    build(true, 0.5)
      .g.nodes.filter((n) => isRandom(n.op))
      .map((n) => (n.attrs.seed as { v: number }).v),
    seeds,
    'same base, same seeds',
  );
  const single = new Graph('d1');
  const xi = single.input('x', 'float32', [4, 256]);
  single.output(dropout(single, xi, { ratio: 0.5, training: true }), 'y');
  const r = await (await compile(single))({ x: { data: new Float32Array(1024).fill(1), dims: [4, 256] } });
  const ys = Array.from(r.y.data as Float32Array);
  assert.ok(
    ys.every((v) => v === 0 || v === 2),
    'inverted dropout values',
  );
  const zeros = ys.filter((v) => v === 0).length / ys.length;
  assert.ok(zeros > 0.4 && zeros < 0.6, `dropped fraction ${zeros}`);
});

test('GELU (float32 Erf) and erfSeries (float64) against the host reference', async () => {
  const xs = [-7, -4, -2.5, -1, -0.3, 0, 0.2, 0.7, 1.5, 3, 5, 9];
  const g = new Graph('gelu');
  const x32 = g.input('x32', 'float32', [xs.length]);
  const x64 = g.input('x64', 'float64', [xs.length]);
  g.output(gelu(x32), 'g32');
  g.output(gelu(x64), 'g64');
  g.output(erfSeries(x64), 'erf64');
  const r = await (
    await compile(g)
  )({
    x32: { data: Float32Array.from(xs), dims: [xs.length] },
    x64: { data: Float64Array.from(xs), dims: [xs.length] },
  });
  close(r.g32.data as Float32Array, xs.map(geluRef), 1e-6, 'gelu float32');
  close(r.g64.data as Float64Array, xs.map(geluRef), 1e-14, 'gelu float64');
  // Published values of erf.
  const known: [number, number][] = [
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [-3, -0.9999779095030014],
    [9, 1],
  ];
  const idx = (v: number) => xs.indexOf(v);
  for (const [v, e] of known) {
    const gg = new Graph('erf');
    const xi = gg.input('x', 'float64', [1]);
    gg.output(erfSeries(xi), 'y');
    const y = Number((await (await compile(gg))({ x: { data: Float64Array.of(v), dims: [1] } })).y.data[0]);
    assert.ok(Math.abs(y - e) < 1e-15, `erf(${v}) = ${y}, expected ${e}`);
    if (idx(v) >= 0) assert.ok(Math.abs(Number(r.erf64.data[idx(v)]) - e) < 1e-15);
  }
});

test.run();
