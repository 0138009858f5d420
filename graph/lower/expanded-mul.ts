import * as op from '../ops/index.js';
import { type Rewrite, producer } from './rewrite.js';

/**
 * t * Expand(s, Shape(t)) as t * s: broadcasting gives the same products without writing the expanded copy
 * first. The gradient of a sum of exp(x) takes this form (a log-sum-exp: on Beauty the catalog softmax's
 * [1,024 x 12,101] backward).
 */
export const expandedMul: Rewrite = {
  name: 'expanded-mul',
  gradientOnly: false,
  match(n) {
    if (n.op !== 'Mul' || n.domain) return null;
    for (const i of [1, 0]) {
      const e = producer(n.inputs[i], 'Expand'),
        t = n.inputs[1 - i]!;
      const shape = producer(e?.inputs[1], 'Shape');
      if (!e || !shape || shape.inputs[0] !== t || shape.attrs.start || shape.attrs.end) continue;
      const s = e.inputs[0]!;
      return () => [i === 1 ? op.mul(t, s) : op.mul(s, t)];
    }
    return null;
  },
};
