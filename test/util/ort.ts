import { type EmitOptions, serialize } from '../../graph/emit.js';
import type { Graph } from '../../graph/graph.js';
import { type HostTensor, createSession, ort, toOrtFeeds } from '../../runtime/session.js';

export type Feed = HostTensor;

/** Emits g, opens a CPU session and returns a runner over plain feeds. */
export async function compile(g: Graph, opts: EmitOptions = { params: 'inputs' }) {
  const session = await createSession(serialize(g, opts), { threads: 1 });
  return async (feeds: Record<string, Feed>): Promise<Record<string, ort.Tensor>> => {
    return session.run(toOrtFeeds(feeds));
  };
}
