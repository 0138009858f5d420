import type { Value } from '../graph.js';
import * as op from '../ops/index.js';

/**
 * Exact (erf) GELU: x * 0.5 * (1 + erf(x / sqrt(2))), a composite of primitives (no gradient rule of its own).
 * float32 uses the Erf op. onnxruntime's CPU provider has no double Erf kernel, so float64 (used by gradient
 * checks) evaluates erf with erfSeries, accurate to float64 rounding and differentiable through its primitives.
 */
export function gelu(x: Value): Value {
  const u = op.mul(x, Math.SQRT1_2);
  const e = x.dtype === 'float64' ? erfSeries(u) : op.erf(u);
  return op.mul(op.mul(x, 0.5), op.add(e, 1));
}

/**
 * erf from primitives, for dtypes without an Erf kernel: the all-positive series
 * erf(u) = 2/sqrt(pi) * exp(-u^2) * u * sum_n (2u^2)^n / (3 * 5 * ... * (2n+1)), 100 terms in Horner form,
 * on u clipped to [-6, 6] (where erf is +-1 to float64 precision). About 300 nodes: not for float32 models.
 */
export function erfSeries(x: Value): Value {
  const u = op.clip(x, -6, 6);
  const uu = op.mul(u, u);
  const z = op.mul(uu, 2);
  let t: Value = op.add(op.mul(z, 1 / 201), 1);
  for (let n = 99; n >= 1; n--) t = op.add(op.mul(op.mul(z, t), 1 / (2 * n + 1)), 1);
  return op.mul(op.mul(op.mul(op.exp(op.neg(uu)), u), t), 2 / Math.sqrt(Math.PI));
}

/** tanh-approximate GELU (the "gelu_new" of HF/GPT-2), for encoders configured with it. */
function geluTanh(x: Value): Value {
  const inner = op.mul(op.add(x, op.mul(op.mul(op.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return op.mul(op.mul(x, 0.5), op.add(op.tanh(inner), 1));
}

export type Activation = 'gelu' | 'gelu_tanh' | 'relu';

export function activation(kind: Activation, x: Value): Value {
  switch (kind) {
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return geluTanh(x);
    case 'relu':
      return op.relu(x);
  }
}
