import type { ParamSpec } from '../graph/graph.js';
import type { ParamValues } from '../graph/init.js';
import { serialize } from '../graph/emit.js';
import { DRAWS_INPUT, drawCount } from '../graph/random.js';
import type { Rng } from '../graph/rng.js';
import { type StatePair, type TrainGraph, stateName } from '../graph/train-step.js';
import {
  type HostTensor,
  type SessionOptions,
  createSession,
  ort,
  runChecked,
  toOrtFeeds,
  toOrtTensor,
} from '../runtime/session.js';

export interface OptimizerState {
  params: ParamValues;
  m: ParamValues;
  v: ParamValues;
  step: number;
}

/** The state before the first step: the given parameter values and zero Adam moments. */
export function freshState(specs: ParamSpec[], params: ParamValues): OptimizerState {
  const zeros = () =>
    new Map(specs.filter((s) => s.trainable).map((s) => [s.name, new Float32Array(params.get(s.name)!.length)]));
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
  static async create(
    tg: TrainGraph,
    state: OptimizerState,
    opts: SessionOptions & { lower?: boolean } = {},
  ): Promise<StepRunner> {
    const { lower, ...sessionOpts } = opts;
    const session = await createSession(serialize(tg.graph, { params: 'inputs', lower }), {
      placementKey: tg.graph.name,
      ...sessionOpts,
    });
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

  /**
   * `batch` with the input random.draws of one run added (a graph built with fedDraws): as many 24-bit uniforms
   * as its random sites take at the batch's dims ([steps, n] for a Loop), drawn in order from rng. A fed graph
   * without random sites (no dropout) takes none.
   */
  withDraws(batch: Record<string, HostTensor>, rng: Rng): Record<string, HostTensor> {
    const g = this.graph.graph,
      sites = this.graph.draws;
    if (sites === null)
      throw new Error(
        `${g.name} draws its randomness from seeded ops; it takes no ${DRAWS_INPUT} (build it with fedDraws)`,
      );
    if (sites.length === 0) return batch;
    const sizes = new Map<string, { n: number; from: string }>();
    for (const v of g.inputs) {
      const t = batch[v.name];
      if (!t || !v.shape) continue;
      if (t.dims.length !== v.shape.length)
        throw new Error(`batch input ${v.name}: ${t.dims.length} dims given, ${g.name} declares ${v.shape.length}`);
      v.shape.forEach((d, i) => {
        if (typeof d !== 'string') return;
        const seen = sizes.get(d);
        if (seen && seen.n !== t.dims[i])
          throw new Error(`batch inputs ${seen.from} and ${v.name} disagree on dim '${d}' (${seen.n} vs ${t.dims[i]})`);
        sizes.set(d, { n: t.dims[i], from: v.name });
      });
    }
    const size = (d: string) => {
      const s = sizes.get(d);
      if (!s) throw new Error(`${g.name}: a random site needs dim '${d}', which no batch input given has`);
      return s.n;
    };
    const n = drawCount(sites, size);
    const looped = g.inputs.find((v) => v.name === DRAWS_INPUT)!.shape!.length === 2;
    const dims = looped ? [size('steps'), n] : [n];
    return {
      ...batch,
      [DRAWS_INPUT]: { data: rng.fillUniform24(new Float32Array(dims.reduce((a, b) => a * b, 1))), dims },
    };
  }

  /** Runs one step (or K steps for a Loop graph); returns each loss output (length K for a Loop). */
  async run(batch: Record<string, HostTensor>, lr: number): Promise<Record<string, Float32Array>> {
    for (const name of this.graph.distinct) if (batch[name]) checkDistinct(name, batch[name]);
    if (this.graph.draws?.length && !batch[DRAWS_INPUT])
      throw new Error(
        `${this.graph.graph.name} reads its dropout draws from the input ${DRAWS_INPUT}: run it on runner.withDraws(batch, rng)`,
      );
    const out = await runChecked(this.session, this.feeds(batch, lr));
    for (const name of this.graph.losses) {
      const d = out[name].data as Float32Array;
      for (const x of d)
        if (!Number.isFinite(x)) throw new Error(`training diverged: ${name} is ${x} at step ${this.state.step + 1}`);
    }
    this.absorb(out, this.graph.state);
    return Object.fromEntries(this.graph.losses.map((n) => [n, out[n].data as Float32Array]));
  }
}

/**
 * A batch input declared distinct (TensorSpec.distinct) holds distinct non-negative indices, per step of a Loop
 * ([steps, n]): its Gather writes gradient rows without summing, so a repeat would silently drop one.
 */
function checkDistinct(name: string, t: HostTensor): void {
  const n = t.dims.length > 1 ? t.dims[t.dims.length - 1] : t.data.length;
  for (let at = 0; at < t.data.length; at += n) {
    const seen = new Set<number>();
    for (let i = at; i < at + n; i++) {
      const v = Number(t.data[i]);
      if (v < 0 || seen.has(v))
        throw new Error(
          `batch input ${name}: entry ${i - at}${t.dims.length > 1 ? ` of step ${at / n}` : ''} is ${v}, ${v < 0 ? 'negative' : 'a repeat'}; ${name} must hold distinct non-negative indices`,
        );
      seen.add(v);
    }
  }
}
