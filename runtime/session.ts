import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import { cpuPlacedNodes, explainCudaFailure } from './cuda-errors.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  ep?: ExecutionProvider;
  threads?: number;
  /**
   * On CUDA, refuse (session creation throws, naming the nodes) when any node would run on the CPU instead;
   * default true. False only through an explicit --allow-cpu-nodes, which prints what runs on the CPU.
   */
  strictDevice?: boolean;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where a non-strict CUDA session reports the nodes it runs on the CPU. */
  log?: (line: string) => void;
}

/** Creates an onnxruntime session from a model file or bytes, with a clear error when the EP is missing. */
export async function createSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const ep = opts.ep ?? 'cpu';
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: ep === 'cuda' ? [{ name: 'cuda' }] : ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  // ORT's default counts physical cores (1 on a 2-vCPU machine); use every core we are given.
  so.intraOpNumThreads = opts.threads ?? availableParallelism();
  const strict = ep === 'cuda' && opts.strictDevice !== false;
  if (strict) so.extra = { session: { disable_cpu_ep_fallback: '1' } };
  let session: ort.InferenceSession;
  try {
    session = typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
  } catch (e) {
    const msg = (e as Error).message;
    if (ep === 'cuda') throw new Error(await explainCudaFailure(msg, model, strict));
    throw new Error(`could not create an onnxruntime session${typeof model === 'string' ? ` for ${model}` : ''}: ${msg}`);
  }
  if (ep === 'cuda' && !strict && opts.log) {
    const nodes = cpuPlacedNodes(model);
    opts.log(`--allow-cpu-nodes: ${nodes === null ? 'could not list the nodes placed on the CPU' : nodes.length ? `on the CPU: ${nodes.join(', ')}` : 'every node is on the CUDA EP'}`);
  }
  return session;
}

export { ort };

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
  await createSession(probeModel(), { ep });
}

/** The smallest model there is: one Identity node, which every EP takes. */
export function probeModel(): Uint8Array {
  const g = new Graph('probe');
  g.output(g.node('Identity', [g.input('x', 'float32', [1])], [{ dtype: 'float32', shape: [1] }])[0], 'y');
  return serialize(g, { params: 'inputs' });
}
