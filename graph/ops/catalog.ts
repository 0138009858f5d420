import { type Value, attr } from '../graph.js';
import { requireFloat } from './core.js';

/**
 * The domain of ops that exist in the graph as built only: the lowering pass (graph/lower/catalog-lse.ts) writes
 * each as standard ONNX at emission, lowered or not.
 */
export const HM4SR_DOMAIN = 'hm4sr';

/**
 * logsumexp_j(h . cat_j) for each row of h [B, K] over the rows of cat [N, K], [B]: a full-catalog softmax
 * normaliser computed `chunk` catalog rows at a time, so no [B, N] matrix exists, forward or backward (the
 * gradient recomputes each chunk's scores, as Cut Cross-Entropy does). One op with its own gradient rule: the
 * chunking is how it runs, not what it computes.
 */
export function catalogLogSumExp(h: Value, cat: Value, chunk: number): Value {
  const g = h.graph;
  requireFloat(g, 'CatalogLogSumExp', h);
  if (h.rank !== 2 || cat.rank !== 2) g.fail('CatalogLogSumExp', `needs h [B, K] and cat [N, K], got ${h} and ${cat}`);
  if (typeof cat.dim(0) !== 'number') g.fail('CatalogLogSumExp', `the catalog's row count must be static, got ${cat}`);
  if (!(Number.isInteger(chunk) && chunk >= 1))
    g.fail('CatalogLogSumExp', `chunk must be a positive integer, got ${chunk}`);
  return g.node(
    'CatalogLogSumExp',
    [h, cat],
    [{ dtype: h.dtype, shape: [h.dim(0)] }],
    { chunk: attr.int(chunk) },
    HM4SR_DOMAIN,
  )[0];
}

/** The gradient of catalogLogSumExp: (dh [B, K], dcat [N, K]) from its inputs, output lse and adjoint dlse. */
export function catalogLogSumExpGrad(h: Value, cat: Value, lse: Value, dlse: Value, chunk: number): [Value, Value] {
  const [dh, dcat] = h.graph.node(
    'CatalogLogSumExpGrad',
    [h, cat, lse, dlse],
    [
      { dtype: h.dtype, shape: h.shape },
      { dtype: cat.dtype, shape: cat.shape },
    ],
    { chunk: attr.int(chunk) },
    HM4SR_DOMAIN,
  );
  return [dh, dcat];
}
