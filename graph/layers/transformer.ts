import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { DType } from '../types.js';
import { type Activation, activation } from './activations.js';
import { type Queries, selfAttention } from './attention.js';
import { dropout } from './dropout.js';
import { type LinearInit, linear } from './linear.js';
import { layerNorm } from './norm.js';

/** The additive value of masked attention scores (RecBole, BERT). */
export const MASKED = -10000;

export interface TransformerLayerConfig {
  hidden: number;
  heads: number;
  /** Inner (feed-forward) size. */
  inner: number;
  /** Dropout after the attention output dense and after the second FFN dense (default 0). */
  hiddenDropout?: number;
  /** Dropout on the attention probabilities (default 0). */
  attnDropout?: number;
  training?: boolean;
  /** LayerNorm epsilon (default 1e-12, RecBole/BERT). */
  eps?: number;
  /** Default 'gelu' (erf form). */
  activation?: Activation;
  /** 'post' (RecBole, BERT; default): LN(x + sublayer(x)). 'pre' (ViT): x + sublayer(LN(x)). */
  norm?: 'post' | 'pre';
  /** Init of every Linear in the layer (default 'normal0.02'). */
  init?: LinearInit;
  /** See AttentionConfig.fuseQKV (default true). */
  fuseQKV?: boolean;
  /** See AttentionConfig.splitHeads (default false). */
  splitHeads?: boolean;
}

export interface TransformerEncoderConfig extends TransformerLayerConfig {
  layers: number;
}

/**
 * One Transformer encoder layer under `<scope>.<name>`, parameters:
 *   attn.{q,k,v,out}.{weight,bias}, attn_norm.{weight,bias}, ffn.dense1.{weight,bias}, ffn.dense2.{weight,bias},
 *   ffn_norm.{weight,bias}.
 * post-LN: h = LN(x + Dropout(Dense(Attn(x)))); y = LN(h + Dropout(Dense2(act(Dense1(h))))).
 * pre-LN:  h = x + Dropout(Dense(Attn(LN(x)))); y = h + Dropout(Dense2(act(Dense1(LN(h))))).
 * x: [B, L, hidden]; mask: additive, broadcastable to [B, heads, L, L], or null.
 */
export function transformerLayer(
  g: Graph,
  name: string,
  x: Value,
  mask: Value | null,
  cfg: TransformerLayerConfig,
  pick?: (v: Value) => Value,
  queries?: Queries,
): Value {
  const { hidden, heads, inner } = cfg;
  // With `pick`, only the picked query positions leave the layer: everything after attention runs on them alone.
  const picked = (v: Value) => (pick ? pick(v) : v);
  const training = cfg.training ?? false;
  const eps = cfg.eps ?? 1e-12;
  const pre = cfg.norm === 'pre';
  const hdrop = (v: Value) => dropout(g, v, { ratio: cfg.hiddenDropout ?? 0, training });
  return g.withScope(name, () => {
    const attn = (v: Value) =>
      selfAttention(g, 'attn', v, mask, {
        hidden,
        heads,
        attnDropout: cfg.attnDropout,
        training,
        init: cfg.init,
        pick,
        queries,
        fuseQKV: cfg.fuseQKV,
        splitHeads: cfg.splitHeads,
      }).out;
    const ffn = (v: Value) =>
      g.withScope('ffn', () => {
        const a = activation(cfg.activation ?? 'gelu', linear(g, 'dense1', v, hidden, inner, { init: cfg.init }));
        return linear(g, 'dense2', a, inner, hidden, { init: cfg.init });
      });
    if (pre) {
      const h = op.add(picked(x), hdrop(attn(layerNorm(g, 'attn_norm', x, hidden, { eps }))));
      return op.add(h, hdrop(ffn(layerNorm(g, 'ffn_norm', h, hidden, { eps }))));
    }
    const h = layerNorm(g, 'attn_norm', op.add(picked(x), hdrop(attn(x))), hidden, { eps });
    return layerNorm(g, 'ffn_norm', op.add(h, hdrop(ffn(h))), hidden, { eps });
  });
}

/** The encoder fields that HuggingFace-style configs (BERT, ViT) share. */
export interface HfEncoderFields {
  layers: number;
  hidden: number;
  heads: number;
  /** Feed-forward inner size. */
  intermediate: number;
  /** LayerNorm epsilon (default 1e-12). */
  eps?: number;
  /** Default 'gelu' (erf). */
  activation?: Activation;
  hiddenDropout?: number;
  attnDropout?: number;
  training?: boolean;
}

export function hfEncoderConfig(cfg: HfEncoderFields, norm: 'post' | 'pre'): TransformerEncoderConfig {
  return {
    layers: cfg.layers,
    hidden: cfg.hidden,
    heads: cfg.heads,
    inner: cfg.intermediate,
    eps: cfg.eps ?? 1e-12,
    activation: cfg.activation ?? 'gelu',
    hiddenDropout: cfg.hiddenDropout,
    attnDropout: cfg.attnDropout,
    training: cfg.training,
    norm,
  };
}

/** A stack of `cfg.layers` layers named `<scope>.<name>.layer0`, `.layer1`, ...; returns every layer's output. */
function transformerEncoderAll(
  g: Graph,
  name: string,
  x: Value,
  mask: Value | null,
  cfg: TransformerEncoderConfig,
): Value[] {
  return g.withScope(name, () => {
    const outs: Value[] = [];
    let h = x;
    for (let i = 0; i < cfg.layers; i++) {
      h = transformerLayer(g, `layer${i}`, h, mask, cfg);
      outs.push(h);
    }
    return outs;
  });
}

/**
 * pick(transformerEncoder(...)) computed without the unread rows: `pick` selects query positions
 * ([B, L, hidden] -> [N, hidden], e.g. each history's last token). The layers below the last run in full
 * (their outputs are the last layer's keys and values); the last layer's output dense, residual, norms
 * and FFN run on the N picked rows only; with `queries` (the same positions, grouped by row) its attention
 * runs from those queries alone too. Dropout masks are drawn for the smaller tensors, so with dropout the
 * random stream differs from the unpicked form; without it the result is the same.
 */
export function transformerEncoderPicked(
  g: Graph,
  name: string,
  x: Value,
  mask: Value | null,
  cfg: TransformerEncoderConfig,
  pick: (v: Value) => Value,
  queries?: Queries,
): Value {
  if (cfg.layers === 0) return pick(x);
  return g.withScope(name, () => {
    let h = x;
    for (let i = 0; i < cfg.layers - 1; i++) h = transformerLayer(g, `layer${i}`, h, mask, cfg);
    return transformerLayer(g, `layer${cfg.layers - 1}`, h, mask, cfg, pick, queries);
  });
}

/** A stack of `cfg.layers` layers (see transformerEncoderAll); returns the last layer's output. */
export function transformerEncoder(
  g: Graph,
  name: string,
  x: Value,
  mask: Value | null,
  cfg: TransformerEncoderConfig,
): Value {
  const outs = transformerEncoderAll(g, name, x, mask, cfg);
  return outs.length ? outs[outs.length - 1] : x;
}

function maskFrom(allowed: Value, dtype: DType): Value {
  const g = allowed.graph;
  return op.where(allowed, op.scalar(g, 0, dtype), op.scalar(g, MASKED, dtype));
}

/**
 * Causal + key-padding additive mask from item ids [B, L] (int64/int32, `padId` = padding, default 0):
 * mask[b, 0, i, j] = 0 where j <= i and ids[b, j] != padId, else -10000. Shape [B, 1, L, L]; B, L symbolic.
 */
export function causalPaddingMask(ids: Value, opts: { padId?: number; dtype?: DType } = {}): Value {
  const g = ids.graph;
  if (ids.rank !== 2) g.fail('causalPaddingMask', `ids ${ids} must be [batch, seq]`);
  const len = ids.dim(1);
  // [L, L] of true, lower triangle kept (key j <= query i).
  const ll = op.gather(op.shapeOf(ids), op.int64s(g, [1, 1]));
  const ones = op.constantOfShape(ll, 'bool', 1, [len, len]);
  const causal = op.trilu(ones, false);
  const keyOk = op.unsqueeze(op.not(op.equal(ids, op.scalar(g, opts.padId ?? 0, ids.dtype))), [1, 2]);
  return maskFrom(op.and(causal, keyOk), opts.dtype ?? 'float32');
}

/**
 * Bidirectional key-padding additive mask from an HF-style attention_mask [B, T] (1 = token, 0 = padding):
 * 0 where attended, -10000 where masked, shape [B, 1, 1, T].
 */
export function keyPaddingMask(attentionMask: Value, opts: { dtype?: DType } = {}): Value {
  const g = attentionMask.graph;
  if (attentionMask.rank !== 2) g.fail('keyPaddingMask', `attention_mask ${attentionMask} must be [batch, seq]`);
  const keep = op.not(op.equal(attentionMask, op.scalar(g, 0, attentionMask.dtype)));
  return maskFrom(op.unsqueeze(keep, [1, 2]), opts.dtype ?? 'float32');
}
