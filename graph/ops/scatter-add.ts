import type { Value } from '../graph.js';
import type { Dim } from '../types.js';
import { int64s } from './core.js';
import { add, cast, equal, less, not, sub, where } from './elementwise.js';
import { cumsum, topK } from './reduce.js';
import { matmul } from './nn.js';
import {
  concat,
  constantOfShape,
  dimOf,
  gather,
  reshape,
  scatterND,
  shapeOf,
  slice,
  squeeze,
  transposeLast,
  unsqueeze,
} from './shape-ops.js';

/**
 * Scatter-add into a table of `n` rows, n a small static size (a position table, say): onehot(idx)^T @ upd,
 * one GEMM in a fixed order, where the sort-and-sum of scatterAddRows costs a TopK, a float64 CumSum and
 * their copies over every update row (about 3 ms for 8,600 rows of 64 on two cores; this, 0.5 ms for 50 rows).
 * idx is [m] (negative entries count from the end), upd [m, ...rest]; the result is [n, ...rest].
 */
export function scatterAddSmall(n: number, idx: Value, upd: Value): Value {
  const g = upd.graph;
  const norm = nonNegative(idx, int64s(g, [n]));
  const ids = g.constant(
    BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
    'int64',
    [n],
  );
  const onehot = cast(equal(unsqueeze(norm, [1]), ids), upd.dtype);
  const rest = upd.shape!.slice(1);
  if (rest.length === 1) return matmul(transposeLast(onehot), upd);
  const flat = reshape(upd, [0, -1]);
  return reshape(
    matmul(transposeLast(onehot), flat),
    concat([int64s(g, [n]), slice(shapeOf(upd), [1], [Infinity], [0])], 0),
    [n, ...rest],
  );
}

/**
 * zeros [rows, ...rest] with upd[i] added to row idx[i] for every i: a row lookup's gradient, stated as one ScatterND
 * with reduction 'add'. onnxruntime's threads race on the repeated rows of that kernel, so the lowering pass
 * (graph/lower/scatter-add.ts) writes it as one of the kernels below. `rows` is the table's first dim as an int64
 * [1], `size` the same when known at build time; idx is [n] (negative entries count from the end), upd [n, ...rest].
 */
export function scatterAdd(rows: Value, idx: Value, upd: Value, size: Dim = null): Value {
  return scatterInto(rows, idx, upd, 'add', size);
}

/**
 * Rows written at distinct indices: out = zeros [rows, ...] with out[idx[i]] = upd[i]. No two updates share a
 * row, so one ScatterND (disjoint writes, any thread count) is the scatter-add; idx must be distinct (a batch
 * input declared distinct, whose feeds the runners check) and in [0, rows).
 */
export function scatterRows(rows: Value, idx: Value, upd: Value): Value {
  return scatterInto(rows, idx, upd, 'none', null);
}

function scatterInto(rows: Value, idx: Value, upd: Value, reduction: 'none' | 'add', size: Dim): Value {
  const restDims = slice(shapeOf(upd), [1], [Infinity], [0]);
  const zeros = constantOfShape(concat([rows, restDims], 0), upd.dtype, 0, [size, ...upd.shape!.slice(1)]);
  return scatterND(zeros, unsqueeze(cast(idx, 'int64'), [-1]), upd, reduction);
}

/**
 * Row-wise scatter-add in a fixed order: out = zeros [rows, ...] with out[idx[i]] += upd[i] for every i,
 * bit-identical at any thread count.
 *
 * onnxruntime's CPU ScatterND with reduction 'add' splits the index list across its intra-op threads,
 * which then `+=` into the same output rows unsynchronised: the summation order (and, when two threads
 * hit one row at once, whether an update survives) depends on thread scheduling. ScatterElements is
 * serial, but over ten times slower than that ScatterND here. So repeats are combined before anything
 * is scattered: the rows are sorted by index (TopK), summed as differences of a float64 running sum taken
 * at the end of each run of equal indices, and written by a ScatterND whose indices are unique (disjoint
 * writes, so its threading cannot matter). In float64 the differences stay within float32 rounding of the
 * exact sums unless a run holds a minute share of the total magnitude.
 *
 * `rows` is the table's first dim as an int64 [1]; idx is [n] (negative entries count from the end, as in
 * Gather); upd is [n, ...rest], and the table is [rows, ...rest].
 */
export function scatterAddRows(rows: Value, idx: Value, upd: Value): Value {
  const g = upd.graph;
  const rest = upd.shape!.slice(1);
  const norm = nonNegative(idx, rows);
  const n = unsqueeze(dimOf(norm, 0), [0]);
  const [sorted, perm] = topK(norm, n, 0, false);
  const wide = upd.dtype === 'float32' ? 'float64' : upd.dtype;
  const run = cumsum(cast(gather(upd, perm, 0), wide), 0);
  // A run of equal indices ends where the next index differs (or at the last row).
  const next = concat([slice(sorted, [1], [Infinity], [0]), int64s(g, [-1])], 0);
  const ends = squeeze(g.node('NonZero', [not(equal(sorted, next))], [{ dtype: 'int64', shape: [1, null] }])[0], [0]);
  const atEnd = gather(run, ends, 0);
  const restDims = slice(shapeOf(upd), [1], [Infinity], [0]);
  const zeroRow = constantOfShape(concat([int64s(g, [1]), restDims], 0), wide, 0, [1, ...rest]);
  const before = concat([zeroRow, slice(atEnd, [0], [-1], [0])], 0);
  const sums = cast(sub(atEnd, before), upd.dtype);
  // One row per distinct index now: disjoint writes.
  return scatterRows(rows, gather(sorted, ends, 0), sums);
}

/** idx as int64 with negative entries counted from the end of a table of `rows` rows (as Gather reads them). */
function nonNegative(idx: Value, rows: Value): Value {
  const i64 = cast(idx, 'int64');
  return where(less(i64, 0), add(i64, rows), i64);
}
