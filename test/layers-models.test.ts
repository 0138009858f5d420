import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modelProto } from '../graph/emit.js';
import type { Graph } from '../graph/graph.js';
import { type BertConfig, buildBertGraph } from '../graph/layers/bert.js';
import { type VitConfig, buildVitGraph, vitGrid } from '../graph/layers/vit.js';
import type { TypedData } from '../graph/types.js';
import { rng } from './util/gradcheck.js';
import type { Feed } from './util/ort.js';
import { compileWith, paramValues } from './util/params.js';

/** Random values for every parameter (ones-init around 1, the rest uniform(-0.5, 0.5)), float32. */
const int64 = (xs: number[], dims: number[]): Feed => ({ data: BigInt64Array.from(xs.map(BigInt)), dims });

/** The graph's ONNX inputs/outputs as name -> dims (dim_param names or sizes); no parameter appears as an input. */
function signature(g: Graph, values: Map<string, TypedData>) {
  const m = modelProto(g, { params: 'initializers', values }).graph!;
  const io = (vs: NonNullable<typeof m.input>) =>
    Object.fromEntries(
      vs.map((v) => [v.name!, v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))]),
    );
  return { inputs: io(m.input!), outputs: io(m.output!), initializers: m.initializer!.length };
}

function lnRows(x: number[][], w: Float32Array, b: Float32Array, eps: number): number[][] {
  return x.map((row) => {
    const mu = row.reduce((s, v) => s + v, 0) / row.length;
    const vr = row.reduce((s, v) => s + (v - mu) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mu) / Math.sqrt(vr + eps)) * w[i] + b[i]);
  });
}

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(Number(actual[i]) - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(e <= tol)) assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}
const finite = (d: ArrayLike<number>) => Array.from(d).every(Number.isFinite);

const BERT: BertConfig = { vocab: 30, hidden: 16, layers: 2, heads: 2, intermediate: 32, maxPositions: 12 };

test('BERT: HF-style inputs/outputs, runs at two batch/sequence sizes with finite outputs', async () => {
  const g = buildBertGraph(BERT);
  const p = paramValues(g, rng(21));
  const sig = signature(g, p);
  assert.equal(sig.inputs, {
    input_ids: ['batch', 'sequence'],
    attention_mask: ['batch', 'sequence'],
    token_type_ids: ['batch', 'sequence'],
  });
  assert.equal(sig.outputs, { last_hidden_state: ['batch', 'sequence', 16] });
  assert.is(sig.initializers, g.params.size);
  assert.ok(g.params.has('embeddings.word.weight') && g.params.has('encoder.layer1.ffn_norm.bias'));
  assert.is(g.params.size, 5 + 2 * 16);
  const run = await compileWith(g, p);
  for (const [b, t] of [
    [2, 5],
    [3, 9],
  ]) {
    const n = b * t;
    const r = await run({
      input_ids: int64(
        Array.from({ length: n }, (_, i) => (i * 7) % 30),
        [b, t],
      ),
      attention_mask: int64(
        Array.from({ length: n }, (_, i) => (i % t < t - 1 ? 1 : 0)),
        [b, t],
      ),
      token_type_ids: int64(
        Array.from({ length: n }, (_, i) => i % 2),
        [b, t],
      ),
    });
    assert.equal(r.last_hidden_state.dims, [b, t, 16]);
    assert.ok(finite(r.last_hidden_state.data as Float32Array));
  }
});

test('BERT: padding is invisible to the real tokens; token types matter', async () => {
  const g = buildBertGraph(BERT);
  const run = await compileWith(g, paramValues(g, rng(22)));
  const ids = [2, 11, 5, 29, 7];
  const types = [0, 0, 0, 1, 1];
  const base = await run({
    input_ids: int64(ids, [1, 5]),
    attention_mask: int64([1, 1, 1, 1, 1], [1, 5]),
    token_type_ids: int64(types, [1, 5]),
  });
  const padded = await run({
    input_ids: int64([...ids, 0, 0, 0], [1, 8]),
    attention_mask: int64([1, 1, 1, 1, 1, 0, 0, 0], [1, 8]),
    token_type_ids: int64([...types, 0, 0, 0], [1, 8]),
  });
  const a = Array.from(base.last_hidden_state.data as Float32Array);
  close((padded.last_hidden_state.data as Float32Array).subarray(0, 5 * 16), a, 1e-5, 'padded run');
  const other = await run({
    input_ids: int64(ids, [1, 5]),
    attention_mask: int64([1, 1, 1, 1, 1], [1, 5]),
    token_type_ids: int64([0, 0, 0, 0, 0], [1, 5]),
  });
  const diff = Array.from(other.last_hidden_state.data as Float32Array).reduce((s, v, i) => s + Math.abs(v - a[i]), 0);
  assert.ok(diff > 1e-2, 'token_type_ids have no effect');
});

test('BERT with 0 layers is LN(word + position + token type) (host reference); token_type_ids optional', async () => {
  for (const withTypes of [true, false]) {
    const g = buildBertGraph({ ...BERT, layers: 0 }, { tokenTypeIds: withTypes });
    const p = paramValues(g, rng(23));
    assert.equal(
      Object.keys(signature(g, p).inputs),
      withTypes ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'],
    );
    const ids = [4, 9, 9, 1, 0, 17],
      types = [0, 1, 1, 0, 0, 1];
    const feeds: Record<string, Feed> = {
      input_ids: int64(ids, [2, 3]),
      attention_mask: int64([1, 1, 1, 1, 0, 1], [2, 3]),
    };
    if (withTypes) feeds.token_type_ids = int64(types, [2, 3]);
    const r = await (await compileWith(g, p))(feeds);
    const word = p.get('embeddings.word.weight')!,
      pos = p.get('embeddings.position.weight')!,
      typ = p.get('embeddings.token_type.weight')!;
    const d = 16;
    const sums = ids.map((id, k) =>
      Array.from(
        { length: d },
        (_, j) => word[id * d + j] + pos[(k % 3) * d + j] + typ[(withTypes ? types[k] : 0) * d + j],
      ),
    );
    close(
      r.last_hidden_state.data as Float32Array,
      lnRows(sums, p.get('embeddings.norm.weight')!, p.get('embeddings.norm.bias')!, 1e-12).flat(),
      1e-5,
      'embeddings',
    );
  }
});

const VIT: VitConfig = { imageSize: [8, 12], patchSize: 4, hidden: 16, layers: 2, heads: 2, intermediate: 32 };

test('ViT: pixel_values -> last_hidden_state [batch, 1 + P, hidden], finite, per-image independent of the batch', async () => {
  const g = buildVitGraph(VIT);
  const { patches } = vitGrid(VIT);
  assert.is(patches, 6);
  const p = paramValues(g, rng(31));
  const sig = signature(g, p);
  assert.equal(sig.inputs, { pixel_values: ['batch', 3, 8, 12] });
  assert.equal(sig.outputs, { last_hidden_state: ['batch', 7, 16] });
  assert.equal(g.params.get('embeddings.patch.weight')!.spec.dims, [16, 3, 4, 4]);
  assert.equal(g.params.get('embeddings.cls_token')!.spec.dims, [1, 1, 16]);
  assert.equal(g.params.get('embeddings.position')!.spec.dims, [7, 16]);
  assert.ok(g.params.has('norm.weight') && g.params.has('encoder.layer1.attn.q.weight'));
  const run = await compileWith(g, p);
  const rand = rng(32);
  const img = 3 * 8 * 12;
  const px = Float32Array.from({ length: 3 * img }, () => rand() * 2 - 1);
  const all = await run({ pixel_values: { data: px, dims: [3, 3, 8, 12] } });
  assert.equal(all.last_hidden_state.dims, [3, 7, 16]);
  assert.ok(finite(all.last_hidden_state.data as Float32Array));
  const one = await run({ pixel_values: { data: px.slice(2 * img), dims: [1, 3, 8, 12] } });
  assert.equal(one.last_hidden_state.dims, [1, 7, 16]);
  close(
    (all.last_hidden_state.data as Float32Array).subarray(2 * 7 * 16),
    Array.from(one.last_hidden_state.data as Float32Array),
    1e-5,
    'image 2 alone',
  );
});

test('ViT with 0 layers is LN([cls; patch conv] + position) (host reference, row-major patch order)', async () => {
  const cfg = { ...VIT, layers: 0 };
  const g = buildVitGraph(cfg);
  const p = paramValues(g, rng(33));
  const rand = rng(34);
  const [C, Hh, W, ps, d] = [3, 8, 12, 4, 16];
  const px = Float32Array.from({ length: C * Hh * W }, () => rand() * 2 - 1);
  const r = await (await compileWith(g, p))({ pixel_values: { data: px, dims: [1, C, Hh, W] } });
  const w = p.get('embeddings.patch.weight')!,
    b = p.get('embeddings.patch.bias')!,
    cls = p.get('embeddings.cls_token')!,
    pos = p.get('embeddings.position')!;
  const tokens: number[][] = [Array.from(cls)];
  for (let gy = 0; gy < Hh / ps; gy++) {
    for (let gx = 0; gx < W / ps; gx++) {
      tokens.push(
        Array.from({ length: d }, (_, o) => {
          let s = b[o];
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < ps; ky++)
              for (let kx = 0; kx < ps; kx++) {
                s += w[((o * C + c) * ps + ky) * ps + kx] * px[(c * Hh + gy * ps + ky) * W + gx * ps + kx];
              }
          return s;
        }),
      );
    }
  }
  const withPos = tokens.map((t, k) => t.map((v, j) => v + pos[k * d + j]));
  close(
    r.last_hidden_state.data as Float32Array,
    lnRows(withPos, p.get('norm.weight')!, p.get('norm.bias')!, 1e-12).flat(),
    1e-5,
    'vit embeddings',
  );
});

test.run();
