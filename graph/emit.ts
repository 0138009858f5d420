import { onnx } from './onnx-proto.js';
import type { onnx as P } from 'onnx-proto';
import type { Attr, ConstTensor, Graph, Node as GraphNode, ParamSpec, Value } from './graph.js';
import { REQUIRED, lower } from './lower/index.js';
import { type DType, ONNX_DTYPE, type Shape, type TypedData } from './types.js';

export const OPSET = 17;
export const IR_VERSION = 8;
export const PRODUCER = 'hm4sr';
export const PRODUCER_VERSION = '0.1.0';

export interface EmitOptions {
  /** Parameters as graph inputs (training: the host feeds them) or as initializers holding `values`. */
  params: 'inputs' | 'initializers';
  values?: ReadonlyMap<string, TypedData>;
  /** Order of parameter inputs (default: declaration order). */
  paramOrder?: string[];
  docString?: string;
  /** Initializers with at least this many bytes go to `externalData.location`, beside the model file. */
  externalData?: { location: string; threshold: number; sink: ExternalSink };
  extraOpsets?: Record<string, number>;
  /** ONNX metadata_props: what a consumer of the single file needs beside the graph (config, item ids). */
  metadata?: Record<string, string>;
  /**
   * Defaults for graph inputs, emitted as initializers of the same name: a consumer may leave the input out
   * (ONNX IR >= 4 lets a graph input override a non-constant initializer).
   */
  inputDefaults?: Record<string, ConstTensor>;
  /**
   * Applies the lowering pass (graph/lower/): the nodes written as the kernels onnxruntime runs fastest, the same
   * function (default true); false emits the graph as built (tests compare the two).
   */
  lower?: boolean;
}

/** Collects the raw bytes of external initializers; the caller writes them to `location`. */
export class ExternalSink {
  chunks: Uint8Array[] = [];
  offset = 0;
  add(bytes: Uint8Array): { offset: number; length: number } {
    // ORT requires no alignment, but 4 KiB pages let a reader map tensors in place.
    const pad = (4096 - (this.offset % 4096)) % 4096;
    if (pad) this.chunks.push(new Uint8Array(pad));
    const at = this.offset + pad;
    this.chunks.push(bytes);
    this.offset = at + bytes.length;
    return { offset: at, length: bytes.length };
  }
}

function typeProto(dtype: DType, shape: Shape | null): P.ITypeProto {
  return {
    tensorType: {
      elemType: ONNX_DTYPE[dtype],
      shape:
        shape === null
          ? undefined
          : {
              dim: shape.map((d) =>
                typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {},
              ),
            },
    },
  };
}

function valueInfo(v: { name: string; dtype: DType; shape: Shape | null }, name = v.name): P.IValueInfoProto {
  return { name, type: typeProto(v.dtype, v.shape) };
}

function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, t: ConstTensor, ext?: EmitOptions['externalData']): P.ITensorProto {
  const raw = bytesOf(t.data);
  const proto: P.ITensorProto = { name, dims: t.dims, dataType: ONNX_DTYPE[t.dtype] };
  if (ext && raw.byteLength >= ext.threshold) {
    const { offset, length } = ext.sink.add(raw);
    proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    proto.externalData = [
      { key: 'location', value: ext.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ];
  } else {
    proto.rawData = raw;
  }
  return proto;
}

/** Emission state: the options, and each graph's nodes as emitted (lowered once per graph, see emission). */
interface Emission extends EmitOptions {
  nodesOf: (g: Graph) => GraphNode[];
}

function attrProto(name: string, a: Attr, opts: Emission): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.t) {
    case 'int':
      return { name, type: T.INT, i: a.v };
    case 'float':
      return { name, type: T.FLOAT, f: a.v };
    case 'ints':
      return { name, type: T.INTS, ints: a.v };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.v };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.v) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto('', a.v) };
    case 'graph':
      return { name, type: T.GRAPH, g: graphProto(a.v, { ...opts, params: 'inputs', paramOrder: [] }, true) };
  }
}

function paramData(spec: ParamSpec, values?: ReadonlyMap<string, TypedData>): TypedData {
  const v = values?.get(spec.name);
  if (!v) {
    if (spec.init.kind === 'data') return spec.init.data;
    throw new Error(`no value for parameter ${spec.name}`);
  }
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (v.length !== n) throw new Error(`parameter ${spec.name}: ${v.length} values for shape [${spec.dims}]`);
  return v;
}

export function orderedParams(g: Graph, order?: string[]): { spec: ParamSpec; value: Value }[] {
  if (!order) return [...g.params.values()];
  return order.map((n) => {
    const p = g.params.get(n);
    if (!p) throw new Error(`graph ${g.name} has no parameter ${n}`);
    return p;
  });
}

function nodeProto(n: GraphNode, opts: Emission): P.INodeProto {
  return {
    name: n.name,
    opType: n.op,
    domain: n.domain || undefined,
    input: n.inputs.map((v) => (v ? v.name : '')),
    output: n.outputs.map((v) => v.name),
    attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a, opts)),
  };
}

/**
 * The nodes that some output of g depends on, in order. onnxruntime runs every node it is given, and a graph
 * holds nodes nothing reads: forward values no output needs, and the nodes a lowering rewrite replaced the use
 * of (the pattern it matched). Pruning belongs to emission, lowered or not, as it depends on nothing but which
 * outputs are emitted. Values a subgraph (Loop body) reads from the enclosing scope keep their producers.
 */
function liveNodes(g: Graph, opts: Emission): GraphNode[] {
  const live = new Set(g.outputs.map((v) => v.name));
  const nodes = opts.nodesOf(g);
  const keep = nodes.map(() => false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((v) => live.has(v.name))) continue;
    keep[i] = true;
    readNames(n, live, opts);
  }
  return nodes.filter((_, i) => keep[i]);
}

function readNames(n: GraphNode, into: Set<string>, opts: Emission): void {
  for (const v of n.inputs) if (v) into.add(v.name);
  for (const a of Object.values(n.attrs)) {
    if (a.t !== 'graph') continue;
    for (const v of a.v.outputs) into.add(v.name);
    for (const m of opts.nodesOf(a.v)) readNames(m, into, opts);
  }
}

function graphProto(g: Graph, opts: Emission, sub = false): P.IGraphProto {
  const inputs = g.inputs.map((v) => valueInfo(v));
  const initializer: P.ITensorProto[] = [];
  if (!sub || !g.paramBinding) {
    for (const { spec, value } of orderedParams(g, opts.paramOrder)) {
      if (opts.params === 'inputs') inputs.push(valueInfo(value));
      else
        initializer.push(
          tensorProto(
            value.name,
            { dtype: spec.dtype, dims: spec.dims, data: paramData(spec, opts.values) },
            opts.externalData,
          ),
        );
    }
  }
  if (!sub) {
    for (const [name, t] of Object.entries(opts.inputDefaults ?? {})) {
      if (!g.inputs.some((v) => v.name === name))
        throw new Error(`graph ${g.name}: a default is given for ${name}, which is not one of its inputs`);
      initializer.push(tensorProto(name, t));
    }
  }
  return {
    name: g.name,
    docString: g.docString || undefined,
    node: liveNodes(g, opts).map((n) => nodeProto(n, opts)),
    input: inputs,
    output: g.outputs.map((v) => valueInfo(v)),
    initializer,
  };
}

export function modelProto(g: Graph, opts: EmitOptions): P.ModelProto {
  const usesMs = g.nodes.some((n) => n.domain === 'com.microsoft');
  const opsets: P.IOperatorSetIdProto[] = [{ domain: '', version: OPSET }];
  if (usesMs) opsets.push({ domain: 'com.microsoft', version: 1 });
  for (const [domain, version] of Object.entries(opts.extraOpsets ?? {})) opsets.push({ domain, version });
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    producerVersion: PRODUCER_VERSION,
    docString: opts.docString ?? g.docString ?? undefined,
    opsetImport: opsets,
    graph: graphProto(g, emission(opts)),
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}

function emission(opts: EmitOptions): Emission {
  // Not lowering still writes the hm4sr-domain ops as standard ONNX: they have no other form.
  const rewrites = opts.lower === false ? REQUIRED : undefined;
  // Each lowering makes new values, so a Loop body is lowered once: its emission and the liveness of the values
  // it reads from the enclosing graph see the same nodes.
  const lowered = new Map<Graph, GraphNode[]>();
  return { ...opts, nodesOf: (g) => lowered.get(g) ?? lowered.set(g, lower(g, rewrites)).get(g)! };
}

export function serialize(g: Graph, opts: EmitOptions): Uint8Array {
  return onnx.ModelProto.encode(modelProto(g, opts)).finish();
}
