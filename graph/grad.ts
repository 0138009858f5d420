import type { Graph, Node, Value } from './graph.js';
import { RULES } from './grad-rules.js';
import * as op from './ops/index.js';
import { isFloat } from './types.js';

/**
 * Appends the reverse-mode gradient of `loss` (summed over its elements, or weighted by `seed`)
 * with respect to `wrt` to the loss's graph. Values that `loss` does not depend on get zeros.
 */
export function grad(loss: Value, wrt: Value[], seed?: Value): Value[] {
  const g = loss.graph;
  const first = g.nodes.length;
  const depends = new Set<Value>(wrt);
  const active = new Set<Node>();
  for (const n of g.nodes) {
    if (n.inputs.some((v) => v && depends.has(v))) {
      for (const o of n.outputs) if (isFloat(o.dtype) && !g.stopped.has(o)) depends.add(o);
      active.add(n);
    }
  }
  const adj = new Map<Value, Value>();
  const accumulate = (v: Value, d: Value) => {
    const prev = adj.get(v);
    adj.set(v, prev ? op.add(prev, d) : d);
  };
  if (!depends.has(loss)) return wrt.map((w) => op.zerosLike(w));
  g.withScope('grad', () =>
    accumulate(loss, seed ?? op.constantOfShape(op.shapeOf(loss), loss.dtype, 1, loss.shape ?? undefined)),
  );

  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const node = g.nodes[k];
    if (!active.has(node)) continue;
    const dy = node.outputs.map((o) => adj.get(o) ?? null);
    if (dy.every((d) => d === null)) continue;
    const rule = RULES[node.op];
    if (!rule)
      g.fail(
        node.op,
        `no gradient rule for ${node.op} (node ${node.name}${node.scope ? `, scope ${node.scope}` : ''})`,
      );
    const needs = (i: number) => {
      const v = node.inputs[i];
      return !!v && depends.has(v) && isFloat(v.dtype);
    };
    const dx = withNodeScope(g, node, () => rule({ g, node, x: node.inputs, y: node.outputs, dy, needs }));
    dx.forEach((d, i) => {
      const v = node.inputs[i];
      if (d && v && needs(i)) accumulate(v, d);
    });
  }
  const grads = wrt.map((w) => adj.get(w) ?? op.zerosLike(w));
  for (const n of g.nodes.slice(first)) g.gradient.add(n);
  return grads;
}

function withNodeScope<T>(g: Graph, node: Node, fn: () => T): T {
  return g.withScope(node.scope ? `grad.${node.scope}` : 'grad', fn);
}
