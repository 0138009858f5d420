import { Graph, type ParamSpec } from '../../graph/graph.js';
import { declareBatch } from '../../graph/model.js';
import type { Hm4srConfig } from '../../graph/models/hm4sr-config.js';
import { hm4srModel } from '../../graph/models/hm4sr.js';
import { rng } from './gradcheck.js';
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

/** Uniform values in [-0.5, 0.5) for every parameter of the HM4SR training model of c, feature tables included. */
export function modelValues(c: Hm4srConfig, seed = 11): Map<string, Float32Array> {
  const r = rng(seed);
  const g = new Graph('probe');
  hm4srModel(c).loss(g, declareBatch(g, hm4srModel(c).batch));
  return new Map(
    [...g.params.values()].map(({ spec }) => {
      const n = spec.dims.reduce((a, b) => a * b, 1);
      return [spec.name, Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.5)];
    }),
  );
}
