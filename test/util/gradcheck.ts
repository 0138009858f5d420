import * as assert from 'uvu/assert';
import { grad } from '../../graph/grad.js';
import { Graph, type Value } from '../../graph/graph.js';
import * as op from '../../graph/ops/index.js';
import { Rng } from '../../graph/rng.js';
import type { DType } from '../../graph/types.js';
import { type Feed, compile } from './ort.js';

export interface CheckInput {
  name: string;
  dims: number[];
  /** Integer inputs (indices) are fed as given and get no gradient. */
  int?: number[];
  /** Fixed float values; default uniform(-1, 1) from the seeded generator. */
  values?: number[];
  /** Symbolic dims to declare instead of the static ones (the data still has `dims`). */
  shape?: (number | string)[];
  bool?: boolean[];
}

export interface CheckResult {
  dtype: DType;
  maxAbsErr: number;
  checked: number;
}

/** Small seeded generator so every check sees the same inputs. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.nextFloat();
}

const FLOAT_TOL: Record<'float32' | 'float64', { eps: number; rtol: number; atol: number }> = {
  float64: { eps: 1e-6, rtol: 1e-5, atol: 1e-7 },
  float32: { eps: 1e-2, rtol: 3e-2, atol: 3e-3 },
};

function floatData(dtype: DType, xs: number[]): Float32Array | Float64Array {
  return dtype === 'float64' ? Float64Array.from(xs) : Float32Array.from(xs);
}

/**
 * Checks the gradient of sum(build(inputs) * r), r a fixed random projection, against central finite
 * differences, in float64 where onnxruntime's CPU kernels support every op, else float32.
 */
export async function gradCheck(
  build: (g: Graph, x: Value[]) => Value,
  inputs: CheckInput[],
  opts: {
    seed?: number;
    maxPerInput?: number;
    dtypes?: ('float32' | 'float64')[];
    tol?: { rtol?: number; atol?: number; eps?: number };
  } = {},
): Promise<CheckResult> {
  let lastErr: unknown = null;
  for (const dtype of opts.dtypes ?? ['float64', 'float32']) {
    let res: CheckResult | null = null;
    try {
      res = await checkIn(dtype, build, inputs, opts);
    } catch (e) {
      const m = (e as Error).message;
      if (
        dtype === 'float64' &&
        /NOT_IMPLEMENTED|Could not find an implementation|type.*not supported|Type Error|tensor\(double\)/i.test(m)
      ) {
        lastErr = e;
        continue;
      }
      throw e;
    }
    return res;
  }
  throw lastErr;
}

async function checkIn(
  dtype: 'float32' | 'float64',
  build: (g: Graph, x: Value[]) => Value,
  inputs: CheckInput[],
  opts: Parameters<typeof gradCheck>[2] & object,
): Promise<CheckResult> {
  const tol = { ...FLOAT_TOL[dtype], ...opts.tol };
  const rand = rng(opts.seed ?? 1);
  const feeds: Record<string, Feed> = {};
  const make = (withLoss: boolean, yDims?: number[]) => {
    const g = new Graph('gradcheck');
    const vals = inputs.map((i) => g.input(i.name, i.int ? 'int64' : i.bool ? 'bool' : dtype, i.shape ?? i.dims));
    const y = build(g, vals);
    if (!withLoss) {
      g.output(y, 'y');
      return { g, floats: [] as Value[] };
    }
    const r = g.input('r', dtype, yDims!);
    const loss = op.reduceSum(op.mul(y, r));
    const floats = vals.filter((_, k) => !inputs[k].int && !inputs[k].bool);
    const grads = grad(loss, floats);
    g.output(loss, 'loss');
    grads.forEach((d, k) => g.output(d, `d_${floats[k].name}`));
    return { g, floats };
  };
  for (const i of inputs) {
    const n = i.dims.reduce((a, b) => a * b, 1);
    if (i.int) feeds[i.name] = { data: BigInt64Array.from(i.int.map(BigInt)), dims: i.dims };
    else if (i.bool) feeds[i.name] = { data: Uint8Array.from(i.bool.map(Number)), dims: i.dims };
    else
      feeds[i.name] = {
        data: floatData(dtype, i.values ?? Array.from({ length: n }, () => rand() * 2 - 1)),
        dims: i.dims,
      };
  }
  const fwd = await compile(make(false).g);
  const y = (await fwd(feeds)).y;
  const yDims = y.dims.map(Number);
  feeds.r = {
    data: floatData(
      dtype,
      Array.from({ length: y.data.length }, () => rand() * 2 - 1),
    ),
    dims: yDims,
  };
  const full = make(true, yDims);
  const run = await compile(full.g);
  const out = await run(feeds);
  const lossAt = async (): Promise<number> => Number((await run(feeds)).loss.data[0]);
  let maxAbsErr = 0,
    checked = 0;
  for (const i of inputs) {
    if (i.int || i.bool) continue;
    const data = feeds[i.name].data as Float32Array | Float64Array;
    const ana = out[`d_${i.name}`].data as Float32Array | Float64Array;
    assert.is(ana.length, data.length, `gradient of ${i.name} has ${ana.length} elements, input ${data.length}`);
    const idx = pick(data.length, opts.maxPerInput ?? 24, rand);
    for (const k of idx) {
      const num = await centralDiff(data, k, tol.eps, lossAt);
      const err = Math.abs(num - ana[k]);
      maxAbsErr = Math.max(maxAbsErr, err);
      checked++;
      if (!(err <= tol.atol + tol.rtol * Math.abs(num))) {
        assert.unreachable(
          `${dtype} d loss / d ${i.name}[${k}]: analytic ${ana[k]} vs numeric ${num} (err ${err.toExponential(2)})`,
        );
      }
    }
  }
  return { dtype, maxAbsErr, checked };
}

/** Central finite difference of lossAt in data[k] (restored afterwards). */
export async function centralDiff(
  data: { [k: number]: number },
  k: number,
  eps: number,
  lossAt: () => Promise<number>,
): Promise<number> {
  const x0 = data[k];
  data[k] = x0 + eps;
  const up = await lossAt();
  data[k] = x0 - eps;
  const dn = await lossAt();
  data[k] = x0;
  return (up - dn) / (2 * eps);
}

/** Up to `max` distinct indices below n, drawn with rand (all of them when n <= max). */
export function pick(n: number, max: number, rand: () => number): number[] {
  if (n <= max) return [...Array(n).keys()];
  const s = new Set<number>();
  while (s.size < max) s.add(Math.floor(rand() * n));
  return [...s];
}

/** gradCheck that also asserts the precision it ran in and that something was checked. */
export async function checkGrad(
  build: (g: Graph, x: Value[]) => Value,
  inputs: CheckInput[],
  dtype: 'float32' | 'float64' = 'float64',
  opts: Parameters<typeof gradCheck>[2] = {},
): Promise<CheckResult> {
  const r = await gradCheck(build, inputs, opts);
  assert.is(r.dtype, dtype, `ran in ${r.dtype}, expected ${dtype}`);
  assert.ok(r.checked > 0, 'no gradient entry was checked');
  return r;
}
