import { type Value, attr } from '../graph.js';
import { type DType, ONNX_DTYPE } from '../types.js';
import { type Operand, broadcastShapes, operands, requireFloat, scalar } from './core.js';

function binary(op: string, a: Operand, b: Operand, outType?: DType): Value {
  const { g, vals } = operands(op, [a, b]);
  return g.node(op, vals, [{ dtype: outType ?? vals[0].dtype, shape: broadcastShapes(g, op, vals) }])[0];
}

function unary(op: string, x: Value, floatOnly = true): Value {
  if (floatOnly) requireFloat(x.graph, op, x);
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: x.shape }])[0];
}

export const add = (a: Operand, b: Operand) => binary('Add', a, b);
export const sub = (a: Operand, b: Operand) => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('Mul', a, b);
export const div = (a: Operand, b: Operand) => binary('Div', a, b);
export const pow = (a: Operand, b: Operand) => binary('Pow', a, b);
export const max = (a: Operand, b: Operand) => binary('Max', a, b);
export const min = (a: Operand, b: Operand) => binary('Min', a, b);
export const equal = (a: Operand, b: Operand) => binary('Equal', a, b, 'bool');
export const less = (a: Operand, b: Operand) => binary('Less', a, b, 'bool');
export const greater = (a: Operand, b: Operand) => binary('Greater', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand) => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Value, b: Value) => binary('And', a, b, 'bool');
export const or = (a: Value, b: Value) => binary('Or', a, b, 'bool');
export const not = (x: Value) => unary('Not', x, false);

export const neg = (x: Value) => unary('Neg', x, false);
export const exp = (x: Value) => unary('Exp', x);
export const log = (x: Value) => unary('Log', x);
export const sqrt = (x: Value) => unary('Sqrt', x);
export const erf = (x: Value) => unary('Erf', x);
export const tanh = (x: Value) => unary('Tanh', x);
export const sigmoid = (x: Value) => unary('Sigmoid', x);
/** log(1 + exp(x)), one kernel: BCE-with-logits is softplus(z) - z*y. */
export const softplus = (x: Value) => unary('Softplus', x);
export const cos = (x: Value) => unary('Cos', x);
export const sin = (x: Value) => unary('Sin', x);
export const floor = (x: Value) => unary('Floor', x);
export const relu = (x: Value) => unary('Relu', x);
export const abs = (x: Value) => unary('Abs', x, false);
export const sign = (x: Value) => unary('Sign', x, false);
export const identity = (x: Value) => unary('Identity', x, false);

export function where(cond: Value, a: Operand, b: Operand): Value {
  const { g, vals } = operands('Where', [a, b]);
  if (cond.dtype !== 'bool') g.fail('Where', `condition ${cond.name} must be bool, got ${cond.dtype}`);
  return g.node(
    'Where',
    [cond, ...vals],
    [{ dtype: vals[0].dtype, shape: broadcastShapes(g, 'Where', [cond, ...vals]) }],
  )[0];
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.node('Cast', [x], [{ dtype: to, shape: x.shape }], { to: attr.int(ONNX_DTYPE[to]) })[0];
}

export function clip(x: Value, lo: number, hi: number): Value {
  const g = x.graph;
  return g.node('Clip', [x, scalar(g, lo, x.dtype), scalar(g, hi, x.dtype)], [{ dtype: x.dtype, shape: x.shape }])[0];
}
