// The gradient table: one rule per primitive op, stating the math (graph/lower/ picks the kernels at emission),
// and the context grad() (grad.ts) hands each rule.
import type { Graph, Node, Value } from './graph.js';
import * as op from './ops/index.js';
import type { Shape } from './types.js';

export interface GradContext {
  g: Graph;
  node: Node;
  x: (Value | null)[];
  y: Value[];
  /** Adjoint of each output (null where nothing downstream of the loss uses it). */
  dy: (Value | null)[];
  /** Whether input i needs a gradient (it depends on a differentiated value). */
  needs: (i: number) => boolean;
}

export type GradRule = (c: GradContext) => (Value | null)[];

/**
 * Sums a broadcast gradient back to the shape of the operand it flowed from: over the leading axes the
 * operand lacks and over its size-1 axes. Symbolic dims never broadcast (see shape.ts). A bias gradient is
 * the sum over leading axes alone (graph/lower/bias-grad.ts picks its kernel).
 */
function sumTo(d: Value, shape: Shape | null): Value {
  if (shape === null || d.shape === null) throw new Error(`cannot unbroadcast ${d} to an unknown shape`);
  const lead = d.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < d.rank; i++) {
    const j = i - lead;
    if (j < 0 || (shape[j] === 1 && d.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return d;
  if (axes.length === lead) return op.reduceSum(d, axes, false);
  let r = op.reduceSum(d, axes, true);
  if (lead > 0) r = op.squeeze(r, [...Array(lead).keys()]);
  return r;
}

const shapeLike = (d: Value, x: Value) =>
  x.shape !== null &&
  d.shape !== null &&
  x.shape.length === d.shape.length &&
  x.shape.every((s, i) => s === d.shape![i])
    ? d
    : op.reshape(d, op.shapeOf(x), x.shape ?? undefined);

const xs = (c: GradContext) => c.x as Value[];

function unaryRule(f: (c: GradContext, dy: Value) => Value): GradRule {
  return (c) => [c.needs(0) ? f(c, c.dy[0]!) : null];
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

/** Values of a Constant-produced int input, or null when it is computed at run time. */
function maybeConstInts(c: GradContext, i: number): number[] | null {
  const a = c.node.inputs[i]?.producer?.attrs.value;
  if (!a || a.t !== 'tensor') return null;
  return Array.from(a.v.data as BigInt64Array | Int32Array, Number);
}

function constInts(c: GradContext, i: number): number[] {
  return maybeConstInts(c, i) ?? c.g.fail(c.node.op, `gradient needs constant input ${i} (node ${c.node.name})`);
}

/** Runtime size of axis a of x as an int64 [1]. */
function dimAt(x: Value, a: number): Value {
  return op.gather(op.shapeOf(x), op.int64s(x.graph, [a]));
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
    const [a, b] = xs(c),
      dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(dy, a.shape) : null, c.needs(1) ? sumTo(dy, b.shape) : null];
  },
  Sub: (c) => {
    const [a, b] = xs(c),
      dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(dy, a.shape) : null, c.needs(1) ? sumTo(op.neg(dy), b.shape) : null];
  },
  Mul: (c) => {
    const [a, b] = xs(c),
      dy = c.dy[0]!;
    return [c.needs(0) ? sumTo(op.mul(dy, b), a.shape) : null, c.needs(1) ? sumTo(op.mul(dy, a), b.shape) : null];
  },
  Div: (c) => {
    const [a, b] = xs(c),
      dy = c.dy[0]!;
    const y = c.y[0];
    return [
      c.needs(0) ? sumTo(op.div(dy, b), a.shape) : null,
      c.needs(1) ? sumTo(op.neg(op.div(op.mul(dy, y), b)), b.shape) : null,
    ];
  },
  Pow: (c) => {
    const [a, b] = xs(c),
      dy = c.dy[0]!,
      y = c.y[0];
    return [
      c.needs(0) ? sumTo(op.mul(dy, op.mul(b, op.pow(a, op.sub(b, 1)))), a.shape) : null,
      // d/db a^b = a^b log a; at a = 0 (y = 0 for b > 0) the limit is 0, not 0 * -inf = NaN.
      c.needs(1) ? sumTo(op.where(op.equal(a, 0), 0, op.mul(dy, op.mul(y, op.log(a)))), b.shape) : null,
    ];
  },
  Max: (c) => minMax(c, true),
  Min: (c) => minMax(c, false),
  Neg: unaryRule((_c, dy) => op.neg(dy)),
  // dy is often a sum's Expand: graph/lower/expanded-mul.ts multiplies by the sum's adjoint instead.
  Exp: unaryRule((c, dy) => op.mul(c.y[0], dy)),
  Log: unaryRule((c, dy) => op.div(dy, xs(c)[0])),
  Sqrt: unaryRule((c, dy) => op.div(op.mul(dy, 0.5), c.y[0])),
  Erf: unaryRule((c, dy) => {
    const x = xs(c)[0];
    return op.mul(dy, op.mul(op.exp(op.neg(op.mul(x, x))), 2 / Math.sqrt(Math.PI)));
  }),
  Tanh: unaryRule((c, dy) => op.mul(dy, op.sub(1, op.mul(c.y[0], c.y[0])))),
  Sigmoid: unaryRule((c, dy) => op.mul(dy, op.mul(c.y[0], op.sub(1, c.y[0])))),
  Softplus: unaryRule((c, dy) => op.mul(dy, op.sigmoid(xs(c)[0]))),
  Cos: unaryRule((c, dy) => op.neg(op.mul(dy, op.sin(xs(c)[0])))),
  Sin: unaryRule((c, dy) => op.mul(dy, op.cos(xs(c)[0]))),
  Relu: unaryRule((c, dy) => op.where(op.greater(xs(c)[0], 0), dy, 0)),
  Abs: unaryRule((c, dy) => op.mul(dy, op.sign(xs(c)[0]))),
  // Piecewise constant: zero almost everywhere.
  Floor: (c) => [c.needs(0) ? op.zerosLike(xs(c)[0]) : null],
  Sign: (c) => [c.needs(0) ? op.zerosLike(xs(c)[0]) : null],
  Clip: (c) => {
    const x = xs(c)[0],
      dy = c.dy[0]!;
    const lo = c.x[1],
      hi = c.x[2];
    if (!c.needs(0)) return [null, null, null];
    const inside = op.and(op.greaterOrEqual(x, lo ?? -Infinity), op.greaterOrEqual(hi ?? Infinity, x));
    return [op.where(inside, dy, 0), null, null];
  },
  Cast: (c) => [c.needs(0) ? op.cast(c.dy[0]!, xs(c)[0].dtype) : null],
  Where: (c) => {
    const [cond, a, b] = xs(c),
      dy = c.dy[0]!;
    return [
      null,
      c.needs(1) ? sumTo(op.where(cond, dy, 0), a.shape) : null,
      c.needs(2) ? sumTo(op.where(cond, 0, dy), b.shape) : null,
    ];
  },
  // Recomputes each chunk's scores instead of keeping them: graph/lower/catalog-lse.ts.
  CatalogLogSumExp: (c) => {
    const [h, cat] = xs(c);
    const chunk = (c.node.attrs.chunk as { v: number }).v;
    const [dh, dcat] = op.catalogLogSumExpGrad(h, cat, c.y[0], c.dy[0]!, chunk);
    return [c.needs(0) ? dh : null, c.needs(1) ? dcat : null];
  },
  MatMul: (c) => {
    const [a, b] = xs(c),
      dy = c.dy[0]!;
    return [
      c.needs(0) ? sumTo(op.matmul(dy, op.transposeLast(b)), a.shape) : null,
      // For a Linear (b 2-D, a batched) one GEMM over a's flattened rows: graph/lower/weight-grad.ts.
      c.needs(1) ? sumTo(op.matmul(op.transposeLast(a), dy), b.shape) : null,
    ];
  },
  ReduceSum: (c) => {
    if (!c.needs(0)) return [null, null];
    const { axes, keepdims } = reduceAxes(c);
    return [expandReduced(c, c.dy[0]!, axes, keepdims), null];
  },
  ReduceMean: (c) => {
    const { axes, keepdims } = reduceAxes(c);
    const x = xs(c)[0];
    const sizes = axes.map((a) => x.shape![a]);
    let count: Value | number;
    if (sizes.every((s) => typeof s === 'number')) count = (sizes as number[]).reduce((p, q) => p * q, 1);
    // The count of reduced elements is the product of the reduced dims (not their sum), taken in x's type: the
    // CUDA EP's ReduceProd has no int64 kernel (exact below 2^24 elements in float32, as the cast was before).
    else count = op.reduceProd(op.cast(op.gather(op.shapeOf(x), op.int64s(c.g, axes)), x.dtype), [0]);
    return [op.div(expandReduced(c, c.dy[0]!, axes, keepdims), count)];
  },
  ReduceMax: (c) => {
    const { axes, keepdims } = reduceAxes(c);
    const x = xs(c)[0];
    const ymax = keepdims ? c.y[0] : op.unsqueeze(c.y[0], axes);
    const dy = keepdims ? c.dy[0]! : op.unsqueeze(c.dy[0]!, axes);
    // Tied maxima share the gradient equally (a valid subgradient; giving each the full dy is not).
    const mask = op.cast(op.equal(x, ymax), x.dtype);
    return [op.mul(mask, op.div(dy, op.reduceSum(mask, axes, true)))];
  },
  Softmax: (c) => {
    const y = c.y[0],
      dy = c.dy[0]!;
    const axis = (c.node.attrs.axis as { v: number }).v;
    return [op.mul(y, op.sub(dy, op.reduceSum(op.mul(dy, y), [axis], true)))];
  },
  LogSoftmax: (c) => {
    const y = c.y[0],
      dy = c.dy[0]!;
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
    const parts = xs(c);
    const sizes = parts.map((x) => x.shape![axis]);
    if (sizes.every((s) => typeof s === 'number')) return op.split(c.dy[0]!, sizes as number[], axis);
    // Symbolic sizes along the axis: split at the operands' runtime sizes.
    const split = op.concat(
      parts.map((x) => dimAt(x, axis)),
      0,
    );
    return c.g.node(
      'Split',
      [c.dy[0]!, split],
      parts.map((x) => ({ dtype: x.dtype, shape: x.shape })),
      { axis: { t: 'int', v: axis } },
    );
  },
  Split: (c) => {
    const parts = c.dy.map((d, i) => d ?? op.zerosLike(c.y[i]));
    return [op.concat(parts, (c.node.attrs.axis as { v: number }).v), null];
  },
  Slice: (c) => {
    const x = xs(c)[0],
      dy = c.dy[0]!;
    if (!c.needs(0)) return [null, null, null, null, null];
    if (c.x[4]) return c.g.fail('Slice', 'gradient supports step 1 only');
    const rank = x.rank;
    const axes = (c.x[3] ? constInts(c, 3) : [...Array(rank).keys()]).map((a) => (a < 0 ? a + rank : a));
    const starts = maybeConstInts(c, 1),
      ends = maybeConstInts(c, 2);
    // Pad dy back to x's shape: pads[a] zeros before, pads[rank + a] after, each a number or an int64 [1].
    const pads: (number | Value)[] = Array(2 * rank).fill(0);
    const clamp = (v: number, n: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
    axes.forEach((a, i) => {
      const d = x.shape![a];
      if (starts && ends && typeof d === 'number') {
        const s = clamp(starts[i], d),
          e = Math.max(clamp(ends[i], d), s);
        pads[a] = s;
        pads[rank + a] = d - e;
      } else if (starts && ends && starts[i] >= 0 && ends[i] >= 2 ** 62) {
        pads[a] = starts[i]; // open end on a symbolic dim: nothing after
      } else {
        // Runtime bounds (symbolic dim or dynamic starts/ends), clamped as Slice does for step 1.
        const n = dimAt(x, a);
        const norm = (v: Value) => op.max(op.min(op.where(op.less(v, 0), op.add(v, n), v), n), 0);
        const bound = (k: 1 | 2, vals: number[] | null) =>
          vals ? op.int64s(c.g, [vals[i]]) : op.gather(c.x[k]!, op.int64s(c.g, [i]));
        const s = norm(bound(1, starts));
        const e = op.max(norm(bound(2, ends)), s);
        pads[a] = s;
        pads[rank + a] = op.sub(n, e);
      }
    });
    return [pad(dy, pads, x.shape), null, null, null, null];
  },
  Gather: (c) => {
    if (!c.needs(0)) return [null, null];
    const [data, idx] = xs(c),
      dy = c.dy[0]!;
    const a = (c.node.attrs.axis as { v: number }).v;
    // A scatter-add of dy's rows into zeros (graph/lower/scatter-add.ts picks its kernel). Other axes: move the
    // gathered axis to the front of data (and the index dims to the front of dy), scatter-add there, move it back.
    const r = data.rank,
      q = idx.rank;
    const range = (lo: number, hi: number) => Array.from({ length: Math.max(hi - lo, 0) }, (_, k) => lo + k);
    const pd = [a, ...range(0, a), ...range(a + 1, r)];
    const dyT = a === 0 ? dy : op.transpose(dy, [...range(a, a + q), ...range(0, a), ...range(a + q, r - 1 + q)]);
    const rest = pd.slice(1);
    const rows = op.reshape(
      dyT,
      op.concat([op.int64s(c.g, [-1]), op.gather(op.shapeOf(data), op.int64s(c.g, rest))], 0),
      [null, ...rest.map((p) => data.shape![p])],
    );
    const table = op.scatterAdd(dimAt(data, a), op.reshape(idx, [-1]), rows, data.shape![a]);
    return [
      a === 0
        ? shapeLike(table, data)
        : op.transpose(
            table,
            pd.map((_, k) => pd.indexOf(k)),
          ),
      null,
    ];
  },
  GatherElements: (c) => {
    if (!c.needs(0)) return [null, null];
    const [data, idx] = xs(c);
    return [op.scatterElements(op.zerosLike(data), idx, c.dy[0]!, (c.node.attrs.axis as { v: number }).v, 'add'), null];
  },
  GatherND: (c) => {
    if (!c.needs(0)) return [null, null];
    const [data, idx] = xs(c),
      dy = c.dy[0]!;
    // The k-tuples index the first k axes of data: number those cells row-major and scatter-add rows there.
    const k = idx.dim(-1) as number;
    const dims = [...Array(k).keys()].map((a) => dimAt(data, a));
    const strides = dims.map((_, j) => dims.slice(j + 1).reduce((p: Value, d) => op.mul(p, d), op.int64s(c.g, [1])));
    const lead = op.concat(dims, 0);
    const norm = op.where(op.less(idx, 0), op.add(idx, lead), idx);
    const flat = op.reshape(op.reduceSum(op.mul(norm, op.concat(strides, 0)), [-1]), [-1]);
    const restShape = op.slice(op.shapeOf(data), [k], [Infinity], [0]);
    const rows = op.reshape(dy, op.concat([op.int64s(c.g, [-1]), restShape], 0), [null, ...data.shape!.slice(k)]);
    const cells = dims.reduce((p, d) => op.mul(p, d));
    const cellDims = data.shape!.slice(0, k);
    const known = cellDims.every((d) => typeof d === 'number');
    const size = known ? (cellDims as number[]).reduce((p, d) => p * d, 1) : null;
    return [shapeLike(op.scatterAdd(cells, flat, rows, size), data), null];
  },
  ScatterND: (c) => {
    const [, idx, upd] = xs(c),
      dy = c.dy[0]!;
    const add = c.node.attrs.reduction?.v === 'add';
    const dData = add ? dy : op.scatterND(dy, idx, op.zerosLike(upd));
    return [c.needs(0) ? dData : null, null, c.needs(2) ? op.gatherND(dy, idx) : null];
  },
  ScatterElements: (c) => {
    const [, idx, upd] = xs(c),
      dy = c.dy[0]!;
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
  Trilu: (c) => [
    !c.needs(0)
      ? null
      : op.trilu(c.dy[0]!, (c.node.attrs.upper as { v: number }).v === 1, c.x[1] ? constScalar(c, 1) : 0),
    null,
  ],
  LayerNormalization: (c) => {
    const [x, scale] = xs(c),
      dy = c.dy[0]!;
    // The saved Mean/InvStdDev have type stash_type = float32 (the only one onnxruntime's CPU kernel
    // implements). For float32 x they are exact; for float64 x, recompute them in float64 so the
    // gradient is not limited to single precision.
    let mean: Value, invStd: Value;
    if (x.dtype === c.y[1].dtype) [mean, invStd] = [c.y[1], c.y[2]];
    else {
      const eps = c.node.attrs.epsilon?.t === 'float' ? c.node.attrs.epsilon.v : 1e-5;
      mean = op.reduceMean(x, [-1], true);
      const xc = op.sub(x, mean);
      invStd = op.div(1, op.sqrt(op.add(op.reduceMean(op.mul(xc, xc), [-1], true), eps)));
    }
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
    if (!c.needs(0)) return [null, null, null];
    const ratio = constScalar(c, 1);
    return [op.mul(op.mul(c.dy[0]!, op.cast(c.y[1], xs(c)[0].dtype)), 1 / (1 - ratio)), null, null];
  },
};

function minMax(c: GradContext, isMax: boolean): (Value | null)[] {
  const [a, b] = xs(c),
    dy = c.dy[0]!;
  const pickA = isMax ? op.greaterOrEqual(a, b) : op.greaterOrEqual(b, a);
  return [
    c.needs(0) ? sumTo(op.where(pickA, dy, 0), a.shape) : null,
    c.needs(1) ? sumTo(op.where(pickA, 0, dy), b.shape) : null,
  ];
}

/** Zero-pads x by ONNX pads (begins then ends); entries are numbers or runtime int64 [1] values. */
function pad(x: Value, pads: (number | Value)[], shape: Shape | null): Value {
  const g = x.graph;
  if (pads.every((p) => p === 0)) return x;
  const padsV = pads.every((p) => typeof p === 'number')
    ? op.int64s(g, pads as number[])
    : op.concat(
        pads.map((p) => (typeof p === 'number' ? op.int64s(g, [p]) : p)),
        0,
      );
  return g.node('Pad', [x, padsV], [{ dtype: x.dtype, shape }])[0];
}
