// What a rewrite of the lowering pass is, and the pattern matching its rewrites share.
import type { Node, Value } from '../graph.js';

/**
 * One rewrite of the lowering pass: a node (with the nodes that feed it) written as other ONNX nodes that compute
 * the same function on faster onnxruntime kernels. The gradient rules state the math; rewrites choose kernels.
 */
export interface Rewrite {
  /** Names the rewrite in errors and tests. */
  name: string;
  /** Whether only nodes grad() built qualify: a forward sum keeps its ReduceSum, say, and so its rounding. */
  gradientOnly: boolean;
  /**
   * The op domain of the nodes it matches (default: standard ONNX). Rewrites of the hm4sr domain write ops that
   * exist in the graph as built only, and apply even when emission does not lower (graph/ops/catalog.ts).
   */
  domain?: string;
  /**
   * The replacement of n when the rewrite applies to it, else null without building anything: a builder that
   * makes nodes (with the ops of graph/ops/) and returns one value per output of n.
   */
  match: (n: Node) => (() => Value[]) | null;
}

/** The node that produced v when it is an `op` node of the default domain, else null. */
export function producer(v: Value | null | undefined, op: string): Node | null {
  const n = v?.producer;
  return n && n.op === op && !n.domain ? n : null;
}

/** The integers of a Constant-produced input, or null when v is computed at run time. */
export function constInts(v: Value | null | undefined): number[] | null {
  const a = producer(v, 'Constant')?.attrs.value;
  if (!a || a.t !== 'tensor' || (a.v.dtype !== 'int64' && a.v.dtype !== 'int32')) return null;
  return Array.from(a.v.data as BigInt64Array | Int32Array, Number);
}

/** The count L of leading axes when n is ReduceSum(x) over axes 0..L-1 that drops them (keepdims 0), else null. */
export function leadingSum(n: Node): number | null {
  const x = n.inputs[0];
  if (n.op !== 'ReduceSum' || n.domain || !x?.shape || n.attrs.keepdims?.v !== 0) return null;
  if (n.attrs.noop_with_empty_axes) return null;
  const axes = constInts(n.inputs[1]);
  if (!axes || axes.length === 0 || axes.length > x.shape.length || axes.some((a, i) => a !== i)) return null;
  return axes.length;
}
