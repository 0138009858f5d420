import * as op from '../ops/index.js';
import { type Rewrite, leadingSum } from './rewrite.js';

/**
 * A bias gradient, d summed over its leading axes, as ones[1, rows] @ d[rows, cols]: one GEMM that reads d once,
 * where onnxruntime's ReduceSum over leading axes takes twice as long ([8,600 x 192]: 0.10 vs 0.23 ms).
 */
export const biasGrad: Rewrite = {
  name: 'bias-grad',
  gradientOnly: true,
  match(n) {
    const lead = leadingSum(n);
    const d = n.inputs[0]!;
    if (lead === null || (d.dtype !== 'float32' && d.dtype !== 'float64')) return null;
    const kept = d.shape!.slice(lead);
    if (!kept.every((k) => typeof k === 'number')) return null;
    return () => {
      const flat = op.reshape(d, [-1, (kept as number[]).reduce((a, b) => a * b, 1)]);
      const ones = op.constantOfShape(op.slice(op.shapeOf(flat), [0], [1], [0]), d.dtype, 1, [flat.dim(0)]);
      return [op.reshape(op.matmul(op.unsqueeze(ones, [0]), flat), kept as number[])];
    };
  },
};
