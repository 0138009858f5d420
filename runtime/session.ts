import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import type { TypedData } from '../graph/types.js';
import {
  type Placement,
  diagnosePlacement,
  explainCudaFailure,
  isFallbackRefusal,
  realFallbacks,
} from './cuda-errors.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  ep?: ExecutionProvider;
  threads?: number;
  /**
   * 'parallel' lets onnxruntime run independent branches of the graph (HM4SR's per-modality encoders) at
   * the same time on `interOpThreads` threads; default 'sequential'.
   */
  executionMode?: 'sequential' | 'parallel';
  interOpThreads?: number;
  /**
   * On CUDA, refuse (session creation throws, naming the nodes) when any node would run on the CPU instead;
   * default true. False only through an explicit --allow-cpu-nodes, which prints what runs on the CPU.
   */
  strictDevice?: boolean;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where a CUDA session reports the nodes it runs on the CPU. */
  log?: (line: string) => void;
  /** Names the graph for remembering, within this process, a CUDA placement already diagnosed. */
  placementKey?: string;
  /** Write onnxruntime's per-node profile (Chrome trace JSON) to files starting with this prefix. */
  profile?: string;
  /**
   * onnxruntime's memory pattern on the CPU EP (default false): it plans one block for a run's tensors per
   * distinct set of input shapes, which pays only when shapes repeat. Packed batches change shape every step,
   * and planning each new one cost more than it saved (Beauty: 595 -> 531 ms per training step without it,
   * first evaluation 1.80 -> 1.58 s, peak RSS 1.84 -> 1.10 GB; README, "CPU graph").
   */
  memoryPattern?: boolean;
}

/**
 * Models whose only CPU nodes on CUDA are the shape computations ORT keeps there on purpose, by graph name
 * and size: a process that builds the same graph again (the step graph of another run, say) asks once.
 */
const shapeOnlyOnCpu = new Set<string>();

/** onnxruntime and the placement diagnosis: the boundaries tests replace to check the CUDA policy without a GPU. */
export interface SessionHooks {
  create: (model: string | Uint8Array, so: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  diagnose: (model: string | Uint8Array) => Placement | null;
}

const realHooks: SessionHooks = {
  create: (model, so) =>
    typeof model === 'string' ? ort.InferenceSession.create(model, so) : ort.InferenceSession.create(model, so),
  diagnose: diagnosePlacement,
};

/**
 * Creates an onnxruntime session from a model file or bytes, with a clear error when the EP is missing.
 * On CUDA (strict, the default) a node the CUDA EP cannot take is an error naming it. ORT itself keeps small
 * shape computations (Shape -> Gather -> Concat feeding a Reshape) on the CPU because copying them to the
 * device costs more, and disable_cpu_ep_fallback refuses those too; so a refusal is diagnosed, and a model
 * whose only CPU nodes are ORT's deliberate ones gets a session that allows exactly that (said in the log).
 */
export async function createSession(
  model: string | Uint8Array,
  opts: SessionOptions = {},
  hooks: SessionHooks = realHooks,
): Promise<ort.InferenceSession> {
  const { create, diagnose } = hooks;
  const ep = opts.ep ?? 'cpu';
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: ep === 'cuda' ? [{ name: 'cuda' }] : ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  // ORT's default counts physical cores (1 on a 2-vCPU machine); use every core we are given.
  so.intraOpNumThreads = opts.threads ?? availableParallelism();
  if (ep === 'cpu') so.enableMemPattern = opts.memoryPattern ?? false;
  if (opts.executionMode === 'parallel') {
    so.executionMode = 'parallel';
    so.interOpNumThreads = opts.interOpThreads ?? availableParallelism();
  }
  if (opts.profile) {
    so.enableProfiling = true;
    so.profileFilePrefix = opts.profile;
  }
  const strict = ep === 'cuda' && opts.strictDevice !== false;
  const key = typeof model === 'string' ? model : `${opts.placementKey ?? ''}:${model.length}`;
  const strictSo = { ...so, extra: { session: { disable_cpu_ep_fallback: '1' } } };
  try {
    if (!strict || (opts.placementKey && shapeOnlyOnCpu.has(key))) {
      const session = await create(model, so);
      if (ep === 'cuda' && !strict && opts.log) {
        const p = diagnose(model);
        opts.log(
          `--allow-cpu-nodes: ${p === null ? 'could not list the nodes placed on the CPU' : p.cpu.length ? `on the CPU: ${p.cpu.join(', ')}` : 'every node is on the CUDA EP'}`,
        );
      }
      return session;
    }
    try {
      return await create(model, strictSo);
    } catch (e) {
      if (!isFallbackRefusal((e as Error).message)) throw e;
      const placement = diagnose(model);
      if (placement === null || realFallbacks(placement).length > 0 || placement.cpu.length === 0)
        throw new Error(await explainCudaFailure((e as Error).message, model, true, placement));
      opts.log?.(
        `cuda: ORT keeps ${placement.cpu.length} shape-computation node${placement.cpu.length > 1 ? 's' : ''} on the CPU by design (${placement.cpu.slice(0, 4).join(', ')}${placement.cpu.length > 4 ? ', ...' : ''}); every other node runs on the CUDA EP`,
      );
      if (opts.placementKey) shapeOnlyOnCpu.add(key);
      return await create(model, so);
    }
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith('could not create a CUDA session')) throw e;
    if (ep === 'cuda') throw new Error(await explainCudaFailure(msg, model, strict));
    throw new Error(
      `could not create an onnxruntime session${typeof model === 'string' ? ` for ${model}` : ''}: ${msg}`,
    );
  }
}

export { ort };

/** A tensor on the host: typed data and its dims (bool as 0/1 bytes). */
export interface HostTensor {
  data: TypedData;
  dims: number[];
}

const ORT_TYPE = (d: TypedData): ort.Tensor.Type =>
  d instanceof Float32Array
    ? 'float32'
    : d instanceof Float64Array
      ? 'float64'
      : d instanceof BigInt64Array
        ? 'int64'
        : d instanceof Int32Array
          ? 'int32'
          : 'bool';

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
export async function runChecked(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  fetches?: string[],
): Promise<ort.InferenceSession.ReturnType> {
  const known = new Set(session.inputNames);
  const unbound = Object.keys(feeds).filter((k) => !known.has(k));
  if (unbound.length > 0)
    throw new Error(
      `feed${unbound.length > 1 ? 's' : ''} ${unbound.join(', ')} bind${unbound.length > 1 ? '' : 's'} to no input of the model (inputs: ${session.inputNames.join(', ')})`,
    );
  return fetches ? session.run(feeds, fetches) : session.run(feeds);
}

/** Fails fast (before any work is written) when the execution provider cannot start a session. */
export async function checkExecutionProvider(ep: ExecutionProvider): Promise<void> {
  if (ep === 'cpu') return;
  await createSession(probeModel(), { ep });
}

/** The smallest model there is: one Identity node, which every EP takes. */
export function probeModel(): Uint8Array {
  const g = new Graph('probe');
  g.output(g.node('Identity', [g.input('x', 'float32', [1])], [{ dtype: 'float32', shape: [1] }])[0], 'y');
  return serialize(g, { params: 'inputs' });
}
