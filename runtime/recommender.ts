import { existsSync, readFileSync } from 'node:fs';
import { type EncodeOptions, type History, encodeHistories } from './encode.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { manifestPath, type Manifest } from '../graph/manifest.js';
import { onnx } from '../graph/onnx-proto.js';
import { type SessionOptions, createSession, ort, runChecked, toOrtFeeds } from './session.js';

/** What a consumer of model.onnx needs to encode a history: in its metadata_props and manifest. */
export interface ServingMeta {
  model: Hm4srConfig;
  encode: { mu: number; maxBucket: number; absTime: 'days' | 'seconds'; timeOrigin: number };
  topK: number;
}

export interface UserHistory { items: string[]; times: number[] }
export interface Recommendation { items: string[]; scores: number[] }

/** Reads the serving settings and item tokens from the manifest beside the model, else from the model's metadata. */
function readMeta(path: string): { meta: ServingMeta; tokens: string[] } {
  const mp = manifestPath(path);
  if (existsSync(mp)) {
    const m = JSON.parse(readFileSync(mp, 'utf8')) as Manifest;
    const serving = m.meta.serving as ServingMeta | undefined, tokens = m.meta.itemTokens as string[] | undefined;
    if (serving && tokens) return { meta: serving, tokens };
  }
  const model = onnx.ModelProto.decode(readFileSync(path));
  const prop = (k: string) => model.metadataProps.find((p) => p.key === k)?.value;
  const serving = prop('hm4sr.serving'), items = prop('hm4sr.items');
  if (!serving || items === undefined || items === null) throw new Error(`${path}: not an hm4sr inference model (no hm4sr.serving metadata)`);
  return { meta: JSON.parse(serving) as ServingMeta, tokens: items.split('\n') };
}

/** Top-K recommendation from an exported model.onnx, on the CPU or CUDA execution provider. */
export class Recommender {
  private readonly index: Map<string, number>;
  private constructor(private readonly session: ort.InferenceSession, readonly meta: ServingMeta, readonly tokens: string[]) {
    this.index = new Map(tokens.map((t, i) => [t, i]));
  }

  static async load(path: string, opts: SessionOptions = {}): Promise<Recommender> {
    if (!existsSync(path)) throw new Error(`no model at ${path} (train one with 'hm4sr train' or export one with 'hm4sr export')`);
    const { meta, tokens } = readMeta(path);
    if (tokens.length !== meta.model.numItems + 1) throw new Error(`${path}: ${tokens.length - 1} item tokens for a ${meta.model.numItems}-item model`);
    return new Recommender(await createSession(path, opts), meta, tokens);
  }

  /** Histories are oldest first, times in Unix seconds; the last maxLen items are used. */
  async recommend(users: UserHistory[], k = 10): Promise<Recommendation[]> {
    if (k < 1 || k > this.meta.topK) throw new Error(`k must be in 1..${this.meta.topK} (the model's top-K size)`);
    const L = this.meta.model.maxLen;
    const hs: History[] = users.map((u, n) => {
      if (u.items.length === 0) throw new Error(`user ${n}: empty history`);
      if (u.items.length !== u.times.length) throw new Error(`user ${n}: ${u.items.length} items but ${u.times.length} timestamps`);
      const items = u.items.slice(-L).map((t) => {
        const id = this.index.get(t);
        if (id === undefined || id === 0) throw new Error(`user ${n}: unknown item "${t}"`);
        return id;
      });
      const times = u.times.slice(-L);
      for (const t of times) if (!Number.isFinite(t) || t < 0) throw new Error(`user ${n}: bad timestamp ${t}`);
      return { items, times };
    });
    const enc: EncodeOptions = { layout: 'packed', ...this.meta.encode, pclBeta: 0, withTarget: false };
    const b = encodeHistories(hs, this.meta.model, enc);
    const out = await runChecked(this.session, toOrtFeeds(b.feeds), ['top_items', 'top_scores']);
    const K = this.meta.topK;
    const ids = out.top_items.data as BigInt64Array, sc = out.top_scores.data as Float32Array;
    return hs.map((_, u) => ({
      items: Array.from(ids.subarray(u * K, u * K + k), (i) => this.tokens[Number(i)]),
      scores: Array.from(sc.subarray(u * K, u * K + k)),
    }));
  }
}
