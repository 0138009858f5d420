// Finite-difference checks of the elementwise gradient rules (graph/grad-rules.ts).
// Every check asserts the precision it ran in: float64 unless ORT's CPU EP has no float64 kernel for
// an op in the graph (forward or gradient), in which case gradCheck falls back to float32. Float32
// here: Erf (no double kernel in onnxruntime 1.29) and the Cast round trip (float32 on
// purpose). Those use F32_TOL, tighter than gradCheck's float32 default (3e-2 relative), so a rule off
// by a few percent (e.g. 1.1 for 2/sqrt(pi) in Erf's) still fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as op from '../graph/ops/index.js';
import { checkGrad, rng } from './util/gradcheck.js';
import { compile } from './util/ort.js';
import { Graph } from '../graph/graph.js';

const check = checkGrad;

const F32_TOL = { rtol: 2e-3, atol: 3e-4 };

/** n values uniform in [lo, hi). */
function uniform(n: number, lo: number, hi: number, seed = 7): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** n values in (-1, 1) at least 0.05 away from 0 and from each other's kinks (for Relu/Abs/Sign/...). */
function awayFromZero(n: number, seed = 11): number[] {
  return uniform(n, 0.05, 1, seed).map((v, i) => (i % 2 ? -v : v));
}

// ---- binary arithmetic, with broadcasting ----

test('Add: same shape, row broadcast, column broadcast, scalar-like', async () => {
  await check(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [2, 3] },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [2, 1] },
      { name: 'b', dims: [1, 3] },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.add(a, b),
    [
      { name: 'a', dims: [4, 1, 3] },
      { name: 'b', dims: [1] },
    ],
    'float64',
  );
});

test('Sub: both operands, broadcast either way', async () => {
  await check(
    (_g, [a, b]) => op.sub(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.sub(a, b),
    [
      { name: 'a', dims: [3, 1] },
      { name: 'b', dims: [2, 3, 4] },
    ],
    'float64',
  );
  await check((_g, [a]) => op.sub(1, a), [{ name: 'a', dims: [3] }], 'float64');
});

test('Mul: broadcast both ways', async () => {
  await check(
    (_g, [a, b]) => op.mul(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.mul(a, b),
    [
      { name: 'a', dims: [2, 1, 4] },
      { name: 'b', dims: [3, 1] },
    ],
    'float64',
  );
  await check((_g, [a]) => op.mul(a, a), [{ name: 'a', dims: [5] }], 'float64');
});

test('Div: numerator and denominator, broadcast', async () => {
  const den = uniform(3, 0.5, 2);
  await check(
    (_g, [a, b]) => op.div(a, b),
    [
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3], values: den },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.div(a, b),
    [
      { name: 'a', dims: [3] },
      { name: 'b', dims: [2, 3], values: uniform(6, 0.5, 2).map((v, i) => (i % 2 ? -v : v)) },
    ],
    'float64',
  );
});

test('Pow: base and exponent, broadcast; constant exponent with negative base', async () => {
  await check(
    (_g, [a, b]) => op.pow(a, b),
    [
      { name: 'a', dims: [2, 3], values: uniform(6, 0.3, 2) },
      { name: 'b', dims: [3], values: uniform(3, -1.5, 2.5) },
    ],
    'float64',
  );
  await check(
    (_g, [a, b]) => op.pow(a, b),
    [
      { name: 'a', dims: [3], values: uniform(3, 0.3, 2) },
      { name: 'b', dims: [2, 3] },
    ],
    'float64',
  );
  await check((_g, [a]) => op.pow(a, 3), [{ name: 'a', dims: [2, 3] }], 'float64');
});

test('Pow: exponent gradient at base 0 is 0, not NaN', async () => {
  // (0*x)^b == 0 for b > 0: both derivatives are 0 and finite differences agree.
  await check(
    (_g, [x, b]) => op.pow(op.mul(x, 0), b),
    [
      { name: 'x', dims: [3] },
      { name: 'b', dims: [3], values: [1.5, 2, 3] },
    ],
    'float64',
  );
});

test('Max / Min: both operands, broadcast, no ties', async () => {
  const a = awayFromZero(6, 3),
    b = [0.31, -0.47, 0.02];
  for (const f of [op.max, op.min]) {
    await check(
      (_g, [x, y]) => f(x, y),
      [
        { name: 'a', dims: [2, 3], values: a },
        { name: 'b', dims: [3], values: b },
      ],
      'float64',
    );
    await check(
      (_g, [x, y]) => f(x, y),
      [
        { name: 'a', dims: [2, 1], values: [0.4, -0.6] },
        { name: 'b', dims: [1, 3], values: b },
      ],
      'float64',
    );
  }
});

// ---- unary ----

test('Neg, Exp, Tanh, Sigmoid, Cos, Sin', async () => {
  for (const f of [op.neg, op.exp, op.tanh, op.sigmoid, op.cos, op.sin]) {
    await check((_g, [x]) => f(op.mul(x, 2)), [{ name: 'x', dims: [2, 4] }], 'float64');
  }
});

test('Softplus (emitted as relu(x) + log(1 + exp(-|x|)), so float64 runs too)', async () => {
  await check((_g, [x]) => op.softplus(op.mul(x, 3)), [{ name: 'x', dims: [2, 4] }], 'float64');
});

test('Softplus values: finite and within float32 rounding of log1p(exp(x)), also where exp(x) overflows', async () => {
  const xs = [-200, -30, -1, -1e-3, 0, 1e-3, 1, 30, 200, 1e30];
  const g = new Graph('softplus_values');
  g.output(op.softplus(g.input('x', 'float32', [xs.length])), 'y');
  const y = (await (await compile(g))({ x: { data: Float32Array.from(xs), dims: [xs.length] } })).y
    .data as Float32Array;
  // softplus(x) = max(x, 0) + log1p(exp(-|x|)), in double.
  xs.forEach((x, i) => {
    const want = Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    assert.ok(Math.abs(y[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `softplus(${x}) = ${y[i]}, want ${want}`);
  });
});

test('Log and Sqrt on positive inputs', async () => {
  await check((_g, [x]) => op.log(x), [{ name: 'x', dims: [2, 3], values: uniform(6, 0.2, 3) }], 'float64');
  await check((_g, [x]) => op.sqrt(x), [{ name: 'x', dims: [2, 3], values: uniform(6, 0.2, 3) }], 'float64');
});

test('Erf (float32: ORT CPU has no double Erf kernel)', async () => {
  await check((_g, [x]) => op.erf(op.mul(x, 1.5)), [{ name: 'x', dims: [2, 4] }], 'float32', { tol: F32_TOL });
});

test('Relu and Abs away from 0', async () => {
  await check((_g, [x]) => op.relu(x), [{ name: 'x', dims: [2, 4], values: awayFromZero(8) }], 'float64');
  await check((_g, [x]) => op.abs(x), [{ name: 'x', dims: [2, 4], values: awayFromZero(8, 5) }], 'float64');
});

test('Clip: inside passes dy, outside gets 0', async () => {
  const x = [-0.9, -0.3, 0.2, 0.7, -0.55, 0.45, 0.9, -0.05];
  const r = await check((_g, [v]) => op.clip(v, -0.5, 0.5), [{ name: 'x', dims: [2, 4], values: x }], 'float64');
  assert.ok(r.checked === 8);
});

test('Floor and Sign have zero gradient', async () => {
  const x = [-0.7, -0.2, 0.3, 0.8, 1.4, -1.6];
  await check((_g, [v]) => op.add(op.floor(v), op.mul(v, 0)), [{ name: 'x', dims: [6], values: x }], 'float64');
  await check(
    (_g, [v]) => op.add(op.sign(v), op.mul(op.floor(v), v)),
    [{ name: 'x', dims: [6], values: x }],
    'float64',
  );
});

test('Identity passes the gradient through', async () => {
  await check((_g, [x]) => op.mul(op.identity(x), x), [{ name: 'x', dims: [4] }], 'float64');
});

test('Cast float32 -> float64 -> float32 round trip carries the gradient (float32 graph)', async () => {
  // Runs in float32 on purpose: the float64 section in the middle is the point of the test. (In a
  // float64 graph a float32 round trip would round the finite differences away.)
  await check(
    (_g, [x]) => {
      const d = op.cast(x, 'float64');
      return op.cast(op.mul(op.exp(d), d), 'float32');
    },
    [{ name: 'x', dims: [2, 3] }],
    'float32',
    { dtypes: ['float32'], tol: F32_TOL },
  );
});

test('Where: bool condition, broadcast condition and branches', async () => {
  const cond = [true, false, true, false, false, true];
  await check(
    (_g, [c, a, b]) => op.where(c, a, b),
    [
      { name: 'c', dims: [2, 3], bool: cond },
      { name: 'a', dims: [2, 3] },
      { name: 'b', dims: [3] },
    ],
    'float64',
  );
  await check(
    (_g, [c, a, b]) => op.where(c, a, b),
    [
      { name: 'c', dims: [3], bool: [true, false, true] },
      { name: 'a', dims: [2, 1] },
      { name: 'b', dims: [2, 3] },
    ],
    'float64',
  );
  await check(
    (_g, [c, a]) => op.where(c, a, 0),
    [
      { name: 'c', dims: [2, 3], bool: cond },
      { name: 'a', dims: [2, 3] },
    ],
    'float64',
  );
});

test.run();
