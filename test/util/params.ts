import type { Graph, ParamSpec } from '../../graph/graph.js';
import { initialValues } from '../../graph/init.js';
import { type OptimizerState, freshState } from '../../train/step-runner.js';
import type { TypedData } from '../../graph/types.js';
import { compile } from './ort.js';

/** Random values for g's parameters around their init: ones-initialised ones near 1, the rest in [-0.5, 0.5). */
export function paramValues(g: Graph, rand: () => number): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const { spec } of g.params.values()) {
    const n = spec.dims.reduce((a, b) => a * b, 1);
    m.set(
      spec.name,
      Float32Array.from(
        { length: n },
        () => (spec.init.kind === 'ones' ? 1 : 0) + (rand() - 0.5) * (spec.init.kind === 'ones' ? 0.4 : 1),
      ),
    );
  }
  return m;
}

/** Compiles g with its parameters baked in as initializers. */
export const compileWith = (g: Graph, values: Map<string, TypedData>) => compile(g, { params: 'initializers', values });

/** A fresh training state with every parameter at its init rule (no data-bound tensors). */
export const initState = (specs: ParamSpec[], seed: number): OptimizerState =>
  freshState(specs, initialValues(specs, new Map(), seed));
