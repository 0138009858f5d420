import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';
import { dropout } from './dropout.js';
import { type LinearInit, linear } from './linear.js';

export interface AttentionConfig {
  hidden: number;
  heads: number;
  /** Dropout on the attention probabilities (default 0). */
  attnDropout?: number;
  training?: boolean;
  /** Init of the q/k/v/out linears (default 'normal0.02'). */
  init?: LinearInit;
}

export interface AttentionResult {
  /** [B, L, hidden], after the output dense (before any residual / dropout / norm). */
  out: Value;
  /** Attention probabilities [B, heads, L, L] after softmax, before dropout. */
  probs: Value;
}

/** [B, L, hidden] -> [B, heads, L, dh] (Reshape [0, 0, h, dh], then Transpose [0, 2, 1, 3]). */
function splitHeads(x: Value, heads: number, headDim: number): Value {
  return op.transpose(op.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, heads, L, dh] -> [B, L, heads * dh]. */
function mergeHeads(x: Value, heads: number, headDim: number): Value {
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

/**
 * Multi-head self-attention (RecBole / BERT form): q, k, v and out are Linear(hidden -> hidden) under
 * `<scope>.<name>.{q,k,v,out}`; probs = softmax(q k^T / sqrt(dh) + mask) per head; out = Dense(probs' v)
 * with probs' the dropped-out probabilities. `mask` is ADDITIVE (0 where attended, -10000 where masked),
 * broadcastable to [B, heads, L, L] ([B, 1, L, L] or [B, 1, 1, L]), in x's dtype; null for none.
 * Batch and sequence dims stay symbolic.
 */
export function selfAttention(g: Graph, name: string, x: Value, mask: Value | null, cfg: AttentionConfig): AttentionResult {
  const { hidden, heads } = cfg;
  if (hidden % heads !== 0) g.fail('Attention', `${name}: hidden ${hidden} is not a multiple of heads ${heads}`);
  if (x.rank !== 3) g.fail('Attention', `${name}: input ${x} must be [batch, seq, hidden]`);
  if (mask && mask.dtype !== x.dtype) g.fail('Attention', `${name}: mask ${mask} must have the input's dtype ${x.dtype}`);
  const dh = hidden / heads;
  return g.withScope(name, () => {
    const lin = (n: string, v: Value) => linear(g, n, v, hidden, hidden, { init: cfg.init });
    const q = splitHeads(lin('q', x), heads, dh);
    const k = splitHeads(lin('k', x), heads, dh);
    const v = splitHeads(lin('v', x), heads, dh);
    let scores = op.mul(op.matmul(q, op.transposeLast(k)), 1 / Math.sqrt(dh));
    if (mask) scores = op.add(scores, mask);
    const probs = op.softmax(scores, -1);
    const dropped = dropout(g, probs, { ratio: cfg.attnDropout ?? 0, training: cfg.training ?? false });
    const ctx = mergeHeads(op.matmul(dropped, v), heads, dh);
    return { out: lin('out', ctx), probs };
  });
}
