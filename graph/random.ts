// Where a graph's random draws come from. Seeded (the default): each site is a RandomUniformLike with its own
// seed attribute, so the stream lives in the session and continues from run to run. Fed: the sites read
// consecutive slices of one input, `random.draws`, that the host fills from its own generator; the graph is
// then a pure function of its feeds, so one session can serve a whole training run and a resumed run replays
// the same masks (the trainer's form).
import type { DrawSite, FedDraws, Graph, Value } from './graph.js';
import * as op from './ops/index.js';
import type { Dim } from './types.js';

/** The input a fed graph reads its draws from: [draws] per step, [steps, draws] for a K-step Loop. */
export const DRAWS_INPUT = 'random.draws';

/** Makes g's random sites read host-fed draws; `pool` gives the step's [draws] (default: g's own input). */
export function feedDraws(g: Graph, pool?: () => Value): FedDraws {
  let value: Value | null = null;
  const own = () => (value ??= g.input(DRAWS_INPUT, 'float32', ['draws']));
  g.fedDraws = { sites: [], pool: pool ? () => (value ??= pool()) : own, offset: null };
  return g.fedDraws;
}

/**
 * Uniforms in [0, 1) of shape [...x.shape[:-1], ceil(x.shape[-1] / per)]: one draw serves `per` entries of x
 * along its last axis. Seeded: a RandomUniformLike with the graph's next site seed. Fed: the next slice of the
 * draws input, whose length the host computes from the recorded site (so x's dims must be sizes or named dims).
 */
export function uniformDraws(x: Value, per: number): Value {
  const g = x.graph;
  const r = x.rank;
  const shape = op.shapeOf(x);
  const lead = op.slice(shape, [0], [r - 1], [0]);
  const last = op.slice(shape, [r - 1], [r], [0]);
  const dims =
    per === 1 ? shape : op.concat([lead, op.div(op.add(last, op.int64s(g, [per - 1])), op.int64s(g, [per]))], 0);
  const outShape: Dim[] = [...x.shape!.slice(0, -1), per === 1 ? x.shape![r - 1] : null];
  const fed = g.fedDraws;
  if (!fed) return op.randomUniformLike(op.constantOfShape(dims, x.dtype, 0, outShape), g.nextSeed());
  const named = (d: Dim): d is number | string => d !== null;
  if (!x.shape!.every(named)) g.fail('random draws', `fed draws need every dim of ${x} to be a size or a named dim`);
  fed.sites.push({ lead: x.shape!.slice(0, -1) as (number | string)[], last: x.shape![r - 1] as number | string, per });
  const start = fed.offset ?? op.int64s(g, [0]);
  // The count as a product of the dims, not ReduceProd: the CUDA EP has integer Mul (its ReduceProd is float only).
  const count = Array.from({ length: r }, (_, i) => op.slice(dims, [i], [i + 1], [0])).reduce((a, b) => op.mul(a, b));
  const end = op.add(start, count);
  fed.offset = end;
  const u = op.sliceDynamic(fed.pool(), start, end, [0], [null]);
  return op.reshape(x.dtype === 'float32' ? u : op.cast(u, x.dtype), dims, outShape);
}

/** Draws one step of `sites` takes, with each named dim's size from `size` (which throws for an unknown name). */
export function drawCount(sites: readonly DrawSite[], size: (name: string) => number): number {
  const at = (d: number | string) => (typeof d === 'number' ? d : size(d));
  return sites.reduce((n, s) => n + s.lead.reduce((p: number, d) => p * at(d), 1) * Math.ceil(at(s.last) / s.per), 0);
}
