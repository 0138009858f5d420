import { serialize } from '../graph/emit.js';
import type { ParamValues } from '../graph/init.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildEvalGraph } from '../graph/models/hm4sr.js';
import { type SessionOptions, createSession, ort, runChecked } from '../runtime/session.js';
import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';
import { MetricAccumulator } from './metrics.js';
import { type PackOptions, packBatch } from './pack.js';
import type { HostTensor } from './step-runner.js';

export interface EvalResult { metrics: Record<string, number>; users: number; seconds: number; ranks: Int32Array }

const tensor = (t: HostTensor) => new ort.Tensor(t.data instanceof Float32Array ? 'float32' : 'int64', t.data, t.dims);

/**
 * Full-catalog evaluation: the graph ranks every user's target against all items and returns only the
 * ranks, so no [batch x catalog] score matrix is copied out of the session.
 */
export class Evaluator {
  private constructor(private readonly session: ort.InferenceSession, private readonly params: { name: string; dims: number[] }[], private readonly model: Hm4srConfig) {}

  static async create(model: Hm4srConfig, opts: SessionOptions = {}): Promise<Evaluator> {
    const g = buildEvalGraph(model);
    const session = await createSession(serialize(g, { params: 'inputs' }), { placementKey: g.name, ...opts });
    return new Evaluator(session, [...g.params.values()].map((p) => ({ name: p.spec.name, dims: p.spec.dims })), model);
  }

  async evaluate(ds: Dataset, set: SampleSet, values: ParamValues, pack: Omit<PackOptions, 'withTarget' | 'rng'>, batchSize: number, progress?: (done: number) => void): Promise<EvalResult> {
    const t0 = performance.now();
    const acc = new MetricAccumulator([5, 10, 20]);
    const all = new Int32Array(set.size);
    const feedsP: Record<string, ort.Tensor> = {};
    for (const p of this.params) {
      const v = values.get(p.name);
      if (!v) throw new Error(`evaluation: no value for parameter ${p.name}`);
      feedsP[p.name] = new ort.Tensor('float32', v, p.dims);
    }
    for (let start = 0; start < set.size; start += batchSize) {
      const idx = Int32Array.from({ length: Math.min(batchSize, set.size - start) }, (_, i) => start + i);
      const b = packBatch(ds, set, idx, this.model, { ...pack, withTarget: true });
      const feeds: Record<string, ort.Tensor> = { ...feedsP };
      for (const [k, t] of Object.entries(b.feeds)) feeds[k] = tensor(t);
      const out = await runChecked(this.session, feeds);
      const ranks = out.rank.data as BigInt64Array;
      ranks.forEach((r, i) => {
        all[start + i] = Number(r);
        acc.add(Number(r));
      });
      progress?.(start + idx.length);
    }
    return { metrics: acc.result(), users: set.size, seconds: (performance.now() - t0) / 1000, ranks: all };
  }
}
