import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';
import { uniformDraws } from '../random.js';

export interface DropoutOptions {
  ratio: number;
  training: boolean;
}

/**
 * Inverted dropout in training mode; the identity at evaluation or for ratio 0 (no node, no draw). The mask
 * comes from uniform draws of the graph's random source (graph/random.ts: seeded sites take the next per-graph
 * seed, so they are reproducible in build order; fed sites read the host's draws): for ratio 1/2 (every HM4SR
 * dropout) a fair coin per entry from 16 binary digits of one draw (halfKeepMask), for any other ratio one
 * draw per entry compared with the ratio (thresholdKeepMask).
 */
export function dropout(g: Graph, x: Value, opts: DropoutOptions): Value {
  if (!opts.training || opts.ratio <= 0) return x;
  return op.mul(x, opts.ratio === 0.5 ? halfKeepMask(x) : thresholdKeepMask(g, x, opts.ratio));
}

/**
 * Dropout's scaled keep-mask for any ratio: 1 / (1 - ratio) where a draw is >= ratio, else 0; constant to
 * the gradient.
 */
function thresholdKeepMask(g: Graph, x: Value, ratio: number): Value {
  const keep = op.cast(op.greaterOrEqual(uniformDraws(x, 1), op.scalar(g, ratio, x.dtype)), x.dtype);
  return op.stopGradient(op.mul(keep, 1 / (1 - ratio)));
}

/** Mask entries taken from one uniform draw: its first 16 binary digits (a float32 draw carries 24). */
const BITS = 16;

/**
 * Dropout's scaled keep-mask for ratio 1/2: 0 or 2 per entry of x, each entry an independent fair coin, constant
 * to the gradient (so d/dx of x * mask is the mask, like Dropout's). Why not Dropout itself: onnxruntime's CPU
 * kernel draws one number per entry on one thread (about 4.5 ns each, 10% of a Beauty training step), while a
 * fair coin needs one bit: digit j of u in [0, 1) is floor(u * 2^j) mod 2, so one uniform draw (seeded or fed,
 * graph/random.ts) per 16 entries and a few elementwise kernels (which run on every thread) make the same mask
 * distribution.
 */
export function halfKeepMask(x: Value): Value {
  const g = x.graph;
  const r = x.rank;
  const u = uniformDraws(x, BITS);
  const digits = Array.from({ length: BITS }, (_, j) => 2 ** (j + 1));
  const pow2 = g.constant(x.dtype === 'float64' ? Float64Array.from(digits) : Float32Array.from(digits), x.dtype, [
    BITS,
  ]);
  const f = op.floor(op.mul(op.unsqueeze(u, [-1]), pow2));
  // floor(u * 2^(j+1)) is odd exactly when digit j+1 of u is 1: (f/2 - floor(f/2)) is then 1/2, else 0.
  const half = op.mul(f, 0.5);
  const coins = op.reshape(op.mul(op.sub(half, op.floor(half)), 4), [...Array(r - 1).fill(0), -1]);
  const d = x.dim(-1);
  const mask =
    typeof d === 'number' && d % BITS === 0
      ? op.reshape(coins, [...Array(r - 1).fill(0), d])
      : op.sliceDynamic(coins, op.int64s(g, [0]), op.slice(op.shapeOf(x), [r - 1], [r], [0]), [-1], x.shape!);
  return op.stopGradient(mask);
}
