import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';

export interface DropoutOptions {
  ratio: number;
  training: boolean;
}

/**
 * Inverted dropout in training mode; the identity at evaluation or for ratio 0 (no node, no seed drawn).
 * Each emitted site takes the next per-graph seed (g.nextSeed()), so sites are reproducible in build order.
 */
export function dropout(g: Graph, x: Value, opts: DropoutOptions): Value {
  if (!opts.training || opts.ratio <= 0) return x;
  return op.dropout(x, opts.ratio, g.nextSeed());
}
