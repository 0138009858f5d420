import type { ParamSpec } from './graph.js';
import { Rng } from './rng.js';

/** Host-side parameter values by name: the training state between steps. */
export type ParamValues = Map<string, Float32Array>;

export function initParam(spec: ParamSpec, seed: number): Float32Array {
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const init = spec.init;
  switch (init.kind) {
    case 'zeros': return new Float32Array(n);
    case 'ones': return new Float32Array(n).fill(1);
    case 'data': return Float32Array.from(init.data);
    case 'external': throw new Error(`parameter ${spec.name} [${spec.dims}] takes ${init.what} from the data, and none was supplied`);
    case 'normal': {
      const r = Rng.keyed(seed, spec.name), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (init.mean ?? 0) + init.std * r.nextGaussian();
      return out;
    }
    case 'uniform': {
      const r = Rng.keyed(seed, spec.name), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (2 * r.nextFloat() - 1) * init.a;
      return out;
    }
  }
}

export function initParams(specs: Iterable<ParamSpec>, seed: number): ParamValues {
  const out: ParamValues = new Map();
  for (const s of specs) out.set(s.name, initParam(s, seed));
  return out;
}
