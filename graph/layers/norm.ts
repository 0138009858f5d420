import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';

export interface LayerNormOptions {
  /** Default 1e-12 (RecBole and BERT); PyTorch's nn.LayerNorm default is 1e-5. */
  eps?: number;
}

/**
 * LayerNorm over the last axis: `<scope>.<name>.weight` (ones) and `<scope>.<name>.bias` (zeros), both [dim],
 * in x's dtype. float32 goes through ONNX LayerNormalization (op.layerNormalization). float64 (gradient checks)
 * is composed of primitives instead: onnxruntime's CPU kernel only implements stash_type float32, so for double
 * inputs its Mean/InvStdDev (which the LayerNormalization gradient rule reuses) are float32, and a float64
 * gradient through the op would be only float32-accurate.
 */
export function layerNorm(g: Graph, name: string, x: Value, dim: number, opts: LayerNormOptions = {}): Value {
  const last = x.dim(-1);
  if (typeof last === 'number' && last !== dim)
    g.fail('LayerNorm', `${name}: input ${x} has ${last} features, layer expects ${dim}`);
  const eps = opts.eps ?? 1e-12;
  return g.withScope(name, () => {
    const w = g.param('weight', [dim], { kind: 'ones' }, { dtype: x.dtype });
    const b = g.param('bias', [dim], { kind: 'zeros' }, { dtype: x.dtype });
    if (x.dtype !== 'float64') return op.layerNormalization(x, w, b, eps);
    return op.add(op.mul(normalizeLast(x, eps), w), b);
  });
}

/** (x - mean) / sqrt(var + eps) over the last axis (biased variance, as LayerNormalization), from primitives. */
function normalizeLast(x: Value, eps: number): Value {
  const xc = op.sub(x, op.reduceMean(x, [-1], true));
  const variance = op.reduceMean(op.mul(xc, xc), [-1], true);
  return op.div(xc, op.sqrt(op.add(variance, eps)));
}
