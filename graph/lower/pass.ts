import type { Graph, Node, Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { Rewrite } from './rewrite.js';

/**
 * The nodes of g with rewrites applied, in order: a node the first matching rewrite takes is replaced, in
 * place, by the nodes its builder makes, which write the node's outputs under their names, so no consumer
 * changes. Matching reads the graph as built, and g itself is left unchanged (Graph.capture): the same graph
 * can be emitted lowered and not. Nodes a rewrite leaves unread are pruned at emission (emit.ts).
 */
export function lowerNodes(g: Graph, rewrites: readonly Rewrite[]): Node[] {
  const out: Node[] = [];
  for (const n of g.nodes) {
    const found = firstMatch(g, n, rewrites);
    if (found) out.push(...replace(g, n, found.rewrite, found.build));
    else out.push(n);
  }
  return out;
}

interface Match {
  rewrite: Rewrite;
  build: () => Value[];
}

function firstMatch(g: Graph, n: Node, rewrites: readonly Rewrite[]): Match | null {
  for (const rewrite of rewrites) {
    if ((rewrite.domain ?? '') !== n.domain) continue;
    if (rewrite.gradientOnly && !g.gradient.has(n)) continue;
    const build = rewrite.match(n);
    if (build) return { rewrite, build };
  }
  return null;
}

function identityOf(g: Graph, v: Value, into: Node[]): Value {
  const { result, nodes } = g.capture(() => op.identity(v));
  into.push(...nodes);
  return result;
}

function replace(g: Graph, n: Node, rewrite: Rewrite, build: () => Value[]): Node[] {
  const { result: values, nodes } = g.capture(() => g.withScope(n.name, build));
  if (values.length !== n.outputs.length) {
    g.fail(n.op, `rewrite ${rewrite.name} of ${n.name} gave ${values.length} values for ${n.outputs.length} outputs`);
  }
  // A value the builder did not make (one it passed through) gets a node of its own to write n's output.
  const made = new Set(nodes.flatMap((m) => m.outputs));
  const result = values.map((v) => (made.has(v) ? v : identityOf(g, v, nodes)));
  const rename = new Map(result.map((v, i) => [v, n.outputs[i]]));
  const to = (v: Value | null) => (v && rename.get(v)) ?? v;
  return nodes.map((m) => ({ ...m, inputs: m.inputs.map(to), outputs: m.outputs.map((v) => to(v)!) }));
}
