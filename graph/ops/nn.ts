import { type Value, attr, graphOf } from '../graph.js';
import { broadcast, dimClash } from '../shape.js';
import { requireFloat, scalar } from './core.js';

/** numpy matmul for rank >= 2 operands, broadcasting the batch dims. */
export function matmul(a: Value, b: Value): Value {
  const g = graphOf('MatMul', [a, b]);
  requireFloat(g, 'MatMul', a);
  if (a.rank < 2 || b.rank < 2) g.fail('MatMul', `operands must have rank >= 2: ${a} @ ${b}`);
  if (a.dtype !== b.dtype) g.fail('MatMul', `dtype mismatch: ${a} @ ${b}`);
  if (dimClash(a.dim(-1), b.dim(-2))) g.fail('MatMul', `inner dims differ: ${a} @ ${b}`);
  const batch = broadcast(
    [a.shape!.slice(0, -2), b.shape!.slice(0, -2)],
    (m) => g.fail('MatMul', m),
    () => `${a} @ ${b}`,
  )!;
  return g.node('MatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, a.dim(-2), b.dim(-1)] }])[0];
}

/** ONNX LayerNormalization over the last axis. Mean and inverse std are kept as outputs for the gradient. */
export function layerNormalization(x: Value, scale: Value, bias: Value, epsilon: number): Value {
  const g = graphOf('LayerNormalization', [x, scale, bias]);
  requireFloat(g, 'LayerNormalization', x);
  if (dimClash(x.dim(-1), scale.dim(-1))) g.fail('LayerNormalization', `scale ${scale} does not match ${x}`);
  const stat = x.shape === null ? null : [...x.shape.slice(0, -1), 1];
  // Mean and InvStdDev have type stash_type, which defaults to float32 whatever x's type is (and
  // onnxruntime's CPU kernel supports only that); the gradient rule casts them to x's type.
  return g.node(
    'LayerNormalization',
    [x, scale, bias],
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: 'float32', shape: stat },
      { dtype: 'float32', shape: stat },
    ],
    { axis: attr.int(-1), epsilon: attr.float(epsilon) },
  )[0];
}

/**
 * Training-mode Dropout. ORT seeds the kernel's generator once from `seed` and advances it on each run,
 * so a session replays the same mask sequence for the same seed. The mask output feeds the gradient.
 */
export function dropout(x: Value, ratio: number, seed?: number): Value {
  const g = x.graph;
  if (ratio <= 0) return x;
  if (ratio >= 1) g.fail('Dropout', `ratio ${ratio} must be < 1`);
  const t = g.constant(Uint8Array.of(1), 'bool', []);
  return g.node(
    'Dropout',
    [x, scalar(g, ratio, x.dtype), t],
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: 'bool', shape: x.shape },
    ],
    { seed: attr.int(seed ?? g.nextSeed()) },
  )[0];
}

/**
 * RandomUniformLike: uniform [0, 1) draws in x's shape and dtype. Like Dropout, the kernel seeds its generator once
 * from `seed` (a float attribute, so it is kept below 2^24 to stay exact) and advances it on every run.
 */
export function randomUniformLike(x: Value, seed: number): Value {
  requireFloat(x.graph, 'RandomUniformLike', x);
  return x.graph.node('RandomUniformLike', [x], [{ dtype: x.dtype, shape: x.shape }], {
    seed: attr.float(((seed % 2 ** 24) + 2 ** 24) % 2 ** 24),
    low: attr.float(0),
    high: attr.float(1),
  })[0];
}

/** 2-D convolution (NCHW), forward only: the ViT patch embedding. */
export function conv2d(x: Value, w: Value, b: Value | null, stride: number[], pads: number[] = [0, 0, 0, 0]): Value {
  const g = graphOf('Conv', [x, w, b]);
  const [n, , h, wd] = x.shape!;
  const [co, , kh, kw] = w.shape!;
  const out = (d: typeof h, k: typeof kh, s: number, p0: number, p1: number) =>
    typeof d === 'number' && typeof k === 'number' ? Math.floor((d + p0 + p1 - k) / s) + 1 : null;
  return g.node(
    'Conv',
    b ? [x, w, b] : [x, w],
    [
      {
        dtype: x.dtype,
        shape: [n, co, out(h, kh, stride[0], pads[0], pads[2]), out(wd, kw, stride[1], pads[1], pads[3])],
      },
    ],
    {
      strides: attr.ints(stride),
      pads: attr.ints(pads),
    },
  )[0];
}
