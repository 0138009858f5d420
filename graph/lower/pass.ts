import type { Graph, Node, Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { Rewrite } from './rewrite.js';

/**
 * The nodes of g with rewrites applied, in order: each node the first matching rewrite takes is replaced, in
 * place, by the nodes its builder makes, the last of which write n's outputs under their own names, so no
 * consumer changes. Matching reads the graph as built, and g itself is left unchanged (Graph.capture): the
 * same graph can be emitted lowered and not. Nodes a rewrite leaves unread go at emission (emit.ts).
 */
export function lowerNodes(g: Graph, rewrites: readonly Rewrite[]): Node[] {
  const out: Node[] = [];
  for (const n of g.nodes) {
    const build = n.domain ? null : firstMatch(g, n, rewrites);
    if (build) out.push(...replace(g, n, build));
    else out.push(n);
  }
  return out;
}

function firstMatch(g: Graph, n: Node, rewrites: readonly Rewrite[]): (() => Value[]) | null {
  for (const r of rewrites) {
    if (r.gradientOnly && !g.gradient.has(n)) continue;
    const build = r.match(n);
    if (build) return build;
  }
  return null;
}

function replace(g: Graph, n: Node, build: () => Value[]): Node[] {
  const { result, nodes } = g.capture(() => g.withScope(n.name, () => {
    const first = g.nodes.length;
    const values = build();
    if (values.length !== n.outputs.length) {
      g.fail(n.op, `a rewrite of ${n.name} gave ${values.length} values for its ${n.outputs.length} outputs`);
    }
    // A value the builder did not make (one it passed through) gets its own node to carry n's output name.
    const made = new Set(g.nodes.slice(first).flatMap((m) => m.outputs));
    return values.map((v) => (made.has(v) ? v : op.identity(v)));
  }));
  const rename = new Map(result.map((v, i) => [v, n.outputs[i]]));
  const to = (v: Value | null) => (v && rename.get(v)) ?? v;
  return nodes.map((m) => ({ ...m, inputs: m.inputs.map(to), outputs: m.outputs.map((v) => to(v)!) }));
}
