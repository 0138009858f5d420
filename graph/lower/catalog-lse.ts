import type { Value } from '../graph.js';
import * as op from '../ops/index.js';
import { HM4SR_DOMAIN } from '../ops/catalog.js';
import type { Rewrite } from './rewrite.js';

/**
 * catalogLogSumExp and its gradient as ONNX Loops over catalog chunks: a Loop body's values live for one
 * iteration, so memory holds one chunk's [B, chunk] scores however large the catalog (and onnxruntime cannot
 * merge the backward's recomputed scores with the forward's, as it could unrolled identical nodes).
 */
export const catalogLse: Rewrite = {
  name: 'catalog-lse',
  gradientOnly: false,
  domain: HM4SR_DOMAIN,
  match(n) {
    if (n.op !== 'CatalogLogSumExp' || n.domain !== HM4SR_DOMAIN) return null;
    const [h, cat] = n.inputs as Value[];
    return () => [forward(h, cat, chunkOf(n.attrs))];
  },
};

export const catalogLseGrad: Rewrite = {
  name: 'catalog-lse-grad',
  gradientOnly: false,
  domain: HM4SR_DOMAIN,
  match(n) {
    if (n.op !== 'CatalogLogSumExpGrad' || n.domain !== HM4SR_DOMAIN) return null;
    const [h, cat, lse, dlse] = n.inputs as Value[];
    return () => backward(h, cat, lse, dlse, chunkOf(n.attrs));
  },
};

const chunkOf = (attrs: Record<string, unknown>) => (attrs.chunk as { v: number }).v;

/** Rows [iter * chunk, min((iter + 1) * chunk, N)) of cat, in the body. */
function chunkRows(cat: Value, iter: Value, chunk: number): Value {
  const N = cat.dim(0) as number;
  const start = op.mul(op.unsqueeze(iter, [0]), chunk);
  const end = op.min(op.add(start, chunk), N);
  return op.sliceDynamic(cat, start, end, [0], [null, cat.dim(1)]);
}

const trips = (cat: Value, chunk: number) => op.scalar(cat.graph, Math.ceil((cat.dim(0) as number) / chunk), 'int64');

/** Online log-sum-exp: per chunk, the running max m and sum l of exp(s - m) are rescaled to the new max. */
function forward(h: Value, cat: Value, chunk: number): Value {
  const g = h.graph;
  const rows = op.slice(op.shapeOf(h), [0], [1], [0]);
  const m0 = op.constantOfShape(rows, h.dtype, -Infinity, [h.dim(0)]);
  const l0 = op.constantOfShape(rows, h.dtype, 0, [h.dim(0)]);
  const {
    carried: [m, l],
  } = op.loop(
    g,
    trips(cat, chunk),
    [m0, l0],
    (_body, iter, [mIn, lIn]) => {
      const s = op.matmul(h, op.transposeLast(chunkRows(cat, iter, chunk)));
      const mNew = op.max(mIn, op.reduceMax(s, [1], false));
      const sum = op.reduceSum(op.exp(op.sub(s, op.unsqueeze(mNew, [1]))), [1], false);
      return { carried: [mNew, op.add(op.mul(lIn, op.exp(op.sub(mIn, mNew))), sum)] };
    },
    // A fresh name each time: every emission of the graph lowers it again.
    { name: g.freshName('catalog_lse'), carriedNames: ['max', 'sum'] },
  );
  return op.add(m, op.log(l));
}

/**
 * Per chunk: p = exp(s - lse) * dlse (the softmax weights times the adjoint), dh += p cat_c, dcat_c = p^T h.
 * dcat_c leaves as a scan output padded to `chunk` rows (scan outputs have one shape), cut back to N after.
 */
function backward(h: Value, cat: Value, lse: Value, dlse: Value, chunk: number): Value[] {
  const g = h.graph;
  const N = cat.dim(0) as number,
    K = cat.dim(1);
  const lseCol = op.unsqueeze(lse, [1]),
    dCol = op.unsqueeze(dlse, [1]);
  const {
    carried: [dh],
    scans: [parts],
  } = op.loop(
    g,
    trips(cat, chunk),
    [op.zerosLike(h)],
    (body, iter, [dhIn]) => {
      const rows = chunkRows(cat, iter, chunk);
      const s = op.matmul(h, op.transposeLast(rows));
      const p = op.mul(op.exp(op.sub(s, lseCol)), dCol);
      const dRows = op.matmul(op.transposeLast(p), h);
      const short = op.sub(op.scalar(body, chunk, 'int64'), op.dimOf(rows, 0));
      const zero = op.scalar(body, 0, 'int64');
      const pads = op.concat(
        [zero, zero, short, zero].map((v) => op.unsqueeze(v, [0])),
        0,
      );
      const padded = body.node('Pad', [dRows, pads], [{ dtype: h.dtype, shape: [chunk, K] }])[0];
      return { carried: [op.add(dhIn, op.matmul(p, rows))], scans: [padded] };
    },
    { name: g.freshName('catalog_lse_grad'), carriedNames: ['dh'] },
  );
  const dcat = op.slice(op.reshape(parts, [-1, K as number]), [0], [N], [0]);
  return [dh, dcat];
}
