import type { ParamSpec } from '../graph/graph.js';
import type { ParamValues } from '../graph/init.js';
import { serialize } from '../graph/emit.js';
import { type StatePair, type TrainGraph, stateName } from '../graph/train-step.js';
import { type HostTensor, type SessionOptions, createSession, ort, runChecked, toOrtFeeds, toOrtTensor } from '../runtime/session.js';


export interface OptimizerState {
  params: ParamValues;
  m: ParamValues;
  v: ParamValues;
  step: number;
}

/** The state before the first step: the given parameter values and zero Adam moments. */
export function freshState(specs: ParamSpec[], params: ParamValues): OptimizerState {
  const zeros = () => new Map(specs.filter((s) => s.trainable).map((s) => [s.name, new Float32Array(params.get(s.name)!.length)]));
  return { params, m: zeros(), v: zeros(), step: 0 };
}

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

  /** `lower: false` emits Softplus and LayerNormalization as single nodes (see EmitOptions.lower). */
  static async create(tg: TrainGraph, state: OptimizerState, opts: SessionOptions & { lower?: boolean } = {}): Promise<StepRunner> {
    const { lower, ...sessionOpts } = opts;
    const session = await createSession(serialize(tg.graph, { params: 'inputs', lower }), { placementKey: tg.graph.name, ...sessionOpts });
    return new StepRunner(session, tg, state);
  }

  private feeds(batch: Record<string, HostTensor>, lr: number): Record<string, ort.Tensor> {
    const f = toOrtFeeds(batch);
    for (const s of this.graph.params) f[s.name] = toOrtTensor({ data: this.state.params.get(s.name)!, dims: s.dims });
    for (const s of this.graph.params.filter((p) => p.trainable)) {
      f[stateName.m(s.name)] = toOrtTensor({ data: this.state.m.get(s.name)!, dims: s.dims });
      f[stateName.v(s.name)] = toOrtTensor({ data: this.state.v.get(s.name)!, dims: s.dims });
    }
    f[stateName.step] = toOrtTensor({ data: BigInt64Array.of(BigInt(this.state.step)), dims: [] });
    f[stateName.lr] = toOrtTensor({ data: Float32Array.of(lr), dims: [] });
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

  /** Flushes onnxruntime's profile (sessions created with `profile`). */
  endProfiling(): void {
    this.session.endProfiling();
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
