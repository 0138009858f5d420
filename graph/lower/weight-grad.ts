import * as op from '../ops/index.js';
import { dimClash } from '../shape.js';
import { type Rewrite, leadingSum, producer } from './rewrite.js';

/**
 * The weight gradient of x[..., k] @ W[k, n] (a Linear), sum over the leading axes of x^T @ dy, as one
 * [k, rows] @ [rows, n] GEMM over the flattened leading dims, rather than a batched matmul per leading index
 * followed by a ReduceSum over them.
 */
export const weightGrad: Rewrite = {
  name: 'weight-grad',
  gradientOnly: true,
  match(n) {
    if (leadingSum(n) === null || n.outputs[0].shape?.length !== 2) return null;
    const mm = producer(n.inputs[0], 'MatMul');
    const t = producer(mm?.inputs[0], 'Transpose');
    const perm = t?.attrs.perm?.t === 'ints' ? t.attrs.perm.v : null;
    if (!mm || !t || !perm) return null;
    const x = t.inputs[0]!,
      dy = mm.inputs[1]!;
    const r = perm.length;
    const swapsLast = perm.every((p, i) => p === (i < r - 2 ? i : 2 * r - 3 - i));
    if (r <= 2 || !swapsLast || !x.shape || dy.shape?.length !== r) return null;
    // Flattening the leading dims is the sum only where x and dy share them (no broadcasting between the two).
    if (x.shape.slice(0, -2).some((d, i) => dimClash(d, dy.shape![i]))) return null;
    const k = x.dim(-1),
      cols = dy.dim(-1);
    if (typeof k !== 'number' || typeof cols !== 'number') return null;
    return () => [op.matmul(op.transposeLast(op.reshape(x, [-1, k])), op.reshape(dy, [-1, cols]))];
  },
};
