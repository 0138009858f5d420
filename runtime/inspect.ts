import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { onnx as P } from 'onnx-proto';
import { CHECKPOINT_IDENTIFIER, readCheckpoint } from '../graph/artifacts/checkpoint.js';
import { onnx } from '../graph/onnx-proto.js';

/** Summary numbers of one stored tensor: what a user checks first when a run looks wrong. */
export interface TensorSummary {
  name: string;
  dims: number[];
  dtype: string;
  /** Trainable (checkpoint), frozen, or 'n/a' for a model's initializers and optimizer state. */
  role: 'trainable' | 'frozen' | 'adam.m' | 'adam.v' | 'initializer';
  count: number;
  min: number;
  max: number;
  mean: number;
  nonZeros: number;
  /** NaN and infinite entries: a diverged run shows here. */
  nonFinite: number;
}

export interface Inspection {
  file: string;
  kind: 'checkpoint' | 'onnx';
  tensors: TensorSummary[];
  /** Checkpoint properties or ONNX metadata_props (long values cut). */
  properties: Record<string, string | number>;
}

type Numeric = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

function summarise(
  name: string,
  dims: number[],
  dtype: string,
  role: TensorSummary['role'],
  data: Numeric,
): TensorSummary {
  let min = Infinity,
    max = -Infinity,
    sum = 0,
    nz = 0,
    bad = 0,
    finite = 0;
  for (let i = 0; i < data.length; i++) {
    const x = Number(data[i]);
    if (!Number.isFinite(x)) {
      bad += 1;
      continue;
    }
    finite += 1;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    if (x !== 0) nz += 1;
  }
  return {
    name,
    dims,
    dtype,
    role,
    count: data.length,
    min: finite ? min : NaN,
    max: finite ? max : NaN,
    mean: finite ? sum / finite : NaN,
    nonZeros: nz,
    nonFinite: bad,
  };
}

function isCheckpoint(path: string): boolean {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(8);
  const n = readSync(fd, head, 0, 8, 0);
  closeSync(fd);
  return n === 8 && head.subarray(4, 8).toString('latin1') === CHECKPOINT_IDENTIFIER;
}

const DTYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };

/** The values of an initializer, from raw_data, a typed field, or external data beside the model. */
export function initializerData(t: P.ITensorProto, modelPath: string): Numeric {
  const dtype = DTYPES[t.dataType ?? 0];
  if (!dtype) throw new Error(`${modelPath}: initializer ${t.name} has unsupported data type ${t.dataType}`);
  let raw: Uint8Array | null = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (t.dataLocation === 1) {
    const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    const loc = join(dirname(modelPath), String(kv.location));
    if (!existsSync(loc)) throw new Error(`${modelPath}: initializer ${t.name} lives in ${loc}, which is missing`);
    const offset = Number(kv.offset ?? 0),
      length = Number(kv.length ?? statSync(loc).size - offset);
    const buf = Buffer.alloc(length);
    const fd = openSync(loc, 'r');
    readSync(fd, buf, 0, length, offset);
    closeSync(fd);
    raw = buf;
  }
  if (raw) {
    const copy = new Uint8Array(raw).buffer;
    switch (dtype) {
      case 'float32':
        return new Float32Array(copy);
      case 'float64':
        return new Float64Array(copy);
      case 'int32':
        return new Int32Array(copy);
      case 'int64':
        return new BigInt64Array(copy);
      default:
        return new Uint8Array(copy);
    }
  }
  if (t.floatData?.length) return Float32Array.from(t.floatData);
  if (t.doubleData?.length) return Float64Array.from(t.doubleData);
  if (t.int64Data?.length) return BigInt64Array.from(t.int64Data.map((v) => BigInt(v.toString())));
  if (t.int32Data?.length) return Int32Array.from(t.int32Data);
  return new Float32Array(0);
}

/** Every tensor of a checkpoint (parameters and Adam moments) or of an ONNX model's initializers. */
export function inspectFile(path: string): Inspection {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  if (statSync(path).isDirectory())
    throw new Error(`${path}: is a directory; pass a checkpoint (.ckpt) or a model (.onnx)`);
  if (isCheckpoint(path)) {
    const ck = readCheckpoint(path);
    const tensors = ck.params.map((p) =>
      summarise(p.name, p.dims, 'float32', p.trainable ? 'trainable' : 'frozen', p.data),
    );
    for (const role of ['m', 'v'] as const) {
      for (const [name, data] of ck.optimizer?.[role] ?? []) {
        tensors.push(
          summarise(
            name,
            ck.params.find((p) => p.name === name)?.dims ?? [data.length],
            'float32',
            `adam.${role}`,
            data,
          ),
        );
      }
    }
    const properties: Record<string, string | number> = { ...ck.properties };
    if (ck.optimizer) properties['optimizer.step'] = ck.optimizer.step;
    return { file: path, kind: 'checkpoint', tensors, properties };
  }
  let model: P.ModelProto;
  try {
    model = onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new Error(`${path}: neither an hm4sr/ONNX Runtime checkpoint nor an ONNX model (${(e as Error).message})`);
  }
  if (!model.graph) throw new Error(`${path}: an ONNX model without a graph`);
  const tensors = (model.graph.initializer ?? []).map((t) =>
    summarise(
      t.name ?? '',
      (t.dims ?? []).map(Number),
      DTYPES[t.dataType ?? 0] ?? String(t.dataType),
      'initializer',
      initializerData(t, path),
    ),
  );
  const properties = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  return { file: path, kind: 'onnx', tensors, properties };
}

const num = (x: number) =>
  Number.isNaN(x) ? 'nan' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(4);

/** A fixed-width table, one tensor per line. */
export function formatInspection(r: Inspection): string {
  const head = ['tensor', 'shape', 'dtype', 'role', 'min', 'max', 'mean', 'non-zeros', 'non-finite'];
  const rows = r.tensors.map((t) => [
    t.name,
    `[${t.dims.join(',')}]`,
    t.dtype,
    t.role,
    num(t.min),
    num(t.max),
    num(t.mean),
    `${t.nonZeros}/${t.count}`,
    String(t.nonFinite),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 4 ? c.padStart(width[i]) : c.padEnd(width[i])))
      .join('  ')
      .trimEnd();
  const props = Object.entries(r.properties).map(([k, v]) => {
    const s = String(v);
    return `  ${k}: ${s.length > 100 ? `${s.slice(0, 97)}...` : s}`;
  });
  return (
    [
      `${r.file} (${r.kind}, ${r.tensors.length} tensors)`,
      line(head),
      ...rows.map(line),
      ...(props.length ? ['properties:', ...props] : []),
    ].join('\n') + '\n'
  );
}
