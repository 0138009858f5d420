import type { ParamSpec } from './graph.js';
import { Rng } from './rng.js';

/** Host-side parameter values by name: the training state between steps. */
export type ParamValues = Map<string, Float32Array>;

function initParam(spec: ParamSpec, seed: number): Float32Array {
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const init = spec.init;
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(n);
    case 'ones':
      return new Float32Array(n).fill(1);
    case 'data':
      return Float32Array.from(init.data);
    case 'external':
      throw new Error(`parameter ${spec.name} [${spec.dims}] takes ${init.what} from the data, and none was supplied`);
    case 'normal': {
      const r = Rng.keyed(seed, spec.name),
        out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (init.mean ?? 0) + init.std * r.nextGaussian();
      return out;
    }
    case 'uniform': {
      const r = Rng.keyed(seed, spec.name),
        out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (2 * r.nextFloat() - 1) * init.a;
      return out;
    }
  }
}

/**
 * Initial values: supplied tensors (feature tables, labels: what the data binds to parameters), everything
 * else from its init rule. A supplied tensor that names no parameter is an error (a misspelt name would
 * otherwise leave its parameter at a default).
 */
export function initialValues(
  specs: ParamSpec[],
  supplied: ReadonlyMap<string, Float32Array>,
  seed: number,
): ParamValues {
  const known = new Set(specs.map((s) => s.name));
  const unbound = [...supplied.keys()].filter((k) => !known.has(k));
  if (unbound.length > 0) {
    const takers = specs.filter((s) => s.init.kind === 'external').map((s) => s.name);
    throw new Error(
      `supplied tensor${unbound.length > 1 ? 's' : ''} ${unbound.join(', ')} bind${unbound.length > 1 ? '' : 's'} to no parameter of the model (parameters that take data: ${takers.join(', ') || 'none'})`,
    );
  }
  return new Map(
    specs.map((s) => {
      const f = supplied.get(s.name);
      if (f && f.length !== s.dims.reduce((a, b) => a * b, 1))
        throw new Error(`frozen tensor ${s.name} has ${f.length} values for [${s.dims}]`);
      return [s.name, f ?? initParam(s, seed)];
    }),
  );
}
