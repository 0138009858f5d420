import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../graph/grad.js';
import { Graph, type Value } from '../graph/graph.js';
import { selfAttention } from '../graph/layers/attention.js';
import { gelu } from '../graph/layers/activations.js';
import { bert } from '../graph/layers/bert.js';
import { linear } from '../graph/layers/linear.js';
import { layerNorm } from '../graph/layers/norm.js';
import { causalPaddingMask, transformerLayer } from '../graph/layers/transformer.js';
import * as op from '../graph/ops/index.js';
import { centralDiff, gradCheck, pick, rng } from './util/gradcheck.js';
import { type Feed, compile } from './util/ort.js';

type FloatT = 'float32' | 'float64';
type Data = Float32Array | Float64Array;

interface ParamCheck {
  /** Tensors checked (parameters by dotted name, float graph inputs by input name) and elements per tensor. */
  tensors: Map<string, number>;
  checked: number;
  maxRelErr: number;
}

/**
 * Finite-difference check of d sum(y * r) / d (every parameter and every float graph input), r a fixed random
 * projection. `build` declares its own inputs (named as in `inputs`) and parameters; parameters are emitted as
 * graph inputs and fed random values (ones-init around 1, the rest uniform(-scale, scale)).
 */
async function paramGradCheck(
  build: (g: Graph, dtype: FloatT) => Value,
  inputs: (dtype: FloatT, rand: () => number) => Record<string, Feed>,
  opts: {
    dtype?: FloatT;
    seed?: number;
    maxPerTensor?: number;
    eps?: number;
    rtol?: number;
    atol?: number;
    scale?: number;
    /** Tensors the loss is mathematically invariant to (their gradient must be ~0 rather than nonzero). */
    invariant?: string[];
  } = {},
): Promise<ParamCheck> {
  const dtype = opts.dtype ?? 'float64';
  const rand = rng(opts.seed ?? 7);
  const F = dtype === 'float64' ? Float64Array : Float32Array;
  const eps = opts.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const rtol = opts.rtol ?? (dtype === 'float64' ? 1e-5 : 3e-2);
  const atol = opts.atol ?? (dtype === 'float64' ? 1e-7 : 3e-3);
  const scale = opts.scale ?? 0.5;

  const feeds = inputs(dtype, rand);
  // Forward once for y's dims and the parameter list.
  const g0 = new Graph('fwd');
  g0.output(build(g0, dtype), 'y');
  const params = [...g0.params.values()].map((p) => p.spec);
  assert.ok(params.length > 0 || g0.inputs.length > 0, 'nothing to check');
  for (const s of params) {
    assert.is(s.dtype, dtype, `parameter ${s.name} has dtype ${s.dtype}, expected ${dtype}`);
    const n = s.dims.reduce((a, b) => a * b, 1);
    const d = new F(n);
    for (let i = 0; i < n; i++) {
      const u = (rand() * 2 - 1) * scale;
      d[i] = s.init.kind === 'ones' ? 1 + u : u;
    }
    feeds[s.name] = { data: d, dims: s.dims };
  }
  const y = (await (await compile(g0))(feeds)).y;
  feeds.r = { data: F.from(Array.from({ length: y.data.length }, () => rand() * 2 - 1)), dims: y.dims.map(Number) };

  const make = (withGrad: boolean) => {
    const g = new Graph(withGrad ? 'grad' : 'loss');
    const out = build(g, dtype);
    const r = g.input('r', dtype, feeds.r.dims);
    const loss = op.reduceSum(op.mul(out, r));
    g.output(loss, 'loss');
    const floatIns = g.inputs.filter((v) => v.dtype === dtype && v.name !== 'r');
    const wrt = [...[...g.params.values()].map((p) => p.value), ...floatIns];
    if (withGrad) grad(loss, wrt).forEach((d, k) => g.output(d, `d_${k}`));
    return { g, wrt };
  };
  const full = make(true);
  const analytic = await (await compile(full.g))(feeds);
  const lossRun = await compile(make(false).g);
  const lossAt = async () => Number((await lossRun(feeds)).loss.data[0]);

  const res: ParamCheck = { tensors: new Map(), checked: 0, maxRelErr: 0 };
  for (let k = 0; k < full.wrt.length; k++) {
    const name = full.wrt[k].name;
    const data = feeds[name].data as Data;
    const ana = analytic[`d_${k}`].data as Data;
    assert.is(ana.length, data.length, `gradient of ${name}: ${ana.length} elements for ${data.length}`);
    const idx = pick(data.length, opts.maxPerTensor ?? Infinity, rand);
    let nonzero = 0;
    for (const i of idx) {
      const num = await centralDiff(data, i, eps, lossAt);
      const err = Math.abs(num - ana[i]);
      if (Math.abs(num) > 10 * atol) nonzero++;
      res.maxRelErr = Math.max(res.maxRelErr, err / (Math.abs(num) + atol));
      if (!(err <= atol + rtol * Math.abs(num))) {
        assert.unreachable(
          `${dtype} d loss / d ${name}[${i}]: analytic ${ana[i]} vs numeric ${num} (err ${err.toExponential(2)})`,
        );
      }
      res.checked++;
    }
    // A gradient that is zero everywhere would pass vacuously: every checked tensor must influence the loss,
    // except the declared invariants, whose analytic gradient must then vanish everywhere.
    if (opts.invariant?.includes(name)) {
      const big = Math.max(...Array.from(ana, Math.abs));
      assert.ok(big <= atol, `gradient of invariant ${name} is not ~0: max |d| = ${big}`);
    } else {
      assert.ok(nonzero > 0, `loss does not depend on ${name}`);
    }
    res.tensors.set(name, idx.length);
  }
  return res;
}

const floats = (dtype: FloatT, rand: () => number, dims: number[]): Feed => {
  const n = dims.reduce((a, b) => a * b, 1);
  const F = dtype === 'float64' ? Float64Array : Float32Array;
  return { data: F.from(Array.from({ length: n }, () => rand() * 2 - 1)), dims };
};
const int64 = (xs: number[], dims: number[]): Feed => ({ data: BigInt64Array.from(xs.map(BigInt)), dims });

// Sequences right-padded with 0: lengths 4 and 2 (B = 2, L = 4).
const IDS = [3, 1, 4, 2, 5, 6, 0, 0];

test('Linear: rank-3 input, weight [in, out] and bias, every element', async () => {
  const r = await paramGradCheck(
    (g, dt) => linear(g, 'proj', g.input('x', dt, ['batch', 'seq', 5]), 5, 3),
    (dt, rand) => ({ x: floats(dt, rand, [2, 4, 5]) }),
  );
  assert.equal([...r.tensors.keys()], ['proj.weight', 'proj.bias', 'x']);
  assert.is(r.checked, 15 + 3 + 40);
});

test('Linear: no bias, rank-2 input', async () => {
  const r = await paramGradCheck(
    (g, dt) => linear(g, 'p', g.input('x', dt, [3, 4]), 4, 2, { bias: false, init: 'torch' }),
    (dt, rand) => ({ x: floats(dt, rand, [3, 4]) }),
  );
  assert.equal([...r.tensors.keys()], ['p.weight', 'x']);
});

test('LayerNorm layer (eps 1e-12): input, weight and bias', async () => {
  const r = await paramGradCheck(
    (g, dt) => layerNorm(g, 'ln', g.input('x', dt, ['batch', 'seq', 6]), 6, { eps: 1e-12 }),
    (dt, rand) => ({ x: floats(dt, rand, [2, 3, 6]) }),
  );
  assert.equal([...r.tensors.keys()], ['ln.weight', 'ln.bias', 'x']);
});

test('LayerNorm layer in float32: the ONNX LayerNormalization node and its gradient rule', async () => {
  const r = await paramGradCheck(
    (g, dt) => layerNorm(g, 'ln', g.input('x', dt, ['batch', 'seq', 6]), 6, { eps: 1e-12 }),
    (dt, rand) => ({ x: floats(dt, rand, [2, 3, 6]) }),
    { dtype: 'float32', eps: 1e-2, rtol: 1e-2, atol: 2e-3 },
  );
  assert.equal([...r.tensors.keys()], ['ln.weight', 'ln.bias', 'x']);
});

test('GELU (erf) in float32 with the real Erf kernel', async () => {
  const r = await gradCheck((_g, [x]) => gelu(op.mul(x, 3)), [{ name: 'x', dims: [4, 5] }], {
    dtypes: ['float32'],
    tol: { eps: 1e-3, rtol: 1e-2, atol: 1e-3 },
  });
  assert.is(r.dtype, 'float32');
});

const mha = (g: Graph, dt: FloatT) => {
  const x = g.input('x', dt, ['batch', 'seq', 8]);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  return selfAttention(g, 'attn', x, causalPaddingMask(ids, { dtype: dt }), { hidden: 8, heads: 2 }).out;
};

test('multi-head attention with causal + padding mask: x and every q/k/v/out parameter', async () => {
  // softmax is invariant to the key bias (it adds q.b_k to every key of a query): its gradient must vanish.
  const r = await paramGradCheck(mha, (dt, rand) => ({ x: floats(dt, rand, [2, 4, 8]), ids: int64(IDS, [2, 4]) }), {
    invariant: ['attn.k.bias'],
  });
  assert.equal(
    [...r.tensors.keys()].sort(),
    [
      'attn.k.bias',
      'attn.k.weight',
      'attn.out.bias',
      'attn.out.weight',
      'attn.q.bias',
      'attn.q.weight',
      'attn.v.bias',
      'attn.v.weight',
      'x',
    ].sort(),
  );
  assert.is(r.checked, 4 * (64 + 8) + 64);
});

const layerCfg = { hidden: 8, heads: 2, inner: 16, eps: 1e-12 } as const;
const LAYER_PARAMS = [
  'attn.q.weight',
  'attn.q.bias',
  'attn.k.weight',
  'attn.k.bias',
  'attn.v.weight',
  'attn.v.bias',
  'attn.out.weight',
  'attn.out.bias',
  'attn_norm.weight',
  'attn_norm.bias',
  'ffn.dense1.weight',
  'ffn.dense1.bias',
  'ffn.dense2.weight',
  'ffn.dense2.bias',
  'ffn_norm.weight',
  'ffn_norm.bias',
].map((n) => `enc.layer0.${n}`);

const layerBuild = (norm: 'post' | 'pre') => (g: Graph, dt: FloatT) => {
  const x = g.input('x', dt, ['batch', 'seq', 8]);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const mask = causalPaddingMask(ids, { dtype: dt });
  return g.withScope('enc', () => transformerLayer(g, 'layer0', x, mask, { ...layerCfg, norm }));
};
const layerFeeds = (dt: FloatT, rand: () => number) => ({ x: floats(dt, rand, [2, 4, 8]), ids: int64(IDS, [2, 4]) });

for (const norm of ['post', 'pre'] as const) {
  test(`${norm}-LN transformer layer: x and every element of every parameter`, async () => {
    const r = await paramGradCheck(
      layerBuild(norm),
      layerFeeds,
      // float64 throughout (LayerNorm and erf composed of primitives, see norm.ts and activations.ts).
      { invariant: ['enc.layer0.attn.k.bias'] },
    );
    assert.equal([...r.tensors.keys()].sort(), [...LAYER_PARAMS, 'x'].sort());
    const total = 4 * (64 + 8) + 4 * 8 + (8 * 16 + 16) + (16 * 8 + 8) + 64;
    assert.is(r.checked, total);
  });
}

test('post-LN transformer layer in float32 (LayerNormalization and Erf kernels): sampled elements of every parameter', async () => {
  const r = await paramGradCheck(layerBuild('post'), layerFeeds, {
    dtype: 'float32',
    maxPerTensor: 8,
    eps: 1e-2,
    rtol: 3e-2,
    atol: 3e-3,
    invariant: ['enc.layer0.attn.k.bias'],
  });
  assert.equal([...r.tensors.keys()].sort(), [...LAYER_PARAMS, 'x'].sort());
});

test('tiny BERT encoder: gradient wrt every parameter tensor (sampled elements)', async () => {
  const cfg = {
    vocab: 11,
    hidden: 8,
    layers: 2,
    heads: 2,
    intermediate: 12,
    maxPositions: 6,
    dtype: 'float64' as const,
  };
  const r = await paramGradCheck(
    (g, dt) => {
      const inputIds = g.input('input_ids', 'int64', ['batch', 'sequence']);
      const attentionMask = g.input('attention_mask', 'int64', ['batch', 'sequence']);
      const tokenTypeIds = g.input('token_type_ids', 'int64', ['batch', 'sequence']);
      return bert(g, 'bert', { inputIds, attentionMask, tokenTypeIds }, { ...cfg, dtype: dt });
    },
    () => ({
      // Repeated tokens (3, 7) exercise the scatter-add of the embedding gradient.
      input_ids: int64([3, 7, 3, 2, 9, 7, 1, 0, 0, 0], [2, 5]),
      attention_mask: int64([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [2, 5]),
      token_type_ids: int64([0, 0, 1, 1, 1, 0, 1, 0, 0, 0], [2, 5]),
    }),
    { maxPerTensor: 6, invariant: ['bert.encoder.layer0.attn.k.bias', 'bert.encoder.layer1.attn.k.bias'] },
  );
  const names = [...r.tensors.keys()];
  assert.is(names.length, 5 + 2 * 16);
  for (const n of [
    'bert.embeddings.word.weight',
    'bert.embeddings.position.weight',
    'bert.embeddings.token_type.weight',
    'bert.embeddings.norm.weight',
    'bert.encoder.layer1.ffn_norm.bias',
  ]) {
    assert.ok(names.includes(n), n);
  }
});

test.run();
