import { type Graph, type Value, attr } from '../graph.js';

export interface LoopBody {
  /** Continue condition (defaults to passing the input condition through). */
  cond?: Value;
  carried: Value[];
  scans?: Value[];
}

/**
 * ONNX Loop. The body is built in a child graph whose inputs are (iteration, condition, ...carried);
 * it may read values of enclosing graphs directly.
 */
export function loop(
  g: Graph,
  tripCount: Value | null,
  carried: Value[],
  build: (body: Graph, iter: Value, carried: Value[]) => LoopBody,
  opts: { name?: string; carriedNames?: string[]; cond?: Value } = {},
): { carried: Value[]; scans: Value[] } {
  const name = opts.name ?? 'loop';
  const body = g.child(`${g.scoped(name)}_body`, `${g.scoped(name)}/`);
  const iter = body.input('iter', 'int64', []);
  const condIn = body.input('cond_in', 'bool', []);
  const ins = carried.map((c, i) => body.input(opts.carriedNames?.[i] ?? `carried${i}`, c.dtype, c.shape ?? []));
  const out = build(body, iter, ins);
  if (out.carried.length !== carried.length)
    g.fail('Loop', `body returned ${out.carried.length} carried values for ${carried.length}`);
  out.carried.forEach((c, i) => {
    if (c.dtype !== carried[i].dtype)
      g.fail('Loop', `carried value ${i} changes dtype ${carried[i].dtype} -> ${c.dtype}`);
  });
  const condOut = out.cond ?? condIn;
  body.output(condOut.graph === body ? condOut : body.node('Identity', [condOut], [{ dtype: 'bool', shape: [] }])[0]);
  // A body output must be produced in the body; pass-through inputs and outer values get an Identity.
  const own = (v: Value) =>
    v.graph === body && v.producer !== null ? v : body.node('Identity', [v], [{ dtype: v.dtype, shape: v.shape }])[0];
  for (const c of out.carried) body.output(own(c));
  for (const s of out.scans ?? []) body.output(own(s));
  const cond = opts.cond ?? g.constant(Uint8Array.of(1), 'bool', []);
  const outs = g.node(
    'Loop',
    [tripCount, cond, ...carried],
    [
      ...carried.map((c) => ({ dtype: c.dtype, shape: c.shape })),
      ...(out.scans ?? []).map((s) => ({ dtype: s.dtype, shape: s.shape === null ? null : [null, ...s.shape] })),
    ],
    { body: attr.graph(body) },
  );
  return { carried: outs.slice(0, carried.length), scans: outs.slice(carried.length) };
}
