import type { Graph, Init, Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { DType } from '../types.js';

export interface EmbeddingOptions {
  /** Default N(0, 0.02). */
  init?: Init;
  /** Dtype of the table (default float32). */
  dtype?: DType;
  trainable?: boolean;
}

/** The `<scope>.<name>.weight` [num, dim] table, declared without a lookup (e.g. for scoring against all rows). */
export function embeddingTable(g: Graph, name: string, num: number, dim: number, opts: EmbeddingOptions = {}): Value {
  return g.withScope(name, () =>
    g.param('weight', [num, dim], opts.init ?? { kind: 'normal', std: 0.02 }, {
      dtype: opts.dtype ?? 'float32',
      trainable: opts.trainable,
    }),
  );
}

/** Embedding lookup: Gather(axis 0) of an int64/int32 index tensor of any shape -> [...ids.shape, dim]. */
export function embedding(
  g: Graph,
  name: string,
  ids: Value,
  num: number,
  dim: number,
  opts: EmbeddingOptions = {},
): Value {
  return op.gather(embeddingTable(g, name, num, dim, opts), ids, 0);
}
