import { type Value, attr } from '../graph.js';
import * as op from '../ops/index.js';
import type { Rewrite } from './rewrite.js';

/**
 * LayerNormalization over the last axis written out: mean, centred x, variance, 1/sqrt, scale and shift, each a
 * kernel that onnxruntime vectorizes over rows. Its LayerNormalization kernel takes 1.45 ms on [8,600 x 64] where
 * the eight kernels take 0.65 ms (two threads; 25 such nodes in a Beauty step). The expansion also writes the
 * node's Mean and InvStdDev outputs, which the gradient rule reads. float32 only: the outputs' stash type.
 */
export const layerNorm: Rewrite = {
  name: 'layer-norm',
  gradientOnly: false,
  match(n) {
    const [x, scale, bias] = n.inputs;
    const axis = n.attrs.axis?.t === 'int' ? n.attrs.axis.v : -1;
    if (n.op !== 'LayerNormalization' || x?.dtype !== 'float32' || !x.shape || !scale || !bias) return null;
    if (axis !== -1 && axis !== x.rank - 1) return null;
    const eps = n.attrs.epsilon?.t === 'float' ? n.attrs.epsilon.v : 1e-5;
    return () => {
      const mean = meanLast(x);
      const centred = op.sub(x, mean);
      const std = op.sqrt(op.add(meanLast(op.mul(centred, centred)), eps));
      // Reciprocal, not 1 / std: the kernel the expansion has always used (a division may round otherwise).
      const [invStd] = x.graph.node('Reciprocal', [std], [{ dtype: std.dtype, shape: std.shape }]);
      const y = op.add(op.mul(op.mul(centred, invStd), scale), bias);
      return [y, mean, invStd].slice(0, n.outputs.length) as Value[];
    };
  },
};

/** The mean over the last axis, kept: ReduceMean with axes [-1], which holds for any rank. */
function meanLast(x: Value): Value {
  const shape = [...x.shape!.slice(0, -1), 1];
  const attrs = { axes: attr.ints([-1]), keepdims: attr.int(1) };
  return x.graph.node('ReduceMean', [x], [{ dtype: x.dtype, shape }], attrs)[0];
}
