import { type Graph, type Value, graphOf } from '../graph.js';
import { broadcast } from '../shape.js';
import { type DType, type Shape, allocate, isFloat, shapeStr } from '../types.js';

export type Operand = Value | number;

/** A scalar constant of the given dtype in g. */
export function scalar(g: Graph, x: number, dtype: DType): Value {
  const data = allocate(dtype, 1);
  (data as unknown as (number | bigint)[])[0] = dtype === 'int64' ? BigInt(Math.trunc(x)) : x;
  return g.constant(data, dtype, []);
}

export function int64s(g: Graph, xs: number[]): Value {
  return g.constant(BigInt64Array.from(xs.map((x) => BigInt(x))), 'int64', [xs.length]);
}

/** Resolves numeric operands to constants of the first Value operand's dtype. */
export function operands(op: string, xs: Operand[]): { g: Graph; vals: Value[] } {
  const vs = xs.filter((x): x is Value => typeof x !== 'number');
  const g = graphOf(op, vs);
  const dtype = vs[0].dtype;
  const vals = xs.map((x) => (typeof x === 'number' ? scalar(g, x, dtype) : x));
  for (const v of vals) {
    if (v.dtype !== dtype) g.fail(op, `dtype mismatch: ${vals.map((u) => `${u.name} ${u.dtype}`).join(' vs ')}`);
  }
  return { g, vals };
}

export function broadcastShapes(g: Graph, op: string, vals: Value[]): Shape | null {
  return broadcast(
    vals.map((v) => v.shape),
    (m) => g.fail(op, m),
    () => vals.map((v) => shapeStr(v.shape)).join(' and '),
  );
}

export function requireFloat(g: Graph, op: string, v: Value): void {
  if (!isFloat(v.dtype)) g.fail(op, `expects a float tensor, got ${v.dtype} ${v.name}`);
}

/**
 * x itself (an Identity node) that the gradient treats as a constant: for terms whose value does not
 * depend on it to first order, like the shift of a log-sum-exp.
 */
export function stopGradient(x: Value): Value {
  const y = x.graph.node('Identity', [x], [{ dtype: x.dtype, shape: x.shape }])[0];
  x.graph.stopped.add(y);
  return y;
}
