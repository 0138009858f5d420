import type { ParamSpec } from '../graph/graph.js';
import { type ParamValues, initParams } from '../graph/init.js';
import { serialize } from '../graph/emit.js';
import { type StatePair, type TrainGraph, stateName } from '../graph/train-step.js';
import { type SessionOptions, createSession, ort, runChecked } from '../runtime/session.js';

export type { HostTensor } from '../graph/models/hm4sr-batch.js';
import type { HostTensor } from '../graph/models/hm4sr-batch.js';

export interface OptimizerState {
  params: ParamValues;
  m: ParamValues;
  v: ParamValues;
  step: number;
}

export function freshState(specs: ParamSpec[], seed: number, values?: ParamValues): OptimizerState {
  const params = values ?? initParams(specs, seed);
  const zeros = () => new Map(specs.filter((s) => s.trainable).map((s) => [s.name, new Float32Array(params.get(s.name)!.length)]));
  return { params, m: zeros(), v: zeros(), step: 0 };
}

const dtypeOf = (d: HostTensor['data']): ort.Tensor.Type =>
  d instanceof Float32Array ? 'float32' : d instanceof BigInt64Array ? 'int64' : d instanceof Float64Array ? 'float64' : 'int32';

/**
 * Drives a training-step (or K-step Loop) graph: one session, created once; parameters and moments stay
 * host Float32Arrays that are handed to ORT without copying and replaced by the outputs of each run.
 */
export class StepRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly graph: TrainGraph,
    readonly state: OptimizerState,
  ) {}

  static async create(tg: TrainGraph, state: OptimizerState, opts: SessionOptions = {}): Promise<StepRunner> {
    const session = await createSession(serialize(tg.graph, { params: 'inputs' }), { placementKey: tg.graph.name, ...opts });
    return new StepRunner(session, tg, state);
  }

  private feeds(batch: Record<string, HostTensor>, lr: number): Record<string, ort.Tensor> {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(batch)) f[k] = new ort.Tensor(dtypeOf(t.data), t.data, t.dims);
    for (const s of this.graph.params) f[s.name] = new ort.Tensor('float32', this.state.params.get(s.name)!, s.dims);
    for (const s of this.graph.params.filter((p) => p.trainable)) {
      f[stateName.m(s.name)] = new ort.Tensor('float32', this.state.m.get(s.name)!, s.dims);
      f[stateName.v(s.name)] = new ort.Tensor('float32', this.state.v.get(s.name)!, s.dims);
    }
    f[stateName.step] = new ort.Tensor('int64', BigInt64Array.of(BigInt(this.state.step)), []);
    f[stateName.lr] = new ort.Tensor('float32', Float32Array.of(lr), []);
    return f;
  }

  private absorb(out: ort.InferenceSession.ReturnType, pairs: StatePair[]): void {
    for (const p of pairs) {
      const t = out[p.output];
      if (p.role === 'adam.step') this.state.step = Number((t.data as BigInt64Array)[0]);
      else {
        const name = p.role === 'param' ? p.input : p.input.slice(p.role.length + 1);
        const map = p.role === 'param' ? this.state.params : p.role === 'adam.m' ? this.state.m : this.state.v;
        map.set(name, t.data as Float32Array);
      }
    }
  }

  /** Runs one step (or K steps for a Loop graph); returns each loss output (length K for a Loop). */
  async run(batch: Record<string, HostTensor>, lr: number): Promise<Record<string, Float32Array>> {
    const out = await runChecked(this.session, this.feeds(batch, lr));
    for (const name of this.graph.losses) {
      const d = out[name].data as Float32Array;
      for (const x of d) if (!Number.isFinite(x)) throw new Error(`training diverged: ${name} is ${x} at step ${this.state.step + 1}`);
    }
    this.absorb(out, this.graph.state);
    return Object.fromEntries(this.graph.losses.map((n) => [n, out[n].data as Float32Array]));
  }
}
