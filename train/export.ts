import { join } from 'node:path';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { featurizerRecordPath, readFeaturizerRecord } from './data/featurizer-record.js';
import { intervalBucket } from './batch.js';
import { type ServeEncoding, buildServingGraph } from '../graph/models/hm4sr-serve.js';
import { type Manifest, saveModel } from '../graph/manifest.js';
import { SERVING_FORMAT, type ServingFeaturizers, type ServingMeta, featurizerKey } from '../runtime/recommender.js';
import type { RunConfig } from './config.js';
import type { Prepared } from './prepare.js';

export const DEFAULT_TOP_K = 100;

/**
 * model.onnx: the serving graph (item indices + Unix seconds in, top-K and user vectors out) with trained
 * weights inline (one portable file; ORT folds the catalog projection at load), item tokens and settings
 * in its metadata_props.
 */
export function exportInference(
  mc: Hm4srConfig,
  values: Map<string, Float32Array>,
  p: Prepared,
  rc: RunConfig,
  path: string,
  topK = DEFAULT_TOP_K,
): Manifest {
  return writeServingModel(path, {
    model: mc,
    values,
    tokens: p.ds.itemTokens,
    topK,
    encode: {
      mu: rc.optim.mu,
      maxBucket: mc.intervalBuckets - 1,
      absTime: rc.optim.absTime,
      timeOrigin: p.ds.firstTimestamp,
    },
    data: { kCore: rc.data.kCore, dedupe: rc.data.dedupe },
    featurizers: featurizersOf(mc, rc),
  });
}

/**
 * The featurizers of the model's feature tables, as `featurize` recorded them beside the tables: the model
 * carries them so `add-items` can featurize new items alike. A table without a (matching) record leaves its
 * modality out, and add-items says why.
 */
function featurizersOf(mc: Hm4srConfig, rc: RunConfig): ServingFeaturizers {
  const out: ServingFeaturizers = {};
  for (const m of ['txt', 'img'] as const) {
    if (!mc.modalities.includes(m) || mc.zeroFeatures.includes(m)) continue;
    const kind = m === 'txt' ? 'text' : 'image';
    const table = join(rc.data.dir, `${rc.data.name}.${kind}.f32`);
    const r = readFeaturizerRecord(featurizerRecordPath(rc.data.dir, rc.data.name, kind), table);
    out[m] = r.record ?? { missing: r.why };
  }
  return out;
}

export interface ServingModelSpec {
  model: Hm4srConfig;
  values: ReadonlyMap<string, Float32Array>;
  /** Item index -> token; entry 0 is padding. */
  tokens: string[];
  encode: ServeEncoding;
  data: ServingMeta['data'];
  topK: number;
  /** Per feature modality: what featurized its table (or why that is not known). */
  featurizers?: ServingFeaturizers;
  /** Items added after training (hm4sr add-items), oldest batch first. */
  added?: ServingMeta['added'];
}

export function writeServingModel(path: string, s: ServingModelSpec): Manifest {
  const mc = s.model;
  if (!Number.isInteger(s.topK) || s.topK < 1) throw new Error(`--top-k ${s.topK}: must be a positive integer`);
  if (s.tokens.length !== mc.numItems + 1)
    throw new Error(`${s.tokens.length - 1} item tokens for a ${mc.numItems}-item model`);
  const sg = buildServingGraph(mc, s.encode, s.topK, (x) => intervalBucket(x, s.encode.mu));
  const meta: ServingMeta = {
    format: SERVING_FORMAT,
    model: mc,
    encode: s.encode,
    topK: sg.topK,
    data: s.data,
    inputs: sg.graph.inputs.map((v) => v.name),
    outputs: sg.graph.outputs.map((v) => v.name),
    ...(s.added?.length ? { added: s.added } : {}),
  };
  const featurizers = Object.entries(s.featurizers ?? {}).map(([m, f]) => [featurizerKey(m), JSON.stringify(f)]);
  const used = new Map(
    [...sg.graph.params.keys()].map((k) => {
      const v = s.values.get(k);
      if (!v) throw new Error(`no value for parameter ${k}`);
      return [k, v];
    }),
  );
  return saveModel(
    sg.graph,
    path,
    'inference',
    {
      params: 'initializers',
      values: used,
      inputDefaults: sg.defaults,
      docString:
        `HM4SR recommender (${mc.modalities.join('+')}), ${mc.numItems} items. Inputs: item_ids [batch, seq] int64 (0 = padding, oldest first)` +
        `${meta.inputs.includes('timestamps') ? ', timestamps [batch, seq] int64 Unix seconds' : ''}, exclude_seen [batch, 1] bool (default [[false]]). ` +
        `Outputs: top_items, top_scores [batch, ${sg.topK}], user_vector_<modality> [batch, ${mc.hidden}]. Item tokens: metadata hm4sr.items (line i = item index i).`,
      metadata: {
        'hm4sr.serving': JSON.stringify(meta),
        'hm4sr.items': s.tokens.join('\n'),
        ...Object.fromEntries(featurizers),
      },
    },
    { meta: { serving: meta, itemTokens: s.tokens } },
  );
}
