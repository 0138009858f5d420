import type { Value } from '../../graph/graph.js';
import type { LossModel } from '../../graph/model.js';
import * as op from '../../graph/ops/index.js';
import { Rng } from '../../graph/rng.js';

/** Mean cross-entropy of logits [B, C] against int64 labels [B]. */
export function crossEntropy(logits: Value, labels: Value): Value {
  const lp = op.logSoftmax(logits, -1);
  const picked = op.gatherElements(lp, op.unsqueeze(labels, [1]), 1);
  return op.neg(op.reduceMean(picked));
}

/**
 * 2 -> hidden -> classes MLP with a ReLU, trained with cross-entropy. `frozenScale` puts a frozen per-unit
 * scale between the layers (frozen parameters between trainable ones).
 */
export function mlpModel(hidden = 16, classes = 4, opts: { frozenScale?: boolean } = {}): LossModel {
  return {
    name: opts.frozenScale ? 'mlp_frozen' : 'mlp',
    batch: [
      { name: 'x', dtype: 'float32', shape: ['batch', 2] },
      { name: 'y', dtype: 'int64', shape: ['batch'] },
    ],
    loss(g, b) {
      const h = g.withScope('fc1', () =>
        op.relu(
          op.add(
            op.matmul(b.x, g.param('weight', [2, hidden], { kind: 'uniform', a: 0.7 })),
            g.param('bias', [hidden], { kind: 'zeros' }),
          ),
        ),
      );
      const s = opts.frozenScale
        ? op.mul(h, g.param('mid.scale', [hidden], { kind: 'uniform', a: 1 }, { trainable: false }))
        : h;
      const logits = g.withScope('fc2', () =>
        op.add(
          op.matmul(s, g.param('weight', [hidden, classes], { kind: 'uniform', a: 0.25 })),
          g.param('bias', [classes], { kind: 'zeros' }),
        ),
      );
      const loss = crossEntropy(logits, b.y);
      const acc = op.reduceMean(op.cast(op.equal(op.argMax(logits, 1), b.y), 'float32'));
      return { loss, terms: { accuracy: acc } };
    },
  };
}

/** Four Gaussian blobs, one per class: learnable to ~zero loss. */
export function blobs(n: number, seed: number): { x: Float32Array; y: BigInt64Array } {
  const r = new Rng(seed);
  const centers = [
    [2, 2],
    [-2, 2],
    [-2, -2],
    [2, -2],
  ];
  const x = new Float32Array(2 * n),
    y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = r.nextInt(4);
    y[i] = BigInt(c);
    x[2 * i] = centers[c][0] + 0.3 * r.nextGaussian();
    x[2 * i + 1] = centers[c][1] + 0.3 * r.nextGaussian();
  }
  return { x, y };
}
