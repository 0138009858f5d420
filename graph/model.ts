import type { Graph, Value } from './graph.js';
import type { TensorSpec } from './types.js';

export interface LossOutput {
  /** The scalar that is differentiated. */
  loss: Value;
  /** Named scalar terms reported beside it (they are outputs, not differentiated). */
  terms?: Record<string, Value>;
}

/**
 * A trainable model as the graph composers see it: a batch signature and a function that builds the
 * forward pass and loss into any graph (a single step, a Loop body, an artifact's training model).
 */
export interface LossModel {
  name: string;
  batch: TensorSpec[];
  loss(g: Graph, batch: Record<string, Value>): LossOutput;
}

export function declareBatch(g: Graph, specs: TensorSpec[]): Record<string, Value> {
  return Object.fromEntries(specs.map((s) => [s.name, markDistinct(g.input(s.name, s.dtype, s.shape), s)]));
}

/** Records v as holding distinct indices when its spec says so (see TensorSpec.distinct). */
export function markDistinct(v: Value, spec: TensorSpec): Value {
  if (spec.distinct) v.graph.distinct.add(v);
  return v;
}
