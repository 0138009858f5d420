// `hm4sr add-items`: a shipped model scores items that arrived after training. An item's score is a sum over
// modalities; its text and image terms need only its frozen features, which the model's own featurizer
// computes and its trained projections map. Only the ID term has no trained row: `idRule` chooses one. The
// model is rebuilt with the longer catalog from the same serving graph, so the old items keep their indices
// and their scores bit for bit.
import { readFileSync } from 'node:fs';
import { DATA_PARAMS } from '../graph/models/hm4sr-blocks.js';
import { type Hm4srConfig, autoCatalogChunk } from '../graph/models/hm4sr-config.js';
import { onnx } from '../graph/onnx-proto.js';
import { initializerData } from '../runtime/inspect.js';
import { type ServingFeaturizers, featurizerKey, readServingMeta } from '../runtime/recommender.js';
import { writeServingModel } from '../train/export.js';
import { featurizerSpec } from './featurizer-spec.js';
import { type NewFeatureOptions, newItemFeatures, readNewItems } from './new-items.js';

/**
 * zero: a zero ID vector (the item is scored by its features alone); mean: the mean of the trained items'
 * ID vectors; nearest: the mean ID vector of the `neighbours` trained items whose features are most alike
 * (cosine over the model's feature modalities).
 */
export const ID_RULES = ['nearest', 'mean', 'zero'] as const;
export type IdRule = (typeof ID_RULES)[number];

export interface AddItemsOptions extends Omit<NewFeatureOptions, 'model'> {
  model: string;
  data: string;
  name?: string;
  out: string;
  idRule: IdRule;
  neighbours: number;
  textModel?: string;
  imageModel?: string;
  /** K of the extended model's TopK (default: the model's). */
  topK?: number;
}

export interface AddItemsResult {
  model: string;
  items: { before: number; added: number; after: number };
  idRule: IdRule;
}

const ID_TABLE = 'item.id.embedding';
const FEATURE_MODALITIES = ['txt', 'img'] as const;

/** The model's float32 initializers by name (the serving graph's parameters among them) and featurizer records. */
function readModel(path: string): { values: Map<string, Float32Array>; records: Record<string, unknown> } {
  const model = onnx.ModelProto.decode(readFileSync(path));
  const values = new Map<string, Float32Array>();
  for (const t of model.graph?.initializer ?? []) {
    const v = initializerData(t, path);
    if (v instanceof Float32Array) values.set(t.name!, v);
  }
  const records = Object.fromEntries(
    (model.metadataProps ?? [])
      .filter((p) => p.key?.startsWith('hm4sr.featurizer.'))
      .map((p) => [p.key!, JSON.parse(p.value ?? 'null')]),
  );
  return { values, records };
}

/** The featurizer of each feature modality, as the model records it; a modality without one is an error. */
function featurizersOf(path: string, records: Record<string, unknown>, modalities: readonly ('txt' | 'img')[]) {
  return modalities.map((m) => {
    const r = records[featurizerKey(m)] as { missing?: string } | undefined;
    const what = m === 'txt' ? 'text' : 'image';
    if (!r || r.missing)
      throw new Error(
        `${path}: the model does not record how its ${what} features were made (${r?.missing ?? 'exported before hm4sr recorded featurizers'}); ` +
          `featurize the training data with hm4sr featurize, then train or export again`,
      );
    return { m, spec: featurizerSpec(r, `${path} (${what})`) };
  });
}

export async function addItems(o: AddItemsOptions): Promise<AddItemsResult> {
  if (!ID_RULES.includes(o.idRule)) throw new Error(`--id-rule ${o.idRule}: one of ${ID_RULES.join(', ')}`);
  if (!Number.isInteger(o.neighbours) || o.neighbours < 1)
    throw new Error(`--neighbours ${o.neighbours}: must be a positive integer`);
  const { meta, tokens } = readServingMeta(o.model);
  const mc = meta.model;
  if (meta.catalog === 'precomputed')
    throw new Error(
      `${o.model}: the model holds a precomputed catalog, not the feature tables and projections a new item needs; ` +
        "export the run with 'hm4sr export --catalog features' and add the items to that model",
    );
  const withFeatures = FEATURE_MODALITIES.filter((m) => mc.modalities.includes(m) && !mc.zeroFeatures.includes(m));
  if (withFeatures.length === 0)
    throw new Error(
      `${o.model}: the model has no text or image features (modalities ${mc.modalities.join('+')}), so a new item would ` +
        'have nothing but a made-up ID vector; add-items needs a model trained with text or image features',
    );
  const items = readNewItems(o.data, o.name);
  const known = new Set(tokens);
  const already = items.tokens.filter((t) => known.has(t));
  if (already.length)
    throw new Error(
      `${items.file}: ${already.length} item(s) already in the model's catalog (${already.slice(0, 5).join(', ')}); ` +
        'add-items adds new items only',
    );
  const { values, records } = readModel(o.model);
  const features = new Map<'txt' | 'img', Float32Array>();
  for (const { m, spec } of featurizersOf(o.model, records, withFeatures)) {
    const dim = m === 'txt' ? mc.textDim : mc.imageDim;
    o.log(`${m === 'txt' ? 'text' : 'image'} features of ${items.tokens.length} new items (${spec.model})`);
    features.set(m, await newItemFeatures(spec, items, dim, { ...o, model: m === 'txt' ? o.textModel : o.imageModel }));
  }
  const N = mc.numItems,
    n = items.tokens.length;
  writeServingModel(o.out, {
    model: extendedConfig(mc, n),
    values: extendedValues(o, mc, values, features, n),
    tokens: [...tokens, ...items.tokens],
    encode: meta.encode,
    data: meta.data,
    topK: o.topK ?? meta.topK,
    featurizers: Object.fromEntries(
      FEATURE_MODALITIES.filter((m) => records[featurizerKey(m)] !== undefined).map((m) => [
        m,
        records[featurizerKey(m)],
      ]),
    ) as ServingFeaturizers,
    added: [...(meta.added ?? []), { first: N + 1, count: n, idRule: o.idRule }],
  });
  return { model: o.out, items: { before: N, added: n, after: N + n }, idRule: o.idRule };
}

/**
 * The config of the longer catalog. A catalog scored whole stays whole while it is small (its chunk resolved
 * again from its size); a model exported before catalogChunk existed has none: it scored the whole catalog.
 */
function extendedConfig(mc: Hm4srConfig, n: number): Hm4srConfig {
  const N = mc.numItems,
    was = mc.catalogChunk ?? 0;
  return { ...mc, numItems: N + n, catalogChunk: was === 0 || was >= N ? autoCatalogChunk(N + n) : was };
}

/** The model's values with the new items' rows appended to the ID and feature tables. */
function extendedValues(
  o: AddItemsOptions,
  mc: Hm4srConfig,
  values: Map<string, Float32Array>,
  features: Map<'txt' | 'img', Float32Array>,
  n: number,
): Map<string, Float32Array> {
  const table = (name: string) => {
    const t = values.get(name);
    if (!t) throw new Error(`${o.model}: no initializer ${name} (not an hm4sr serving model?)`);
    return t;
  };
  const extended = new Map(values);
  for (const [m, rows] of features) extended.set(DATA_PARAMS[m], concat(table(DATA_PARAMS[m]), rows));
  const idRows = idVectors(o.idRule, o.neighbours, mc, table(ID_TABLE), features, (m) => table(DATA_PARAMS[m]), n);
  extended.set(ID_TABLE, concat(table(ID_TABLE), idRows));
  return extended;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The new items' ID vectors [n, hidden] under `rule`. */
function idVectors(
  rule: IdRule,
  k: number,
  mc: Hm4srConfig,
  ids: Float32Array,
  features: Map<'txt' | 'img', Float32Array>,
  catalogFeatures: (m: 'txt' | 'img') => Float32Array,
  n: number,
): Float32Array {
  const d = mc.hidden,
    N = mc.numItems;
  const out = new Float32Array(n * d);
  if (rule === 'zero') return out;
  if (rule === 'mean') {
    const mean = new Float64Array(d);
    for (let i = 1; i <= N; i++) for (let j = 0; j < d; j++) mean[j] += ids[i * d + j];
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) out[r * d + j] = mean[j] / N;
    return out;
  }
  const sim = new Float64Array(n * N);
  for (const [m, rows] of features) {
    const D = m === 'txt' ? mc.textDim : mc.imageDim;
    addCosines(sim, rows, catalogFeatures(m), n, N, D);
  }
  const kk = Math.min(k, N);
  for (let r = 0; r < n; r++) {
    for (const i of topIndices(sim.subarray(r * N, (r + 1) * N), kk)) {
      for (let j = 0; j < d; j++) out[r * d + j] += ids[(i + 1) * d + j] / kk;
    }
  }
  return out;
}

/** sim[r, i] += cos(new row r, catalog item i + 1) (a zero row is alike nothing: cosine 0). */
function addCosines(sim: Float64Array, rows: Float32Array, cat: Float32Array, n: number, N: number, D: number): void {
  const norms = (x: Float32Array, off: number, count: number) =>
    Float64Array.from({ length: count }, (_, i) => {
      let s = 0;
      for (let j = 0; j < D; j++) s += x[(i + off) * D + j] ** 2;
      return Math.sqrt(s);
    });
  const nn = norms(rows, 0, n),
    nc = norms(cat, 1, N);
  for (let r = 0; r < n; r++) {
    if (nn[r] === 0) continue;
    const a = rows.subarray(r * D, (r + 1) * D);
    for (let i = 0; i < N; i++) {
      if (nc[i] === 0) continue;
      const b = cat.subarray((i + 1) * D, (i + 2) * D);
      let s = 0;
      for (let j = 0; j < D; j++) s += a[j] * b[j];
      sim[r * N + i] += s / (nn[r] * nc[i]);
    }
  }
}

/** Positions of the k largest values (ties: the lower position first). */
function topIndices(x: Float64Array, k: number): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => x[b] - x[a] || a - b);
  return idx.slice(0, k);
}
