import { existsSync, readFileSync } from 'node:fs';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { SERVE_INPUTS, SERVE_OUTPUTS, type ServeEncoding, userVectorOutput } from '../graph/models/hm4sr-serve.js';
import type { onnx as P } from 'onnx-proto';
import { onnx } from '../graph/onnx-proto.js';
import { requireInputs } from './model-bytes.js';
import { type SessionOptions, createSession, ort, runChecked } from './session.js';

export const SERVING_FORMAT = 'hm4sr.serving/2';
/** Users per onnxruntime run inside one recommend() call (after sorting by length). */
const GROUP = 64;

/** model.onnx's `hm4sr.serving` metadata: how it was trained and what its signature is. */
export interface ServingMeta {
  format: typeof SERVING_FORMAT;
  model: Hm4srConfig;
  encode: ServeEncoding;
  /** K of the model's TopK output: the most items one request can return. */
  topK: number;
  /** Dataset settings the item indices come from (`--data` rebuilds the same dataset). */
  data: { kCore: number; dedupe: boolean };
  inputs: string[];
  outputs: string[];
  /**
   * Items added after training by `hm4sr add-items`: indices first..first+count-1 of the catalog, with the
   * rule that gave them an ID representation.
   */
  added?: { first: number; count: number; idRule: string }[];
  /** 'precomputed': the model holds the catalog rather than the feature tables (absent: the features). */
  catalog?: 'precomputed';
}

/** A feature modality's featurizer as the model records it, or why it has none. */
export type ServingFeaturizers = Partial<Record<'txt' | 'img', object | { missing: string }>>;
/** The metadata_props key of a modality's featurizer record. */
export const featurizerKey = (m: string) => `hm4sr.featurizer.${m}`;

export interface UserHistory {
  items: string[];
  times: number[];
}
export interface Recommendation {
  items: string[];
  ids: number[];
  scores: number[];
}
export interface RecommendOptions {
  excludeSeen?: boolean;
}

/** Reads the serving metadata and item tokens from the model's metadata_props (the model is the one file to ship). */
export function readServingMeta(path: string): { meta: ServingMeta; tokens: string[] } {
  if (!existsSync(path))
    throw new Error(`no model at ${path} (train one with 'hm4sr train' or export one with 'hm4sr export')`);
  let model: P.ModelProto;
  try {
    model = onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new Error(`${path}: not an ONNX model (${(e as Error).message})`);
  }
  const prop = (k: string) => model.metadataProps.find((p) => p.key === k)?.value;
  const serving = prop('hm4sr.serving'),
    items = prop('hm4sr.items');
  if (!serving || items === undefined || items === null)
    throw new Error(`${path}: not an hm4sr model (no hm4sr.serving metadata); export one with 'hm4sr export'`);
  const meta = JSON.parse(serving) as ServingMeta;
  if (meta.format !== SERVING_FORMAT)
    throw new Error(
      `${path}: an older hm4sr model with the packed training inputs; re-export it with 'hm4sr export --run RUN'`,
    );
  return { meta, tokens: items.split('\n') };
}

/** Host tensors of the serving signature for a batch of histories, checked against the catalog. */
export interface SignatureBatch {
  items: BigInt64Array;
  times: BigInt64Array;
  dims: [number, number];
}

/**
 * Top-K recommendation through model.onnx's serving signature: the host only maps tokens to indices
 * and checks the histories; everything else happens in the graph.
 */
export class Recommender {
  readonly index: Map<string, number>;
  readonly readsTime: boolean;
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly meta: ServingMeta,
    readonly tokens: string[],
    readonly path: string,
  ) {
    this.index = new Map(tokens.map((t, i) => [t, i]));
    this.readsTime = session.inputNames.includes(SERVE_INPUTS.times);
  }

  static async load(path: string, opts: SessionOptions = {}): Promise<Recommender> {
    const { meta, tokens } = readServingMeta(path);
    if (tokens.length !== meta.model.numItems + 1)
      throw new Error(`${path}: ${tokens.length - 1} item tokens for a ${meta.model.numItems}-item model`);
    const session = await createSession(requireInputs(path, [SERVE_INPUTS.excludeSeen]), opts);
    for (const name of [SERVE_INPUTS.items, SERVE_OUTPUTS.items, SERVE_OUTPUTS.scores]) {
      if (!session.inputNames.includes(name) && !session.outputNames.includes(name))
        throw new Error(`${path}: the model has no ${name}; re-export it with 'hm4sr export'`);
    }
    return new Recommender(session, meta, tokens, path);
  }

  /**
   * Right-padded [users, longest] tensors. Without exclude-seen only the last maxLen items can matter,
   * so longer histories are cut on the host (the graph would ignore the rest anyway).
   */
  encode(users: UserHistory[], opts: RecommendOptions = {}, checked = false): SignatureBatch {
    if (users.length === 0) throw new Error('no histories to recommend for');
    if (!checked) users.forEach((u, n) => checkHistory(u, n, this.index, this.readsTime));
    const L = this.meta.model.maxLen;
    const cut = users.map((u) => (opts.excludeSeen ? u : { items: u.items.slice(-L), times: u.times.slice(-L) }));
    const S = Math.max(...cut.map((u) => u.items.length));
    const items = new BigInt64Array(users.length * S),
      times = new BigInt64Array(users.length * S);
    cut.forEach((u, n) =>
      u.items.forEach((t, j) => {
        items[n * S + j] = BigInt(this.index.get(t)!);
        if (this.readsTime) times[n * S + j] = BigInt(u.times[j]);
      }),
    );
    return { items, times, dims: [users.length, S] };
  }

  /** Runs the signature on encoded histories: item ids and scores [users, K] of the model's TopK. */
  async run(b: SignatureBatch, opts: RecommendOptions = {}, vectors = false): Promise<ort.InferenceSession.ReturnType> {
    const feeds: Record<string, ort.Tensor> = { [SERVE_INPUTS.items]: new ort.Tensor('int64', b.items, b.dims) };
    if (this.readsTime) feeds[SERVE_INPUTS.times] = new ort.Tensor('int64', b.times, b.dims);
    feeds[SERVE_INPUTS.excludeSeen] = new ort.Tensor('bool', [opts.excludeSeen ?? false], [1, 1]);
    const fetch = [
      SERVE_OUTPUTS.items,
      SERVE_OUTPUTS.scores,
      ...(vectors ? this.meta.model.modalities.map(userVectorOutput) : []),
    ];
    return runChecked(this.session, feeds, fetch);
  }

  /**
   * Histories are oldest first, times in Unix seconds. Many users run in groups of similar length: the
   * signature pads every row to the longest, and on Beauty (mean history 8, maxLen 50) one batch in
   * dataset order would be mostly padding.
   */
  async recommend(users: UserHistory[], k = 10, opts: RecommendOptions = {}): Promise<Recommendation[]> {
    this.checkK(k);
    if (users.length === 0) throw new Error('no histories to recommend for');
    users.forEach((u, n) => checkHistory(u, n, this.index, this.readsTime));
    const L = this.meta.model.maxLen;
    const len = (u: UserHistory) => (opts.excludeSeen ? u.items.length : Math.min(u.items.length, L));
    const order = users.map((_, i) => i).sort((a, b) => len(users[a]) - len(users[b]) || a - b);
    const out: Recommendation[] = new Array(users.length);
    const K = this.meta.topK;
    for (let g = 0; g < order.length; g += GROUP) {
      const idx = order.slice(g, g + GROUP);
      const r = await this.run(
        this.encode(
          idx.map((i) => users[i]),
          opts,
          true,
        ),
        opts,
      );
      const ids = r[SERVE_OUTPUTS.items].data as BigInt64Array,
        sc = r[SERVE_OUTPUTS.scores].data as Float32Array;
      idx.forEach((i, u) => {
        const top = Array.from(ids.subarray(u * K, u * K + k), Number);
        out[i] = { ids: top, items: top.map((x) => this.tokens[x]), scores: Array.from(sc.subarray(u * K, u * K + k)) };
      });
    }
    return out;
  }

  checkK(k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > this.meta.topK)
      throw new Error(
        `k = ${k}: must be an integer in 1..${this.meta.topK} (the model's top-K size; export with --top-k for more)`,
      );
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The request errors a serving caller can make, each naming the user and the offending entry. */
export function checkHistory(
  u: UserHistory,
  n: number | string,
  index: ReadonlyMap<string, number>,
  readsTime: boolean,
): void {
  const who = typeof n === 'number' ? `history ${n + 1}` : `user ${n}`;
  if (u.items.length === 0) throw new Error(`${who}: empty history (give at least one item)`);
  u.items.forEach((t) => {
    const id = index.get(t);
    if (id === undefined || id === 0)
      throw new Error(`${who}: unknown item "${t}" (not in the model's ${index.size - 1}-item catalog)`);
  });
  if (!readsTime) return;
  if (u.items.length !== u.times.length)
    throw new Error(`${who}: ${u.items.length} items but ${u.times.length} timestamps`);
  u.times.forEach((t, j) => {
    if (!Number.isSafeInteger(t) || t < 0)
      throw new Error(`${who}: timestamp ${j + 1} (${t}) is not a non-negative integer of Unix seconds`);
    if (j > 0 && t < u.times[j - 1])
      throw new Error(
        `${who}: timestamps out of order at item ${j + 1} (${t} < ${u.times[j - 1]}); give the history oldest first`,
      );
  });
}
