import { basename } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import {
  type EmitOptions,
  ExternalSink,
  IR_VERSION,
  OPSET,
  PRODUCER,
  PRODUCER_VERSION,
  modelProto,
  orderedParams,
} from './emit.js';
import type { Graph, Init } from './graph.js';
import { onnx } from './onnx-proto.js';
import { type DType, type TensorSpec, tensorSpecOf } from './types.js';

/** Written beside every emitted graph: what to feed, what comes back, and which outputs replace which inputs. */
export interface Manifest {
  format: 'hm4sr.graph/1';
  name: string;
  kind: string;
  file: string;
  externalData?: string;
  opset: number;
  irVersion: number;
  producer: string;
  producerVersion: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  params: {
    name: string;
    dims: number[];
    dtype: DType;
    trainable: boolean;
    init: string;
    placement: 'input' | 'initializer';
  }[];
  state: { input: string; output: string; role: string }[];
  losses: string[];
  meta: Record<string, unknown>;
}

function initLabel(i: Init): string {
  switch (i.kind) {
    case 'normal':
      return `normal(${i.mean ?? 0}, ${i.std})`;
    case 'uniform':
      return `uniform(±${i.a})`;
    default:
      return i.kind;
  }
}

function manifestOf(
  g: Graph,
  file: string,
  kind: string,
  opts: EmitOptions,
  extra: Partial<Pick<Manifest, 'state' | 'losses' | 'meta' | 'externalData'>> = {},
): Manifest {
  const params = orderedParams(g, opts.paramOrder);
  return {
    format: 'hm4sr.graph/1',
    name: g.name,
    kind,
    file,
    ...(extra.externalData ? { externalData: extra.externalData } : {}),
    opset: OPSET,
    irVersion: IR_VERSION,
    producer: PRODUCER,
    producerVersion: PRODUCER_VERSION,
    inputs: [
      ...g.inputs.map(tensorSpecOf),
      ...(opts.params === 'inputs' ? params.map((p) => tensorSpecOf(p.value)) : []),
    ],
    outputs: g.outputs.map(tensorSpecOf),
    params: params.map(({ spec }) => ({
      name: spec.name,
      dims: spec.dims,
      dtype: spec.dtype,
      trainable: spec.trainable,
      init: initLabel(spec.init),
      placement: opts.params === 'inputs' ? 'input' : 'initializer',
    })),
    state: extra.state ?? [],
    losses: extra.losses ?? [],
    meta: extra.meta ?? {},
  };
}

export const manifestPath = (modelPath: string) => modelPath.replace(/\.onnx$/, '') + '.json';

/**
 * Writes `path` (ONNX), its manifest and, when initializers reach `externalThreshold` bytes, their data
 * in `path + '.data'`. Every file goes through a temporary name, data first, so a reader never pairs a
 * new model with old weights.
 */
export function saveModel(
  g: Graph,
  path: string,
  kind: string,
  opts: EmitOptions & { externalThreshold?: number },
  extra: Partial<Pick<Manifest, 'state' | 'losses' | 'meta'>> = {},
): Manifest {
  const sink = new ExternalSink();
  const location = `${basename(path)}.data`;
  const emit: EmitOptions =
    opts.externalThreshold !== undefined && opts.params === 'initializers'
      ? { ...opts, externalData: { location, threshold: opts.externalThreshold, sink } }
      : opts;
  const bytes = onnx.ModelProto.encode(modelProto(g, emit)).finish();
  const external = sink.chunks.length > 0;
  if (external) writeFileAtomic(`${path}.data`, sink.chunks);
  writeFileAtomic(path, bytes);
  const manifest = manifestOf(g, basename(path), kind, opts, {
    ...extra,
    ...(external ? { externalData: location } : {}),
  });
  writeFileAtomic(manifestPath(path), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
