import type { Value } from '../graph.js';
import * as op from '../ops/index.js';

/**
 * Exact (erf) GELU: x * 0.5 * (1 + erf(x / sqrt(2))), a composite of primitives (no gradient rule of its own).
 * onnxruntime's CPU provider has no double Erf kernel, so for float64 inputs the erf alone is evaluated in
 * float32 (Cast -> Erf -> Cast); everything else stays in float64.
 */
export function gelu(x: Value): Value {
  const u = op.mul(x, Math.SQRT1_2);
  const e = x.dtype === 'float64' ? op.cast(op.erf(op.cast(u, 'float32')), 'float64') : op.erf(u);
  return op.mul(op.mul(x, 0.5), op.add(e, 1));
}

/** tanh-approximate GELU (the "gelu_new" of HF/GPT-2), for encoders configured with it. */
export function geluTanh(x: Value): Value {
  const inner = op.mul(op.add(x, op.mul(op.mul(op.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return op.mul(op.mul(x, 0.5), op.add(op.tanh(inner), 1));
}

export type Activation = 'gelu' | 'gelu_tanh' | 'relu';

export function activation(kind: Activation, x: Value): Value {
  switch (kind) {
    case 'gelu': return gelu(x);
    case 'gelu_tanh': return geluTanh(x);
    case 'relu': return op.relu(x);
  }
}
