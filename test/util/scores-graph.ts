// The production encoder's scores on a batch in the training encoding (batchSpec(c, 'infer'): packed or padded
// rows, the `last` read positions): what the tests hold the serving graph and ORT's eval model to. The
// project's one inference graph is the serving graph (graph/models/hm4sr-serve.ts).
import { Graph } from '../../graph/graph.js';
import { declareBatch } from '../../graph/model.js';
import type { Hm4srConfig } from '../../graph/models/hm4sr-config.js';
import { encode, scores } from '../../graph/models/hm4sr.js';
import { batchSpec } from '../../graph/models/hm4sr-batch.js';
import * as op from '../../graph/ops/index.js';

/** Outputs `scores` [B, N+1] and the top-K items (item 0 excluded) as `top_items` / `top_scores`. */
export function scoresGraph(c: Hm4srConfig, topK: number): Graph {
  const g = new Graph('hm4sr_scores');
  const b = declareBatch(g, batchSpec(c, 'infer'));
  const s = scores(c, encode(g, c, b, false));
  const pad = new Float32Array(c.numItems + 1);
  pad[0] = -Infinity;
  const [vals, idx] = op.topK(op.add(s, g.constant(pad, 'float32', [c.numItems + 1])), Math.min(topK, c.numItems), 1);
  g.output(s, 'scores');
  g.output(idx, 'top_items');
  g.output(vals, 'top_scores');
  return g;
}
