import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import type { TypedData } from '../graph/types.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  ep?: ExecutionProvider;
  threads?: number;
}

/** Creates an onnxruntime session from a model file or bytes, with a clear error when the EP is missing. */
export async function createSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const ep = opts.ep ?? 'cpu';
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: ep === 'cuda' ? [{ name: 'cuda' }] : ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  // ORT's default counts physical cores (1 on a 2-vCPU machine); use every core we are given.
  so.intraOpNumThreads = opts.threads ?? availableParallelism();
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
  } catch (e) {
    const msg = (e as Error).message;
    if (ep === 'cuda') {
      throw new Error(
        `could not create a CUDA session: ${msg}\n` +
          'The CUDA execution provider needs libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so next to ' +
          "onnxruntime-node's libonnxruntime.so.1, and CUDA 13 + cuDNN 9 libraries on LD_LIBRARY_PATH (see README, 'GPU').",
      );
    }
    throw new Error(`could not create an onnxruntime session${typeof model === 'string' ? ` for ${model}` : ''}: ${msg}`);
  }
}

export { ort };

/** A tensor on the host: typed data and its dims (bool as 0/1 bytes). */
export interface HostTensor { data: TypedData; dims: number[] }

const ORT_TYPE = (d: TypedData): ort.Tensor.Type =>
  d instanceof Float32Array ? 'float32' : d instanceof Float64Array ? 'float64' : d instanceof BigInt64Array ? 'int64' : d instanceof Int32Array ? 'int32' : 'bool';

/** Wraps host data as an onnxruntime tensor without copying it (bool bytes excepted). */
export function toOrtTensor(t: HostTensor): ort.Tensor {
  const data = t.data instanceof Uint8Array ? Array.from(t.data, (b) => b !== 0) : t.data;
  return new ort.Tensor(ORT_TYPE(t.data), data as never, t.dims);
}

/** toOrtTensor over a record of named tensors. */
export function toOrtFeeds(ts: Record<string, HostTensor>): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(ts)) out[k] = toOrtTensor(t);
  return out;
}

/**
 * session.run, refusing feeds the model has no input for: onnxruntime-node ignores them silently, so a
 * misspelt tensor name would otherwise leave its input unbound or defaulted.
 */
export async function runChecked(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<ort.InferenceSession.ReturnType> {
  const known = new Set(session.inputNames);
  const unbound = Object.keys(feeds).filter((k) => !known.has(k));
  if (unbound.length > 0) throw new Error(`feed${unbound.length > 1 ? 's' : ''} ${unbound.join(', ')} bind${unbound.length > 1 ? '' : 's'} to no input of the model (inputs: ${session.inputNames.join(', ')})`);
  return fetches ? session.run(feeds, fetches) : session.run(feeds);
}

/** Fails fast (before any work is written) when the execution provider cannot start a session. */
export async function checkExecutionProvider(ep: ExecutionProvider): Promise<void> {
  if (ep === 'cpu') return;
  const g = new Graph('probe');
  g.output(g.node('Identity', [g.input('x', 'float32', [1])], [{ dtype: 'float32', shape: [1] }])[0], 'y');
  await createSession(serialize(g, { params: 'inputs' }), { ep });
}
