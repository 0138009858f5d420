import { onnx } from './onnx-proto.js';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';
/** A static size, a symbolic name shared by every value of the same extent ("batch"), or unknown. */
export type Dim = number | string | null;
export type Shape = Dim[];

export const ONNX_DTYPE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A named tensor's type and shape: a graph input or output, a manifest entry. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: Shape;
  /**
   * An index input whose entries are distinct and non-negative (each history's last position, say): a Gather by
   * it writes its gradient rows with one ScatterND instead of summing repeats. Runners check the feeds.
   */
  distinct?: boolean;
}

/** The TensorSpec of a graph value (an unknown shape is written as []). */
export const tensorSpecOf = (v: { name: string; dtype: DType; shape: Shape | null }): TensorSpec => ({
  name: v.name,
  dtype: v.dtype,
  shape: v.shape ?? [],
});

export const isFloat = (t: DType): boolean => t === 'float32' || t === 'float64';

export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export function allocate(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

export function shapeStr(s: Shape | null): string {
  return s === null ? '[?]' : `[${s.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
