// The blocks of HM4SR that the production model (hm4sr.ts) and the reference model (hm4sr-reference.ts)
// share, each under the equation of the paper (HM4SR, WWW 2025, section 4) it computes. A block declares
// its parameters, so both forms hold the same parameters under the same names and one set of values runs
// either graph.
import type { Graph, Value } from '../graph.js';
import { dropout } from '../layers/dropout.js';
import { linear, linearInits } from '../layers/linear.js';
import { layerNorm } from '../layers/norm.js';
import { MASKED, type TransformerEncoderConfig } from '../layers/transformer.js';
import * as op from '../ops/index.js';
import { type Hm4srConfig, type Modality, usesCalendar, usesInterval, usesTimes } from './hm4sr-config.js';

/** Names of the frozen tensors the data supplies; train/prepare.ts binds its tables to exactly these. */
export const DATA_PARAMS = { txt: 'features.text', img: 'features.image', categories: 'data.item_categories' } as const;

const featureDim = (c: Hm4srConfig, m: Modality) => (m === 'txt' ? c.textDim : c.imageDim);
const normal002 = { kind: 'normal', std: 0.02 } as const;

export const concatLast = (xs: Value[]) => (xs.length === 1 ? xs[0] : op.concat(xs, -1));

/** x_id for every item: the ID embedding table [N+1, d]. */
export function idTable(g: Graph, c: Hm4srConfig): Value {
  return g.param('item.id.embedding', [c.numItems + 1, c.hidden], normal002);
}

/** Eqs. 4-5: x_m = W_m f_m + b_m for every item, [N+1, d], from the frozen feature table f_m. */
export function projectedFeatures(g: Graph, c: Hm4srConfig, m: 'txt' | 'img'): Value {
  const what = `the ${m === 'txt' ? 'text' : 'image'} feature table`;
  const dims = [c.numItems + 1, featureDim(c, m)];
  const f = g.param(DATA_PARAMS[m], dims, { kind: 'external', what }, { trainable: false });
  return linear(g, `item.${m}.proj`, f, featureDim(c, m), c.hidden);
}

/**
 * Eqs. 4-5 for a modality without features (c.zeroFeatures): f_m = 0, so x_m = b_m for every item, [d]. The
 * weight W_m multiplies zeros only and is not a parameter.
 */
export function featurelessBias(g: Graph, c: Hm4srConfig, m: Modality): Value {
  return g.param(`item.${m}.proj.bias`, [c.hidden], { kind: 'zeros' });
}

/** Eq. 6's p: the learnable position embedding read at `positions` (int64, any shape) -> [..., d]. */
export function positionEmbedding(g: Graph, c: Hm4srConfig, positions: Value): Value {
  return op.gather(g.param('position.embedding', [c.maxLen, c.hidden], normal002), positions);
}

/**
 * Eqs. 7-10, the Interactive MoE, on e = [e_id; e_txt; e_img] ([..., M*d]): k1 experts Linear(Md -> Md),
 * expert i's m-th d-slice serving modality m (W^inter_{i,m}), gated per modality by softmax(Linear(e_m))
 * (eq. 9), scaled by alpha_m (eq. 8) and added back (eq. 10). The experts run as one fused matmul.
 */
export function interactiveMoE(g: Graph, c: Hm4srConfig, e: Value): Value {
  const d = c.hidden,
    M = c.modalities.length,
    md = M * d;
  return g.withScope('imoe', () => {
    const experts = op.reshape(linear(g, 'experts', e, md, c.k1 * md, { init: 'torch' }), [0, 0, c.k1, M, d]);
    const slices = M === 1 ? [e] : op.split(e, Array(M).fill(d), -1);
    const gates = c.modalities.map((m, i) => {
      const logits = linear(g, `gate.${m}`, slices[i], d, c.k1, { init: 'torch' });
      return op.unsqueeze(op.softmax(logits, -1), [3]);
    });
    const gate = op.unsqueeze(M === 1 ? gates[0] : op.concat(gates, 3), [4]);
    const mixed = op.reduceSum(op.mul(experts, gate), [2]);
    const init = Float32Array.from(c.modalities, (m) => (m === 'id' ? 0 : 1));
    const alpha = op.unsqueeze(g.param('alpha', [M], { kind: 'data', data: init }), [1]);
    return op.add(e, op.reshape(op.mul(mixed, alpha), [0, 0, md]));
  });
}

/**
 * The time embeddings the Temporal MoE's gate reads, [..., T]: eq. 12's interval bucket embedding r1 (the
 * buckets of eqs. 11-12 are computed on the host) beside eq. 13's absolute-time embedding r2, or one of the
 * variants of section 5.4 (c.timeEmbedding).
 */
export function timeEmbedding(g: Graph, c: Hm4srConfig, b: Record<string, Value>): Value {
  const d = c.hidden;
  return g.withScope('tmoe', () => {
    const parts: Value[] = [];
    const table = (name: string, rows: number) => g.param(name, [rows, d], normal002);
    if (usesInterval(c)) parts.push(op.gather(table('interval.embedding', c.intervalBuckets), b.buckets));
    if (usesCalendar(c)) parts.push(op.gather(table('calendar.embedding', c.calendarSize), b.calendar));
    if (usesTimes(c)) {
      // r2_j = cos((w_j t + b_j) / 10000^(j/d)), as the authors' code computes eq. 13 (the paper writes
      // cos(l_j t / freq^(d/4) + z_j): its phase z_j outside the frequency division). The 'interval-cos'
      // variant feeds the interval in days through the same form.
      const w = g.param('time.weight', [1, d], normal002);
      const bias = g.param('time.bias', [d], { kind: 'zeros' });
      const inv = Float32Array.from({ length: d }, (_, j) => 1 / 10000 ** (j / d));
      const lin = op.add(op.matmul(op.unsqueeze(b.times, [2]), w), bias);
      parts.push(op.cos(op.mul(lin, g.constant(inv, 'float32', [d]))));
    }
    return parts.length === 1 ? parts[0] : op.concat(parts, -1);
  });
}

/**
 * Eqs. 14-16, the Temporal MoE: gate g' = softmax(Linear([r1; r2])) over k2 expert vectors W_i in R^{Md};
 * the output sum_i g'_i (W_i (.) e) REPLACES e (no residual).
 */
export function temporalMoE(g: Graph, c: Hm4srConfig, e: Value, tvec: Value): Value {
  const md = c.modalities.length * c.hidden;
  return g.withScope('tmoe', () => {
    const gate = op.softmax(linear(g, 'gate', tvec, tvec.dim(-1) as number, c.k2), -1);
    const trainable = !c.frozenTemporalExperts;
    const experts = g.param('experts', [c.k2, md], { kind: 'normal', std: 0.1 }, { trainable });
    return op.mul(e, op.matmul(gate, experts));
  });
}

/** Eq. 17: S'_m = Dropout(LayerNorm(S_m)), the input of modality m's Transformer. */
export function encoderInput(g: Graph, c: Hm4srConfig, m: Modality, s: Value, training: boolean): Value {
  return dropout(g, layerNorm(g, `emb_norm.${m}`, s, c.hidden), { ratio: c.embDropout, training });
}

/**
 * Eq. 18's Transformer_m (post-LN, GELU, RecBole's) in its plain form: Q, K and V three Linears, all heads in
 * one tensor. The production model turns on the attention's speed-ups (fuseQKV, splitHeads).
 */
export function encoderConfig(c: Hm4srConfig, training: boolean): TransformerEncoderConfig {
  const { hidden, heads, inner, layers, hiddenDropout, attnDropout } = c;
  return { hidden, heads, inner, layers, hiddenDropout, attnDropout, training, fuseQKV: false, splitHeads: false };
}

/** Eq. 24: the time placeholder W_{P,m} [r1; r2] + b_{P,m}, [..., d]. */
export function placeholder(g: Graph, c: Hm4srConfig, m: Modality, tvec: Value): Value {
  return linear(g, `pcl.placeholder.${m}`, tvec, tvec.dim(-1) as number, c.hidden, { init: 'torch' });
}

/** Eq. 21's W_CP [M*d, |C|] and b_CP [|C|] (under the caller's scope `cp`, as `cp.head`). */
export function categoryHead(g: Graph, c: Hm4srConfig): { weight: Value; bias: Value } {
  const inits = linearInits(c.modalities.length * c.hidden, 'torch');
  return g.withScope('cp.head', () => ({
    weight: g.param('weight', [c.modalities.length * c.hidden, c.numCategories], inits.weight),
    bias: g.param('bias', [c.numCategories], inits.bias),
  }));
}

/** Eq. 22's y^CP: the multi-hot category labels of `items` (any shape) -> [..., |C|]. */
export function categoryLabels(g: Graph, c: Hm4srConfig, items: Value): Value {
  const init = { kind: 'external', what: 'the multi-hot category labels' } as const;
  const dims = [c.numItems + 1, c.numCategories];
  const table = g.param(DATA_PARAMS.categories, dims, init, { trainable: false, absolute: true });
  return op.gather(table, items);
}

/** Eq. 22 per class, from the logits z: BCE-with-logits = softplus(z) - z y. */
export function binaryCrossEntropy(z: Value, labels: Value): Value {
  return op.sub(op.softplus(z), op.mul(z, labels));
}

function l2normalize(x: Value): Value {
  return op.div(x, op.sqrt(op.add(op.reduceSum(op.mul(x, x), [-1], true), 1e-12)));
}

/** sim(q_i, k_j) / tau of eqs. 23 and 25 for every pair of the batch, [B, B]: cosine similarity. */
export function contrastiveLogits(q: Value, k: Value, tau: number): Value {
  return op.mul(op.matmul(l2normalize(q), op.transposeLast(l2normalize(k))), 1 / tau);
}

/**
 * The pairs of a batch (i, j) that are false negatives: another sample (j != i) with the same target. `idx`
 * is 0..B-1, `eye` [B, B] the diagonal (the positive pairs), `mask` [B, B] the false negatives.
 */
export interface SameTarget {
  idx: Value;
  eye: Value;
  mask: Value;
}

export function sameTarget(target: Value): SameTarget {
  const idx = op.range(0, op.dimOf(target, 0), 1);
  const eye = op.equal(op.unsqueeze(idx, [1]), op.unsqueeze(idx, [0]));
  const same = op.equal(op.unsqueeze(target, [1]), op.unsqueeze(target, [0]));
  return { idx, eye, mask: op.and(same, op.not(eye)) };
}

/** The logit 'exclude' gives a false negative: exp(MASKED / tau) is 0 in float32 for tau < 96. */
export const excludedLogit = (tau: number) => MASKED / tau;

/**
 * The evaluation's ranking rule: the 1-based rank of each row's target (an item id, 1..N) among the scores
 * of items 1..N, [B, N] (the padding item is not a column, so it never counts). Pessimistic ties: every item
 * scoring >= the target counts, the target included, so ties never help and a constant model ranks last.
 * Counted in float32 (exact below 2^24 items) at half the memory traffic of an int64 count.
 */
export function rankAmongItems(s: Value, target: Value): Value {
  const t = op.gatherElements(s, op.unsqueeze(op.sub(target, op.scalar(s.graph, 1, 'int64')), [1]), 1);
  return op.cast(op.reduceSum(op.cast(op.greaterOrEqual(s, t), 'float32'), [1]), 'int64');
}

/** The same rule for scores over the whole table [B, N + 1], column 0 being the padding item. */
export function fullCatalogRank(s: Value, target: Value, numItems: number): Value {
  return rankAmongItems(op.slice(s, [1], [numItems + 1], [1]), target);
}
