import { type EmitOptions, serialize } from '../../graph/emit.js';
import type { Graph } from '../../graph/graph.js';
import type { TypedData } from '../../graph/types.js';
import { createSession, ort } from '../../runtime/session.js';

export type Feed = { data: TypedData; dims: number[] };

const ORT_TYPE = (d: TypedData): ort.Tensor.Type =>
  d instanceof Float32Array ? 'float32' : d instanceof Float64Array ? 'float64' : d instanceof BigInt64Array ? 'int64' : d instanceof Int32Array ? 'int32' : 'bool';

export function tensor(f: Feed): ort.Tensor {
  const data = f.data instanceof Uint8Array ? Array.from(f.data, (b) => b !== 0) : f.data;
  return new ort.Tensor(ORT_TYPE(f.data), data as never, f.dims);
}

/** Emits g, opens a CPU session and returns a runner over plain feeds. */
export async function compile(g: Graph, opts: EmitOptions = { params: 'inputs' }) {
  const session = await createSession(serialize(g, opts), { threads: 1 });
  return async (feeds: Record<string, Feed>): Promise<Record<string, ort.Tensor>> => {
    const t: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) t[k] = tensor(v);
    return session.run(t);
  };
}
