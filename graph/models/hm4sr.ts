import { Graph, type Value } from '../graph.js';
import type { Queries } from '../layers/attention.js';
import { MASKED, transformerEncoderPicked } from '../layers/transformer.js';
import type { LossModel } from '../model.js';
import { declareBatch } from '../model.js';
import * as op from '../ops/index.js';
import { type Hm4srConfig, type Modality, chunked, usesCP, usesPCL, validateConfig } from './hm4sr-config.js';
import { chunkedRank } from './catalog-chunks.js';
import { batchSpec } from './hm4sr-batch.js';
import {
  type SameTarget,
  binaryCrossEntropy,
  categoryHead,
  categoryLabels,
  concatLast,
  contrastiveLogits,
  encoderConfig,
  encoderInput,
  excludedLogit,
  featurelessBias,
  idTable,
  interactiveMoE,
  placeholder,
  positionEmbedding,
  projectedFeatures,
  rankAmongItems,
  sameTarget,
  temporalMoE,
  timeEmbedding,
} from './hm4sr-blocks.js';

export { DATA_PARAMS, fullCatalogRank, rankAmongItems } from './hm4sr-blocks.js';

/** One modality's raw item representations: a [N+1, d] table, or a [d] bias every item shares (no features). */
type CatalogPart = { m: Modality; table: Value; bias?: undefined } | { m: Modality; bias: Value; table?: undefined };

/** The modalities whose items differ (a table: IDs, or a feature table), in catalog order. */
const varyingModalities = (c: Hm4srConfig) => c.modalities.filter((m) => m === 'id' || !c.zeroFeatures.includes(m));

/** Columns of the catalog [N+1, V*d]: the varying modalities' item tables side by side. */
export const catalogWidth = (c: Hm4srConfig) => varyingModalities(c).length * c.hidden;

/**
 * Eqs. 4-5 per modality. With `given` (the catalog of the varying modalities, [N+1, V*d], computed elsewhere),
 * their tables are its slices. A modality without features is its bias alone: the [N+1, d] broadcast of one
 * vector is never built (the featureless-modality shortcut).
 */
function catalogParts(g: Graph, c: Hm4srConfig, given?: Value): CatalogPart[] {
  const d = c.hidden;
  const varying = varyingModalities(c);
  const slices = given ? (varying.length === 1 ? [given] : op.split(given, Array(varying.length).fill(d), -1)) : [];
  return c.modalities.map((m): CatalogPart => {
    if (given && varying.includes(m)) return { m, table: slices[varying.indexOf(m)] };
    if (m === 'id') return { m, table: idTable(g, c) };
    if (c.zeroFeatures.includes(m)) return { m, bias: featurelessBias(g, c, m) };
    return { m, table: projectedFeatures(g, c, m as 'txt' | 'img') };
  });
}

/**
 * The attention rule of packed rows as an additive mask: query (segQ, colQ) attends key j of its row where
 * segK[j] is its segment (never padding, 0) and j <= colQ. segQ, colQ: [N, P] int64; segK: [N, W]. Gives
 * [N, 1, P, W].
 */
function packedMask(segQ: Value, colQ: Value, segK: Value): Value {
  const g = segK.graph;
  const sameSeg = op.equal(op.unsqueeze(segQ, [2]), op.unsqueeze(segK, [1]));
  const col = op.range(0, op.dimOf(segK, 1), 1);
  const causal = op.greaterOrEqual(op.unsqueeze(colQ, [2]), op.unsqueeze(col, [0, 1]));
  const keyReal = op.unsqueeze(op.not(op.equal(segK, 0)), [1]);
  const allowed = op.and(op.and(sameSeg, causal), keyReal);
  return op.unsqueeze(op.where(allowed, op.scalar(g, 0, 'float32'), op.scalar(g, MASKED, 'float32')), [1]);
}

/** Additive attention mask [R, 1, W, W]: causal within a segment, never across segments or onto padding. */
function segmentMask(segments: Value): Value {
  const col = op.unsqueeze(op.range(0, op.dimOf(segments, 1), 1), [0]);
  return packedMask(segments, col, segments);
}

/**
 * The last layer's read queries (batch inputs pick_more, pick_col, pick_slot) with their additive mask
 * [Q, 1, P, W]: the rule of segmentMask for each query against every key of its packed row.
 */
function lastQueries(b: Record<string, Value>): Queries {
  const rows = op.concat([op.range(0, op.dimOf(b.segments, 0), 1), b.pick_more], 0);
  const segK = op.gather(b.segments, rows);
  const mask = packedMask(op.gatherElements(segK, b.pick_col, 1), b.pick_col, segK);
  return { rows, more: b.pick_more, cols: b.pick_col, slot: b.pick_slot, mask };
}

export interface Encoded {
  /** Final user representation per modality, [B, d]. */
  H: Map<Modality, Value>;
  /** Representations of the PCL-augmented sequences (txt/img), [B, d]. */
  Hpcl: Map<Modality, Value>;
  /** The catalog tables of the modalities with a table side by side, [N+1, V*d]. */
  catalog: Value;
  /** Modalities whose item representation is one shared bias vector, with that vector [d]. */
  constant: { m: Modality; bias: Value }[];
  /** The modalities of `catalog`, in order. */
  varying: Modality[];
}

/** The encoder up to the user representations; shared by the training, evaluation and serving graphs. */
export interface EncodeOptions {
  /** Build no encoder for a bias-only modality (its H_m only adds a row constant to the scores). */
  skipConstant?: boolean;
  /** The catalog of the varying modalities [N+1, V*d] as a value (an input) rather than computed here. */
  catalog?: Value;
}

/**
 * Eqs. 4-18 over packed rows (see hm4sr-reference.ts for the same read top to bottom on padded rows). The
 * speed-ups: the last encoder layer runs only at the positions that are read (batch inputs pick_*; or `last`
 * alone), attention goes head by head from one fused Q/K/V product, and a modality without features is never
 * broadcast over the catalog or the tokens.
 */
export function encode(
  g: Graph,
  c: Hm4srConfig,
  b: Record<string, Value>,
  training: boolean,
  opts: EncodeOptions = {},
): Encoded {
  validateConfig(c);
  const d = c.hidden,
    M = c.modalities.length;
  const pos = positionEmbedding(g, c, b.positions);
  const parts = catalogParts(g, c, opts.catalog);
  const tables = parts.filter((p) => p.table);
  const varying = tables.map((p) => p.m);
  const constant = parts.flatMap((p) => (p.bias ? [{ m: p.m, bias: p.bias }] : []));
  const cat = opts.catalog ?? concatLast(tables.map((p) => p.table!));
  const tokens = op.gather(cat, b.items);
  const tok = tables.length === 1 ? [tokens] : op.split(tokens, Array(tables.length).fill(d), -1);
  // Eq. 6, x_m + p per modality: a bias-only modality adds its bias to the positions without a per-token copy.
  let e = concatLast(parts.map((p) => op.add(p.table ? tok[varying.indexOf(p.m)] : p.bias!, pos)));
  if (c.imoe) e = interactiveMoE(g, c, e);
  let tvec: Value | null = null;
  if (c.tmoe) {
    tvec = timeEmbedding(g, c, b);
    e = temporalMoE(g, c, e, tvec);
  }

  const mask = segmentMask(b.segments);
  const queries = b.pick_more ? lastQueries(b) : undefined;
  const streams = M === 1 ? [e] : op.split(e, Array(M).fill(d), -1);
  const flatLast = (h: Value) => op.gather(op.reshape(h, [-1, d]), b.last);
  const cfg = { ...encoderConfig(c, training), fuseQKV: true, splitHeads: true };
  // Only each history's last position is read, so the last layer's tail runs on those B rows alone.
  const run = (m: Modality, x: Value) =>
    transformerEncoderPicked(g, `encoder.${m}`, encoderInput(g, c, m, x, training), mask, cfg, flatLast, queries);
  const H = new Map<Modality, Value>(),
    Hpcl = new Map<Modality, Value>();
  c.modalities.forEach((m, i) => {
    // A bias-only modality's H_m only adds a row constant to the scores: ranking without it needs no encoder.
    if (!(opts.skipConstant && constant.some((k) => k.m === m))) H.set(m, run(m, streams[i]));
  });
  if (training && usesPCL(c) && tvec) {
    const replace = op.cast(op.unsqueeze(b.pcl_mask, [2]), 'bool');
    c.modalities.forEach((m, i) => {
      if (m === 'id') return;
      Hpcl.set(m, run(m, op.where(replace, placeholder(g, c, m, tvec!), streams[i])));
    });
  }
  return { H, Hpcl, catalog: cat, constant, varying };
}

/**
 * Scores against the whole catalog [B, N+1] (eq. 19): sum over modalities of H_m . x_m(v), one matmul over the
 * modalities with a table; a bias-only modality adds the same H_m . b_m to every item of a row, which
 * `withConstant: false` leaves out (it changes no ranking and no softmax).
 */
export function scores(_c: Hm4srConfig, enc: Encoded, opts: { withConstant?: boolean } = {}): Value {
  const s = op.matmul(userVector(enc), op.transposeLast(enc.catalog));
  if (opts.withConstant === false || enc.constant.length === 0) return s;
  return op.add(s, rowConstant(enc)!);
}

/** The bias-only modalities' score term, the same for every item of a row: [B, 1], or null without one. */
export function rowConstant(enc: Encoded): Value | null {
  if (enc.constant.length === 0) return null;
  const rowConst = enc.constant.map(({ m, bias }) => op.reduceSum(op.mul(enc.H.get(m)!, bias), [-1], true));
  return rowConst.reduce((a, b) => op.add(a, b));
}

/** [H_m for the modalities with a table], [B, V*d]: dotted with a catalog row it gives their summed scores. */
export function userVector(enc: Encoded): Value {
  return concatLast(enc.varying.map((m) => enc.H.get(m)!));
}

/**
 * InfoNCE across the batch (eqs. 23, 25) under c.falseNegatives. 'exclude' adds a [B, B] bias shared by every
 * InfoNCE of the step with this tau instead of a Where per call (a logit under the bias keeps a softmax weight
 * of exactly 0, as when overwritten, for tau < 96); each row's own log-probability is read with GatherElements
 * instead of a Where over [B, B]: the same loss without three of its [B, B] passes and their gradients.
 */
function infoNCE(c: Hm4srConfig, q: Value, k: Value, neg: FalseNegatives, tau: number): Value {
  const logits = contrastiveLogits(q, k, tau);
  const rule = c.falseNegatives;
  const zeroed = () => op.where(neg.same!.mask, op.scalar(q.graph, 0, 'float32'), logits);
  const masked = rule === 'exclude' ? op.add(logits, neg.bias(tau)) : rule === 'zero' ? zeroed() : logits;
  const own = op.gatherElements(op.logSoftmax(masked, 1), op.unsqueeze(neg.idx, [1]), 1);
  return op.neg(op.reduceMean(own));
}

/** One InfoNCE with its own false negatives (the model shares them between its terms): for tests. */
export function contrastiveLoss(c: Hm4srConfig, q: Value, k: Value, target: Value, tau: number): Value {
  return infoNCE(c, q, k, falseNegatives(c, target), tau);
}

/** A step's false negatives, built once for all its InfoNCE terms ('none' reads the row indices only). */
interface FalseNegatives {
  idx: Value;
  same: SameTarget | null;
  bias: (tau: number) => Value;
}

function falseNegatives(c: Hm4srConfig, target: Value): FalseNegatives {
  const g = target.graph;
  if (c.falseNegatives === 'none') {
    const idx = op.range(0, op.dimOf(target, 0), 1);
    return { idx, same: null, bias: () => g.fail('InfoNCE', 'no false-negative bias under falseNegatives "none"') };
  }
  const same = sameTarget(target);
  const biases = new Map<number, Value>();
  const bias = (tau: number) => {
    let b = biases.get(tau);
    if (!b) {
      b = op.where(same.mask, op.scalar(g, excludedLogit(tau), 'float32'), op.scalar(g, 0, 'float32'));
      biases.set(tau, b);
    }
    return b;
  };
  return { idx: same.idx, same, bias };
}

/**
 * Eqs. 21-22, mean multi-label BCE-with-logits over (non-padding tokens x classes). The logits of a token depend
 * on its item only, so they are computed once per distinct item of the batch (b.cp_items) and each item's BCE
 * weighted by its token count (b.cp_counts).
 */
function categoryLoss(g: Graph, c: Hm4srConfig, enc: Encoded, b: Record<string, Value>): Value {
  const d = c.hidden;
  const labels = categoryLabels(g, c, b.cp_items);
  const x = op.gather(enc.catalog, b.cp_items);
  const { weight: w, bias } = categoryHead(g, c);
  // Linear(Md -> |C|) on [x_id; x_txt; x_img]: a bias-only modality's rows of the weight give a constant that
  // joins the bias, so the per-item product covers the modalities with a table only.
  const rows = (m: Modality) => {
    const i = c.modalities.indexOf(m);
    return op.slice(w, [i * d], [(i + 1) * d], [0]);
  };
  const wv = enc.varying.length === c.modalities.length ? w : op.concat(enc.varying.map(rows), 0);
  const constantRow = (m: Modality, bb: Value) => op.matmul(op.unsqueeze(bb, [0]), rows(m));
  const constant = enc.constant.reduce((acc: Value, { m, bias: bb }) => op.add(acc, constantRow(m, bb)), bias);
  const z = op.add(op.matmul(x, wv), constant);
  const bce = binaryCrossEntropy(z, labels);
  // sum_u count_u * sum_c bce[u, c] / (tokens * |C|)
  const counts = b.cp_counts;
  const total = op.reduceSum(op.mul(op.reduceSum(bce, [1]), counts));
  return op.div(total, op.max(op.mul(op.reduceSum(counts), c.numCategories), 1));
}

/**
 * Eq. 20, cross-entropy over the catalog as mean(logsumexp(z) - z_target): the target logit is a row dot
 * product, so the backward pass never scatters into a [batch x catalog] matrix. Item 0 is left out of the
 * softmax by slicing it off the catalog, unless the reference flag keeps it. A bias-only modality adds the
 * same logit to every item of a row, which cancels between the two terms: it is left out.
 */
function mainLoss(c: Hm4srConfig, enc: Encoded, target: Value): Value {
  const h = userVector(enc);
  const cat = c.includePadInSoftmax ? enc.catalog : op.slice(enc.catalog, [1], [c.numItems + 1], [0]);
  const rows = c.includePadInSoftmax ? c.numItems + 1 : c.numItems;
  // A large catalog goes chunk by chunk: no [batch x catalog] matrix, forward or backward.
  const lse = chunked(c, rows)
    ? op.catalogLogSumExp(h, cat, c.catalogChunk)
    : op.reduceLogSumExp(op.matmul(h, op.transposeLast(cat)), [1]);
  const zt = op.reduceSum(op.mul(h, op.gather(enc.catalog, target)), [1]);
  return op.reduceMean(op.sub(lse, zt));
}

/** The production training model: eq. 27's loss and its terms over a packed batch (batchSpec(c, 'train')). */
export function hm4srModel(c: Hm4srConfig, name = 'hm4sr'): LossModel {
  return {
    name,
    batch: batchSpec(c, 'train'),
    loss(g, b) {
      const enc = encode(g, c, b, true);
      const main = mainLoss(c, enc, b.target);
      const terms: Record<string, Value> = { main };
      let total = main;
      if (usesCP(c)) {
        terms.cp = g.withScope('cp', () => categoryLoss(g, c, enc, b));
        total = op.add(total, op.mul(terms.cp, c.lambdaCP));
      }
      const neg = c.lambdaIDCL > 0 || enc.Hpcl.size > 0 ? falseNegatives(c, b.target) : null;
      if (c.lambdaIDCL > 0) {
        const xid = op.gather(idTable(g, c), b.target);
        terms.idcl = g.withScope('idcl', () => infoNCE(c, enc.H.get('id')!, xid, neg!, c.tau));
        total = op.add(total, op.mul(terms.idcl, c.lambdaIDCL));
      }
      if (enc.Hpcl.size > 0) {
        const pcl = (m: Modality, h: Value) =>
          g.withScope(`pcl.${m}`, () => infoNCE(c, enc.H.get(m)!, h, neg!, c.pclTau));
        const parts = [...enc.Hpcl].map(([m, h]) => pcl(m, h));
        terms.pcl = parts.length === 1 ? parts[0] : op.div(op.add(parts[0], parts[1]), 2);
        total = op.add(total, op.mul(terms.pcl, c.lambdaPCL));
      }
      return { loss: total, terms };
    },
  };
}

/**
 * The evaluation's catalog, computed once per evaluation rather than once per batch: outputs `catalog`
 * [N+1, V*d] (the varying modalities' item tables, what the tokens read) and `catalog_items` [N, V*d]
 * (items 1..N, what the scores read), the inputs of buildEvalGraph(c, name, { catalogInput: true }).
 */
export function buildCatalogGraph(c: Hm4srConfig, name = 'hm4sr'): Graph {
  validateConfig(c);
  const g = new Graph(`${name}_catalog`);
  const cat = concatLast(catalogParts(g, c).flatMap((p) => (p.table ? [p.table] : [])));
  g.output(cat, 'catalog');
  g.output(op.slice(cat, [1], [c.numItems + 1], [0]), 'catalog_items');
  return g;
}

/**
 * Full-catalog ranks inside the graph: no [batch x catalog] matrix leaves the session, and under c.catalogChunk
 * none is built either (chunkedRank: the same ranks, one chunk of scores at a time). With `catalogInput`, the
 * catalog is read from the inputs `catalog` and `catalog_items`, buildCatalogGraph's outputs for the same
 * weights, so an evaluation computes it once instead of once per batch.
 */
export function buildEvalGraph(c: Hm4srConfig, name = 'hm4sr', opts: { catalogInput?: boolean } = {}): Graph {
  const g = new Graph(`${name}_eval`);
  const b = declareBatch(g, batchSpec(c, 'eval'));
  const vd = catalogWidth(c);
  const catalog = opts.catalogInput ? g.input('catalog', 'float32', [c.numItems + 1, vd]) : undefined;
  // A row-constant score term (a bias-only modality) changes no rank, so neither it nor its encoder is built.
  const enc = encode(g, c, b, false, { skipConstant: true, catalog });
  // Scores of items 1..N only: the padding item's column is never computed.
  const items = opts.catalogInput
    ? g.input('catalog_items', 'float32', [c.numItems, vd])
    : op.slice(enc.catalog, [1], [c.numItems + 1], [0]);
  const rank = chunked(c, c.numItems)
    ? chunkedRank(userVector(enc), items, b.target, c.catalogChunk)
    : rankAmongItems(op.matmul(userVector(enc), op.transposeLast(items)), b.target);
  g.output(rank, 'rank');
  return g;
}
