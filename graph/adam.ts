import type { Value } from './graph.js';
import * as op from './ops/index.js';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 'decoupled' is PyTorch's AdamW (and ORT's AdamWOptimizer mode 0); 'l2' adds wd*p to the gradient (PyTorch Adam). */
  decay: 'decoupled' | 'l2';
}

export const ADAM_DEFAULTS: AdamConfig = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  decay: 'decoupled',
};

export interface AdamSlot {
  param: Value;
  grad: Value;
  m: Value;
  v: Value;
}

/**
 * One bias-corrected Adam update, in PyTorch's arithmetic order:
 * p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), with t = step + 1.
 */
export function adamUpdate(
  slots: AdamSlot[],
  step: Value,
  lr: Value,
  cfg: AdamConfig,
): { params: Value[]; m: Value[]; v: Value[]; step: Value } {
  const t = op.add(step, 1);
  const tf = op.cast(t, 'float32');
  const g = tf.graph;
  const f = (x: number) => op.scalar(g, x, 'float32');
  const bc1 = op.sub(1, op.pow(f(cfg.beta1), tf));
  const bc2 = op.sub(1, op.pow(f(cfg.beta2), tf));
  const stepSize = op.div(lr, bc1);
  const sqrtBc2 = op.sqrt(bc2);
  const out = { params: [] as Value[], m: [] as Value[], v: [] as Value[], step: t };
  for (const s of slots) {
    let grad = s.grad;
    let p = s.param;
    if (cfg.weightDecay > 0 && cfg.decay === 'l2') grad = op.add(grad, op.mul(p, cfg.weightDecay));
    if (cfg.weightDecay > 0 && cfg.decay === 'decoupled') p = op.mul(p, op.sub(1, op.mul(lr, cfg.weightDecay)));
    const m = op.add(op.mul(s.m, cfg.beta1), op.mul(grad, 1 - cfg.beta1));
    const v = op.add(op.mul(s.v, cfg.beta2), op.mul(op.mul(grad, grad), 1 - cfg.beta2));
    const denom = op.add(op.div(op.sqrt(v), sqrtBc2), cfg.eps);
    out.params.push(op.sub(p, op.mul(stepSize, op.div(m, denom))));
    out.m.push(m);
    out.v.push(v);
  }
  return out;
}
