import type { onnx as P } from 'onnx-proto';
import { onnx } from '../graph/onnx-proto.js';

/** ONNX element type number -> the kernel table's spelling ("tensor(float)"). */
const DT = onnx.TensorProto.DataType;
const NAMES: Record<number, string> = {
  [DT.FLOAT]: 'float',
  [DT.UINT8]: 'uint8',
  [DT.INT8]: 'int8',
  [DT.UINT16]: 'uint16',
  [DT.INT16]: 'int16',
  [DT.INT32]: 'int32',
  [DT.INT64]: 'int64',
  [DT.STRING]: 'string',
  [DT.BOOL]: 'bool',
  [DT.FLOAT16]: 'float16',
  [DT.DOUBLE]: 'double',
  [DT.UINT32]: 'uint32',
  [DT.UINT64]: 'uint64',
  [DT.BFLOAT16]: 'bfloat16',
};

export function tensorType(elemType: number | null | undefined, where: string): string {
  const n = elemType == null ? undefined : NAMES[elemType];
  if (!n) throw new Error(`${where}: element type ${elemType} has no name here`);
  return `tensor(${n})`;
}

const attr = (n: P.INodeProto, name: string) => n.attribute?.find((a) => a.name === name);
const intAttr = (n: P.INodeProto, name: string): number | undefined => {
  const a = attr(n, name);
  return a?.i == null ? undefined : Number(a.i);
};

/** Ops whose every output has the type of their first input (elementwise, shape moves, reductions, gathers). */
const SAME_AS_FIRST = new Set([
  'Identity',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Mod',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Relu',
  'Sigmoid',
  'Tanh',
  'Erf',
  'Softmax',
  'LogSoftmax',
  'Softplus',
  'Gelu',
  'Cos',
  'Sin',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Clip',
  'Conv',
  'Min',
  'Max',
  'Sum',
  'Mean',
  'MatMul',
  'Gemm',
  'Einsum',
  'Transpose',
  'Reshape',
  'Expand',
  'Concat',
  'Slice',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Tile',
  'Split',
  'Pad',
  'Trilu',
  'Gather',
  'GatherElements',
  'GatherND',
  'ScatterElements',
  'ScatterND',
  'CumSum',
  'Range',
  'ReduceSum',
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceSumSquare',
  'ReduceLogSumExp',
  'ReduceL1',
  'ReduceL2',
]);
const BOOL_OUT = new Set([
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

const graphOutputs = (g: P.IGraphProto | null | undefined, where: string) =>
  (g?.output ?? []).map((o) => tensorType(o.type?.tensorType?.elemType, `${where} (subgraph output ${o.name})`));

/**
 * The types of a node's outputs from its inputs' types and attributes: enough of ONNX's type inference for
 * the ops this project emits. An op without a rule is an error naming it (never a guess).
 */
export function outputTypes(n: P.INodeProto, input: (i: number) => string, where: string): string[] {
  const op = n.opType ?? '';
  const count = n.output?.length ?? 0;
  const all = (t: string) => Array.from({ length: count }, () => t);
  const dtypeAttr = (fallback: () => string) => {
    const d = intAttr(n, 'dtype');
    return d === undefined ? fallback() : tensorType(d, where);
  };
  if (n.domain && n.domain !== 'ai.onnx') throw new Error(`${where}: no type rule for ${n.domain}.${op}`);
  if (SAME_AS_FIRST.has(op)) return all(input(0));
  if (BOOL_OUT.has(op)) return all('tensor(bool)');
  if (INT64_OUT.has(op)) return all('tensor(int64)');
  switch (op) {
    case 'Cast':
      return [tensorType(intAttr(n, 'to'), where)];
    case 'Constant': {
      const a = n.attribute?.[0];
      if (a?.name === 'value') return [tensorType(a.t?.dataType, where)];
      if (a?.name === 'value_float' || a?.name === 'value_floats') return ['tensor(float)'];
      if (a?.name === 'value_int' || a?.name === 'value_ints') return ['tensor(int64)'];
      throw new Error(`${where}: Constant with attribute ${a?.name} has no type rule`);
    }
    case 'ConstantOfShape': {
      const v = attr(n, 'value');
      return [v?.t ? tensorType(v.t.dataType, where) : 'tensor(float)'];
    }
    case 'EyeLike':
    case 'RandomUniformLike':
    case 'RandomNormalLike':
      return [dtypeAttr(() => input(0))];
    case 'RandomUniform':
    case 'RandomNormal':
      return [dtypeAttr(() => 'tensor(float)')];
    case 'OneHot':
      return [input(2)];
    case 'Where':
      return [input(1)];
    case 'TopK':
      return [input(0), 'tensor(int64)'];
    case 'Dropout':
      return [input(0), 'tensor(bool)'].slice(0, count);
    // stash_type 1 (the default) keeps Mean and InvStdDev in float.
    case 'LayerNormalization':
      return [input(0), 'tensor(float)', 'tensor(float)'].slice(0, count);
    case 'Loop':
      return graphOutputs(attr(n, 'body')?.g, where).slice(1);
    case 'If':
      return graphOutputs(attr(n, 'then_branch')?.g, where);
    default:
      throw new Error(`${where}: no type rule for ${op}`);
  }
}
