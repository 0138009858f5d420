import { serialize } from '../graph/emit.js';
import type { ParamValues } from '../graph/init.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildCatalogGraph, buildEvalGraph } from '../graph/models/hm4sr.js';
import type { Graph } from '../graph/graph.js';
import { type SessionOptions, createSession, ort, runChecked, toOrtFeeds, toOrtTensor } from '../runtime/session.js';
import type { Dataset } from './data/dataset.js';
import type { SampleSet } from './data/samples.js';
import type { EvalConfig } from './config.js';
import { MetricAccumulator, metricNames } from './metrics.js';
import type { PackOptions } from './batch.js';
import { packBatch } from './pack.js';

export interface EvalResult {
  metrics: Record<string, number>;
  users: number;
  seconds: number;
  ranks: Int32Array;
}

type ParamList = { name: string; dims: number[] }[];
const paramList = (g: Graph): ParamList =>
  [...g.params.values()].map((p) => ({ name: p.spec.name, dims: p.spec.dims }));

function paramFeeds(params: ParamList, values: ParamValues): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of params) {
    const v = values.get(p.name);
    if (!v) throw new Error(`evaluation: no value for parameter ${p.name}`);
    feeds[p.name] = toOrtTensor({ data: v, dims: p.dims });
  }
  return feeds;
}

/**
 * The catalog [N+1, V*d] of the model under `values` (buildCatalogGraph's `catalog`), in a session used once:
 * what a precomputed serving model holds (hm4sr-serve.ts, CatalogForm).
 */
export async function computeCatalog(model: Hm4srConfig, values: ParamValues): Promise<Float32Array> {
  const g = buildCatalogGraph(model);
  const session = await createSession(serialize(g, { params: 'inputs' }), { placementKey: g.name });
  try {
    const out = await runChecked(session, paramFeeds(paramList(g), values));
    return out.catalog.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * Full-catalog evaluation: the graph ranks every user's target against all items and returns only the
 * ranks, so no [batch x catalog] score matrix is copied out of the session. The catalog
 * catalog (item tables, feature projections) once per evaluation in a session of its own.
 */
export class Evaluator {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly params: ParamList,
    private readonly catalog: { session: ort.InferenceSession; params: ParamList },
    private readonly model: Hm4srConfig,
    private readonly config: EvalConfig,
  ) {}

  /** Refuses an eval config whose metrics, cut-offs or batch size are unusable before any work is done. */
  static async create(model: Hm4srConfig, config: EvalConfig, opts: SessionOptions = {}): Promise<Evaluator> {
    metricNames(config.metrics, config.topk);
    if (!(Number.isInteger(config.batchSize) && config.batchSize >= 1))
      throw new Error(`eval.batchSize must be a positive integer, got ${config.batchSize}`);
    const g = buildEvalGraph(model, 'hm4sr', { catalogInput: true });
    const session = await createSession(serialize(g, { params: 'inputs' }), { placementKey: g.name, ...opts });
    const cg = buildCatalogGraph(model);
    const catalogOpts = { placementKey: cg.name, ...opts, profile: undefined };
    const catalogSession = await createSession(serialize(cg, { params: 'inputs' }), catalogOpts);
    const catalog = { session: catalogSession, params: paramList(cg) };
    return new Evaluator(session, paramList(g), catalog, model, config);
  }

  /** Flushes onnxruntime's profile (an evaluator created with the `profile` session option). */
  endProfiling(): void {
    this.session.endProfiling();
  }

  async evaluate(
    ds: Dataset,
    set: SampleSet,
    values: ParamValues,
    pack: PackOptions,
    progress?: (done: number) => void,
  ): Promise<EvalResult> {
    const t0 = performance.now();
    const acc = new MetricAccumulator(this.config.metrics, this.config.topk);
    const all = new Int32Array(set.size);
    const feedsP = paramFeeds(this.params, values);
    const cat = await runChecked(this.catalog.session, paramFeeds(this.catalog.params, values));
    feedsP.catalog = cat.catalog;
    feedsP.catalog_items = cat.catalog_items;
    const batchSize = this.config.batchSize;
    for (let start = 0; start < set.size; start += batchSize) {
      const idx = Int32Array.from({ length: Math.min(batchSize, set.size - start) }, (_, i) => start + i);
      const b = packBatch(ds, set, idx, this.model, { ...pack, withTarget: true });
      const out = await runChecked(this.session, { ...feedsP, ...toOrtFeeds(b.feeds) });
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
