import type { Value } from '../graph.js';
import * as op from '../ops/index.js';
import { type Rewrite, constInts, producer } from './rewrite.js';

/** Tables of at most this many (static) rows take their scatter-add as a one-hot GEMM (op.scatterAddSmall). */
const SMALL_TABLE = 256;

/**
 * A scatter-add of rows into zeros, as op.scatterAdd states it (a Gather's gradient): onnxruntime's ScatterND with
 * reduction 'add' lets its threads race on repeated rows, so it is written as one of three kernels in a fixed
 * order. Indices declared distinct (TensorSpec.distinct) put every row on its own row: the same ScatterND without
 * the reduction. A small static table: onehot(idx)^T @ rows, one GEMM. Otherwise the sort-and-sum scatterAddRows.
 */
export const scatterAdd: Rewrite = {
  name: 'scatter-add',
  gradientOnly: false,
  match(n) {
    if (n.op !== 'ScatterND' || n.domain || n.attrs.reduction?.v !== 'add') return null;
    const [zeros, at, upd] = n.inputs as Value[];
    const fill = producer(zeros, 'ConstantOfShape')?.attrs.value;
    const shape = producer(producer(zeros, 'ConstantOfShape')?.inputs[0], 'Concat');
    const rest = producer(shape?.inputs[1], 'Slice');
    const unsq = producer(at, 'Unsqueeze');
    // zeros [rows, ...rest of upd] and indices [n, 1]: what op.scatterAdd builds, and all the kernels take.
    if (fill?.t !== 'tensor' || Number(fill.v.data[0]) !== 0) return null;
    if (shape?.inputs.length !== 2 || !rest || !unsq) return null;
    if (producer(rest.inputs[0], 'Shape')?.inputs[0] !== upd || String(constInts(rest.inputs[1])) !== '1') return null;
    if ((constInts(rest.inputs[2])?.[0] ?? 0) < 2 ** 62 || String(constInts(rest.inputs[3])) !== '0') return null;
    const idx = unsq.inputs[0]!,
      rows = shape.inputs[0]!;
    if (idx.shape?.length !== 1 || String(constInts(unsq.inputs[1])) !== '1') return null;
    const size = n.outputs[0].dim(0);
    if (isDistinct(idx)) return () => [op.scatterND(zeros, at, upd)];
    if (typeof size === 'number' && size <= SMALL_TABLE) return () => [op.scatterAddSmall(size, idx, upd)];
    return () => [op.scatterAddRows(rows, idx, upd)];
  },
};

/** Whether v holds distinct indices: declared so, or reshaped or cast from a value declared so. */
function isDistinct(v: Value): boolean {
  for (let u: Value | undefined = v; u; u = (producer(u, 'Reshape') ?? producer(u, 'Cast'))?.inputs[0] ?? undefined) {
    if (u.graph.distinct.has(u)) return true;
  }
  return false;
}
