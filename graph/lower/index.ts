// The lowering pass: the graph as built (math: one gradient rule per op) rewritten at emission into the kernels
// onnxruntime runs fastest, each rewrite computing the same function (test/emit-lower.test.ts holds each to it).
import type { Graph, Node } from '../graph.js';
import { biasGrad } from './bias-grad.js';
import { catalogLse, catalogLseGrad } from './catalog-lse.js';
import { expandedMul } from './expanded-mul.js';
import { layerNorm } from './layer-norm.js';
import { lowerNodes } from './pass.js';
import type { Rewrite } from './rewrite.js';
import { scatterAdd } from './scatter-add.js';
import { softplus } from './softplus.js';
import { weightGrad } from './weight-grad.js';

export type { Rewrite } from './rewrite.js';

/** Rewrites of ops that exist in the graph as built only (domain hm4sr): applied even when not lowering. */
export const REQUIRED: readonly Rewrite[] = [catalogLse, catalogLseGrad];

/** The rewrites, tried in this order on each node (the first that matches takes it). */
export const REWRITES: readonly Rewrite[] = [
  ...REQUIRED,
  softplus,
  layerNorm,
  expandedMul,
  // Both read a ReduceSum over leading axes: a Linear's weight gradient first, any other such sum after.
  weightGrad,
  biasGrad,
  scatterAdd,
];

/** g's nodes as emitted (see lowerNodes), with all the rewrites or the given ones. */
export function lower(g: Graph, rewrites: readonly Rewrite[] = REWRITES): Node[] {
  return lowerNodes(g, rewrites);
}
