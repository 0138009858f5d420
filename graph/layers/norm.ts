import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';

export interface LayerNormOptions {
  /** Default 1e-12 (RecBole and BERT); PyTorch's nn.LayerNorm default is 1e-5. */
  eps?: number;
}

/**
 * LayerNorm over the last axis through ONNX LayerNormalization: `<scope>.<name>.weight` (ones) and
 * `<scope>.<name>.bias` (zeros), both [dim], in x's dtype.
 */
export function layerNorm(g: Graph, name: string, x: Value, dim: number, opts: LayerNormOptions = {}): Value {
  const last = x.dim(-1);
  if (typeof last === 'number' && last !== dim) g.fail('LayerNorm', `${name}: input ${x} has ${last} features, layer expects ${dim}`);
  return g.withScope(name, () => {
    const w = g.param('weight', [dim], { kind: 'ones' }, { dtype: x.dtype });
    const b = g.param('bias', [dim], { kind: 'zeros' }, { dtype: x.dtype });
    return op.layerNormalization(x, w, b, opts.eps ?? 1e-12);
  });
}
