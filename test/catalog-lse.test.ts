// catalogLogSumExp (graph/ops/catalog.ts): the full-catalog log-sum-exp chunk by chunk, its gradient recomputing
// each chunk (graph/lower/catalog-lse.ts). Finite differences in float64; against the whole-catalog form in
// float32 for chunk sizes that do and do not divide the catalog; emitted lowered or not, it is standard ONNX.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveModel } from '../graph/manifest.js';
import { grad } from '../graph/grad.js';
import { Graph } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { checkModels } from './util/checker.js';
import { checkGrad, rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';
import { tempDir } from './util/tmp.js';

const dir = tempDir('hm4sr-catalog-lse-');

for (const chunk of [1, 2, 3, 5, 8]) {
  test(`gradient against finite differences: 7 catalog rows in chunks of ${chunk}`, async () => {
    await checkGrad(
      (_g, [h, cat]) => op.catalogLogSumExp(h, cat, chunk),
      [
        { name: 'h', dims: [3, 4], shape: ['batch', 4] },
        { name: 'cat', dims: [7, 4] },
      ],
    );
  });
}

/** lse, dh and dcat of both forms on the same inputs (float32), for a loss weighting each row differently. */
async function bothForms(B: number, N: number, K: number, chunk: number, lower = true) {
  const g = new Graph('lse');
  const h = g.input('h', 'float32', ['batch', K]);
  const cat = g.input('cat', 'float32', [N, K]);
  const w = g.input('w', 'float32', ['batch']);
  const chunked = op.catalogLogSumExp(h, cat, chunk);
  const whole = op.reduceLogSumExp(op.matmul(h, op.transposeLast(cat)), [1]);
  const [dh, dcat] = grad(op.reduceSum(op.mul(chunked, w)), [h, cat]);
  const [dhW, dcatW] = grad(op.reduceSum(op.mul(whole, w)), [h, cat]);
  for (const [v, n] of [
    [chunked, 'lse'],
    [whole, 'lse_whole'],
    [dh, 'dh'],
    [dhW, 'dh_whole'],
    [dcat, 'dcat'],
    [dcatW, 'dcat_whole'],
  ] as const)
    g.output(v, n);
  const r = rng(N * 31 + chunk);
  const data = (n: number, scale: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  const run = await compile(g, { params: 'inputs', lower });
  const out = await run({
    h: { data: data(B * K, 3), dims: [B, K] },
    cat: { data: data(N * K, 3), dims: [N, K] },
    w: { data: data(B, 1), dims: [B] },
  });
  return { g, out };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 + 1e-5 * Math.abs(b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test('equals the whole-catalog form to float32 rounding, chunks that divide the catalog and not, any batch', async () => {
  for (const [B, N, chunk] of [
    [5, 40, 8],
    [5, 40, 7],
    [1, 40, 39],
    [9, 3, 1],
    [4, 33, 100],
  ]) {
    const { out } = await bothForms(B, N, 6, chunk);
    for (const k of ['lse', 'dh', 'dcat'])
      close(out[k].data as Float32Array, out[`${k}_whole`].data as Float32Array, `${k}, B ${B} N ${N} chunk ${chunk}`);
  }
});

test('is standard ONNX lowered or not: both pass onnx.checker and run', async () => {
  const files: string[] = [];
  for (const lower of [true, false]) {
    const { g, out } = await bothForms(3, 10, 4, 3, lower);
    close(out.lse.data as Float32Array, out.lse_whole.data as Float32Array, `lse, lower ${lower}`);
    const file = join(dir, `lse-${lower}.onnx`);
    saveModel(g, file, 'lse', { params: 'inputs', lower });
    files.push(file);
  }
  checkModels(files);
});

test('refuses a catalog of symbolic rows and a chunk that is not a positive integer, naming the op', () => {
  const g = new Graph('bad');
  const h = g.input('h', 'float32', ['batch', 4]);
  assert.throws(() => op.catalogLogSumExp(h, g.input('c', 'float32', ['items', 4]), 4), /CatalogLogSumExp.*static/);
  assert.throws(() => op.catalogLogSumExp(h, g.input('d', 'float32', [9, 4]), 0), /CatalogLogSumExp.*positive integer/);
});

test.run();
