import type { GradContext, GradRule } from './grad.js';
import type { Value } from './graph.js';
import * as op from './ops/index.js';
import type { Shape } from './types.js';

/**
 * Sums a broadcast gradient back to the shape of the operand it flowed from: over the leading axes the
 * operand lacks and over its size-1 axes. Symbolic dims never broadcast (see shape.ts).
 */
export function sumTo(d: Value, shape: Shape | null): Value {
  if (shape === null || d.shape === null) throw new Error(`cannot unbroadcast ${d} to an unknown shape`);
  const lead = d.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < d.rank; i++) {
    const j = i - lead;
    if (j < 0 || (shape[j] === 1 && d.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return d;
  let r = op.reduceSum(d, axes, true);
  if (lead > 0) r = op.squeeze(r, [...Array(lead).keys()]);
  return r;
}

const shapeLike = (d: Value, x: Value) => (x.shape !== null && d.shape !== null && x.shape.length === d.shape.length && x.shape.every((s, i) => s === d.shape![i]) ? d : op.reshape(d, op.shapeOf(x), x.shape ?? undefined));

const xs = (c: GradContext) => c.x as Value[];

function unaryRule(f: (c: GradContext, dy: Value) => Value): GradRule {
  return (c) => [f(c, c.dy[0]!)];
}

/** Gradient of the reduced value broadcast back over the reduced axes. */
function expandReduced(c: GradContext, dy: Value, axes: number[], keepdims: boolean): Value {
  const x = xs(c)[0];
  const kept = keepdims ? dy : op.unsqueeze(dy, axes);
  return op.expand(kept, op.shapeOf(x), x.shape ?? undefined);
}

function reduceAxes(c: GradContext): { axes: number[]; keepdims: boolean } {
  const n = c.node;
  const keepdims = n.attrs.keepdims?.t === 'int' ? n.attrs.keepdims.v === 1 : true;
  let axes: number[];
  if (n.attrs.axes?.t === 'ints') axes = n.attrs.axes.v;
  else {
    const a = n.inputs[1]?.producer?.attrs.value;
    if (!a || a.t !== 'tensor') return c.g.fail(n.op, `gradient needs constant axes (node ${n.name})`);
    axes = Array.from(a.v.data as BigInt64Array, Number);
  }
  return { axes, keepdims };
}

function constInts(c: GradContext, i: number): number[] {
  const a = c.node.inputs[i]?.producer?.attrs.value;
  if (!a || a.t !== 'tensor') return c.g.fail(c.node.op, `gradient needs constant input ${i} (node ${c.node.name})`);
  return Array.from(a.v.data as BigInt64Array, Number);
}

function constScalar(c: GradContext, i: number): number {
  const a = c.node.inputs[i]?.producer?.attrs.value;
  if (!a || a.t !== 'tensor') return c.g.fail(c.node.op, `gradient needs a constant input ${i} (node ${c.node.name})`);
  return Number(a.v.data[0]);
}



/** One rule per primitive op. Composites (GELU, attention, losses) are built from these and need none. */
export const RULES: Record<string, GradRule> = {
  Identity: unaryRule((_c, dy) => dy),
  Add: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(dy, a.shape) : null, c.needs(1) ? sumTo(dy, b.shape) : null];
  },
  Sub: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(dy, a.shape) : null, c.needs(1) ? sumTo(op.neg(dy), b.shape) : null];
  },
  Mul: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(op.mul(dy, b), a.shape) : null, c.needs(1) ? sumTo(op.mul(dy, a), b.shape) : null];
  },
  Div: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!;
    const y = c.y[0];
    return [c.needs(0) ? sumTo(op.div(dy, b), a.shape) : null, c.needs(1) ? sumTo(op.neg(op.div(op.mul(dy, y), b)), b.shape) : null];
  },
  Pow: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!, y = c.y[0];
    return [
      c.needs(0) ? sumTo(op.mul(dy, op.mul(b, op.pow(a, op.sub(b, 1)))), a.shape) : null,
      c.needs(1) ? sumTo(op.mul(dy, op.mul(y, op.log(a))), b.shape) : null,
    ];
  },
  Max: (c) => minMax(c, true),
  Min: (c) => minMax(c, false),
  Neg: unaryRule((_c, dy) => op.neg(dy)),
  Exp: unaryRule((c, dy) => op.mul(dy, c.y[0])),
  Log: unaryRule((c, dy) => op.div(dy, xs(c)[0])),
  Sqrt: unaryRule((c, dy) => op.div(op.mul(dy, 0.5), c.y[0])),
  Erf: unaryRule((c, dy) => {
    const x = xs(c)[0];
    return op.mul(dy, op.mul(op.exp(op.neg(op.mul(x, x))), 2 / Math.sqrt(Math.PI)));
  }),
  Tanh: unaryRule((c, dy) => op.mul(dy, op.sub(1, op.mul(c.y[0], c.y[0])))),
  Sigmoid: unaryRule((c, dy) => op.mul(dy, op.mul(c.y[0], op.sub(1, c.y[0])))),
  Cos: unaryRule((c, dy) => op.neg(op.mul(dy, op.sin(xs(c)[0])))),
  Sin: unaryRule((c, dy) => op.mul(dy, op.cos(xs(c)[0]))),
  Relu: unaryRule((c, dy) => op.where(op.greater(xs(c)[0], 0), dy, 0)),
  Abs: unaryRule((c, dy) => op.mul(dy, op.sign(xs(c)[0]))),
  // Piecewise constant: zero almost everywhere.
  Floor: (c) => [op.zerosLike(xs(c)[0])],
  Sign: (c) => [op.zerosLike(xs(c)[0])],
  Clip: (c) => {
    const x = xs(c)[0], dy = c.dy[0]!;
    const lo = c.x[1], hi = c.x[2];
    let inside = op.and(op.greaterOrEqual(x, lo ?? -Infinity), op.greaterOrEqual(hi ?? Infinity, x));

    return [op.where(inside, dy, 0), null, null];
  },
  Cast: (c) => [op.cast(c.dy[0]!, xs(c)[0].dtype)],
  Where: (c) => {
    const [cond, a, b] = xs(c), dy = c.dy[0]!;
    return [null, c.needs(1) ? sumTo(op.where(cond, dy, 0), a.shape) : null, c.needs(2) ? sumTo(op.where(cond, 0, dy), b.shape) : null];
  },
  MatMul: (c) => {
    const [a, b] = xs(c), dy = c.dy[0]!;
    return [
      c.needs(0) ? sumTo(op.matmul(dy, op.transposeLast(b)), a.shape) : null,
      c.needs(1) ? sumTo(op.matmul(op.transposeLast(a), dy), b.shape) : null,
    ];
  },
  ReduceSum: (c) => {
    const { axes, keepdims } = reduceAxes(c);
    return [expandReduced(c, c.dy[0]!, axes, keepdims), null];
  },
  ReduceMean: (c) => {
    const { axes, keepdims } = reduceAxes(c);
    const x = xs(c)[0];
    const sizes = axes.map((a) => x.shape![a]);
    let count: Value | number;
    if (sizes.every((s) => typeof s === 'number')) count = (sizes as number[]).reduce((p, q) => p * q, 1);
    else count = op.cast(op.reduceSum(op.gather(op.shapeOf(x), c.g.constant(BigInt64Array.from(axes.map(BigInt)), 'int64', [axes.length])), [0]), x.dtype);
    return [op.div(expandReduced(c, c.dy[0]!, axes, keepdims), count)];
  },
  ReduceMax: (c) => {
    const { axes, keepdims } = reduceAxes(c);
    const x = xs(c)[0];
    const ymax = keepdims ? c.y[0] : op.unsqueeze(c.y[0], axes);
    return [op.where(op.equal(x, ymax), expandReduced(c, c.dy[0]!, axes, keepdims), 0)];
  },
  Softmax: (c) => {
    const y = c.y[0], dy = c.dy[0]!;
    const axis = (c.node.attrs.axis as { v: number }).v;
    return [op.mul(y, op.sub(dy, op.reduceSum(op.mul(dy, y), [axis], true)))];
  },
  LogSoftmax: (c) => {
    const y = c.y[0], dy = c.dy[0]!;
    const axis = (c.node.attrs.axis as { v: number }).v;
    return [op.sub(dy, op.mul(op.exp(y), op.reduceSum(dy, [axis], true)))];
  },
  CumSum: (c) => {
    const at = c.node.attrs;
    const axis = constScalar(c, 1);
    return [op.cumsum(c.dy[0]!, axis, { exclusive: at.exclusive?.v === 1, reverse: at.reverse?.v !== 1 }), null];
  },
  Reshape: (c) => [shapeLike(c.dy[0]!, xs(c)[0]), null],
  Squeeze: (c) => [shapeLike(c.dy[0]!, xs(c)[0]), null],
  Unsqueeze: (c) => [shapeLike(c.dy[0]!, xs(c)[0]), null],
  Transpose: (c) => {
    const perm = (c.node.attrs.perm as { v: number[] }).v;
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(c.dy[0]!, inv)];
  },
  Expand: (c) => [sumTo(c.dy[0]!, xs(c)[0].shape), null],
  Concat: (c) => {
    const axis = (c.node.attrs.axis as { v: number }).v;
    const sizes = xs(c).map((x) => x.shape![axis]);
    if (!sizes.every((s) => typeof s === 'number')) return c.g.fail('Concat', `gradient needs static sizes along axis ${axis} (node ${c.node.name})`);
    return op.split(c.dy[0]!, sizes as number[], axis);
  },
  Split: (c) => {
    const parts = c.dy.map((d, i) => d ?? op.zerosLike(c.y[i]));
    return [op.concat(parts, (c.node.attrs.axis as { v: number }).v), null];
  },
  Slice: (c) => {
    const x = xs(c)[0], dy = c.dy[0]!;
    const starts = constInts(c, 1), ends = constInts(c, 2), axes = constInts(c, 3);
    if (c.x[4]) return c.g.fail('Slice', 'gradient supports step 1 only');
    const pads = Array<number>(2 * x.rank).fill(0);
    axes.forEach((a, i) => {
      const d = x.shape![a];
      const open = ends[i] >= 2 ** 62;
      if (typeof d !== 'number' && !(open && starts[i] >= 0)) c.g.fail('Slice', `gradient needs a static dim ${a} or an open end (node ${c.node.name})`);
      const n = typeof d === 'number' ? d : 0;
      const s = starts[i] < 0 ? starts[i] + n : Math.min(starts[i], n || starts[i]);
      const e = open ? n : ends[i] < 0 ? ends[i] + n : Math.min(ends[i], n);
      pads[a] = s;
      pads[x.rank + a] = open ? 0 : n - e;
    });
    return [pad(dy, pads, x.shape), null, null, null, null];
  },
  Gather: (c) => {
    const [data, idx] = xs(c), dy = c.dy[0]!;
    if ((c.node.attrs.axis as { v: number }).v !== 0) return c.g.fail('Gather', `gradient supports axis 0 only (node ${c.node.name}); slice or transpose first`);
    // Scatter-add rows: never a dense one-hot over the (large) table.
    const zeros = op.zerosLike(data);
    const index = op.unsqueeze(op.cast(idx, 'int64'), [-1]);
    return [op.scatterND(zeros, index, dy, 'add'), null];
  },
  GatherElements: (c) => {
    const [data, idx] = xs(c);
    return [op.scatterElements(op.zerosLike(data), idx, c.dy[0]!, (c.node.attrs.axis as { v: number }).v, 'add'), null];
  },
  GatherND: (c) => {
    const [data, idx] = xs(c);
    return [op.scatterND(op.zerosLike(data), idx, c.dy[0]!, 'add'), null];
  },
  ScatterND: (c) => {
    const [, idx, upd] = xs(c), dy = c.dy[0]!;
    const add = c.node.attrs.reduction?.v === 'add';
    const dData = add ? dy : op.scatterND(dy, idx, op.zerosLike(upd));
    return [c.needs(0) ? dData : null, null, c.needs(2) ? op.gatherND(dy, idx) : null];
  },
  ScatterElements: (c) => {
    const [, idx, upd] = xs(c), dy = c.dy[0]!;
    const axis = (c.node.attrs.axis as { v: number }).v;
    const add = c.node.attrs.reduction?.v === 'add';
    const dData = add ? dy : op.scatterElements(dy, idx, op.zerosLike(upd), axis);
    return [c.needs(0) ? dData : null, null, c.needs(2) ? op.gatherElements(dy, idx, axis) : null];
  },
  TopK: (c) => {
    const x = xs(c)[0];
    const dv = c.dy[0];
    if (!dv) return [null, null];
    return [op.scatterElements(op.zerosLike(x), c.y[1], dv, (c.node.attrs.axis as { v: number }).v, 'add'), null];
  },
  Trilu: (c) => [op.trilu(c.dy[0]!, (c.node.attrs.upper as { v: number }).v === 1, c.x[1] ? constScalar(c, 1) : 0), null],
  LayerNormalization: (c) => {
    const [x, scale] = xs(c), dy = c.dy[0]!;
    const [, mean, invStd] = c.y;
    const xhat = op.mul(op.sub(x, mean), invStd);
    const dxhat = op.mul(dy, scale);
    const m1 = op.reduceMean(dxhat, [-1], true);
    const m2 = op.reduceMean(op.mul(dxhat, xhat), [-1], true);
    const dx = op.mul(invStd, op.sub(op.sub(dxhat, m1), op.mul(xhat, m2)));
    return [
      c.needs(0) ? dx : null,
      c.needs(1) ? sumTo(op.mul(dy, xhat), c.x[1]!.shape) : null,
      c.needs(2) ? sumTo(dy, c.x[2]!.shape) : null,
    ];
  },
  Dropout: (c) => {
    const ratio = constScalar(c, 1);
    return [op.mul(op.mul(c.dy[0]!, op.cast(c.y[1], xs(c)[0].dtype)), 1 / (1 - ratio)), null, null];
  },
};

function minMax(c: GradContext, isMax: boolean): (Value | null)[] {
  const [a, b] = xs(c), dy = c.dy[0]!;
  const pickA = isMax ? op.greaterOrEqual(a, b) : op.greaterOrEqual(b, a);
  return [c.needs(0) ? sumTo(op.where(pickA, dy, 0), a.shape) : null, c.needs(1) ? sumTo(op.where(pickA, 0, dy), b.shape) : null];
}

function pad(x: Value, pads: number[], shape: Shape | null): Value {
  const g = x.graph;
  if (pads.every((p) => p === 0)) return x;
  return g.node('Pad', [x, g.constant(BigInt64Array.from(pads.map(BigInt)), 'int64', [pads.length])], [{ dtype: x.dtype, shape }])[0];
}


