import { type Attr, type Value, attr, graphOf } from '../graph.js';
import { broadcast, dimClash, normAxis, reshapeShape } from '../shape.js';
import { type DType, type Dim, type Shape, allocate, shapeStr } from '../types.js';
import { int64s, scalar } from './core.js';

/** Reshape to a static target (0 copies a dim, -1 infers one) or to a runtime int64 shape. */
export function reshape(x: Value, target: number[] | Value, outShape?: Shape): Value {
  const g = graphOf('Reshape', [x, typeof target === 'object' && !Array.isArray(target) ? target : null]);
  if (Array.isArray(target)) {
    const shape = reshapeShape(x.shape, target, (m) => g.fail('Reshape', m));
    return g.node('Reshape', [x, int64s(g, target)], [{ dtype: x.dtype, shape }])[0];
  }
  const n = target.shape?.[0];
  const shape = outShape ?? (typeof n === 'number' ? Array<Dim>(n).fill(null) : null);
  return g.node('Reshape', [x, target], [{ dtype: x.dtype, shape }])[0];
}

export function transpose(x: Value, perm: number[]): Value {
  const g = x.graph;
  if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
    g.fail('Transpose', `bad perm ${JSON.stringify(perm)} for ${x}`);
  return g.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape![p]) }], {
    perm: attr.ints(perm),
  })[0];
}

/** Swaps the last two axes. */
export function transposeLast(x: Value): Value {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return transpose(x, perm);
}

export function concat(xs: Value[], axis: number): Value {
  const g = graphOf('Concat', xs);
  const r = xs[0].rank;
  const a = normAxis(axis, r, (m) => g.fail('Concat', m));
  const shape: Shape = [...xs[0].shape!];
  for (const x of xs.slice(1)) {
    if (x.rank !== r || x.dtype !== xs[0].dtype) g.fail('Concat', `operands differ: ${xs.map(String).join(', ')}`);
    x.shape!.forEach((d, i) => {
      if (i !== a && dimClash(d, shape[i]))
        g.fail('Concat', `dim ${i} differs: ${xs.map((v) => shapeStr(v.shape)).join(' vs ')}`);
      if (i !== a && shape[i] === null) shape[i] = d;
    });
  }
  const sizes = xs.map((x) => x.shape![a]);
  shape[a] = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((p, q) => p + q, 0) : null;
  return g.node('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: attr.int(a) })[0];
}

const INT_MAX = 2 ** 62;

/** Bounds at or past +-2^31 (Infinity, MAX_SAFE_INTEGER, ...) lie past any dim: emit them as +-2^62 ("open"). */
const bound = (v: number) => (v >= 2 ** 31 ? INT_MAX : v <= -(2 ** 31) ? -INT_MAX : Math.trunc(v));

/** Static-bounds slice along the given axes (step 1); ends past the dim clamp like numpy (use Infinity for an open end). */
export function slice(x: Value, starts: number[], ends: number[], axes: number[]): Value {
  const g = x.graph;
  const r = x.rank;
  if (starts.length !== axes.length || ends.length !== axes.length)
    g.fail(
      'Slice',
      `starts ${JSON.stringify(starts)}, ends ${JSON.stringify(ends)} and axes ${JSON.stringify(axes)} differ in length`,
    );
  const ax = axes.map((a) => normAxis(a, r, (m) => g.fail('Slice', m)));
  const st = starts.map(bound),
    en = ends.map(bound);
  const shape = [...x.shape!];
  ax.forEach((a, i) => {
    const d = shape[a];
    const s = st[i],
      e = en[i];
    if (typeof d === 'number') {
      const lo = Math.min(Math.max(s < 0 ? s + d : s, 0), d);
      const hi = Math.min(Math.max(e < 0 ? e + d : e, 0), d);
      shape[a] = Math.max(hi - lo, 0);
    } else if (e >= INT_MAX) {
      // Open end on a symbolic dim: all of it, or its last -s entries (assumed to exist).
      shape[a] = s <= -INT_MAX || s === 0 ? d : s < 0 ? -s : null;
    } else {
      // Bounded slice of a symbolic dim: assumed to lie inside it (the runtime clamps otherwise).
      shape[a] = s >= 0 === e >= 0 ? Math.max(e - s, 0) : null;
    }
  });
  return g.node('Slice', [x, int64s(g, st), int64s(g, en), int64s(g, ax)], [{ dtype: x.dtype, shape }])[0];
}

/** Slice with runtime int64 [n] starts/ends (used for dynamic positions). */
export function sliceDynamic(x: Value, starts: Value, ends: Value, axes: number[], outShape: Shape): Value {
  const g = graphOf('Slice', [x, starts, ends]);
  return g.node(
    'Slice',
    [
      x,
      starts,
      ends,
      int64s(
        g,
        axes.map((a) => normAxis(a, x.rank, (m) => g.fail('Slice', m))),
      ),
    ],
    [{ dtype: x.dtype, shape: outShape }],
  )[0];
}

export function split(x: Value, sizes: number[], axis: number): Value[] {
  const g = x.graph;
  const a = normAxis(axis, x.rank, (m) => g.fail('Split', m));
  const d = x.shape![a];
  const total = sizes.reduce((p, q) => p + q, 0);
  if (typeof d === 'number' && d !== total)
    g.fail('Split', `sizes ${JSON.stringify(sizes)} do not add up to dim ${d} of ${x}`);
  return g.node(
    'Split',
    [x, int64s(g, sizes)],
    sizes.map((s) => ({ dtype: x.dtype, shape: x.shape!.map((e, i) => (i === a ? s : e)) })),
    { axis: attr.int(a) },
  );
}

export function squeeze(x: Value, axes: number[]): Value {
  const g = x.graph;
  const ax = axes.map((a) => normAxis(a, x.rank, (m) => g.fail('Squeeze', m)));
  for (const a of ax) if (dimClash(x.shape![a], 1)) g.fail('Squeeze', `dim ${a} of ${x} is not 1`);
  return g.node(
    'Squeeze',
    [x, int64s(g, ax)],
    [{ dtype: x.dtype, shape: x.shape!.filter((_, i) => !ax.includes(i)) }],
  )[0];
}

export function unsqueeze(x: Value, axes: number[]): Value {
  const g = x.graph;
  const r = x.rank + axes.length;
  const ax = axes.map((a) => normAxis(a, r, (m) => g.fail('Unsqueeze', m))).sort((p, q) => p - q);
  const shape: Shape = [];
  let j = 0;
  for (let i = 0; i < r; i++) shape.push(ax.includes(i) ? 1 : x.shape![j++]);
  return g.node('Unsqueeze', [x, int64s(g, ax)], [{ dtype: x.dtype, shape }])[0];
}

/** Broadcasts x to a static shape, or to a runtime int64 shape (outShape then describes it). */
export function expand(x: Value, to: number[] | Value, outShape?: Shape): Value {
  const g = graphOf('Expand', [x, Array.isArray(to) ? null : to]);
  if (Array.isArray(to)) {
    const shape = broadcast(
      [x.shape, to],
      (m) => g.fail('Expand', m),
      () => `${x} to ${shapeStr(to)}`,
    );
    return g.node('Expand', [x, int64s(g, to)], [{ dtype: x.dtype, shape }])[0];
  }
  return g.node('Expand', [x, to], [{ dtype: x.dtype, shape: outShape ?? null }])[0];
}

export function shapeOf(x: Value): Value {
  return x.graph.node('Shape', [x], [{ dtype: 'int64', shape: [x.shape ? x.shape.length : null] }])[0];
}

/** Runtime size of one axis, as an int64 scalar. */
export function dimOf(x: Value, axis: number): Value {
  const g = x.graph;
  const a = normAxis(axis, x.rank, (m) => g.fail('Shape', m));
  return g
    .node('Shape', [x], [{ dtype: 'int64', shape: [1] }], { start: attr.int(a), end: attr.int(a + 1) })
    .map((s) => squeeze(s, [0]))[0];
}

/** Zeros (or a fill value) of a runtime shape. */
export function constantOfShape(shape: Value, dtype: DType, fill = 0, outShape?: Shape): Value {
  const data = allocate(dtype, 1);
  (data as unknown as (number | bigint)[])[0] = dtype === 'int64' ? BigInt(fill) : fill;
  const n = shape.shape?.[0];
  return shape.graph.node(
    'ConstantOfShape',
    [shape],
    [{ dtype, shape: outShape ?? (typeof n === 'number' ? Array<Dim>(n).fill(null) : null) }],
    {
      value: attr.tensor({ dtype, dims: [1], data }),
    },
  )[0];
}

export function zerosLike(x: Value): Value {
  return constantOfShape(shapeOf(x), x.dtype, 0, x.shape ?? undefined);
}

export function range(
  start: Value | number,
  limit: Value | number,
  delta: Value | number,
  dtype: DType = 'int64',
): Value {
  const vs = [start, limit, delta].filter((v): v is Value => typeof v !== 'number');
  const g = graphOf('Range', vs);
  const ins = [start, limit, delta].map((v) => (typeof v === 'number' ? scalar(g, v, dtype) : v));
  const n = [start, limit, delta].every((v) => typeof v === 'number')
    ? Math.max(Math.ceil(((limit as number) - (start as number)) / (delta as number)), 0)
    : null;
  return g.node('Range', ins, [{ dtype, shape: [n] }])[0];
}

export function trilu(x: Value, upper: boolean, k = 0): Value {
  const g = x.graph;
  return g.node(
    'Trilu',
    [x, g.constant(BigInt64Array.of(BigInt(k)), 'int64', [])],
    [{ dtype: x.dtype, shape: x.shape }],
    { upper: attr.int(upper ? 1 : 0) },
  )[0];
}

/** numpy-style take along `axis`: out shape = data[:axis] + indices + data[axis+1:]. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  const g = graphOf('Gather', [data, indices]);
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32')
    g.fail('Gather', `indices ${indices.name} must be int64/int32`);
  const a = normAxis(axis, data.rank, (m) => g.fail('Gather', m));
  const ds = data.shape!,
    is = indices.shape;
  const shape = is === null ? null : [...ds.slice(0, a), ...is, ...ds.slice(a + 1)];
  return g.node('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: attr.int(a) })[0];
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  const g = graphOf('GatherElements', [data, indices]);
  const a = normAxis(axis, data.rank, (m) => g.fail('GatherElements', m));
  if (indices.rank !== data.rank) g.fail('GatherElements', `indices ${indices} must have the rank of ${data}`);
  return g.node('GatherElements', [data, indices], [{ dtype: data.dtype, shape: indices.shape }], {
    axis: attr.int(a),
  })[0];
}

export function gatherND(data: Value, indices: Value): Value {
  const g = graphOf('GatherND', [data, indices]);
  const k = indices.dim(-1);
  if (typeof k !== 'number') return g.fail('GatherND', `last dim of ${indices} must be static`);
  const shape = [...indices.shape!.slice(0, -1), ...data.shape!.slice(k)];
  return g.node('GatherND', [data, indices], [{ dtype: data.dtype, shape }])[0];
}

export function scatterND(data: Value, indices: Value, updates: Value, reduction: 'none' | 'add' = 'none'): Value {
  const g = graphOf('ScatterND', [data, indices, updates]);
  return g.node(
    'ScatterND',
    [data, indices, updates],
    [{ dtype: data.dtype, shape: data.shape }],
    reduction === 'none' ? {} : { reduction: attr.string(reduction) },
  )[0];
}

export function scatterElements(
  data: Value,
  indices: Value,
  updates: Value,
  axis: number,
  reduction: 'none' | 'add' = 'none',
): Value {
  const g = graphOf('ScatterElements', [data, indices, updates]);
  const a = normAxis(axis, data.rank, (m) => g.fail('ScatterElements', m));
  const attrs: Record<string, Attr> = { axis: attr.int(a) };
  if (reduction !== 'none') attrs.reduction = attr.string(reduction);
  return g.node('ScatterElements', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], attrs)[0];
}

/** One-hot along a new last axis; off/on values given as floats. */
export function oneHot(indices: Value, depth: number, dtype: DType = 'float32'): Value {
  const g = indices.graph;
  const values = g.constant(dtype === 'float64' ? Float64Array.of(0, 1) : Float32Array.of(0, 1), dtype, [2]);
  const shape = indices.shape === null ? null : [...indices.shape, depth];
  return g.node(
    'OneHot',
    [indices, g.constant(BigInt64Array.of(BigInt(depth)), 'int64', []), values],
    [{ dtype, shape }],
    { axis: attr.int(-1) },
  )[0];
}
