import { join } from 'node:path';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { featurizerRecordPath, readFeaturizerRecord } from './data/featurizer-record.js';
import { intervalBucket } from './batch.js';
import {
  type CatalogForm,
  SERVING_CATALOG,
  type ServeEncoding,
  buildServingGraph,
  servingChunk,
} from '../graph/models/hm4sr-serve.js';
import { computeCatalog } from './evaluate.js';
import { type Manifest, saveModel } from '../graph/manifest.js';
import { SERVING_FORMAT, type ServingFeaturizers, type ServingMeta, featurizerKey } from '../runtime/recommender.js';
import type { RunConfig } from './config.js';
import type { Prepared } from './prepare.js';

export const DEFAULT_TOP_K = 100;

/**
 * Feature-table bytes a serving model holds inline at most under `--catalog auto`: one ONNX file is one protobuf
 * of at most 2 GiB, and its initializers are in memory twice while it loads.
 */
export const INLINE_FEATURES_MAX = 2 ** 30;
export const CATALOG_FORMS = ['auto', 'features', 'precomputed'] as const;

/** The feature tables the features form holds, in bytes. */
export function inlineFeatureBytes(mc: Hm4srConfig): number {
  const dims = { txt: mc.textDim, img: mc.imageDim } as const;
  const withTable = mc.modalities.filter((m) => m !== 'id' && !mc.zeroFeatures.includes(m)) as ('txt' | 'img')[];
  return withTable.reduce((sum, m) => sum + (mc.numItems + 1) * dims[m] * 4, 0);
}

/** 'auto': the feature tables while they fit INLINE_FEATURES_MAX, else the precomputed catalog. */
export const catalogFormOf = (mc: Hm4srConfig, form: (typeof CATALOG_FORMS)[number]): CatalogForm =>
  form !== 'auto' ? form : inlineFeatureBytes(mc) <= INLINE_FEATURES_MAX ? 'features' : 'precomputed';

/**
 * model.onnx: the serving graph (item indices + Unix seconds in, top-K and user vectors out) with trained
 * weights inline (one portable file; ORT folds the catalog projection at load, or the file holds the catalog
 * itself, see CatalogForm), item tokens and settings in its metadata_props.
 */
export async function exportInference(
  mc: Hm4srConfig,
  values: Map<string, Float32Array>,
  p: Prepared,
  rc: RunConfig,
  path: string,
  topK = DEFAULT_TOP_K,
  form: (typeof CATALOG_FORMS)[number] = 'auto',
): Promise<Manifest> {
  const precomputed = catalogFormOf(mc, form) === 'precomputed';
  return writeServingModel(path, {
    catalog: precomputed ? await computeCatalog(mc, values) : undefined,
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
  /** The catalog [N+1, V*d] under these values (computeCatalog): the model holds it instead of the features. */
  catalog?: Float32Array;
}

export function writeServingModel(path: string, s: ServingModelSpec): Manifest {
  const mc = s.model;
  if (!Number.isInteger(s.topK) || s.topK < 1) throw new Error(`--top-k ${s.topK}: must be a positive integer`);
  if (s.tokens.length !== mc.numItems + 1)
    throw new Error(`${s.tokens.length - 1} item tokens for a ${mc.numItems}-item model`);
  const form: CatalogForm = s.catalog ? 'precomputed' : 'features';
  const bucketOf = (x: number) => intervalBucket(x, s.encode.mu);
  const sg = buildServingGraph(mc, s.encode, s.topK, bucketOf, 'hm4sr', servingChunk(mc.numItems), form);
  const values = s.catalog ? new Map([...s.values, [SERVING_CATALOG, s.catalog]]) : s.values;
  const meta: ServingMeta = {
    format: SERVING_FORMAT,
    model: mc,
    encode: s.encode,
    topK: sg.topK,
    data: s.data,
    inputs: sg.graph.inputs.map((v) => v.name),
    outputs: sg.graph.outputs.map((v) => v.name),
    ...(s.added?.length ? { added: s.added } : {}),
    ...(s.catalog ? { catalog: 'precomputed' as const } : {}),
  };
  const featurizers = Object.entries(s.featurizers ?? {}).map(([m, f]) => [featurizerKey(m), JSON.stringify(f)]);
  const used = new Map(
    [...sg.graph.params.keys()].map((k) => {
      const v = values.get(k);
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
