import type { Graph, Init, Value } from '../graph.js';
import * as op from '../ops/index.js';

/**
 * 'normal0.02': weight N(0, 0.02), bias 0 (the RecBole/HM4SR reference init).
 * 'torch': PyTorch's nn.Linear default, weight and bias both uniform(-1/sqrt(fan_in), +1/sqrt(fan_in)).
 */
export type LinearInit = 'normal0.02' | 'torch';

export interface LinearOptions {
  /** Default true. */
  bias?: boolean;
  /** Default 'normal0.02'. */
  init?: LinearInit;
}

/** Parameter inits of a Linear layer (exported for layers that declare their own weights). */
export function linearInits(inFeatures: number, init: LinearInit = 'normal0.02'): { weight: Init; bias: Init } {
  if (init === 'torch') {
    const a = 1 / Math.sqrt(inFeatures);
    return { weight: { kind: 'uniform', a }, bias: { kind: 'uniform', a } };
  }
  return { weight: { kind: 'normal', std: 0.02 }, bias: { kind: 'zeros' } };
}

/**
 * Linear layer y = x @ W + b with `<scope>.<name>.weight` [in, out] (note: transposed against PyTorch's
 * [out, in]; importing a torch checkpoint must transpose) and `<scope>.<name>.bias` [out].
 * x may have any rank >= 2 (MatMul broadcasts the leading dims); parameters take x's float dtype.
 */
export function linear(
  g: Graph,
  name: string,
  x: Value,
  inFeatures: number,
  outFeatures: number,
  opts: LinearOptions = {},
): Value {
  if (x.rank < 2) g.fail('Linear', `${name}: input ${x} must have rank >= 2`);
  const last = x.dim(-1);
  if (typeof last === 'number' && last !== inFeatures)
    g.fail('Linear', `${name}: input ${x} has ${last} features, layer expects ${inFeatures}`);
  const inits = linearInits(inFeatures, opts.init);
  return g.withScope(name, () => {
    const w = g.param('weight', [inFeatures, outFeatures], inits.weight, { dtype: x.dtype });
    const y = op.matmul(x, w);
    if (opts.bias === false) return y;
    const b = g.param('bias', [outFeatures], inits.bias, { dtype: x.dtype });
    return op.add(y, b);
  });
}
