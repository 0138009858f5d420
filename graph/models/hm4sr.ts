import { Graph, type Value } from '../graph.js';
import { dropout } from '../layers/dropout.js';
import { linear, linearInits } from '../layers/linear.js';
import { layerNorm } from '../layers/norm.js';
import type { Queries } from '../layers/attention.js';
import { MASKED, transformerEncoder, transformerEncoderPicked } from '../layers/transformer.js';
import type { LossModel } from '../model.js';
import { declareBatch } from '../model.js';
import * as op from '../ops/index.js';
import { type Hm4srConfig, type Modality, usesCP, usesCalendar, usesInterval, usesPCL, usesTimes, validateConfig } from './hm4sr-config.js';
import { batchSpec } from './hm4sr-batch.js';

const featureDim = (c: Hm4srConfig, m: Modality) => (m === 'txt' ? c.textDim : c.imageDim);
/** Names of the frozen tensors the data supplies; train/prepare.ts binds its tables to exactly these. */
export const DATA_PARAMS = { txt: 'features.text', img: 'features.image', categories: 'data.item_categories' } as const;

/**
 * Which graph the builders emit. 'fast' (the default) computes the same function with less work: the last
 * encoder layer runs only at the positions that are read, Q/K/V are one product, and a modality without
 * features (its item representation is one bias vector for every item) is never broadcast over the catalog
 * or the tokens. 'plain' is the straightforward graph, kept as the oracle the fast one is tested against.
 */
export type GraphForm = 'fast' | 'plain';

/** One modality's raw item representations: a [N+1, d] table, or a [d] bias every item shares (no features). */
type CatalogPart = { m: Modality; table: Value; bias?: undefined } | { m: Modality; bias: Value; table?: undefined };

/** The modalities whose items differ (a table: IDs, or a feature table), in catalog order. */
const varyingModalities = (c: Hm4srConfig) => c.modalities.filter((m) => m === 'id' || !c.zeroFeatures.includes(m));

/** With `given` (the catalog of the varying modalities, [N+1, V*d], computed elsewhere), their tables are its slices. */
function catalogParts(g: Graph, c: Hm4srConfig, given?: Value): CatalogPart[] {
  const n = c.numItems + 1, d = c.hidden;
  const varying = varyingModalities(c);
  const slices = given ? (varying.length === 1 ? [given] : op.split(given, Array(varying.length).fill(d), -1)) : [];
  return c.modalities.map((m): CatalogPart => {
    if (given && varying.includes(m)) return { m, table: slices[varying.indexOf(m)] };
    if (m === 'id') return { m, table: g.param('item.id.embedding', [n, d], { kind: 'normal', std: 0.02 }) };
    // All-zero features (a missing modality) project to the bias alone: skip the [N, 768] x [768, d] product.
    if (c.zeroFeatures.includes(m)) return { m, bias: g.param(`item.${m}.proj.bias`, [d], { kind: 'zeros' }) };
    const f = g.param(DATA_PARAMS[m], [n, featureDim(c, m)], { kind: 'external', what: `the ${m === 'txt' ? 'text' : 'image'} feature table` }, { trainable: false });
    return { m, table: linear(g, `item.${m}.proj`, f, featureDim(c, m), d) };
  });
}

const concatLast = (xs: Value[]) => (xs.length === 1 ? xs[0] : op.concat(xs, -1));

/**
 * Raw item representations of the whole catalog, [N+1, M*d]: the ID table beside the projected frozen
 * text / image features. Scores and the per-token inputs both read this one table.
 */
export function catalog(g: Graph, c: Hm4srConfig): Value {
  const n = c.numItems + 1, d = c.hidden;
  return concatLast(catalogParts(g, c).map((p) => p.table ?? op.expand(p.bias, [n, d])));
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

interface Encoded {
  /** Final user representation per modality, [B, d]. */
  H: Map<Modality, Value>;
  /** Representations of the PCL-augmented sequences (txt/img), [B, d]. */
  Hpcl: Map<Modality, Value>;
  /** Raw per-token item representations of the modalities with a table, [R, W, V*d] (CP input). */
  tokens: Value;
  /** The catalog tables of those modalities side by side, [N+1, V*d]. */
  catalog: Value;
  /** Modalities whose item representation is one shared bias vector, with that vector [d]. */
  constant: { m: Modality; bias: Value }[];
  /** The modalities of `tokens` and `catalog`, in order. */
  varying: Modality[];
}

function timeEmbedding(g: Graph, c: Hm4srConfig, b: Record<string, Value>): Value {
  const d = c.hidden;
  return g.withScope('tmoe', () => {
    const parts: Value[] = [];
    if (usesInterval(c)) parts.push(op.gather(g.param('interval.embedding', [c.intervalBuckets, d], { kind: 'normal', std: 0.02 }), b.buckets));
    if (usesCalendar(c)) parts.push(op.gather(g.param('calendar.embedding', [c.calendarSize, d], { kind: 'normal', std: 0.02 }), b.calendar));
    if (usesTimes(c)) {
      // r2_j = cos((w_j t + b_j) / 10000^(j/d)): a learned Linear(1 -> d) under sinusoidal frequencies.
      const w = g.param('time.weight', [1, d], { kind: 'normal', std: 0.02 });
      const bias = g.param('time.bias', [d], { kind: 'zeros' });
      const inv = Float32Array.from({ length: d }, (_, j) => 1 / 10000 ** (j / d));
      const lin = op.add(op.matmul(op.unsqueeze(b.times, [2]), w), bias);
      parts.push(op.cos(op.mul(lin, g.constant(inv, 'float32', [d]))));
    }
    return parts.length === 1 ? parts[0] : op.concat(parts, -1);
  });
}

/** The encoder up to the user representations; shared by the training, evaluation and inference graphs. */
export interface EncodeOptions {
  /** Build no encoder for a bias-only modality (its H_m only adds a row constant to the scores). */
  skipConstant?: boolean;
  /** The fast form's catalog of the varying modalities [N+1, V*d] as a value (an input) rather than computed here. */
  catalog?: Value;
}

export function encode(g: Graph, c: Hm4srConfig, b: Record<string, Value>, training: boolean, form: GraphForm = 'fast', opts: EncodeOptions = {}): Encoded {
  validateConfig(c);
  const d = c.hidden, M = c.modalities.length, md = M * d;
  const fast = form === 'fast';
  const pos = op.gather(g.param('position.embedding', [c.maxLen, d], { kind: 'normal', std: 0.02 }), b.positions);
  let e: Value, tokens: Value, cat: Value, constant: Encoded['constant'] = [], varying: Modality[] = c.modalities;
  if (fast) {
    const parts = catalogParts(g, c, opts.catalog);
    const tables = parts.filter((p) => p.table);
    varying = tables.map((p) => p.m);
    constant = parts.flatMap((p) => (p.bias ? [{ m: p.m, bias: p.bias }] : []));
    cat = opts.catalog ?? concatLast(tables.map((p) => p.table!));
    tokens = op.gather(cat, b.items);
    const tok = tables.length === 1 ? [tokens] : op.split(tokens, Array(tables.length).fill(d), -1);
    // x_m + p per modality: a bias-only modality adds its bias to the positions without a per-token copy.
    e = concatLast(parts.map((p) => op.add(p.table ? tok[varying.indexOf(p.m)] : p.bias!, pos)));
  } else {
    cat = catalog(g, c);
    tokens = op.gather(cat, b.items);
    e = op.add(tokens, M === 1 ? pos : op.concat(Array(M).fill(pos), -1));
  }

  if (c.imoe) {
    e = g.withScope('imoe', () => {
      // k1 experts Linear(Md -> Md) fused into one matmul; expert i's m-th d-slice serves modality m.
      const experts = op.reshape(linear(g, 'experts', e, md, c.k1 * md, { init: 'torch' }), [0, 0, c.k1, M, d]);
      const slices = M === 1 ? [e] : op.split(e, Array(M).fill(d), -1);
      const gates = c.modalities.map((m, i) => op.unsqueeze(op.softmax(linear(g, `gate.${m}`, slices[i], d, c.k1, { init: 'torch' }), -1), [3]));
      const gate = op.unsqueeze(M === 1 ? gates[0] : op.concat(gates, 3), [4]);
      const mixed = op.reduceSum(op.mul(experts, gate), [2]);
      const init = Float32Array.from(c.modalities, (m) => (m === 'id' ? 0 : 1));
      const alpha = op.unsqueeze(g.param('alpha', [M], { kind: 'data', data: init }), [1]);
      return op.add(e, op.reshape(op.mul(mixed, alpha), [0, 0, md]));
    });
  }

  let tvec: Value | null = null;
  if (c.tmoe) {
    tvec = timeEmbedding(g, c, b);
    const tdim = tvec.dim(-1) as number;
    e = g.withScope('tmoe', () => {
      const gate = op.softmax(linear(g, 'gate', tvec!, tdim, c.k2), -1);
      const experts = g.param('experts', [c.k2, md], { kind: 'normal', std: 0.1 }, { trainable: !c.frozenTemporalExperts });
      // No residual: the gated expert scaling replaces the embeddings.
      return op.mul(e, op.matmul(gate, experts));
    });
  }

  const mask = segmentMask(b.segments);
  const queries = fast && b.pick_more ? lastQueries(b) : undefined;
  const streams = M === 1 ? [e] : op.split(e, Array(M).fill(d), -1);
  const flatLast = (h: Value) => op.gather(op.reshape(h, [-1, d]), b.last);
  const run = (m: Modality, x: Value) => {
    const h = dropout(g, layerNorm(g, `emb_norm.${m}`, x, d), { ratio: c.embDropout, training });
    const cfg = { hidden: d, heads: c.heads, inner: c.inner, layers: c.layers, hiddenDropout: c.hiddenDropout, attnDropout: c.attnDropout, training, fuseQKV: fast, splitHeads: fast };
    // Only each history's last position is read, so the last layer's tail runs on those B rows alone.
    return fast ? transformerEncoderPicked(g, `encoder.${m}`, h, mask, cfg, flatLast, queries) : flatLast(transformerEncoder(g, `encoder.${m}`, h, mask, cfg));
  };
  const H = new Map<Modality, Value>(), Hpcl = new Map<Modality, Value>();
  c.modalities.forEach((m, i) => {
    // A bias-only modality's H_m only adds a row constant to the scores: ranking without it needs no encoder.
    if (!(opts.skipConstant && constant.some((k) => k.m === m))) H.set(m, run(m, streams[i]));
  });
  if (training && usesPCL(c) && tvec) {
    const tdim = tvec.dim(-1) as number;
    const replace = op.cast(op.unsqueeze(b.pcl_mask, [2]), 'bool');
    c.modalities.forEach((m, i) => {
      if (m === 'id') return;
      const ph = linear(g, `pcl.placeholder.${m}`, tvec!, tdim, d, { init: 'torch' });
      Hpcl.set(m, run(m, op.where(replace, ph, streams[i])));
    });
  }
  return { H, Hpcl, tokens, catalog: cat, constant, varying };
}

/**
 * Scores against the whole catalog [B, N+1]: sum over modalities of H_m . x_m(v), one matmul over the
 * modalities with a table; a bias-only modality adds the same H_m . b_m to every item of a row, which
 * `withConstant: false` leaves out (it changes no ranking and no softmax).
 */
export function scores(_c: Hm4srConfig, enc: Encoded, opts: { withConstant?: boolean } = {}): Value {
  const s = op.matmul(userVector(enc), op.transposeLast(enc.catalog));
  if (opts.withConstant === false || enc.constant.length === 0) return s;
  const rowConst = enc.constant.map(({ m, bias }) => op.reduceSum(op.mul(enc.H.get(m)!, bias), [-1], true));
  return op.add(s, rowConst.reduce((a, b) => op.add(a, b)));
}

/** [H_m for the modalities with a table], [B, V*d]: dotted with a catalog row it gives their summed scores. */
function userVector(enc: Encoded): Value {
  return concatLast(enc.varying.map((m) => enc.H.get(m)!));
}

function l2normalize(x: Value): Value {
  return op.div(x, op.sqrt(op.add(op.reduceSum(op.mul(x, x), [-1], true), 1e-12)));
}

/**
 * InfoNCE across the batch with the reference's false-negative handling: another sample with the same target is
 * not a negative ('exclude': its logit set to MASKED / tau; 'reference': to 0). The fast form adds a [B, B]
 * bias shared by every InfoNCE of the step with this tau instead of a Where per call (a logit under the bias
 * keeps a softmax weight of exactly 0, as when overwritten, for tau < 96), and reads each row's own
 * log-probability with GatherElements instead of a Where over [B, B]: the same loss without three of its
 * [B, B] passes and their gradients.
 */
function infoNCE(c: Hm4srConfig, q: Value, k: Value, neg: FalseNegatives, tau: number, form: GraphForm): Value {
  const g = q.graph;
  const logits = op.mul(op.matmul(l2normalize(q), op.transposeLast(l2normalize(k))), 1 / tau);
  if (form === 'fast') {
    const masked = c.falseNegatives === 'exclude' ? op.add(logits, neg.bias(tau)) : op.where(neg.mask, op.scalar(g, 0, 'float32'), logits);
    const own = op.gatherElements(op.logSoftmax(masked, 1), op.unsqueeze(neg.idx, [1]), 1);
    return op.neg(op.reduceMean(own));
  }
  const masked = op.where(neg.mask, op.scalar(g, c.falseNegatives === 'exclude' ? MASKED / tau : 0, 'float32'), logits);
  const lsm = op.logSoftmax(masked, 1);
  return op.neg(op.reduceMean(op.reduceSum(op.where(neg.eye, lsm, 0), [1])));
}

/** A step's false negatives [B, B] (same target, another sample), built once for all its InfoNCE terms. */
interface FalseNegatives { idx: Value; eye: Value; mask: Value; bias: (tau: number) => Value }

function falseNegatives(target: Value): FalseNegatives {
  const g = target.graph;
  const idx = op.range(0, op.dimOf(target, 0), 1);
  const eye = op.equal(op.unsqueeze(idx, [1]), op.unsqueeze(idx, [0]));
  const same = op.equal(op.unsqueeze(target, [1]), op.unsqueeze(target, [0]));
  const mask = op.and(same, op.not(eye));
  const biases = new Map<number, Value>();
  const bias = (tau: number) => {
    let b = biases.get(tau);
    if (!b) biases.set(tau, (b = op.where(mask, op.scalar(g, MASKED / tau, 'float32'), op.scalar(g, 0, 'float32'))));
    return b;
  };
  return { idx, eye, mask, bias };
}

/**
 * Mean multi-label BCE-with-logits over (non-padding tokens x classes). The logits of a token depend on its
 * item only, so the fast form computes them once per distinct item of the batch (b.cp_items) and weights
 * each item's BCE by its token count (b.cp_counts); the plain form runs every token.
 */
function categoryLoss(g: Graph, c: Hm4srConfig, enc: Encoded, b: Record<string, Value>, form: GraphForm): Value {
  const d = c.hidden, md = c.modalities.length * d;
  const fast = form === 'fast';
  const items = fast ? b.cp_items : b.items;
  const labels = op.gather(g.param(DATA_PARAMS.categories, [c.numItems + 1, c.numCategories], { kind: 'external', what: 'the multi-hot category labels' }, { trainable: false, absolute: true }), items);
  const x = fast ? op.gather(enc.catalog, items) : enc.tokens;
  const z = g.withScope('cp.head', () => {
    // Linear(Md -> |C|) on [x_id; x_txt; x_img]: a bias-only modality's rows of the weight give a constant
    // that joins the bias, so the per-token product covers the modalities with a table only.
    const inits = linearInits(md, 'torch');
    const w = g.param('weight', [md, c.numCategories], inits.weight);
    const bias = g.param('bias', [c.numCategories], inits.bias);
    if (enc.constant.length === 0) return op.add(op.matmul(x, w), bias);
    const rows = (m: Modality) => { const i = c.modalities.indexOf(m); return op.slice(w, [i * d], [(i + 1) * d], [0]); };
    const wv = enc.varying.length === c.modalities.length ? w : op.concat(enc.varying.map(rows), 0);
    const constant = enc.constant.reduce((acc: Value, { m, bias: bb }) => op.add(acc, op.matmul(op.unsqueeze(bb, [0]), rows(m))), bias);
    return op.add(op.matmul(x, wv), constant);
  });
  const bce = op.sub(op.softplus(z), op.mul(z, labels));
  if (fast) {
    // sum_u count_u * sum_c bce[u, c] / (tokens * |C|)
    const counts = b.cp_counts;
    const total = op.reduceSum(op.mul(op.reduceSum(bce, [1]), counts));
    return op.div(total, op.max(op.mul(op.reduceSum(counts), c.numCategories), 1));
  }
  const real = op.cast(op.unsqueeze(op.not(op.equal(items, 0)), [2]), 'float32');
  const count = op.mul(op.reduceSum(real), c.numCategories);
  return op.div(op.reduceSum(op.mul(bce, real)), op.max(count, 1));
}

/**
 * Cross-entropy over the catalog as mean(logsumexp(z) - z_target): the target logit is a row dot product,
 * so the backward pass never scatters into a [batch x catalog] matrix. Item 0 is left out of the
 * softmax by slicing it off the catalog, unless the reference flag keeps it. A bias-only modality adds the
 * same logit to every item of a row, which cancels between the two terms: it is left out.
 */
function mainLoss(c: Hm4srConfig, enc: Encoded, target: Value): Value {
  const h = userVector(enc);
  const cat = c.includePadInSoftmax ? enc.catalog : op.slice(enc.catalog, [1], [c.numItems + 1], [0]);
  const lse = op.reduceLogSumExp(op.matmul(h, op.transposeLast(cat)), [1]);
  const zt = op.reduceSum(op.mul(h, op.gather(enc.catalog, target)), [1]);
  return op.reduceMean(op.sub(lse, zt));
}

export function hm4srModel(c: Hm4srConfig, name = 'hm4sr', form: GraphForm = 'fast'): LossModel {
  return {
    name,
    batch: batchSpec(c, 'train'),
    loss(g, b) {
      const enc = encode(g, c, b, true, form);
      const main = mainLoss(c, enc, b.target);
      const terms: Record<string, Value> = { main };
      let total = main;
      if (usesCP(c)) {
        terms.cp = g.withScope('cp', () => categoryLoss(g, c, enc, b, form));
        total = op.add(total, op.mul(terms.cp, c.lambdaCP));
      }
      const neg = c.lambdaIDCL > 0 || enc.Hpcl.size > 0 ? falseNegatives(b.target) : null;
      if (c.lambdaIDCL > 0) {
        const xid = op.gather(g.param('item.id.embedding', [c.numItems + 1, c.hidden], { kind: 'normal', std: 0.02 }), b.target);
        terms.idcl = g.withScope('idcl', () => infoNCE(c, enc.H.get('id')!, xid, neg!, c.tau, form));
        total = op.add(total, op.mul(terms.idcl, c.lambdaIDCL));
      }
      if (enc.Hpcl.size > 0) {
        const parts = [...enc.Hpcl].map(([m, h]) => g.withScope(`pcl.${m}`, () => infoNCE(c, enc.H.get(m)!, h, neg!, c.pclTau, form)));
        terms.pcl = parts.length === 1 ? parts[0] : op.div(op.add(parts[0], parts[1]), 2);
        total = op.add(total, op.mul(terms.pcl, c.lambdaPCL));
      }
      return { loss: total, terms };
    },
  };
}

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

/**
 * The fast evaluation's catalog, computed once per evaluation rather than once per batch: outputs `catalog`
 * [N+1, V*d] (the varying modalities' item tables, what the tokens read) and `catalog_items` [N, V*d]
 * (items 1..N, what the scores read), the inputs of buildEvalGraph(..., 'fast').
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
 * Full-catalog ranks inside the graph: no [batch x catalog] matrix leaves the session. With `catalogInput`
 * (fast form), the catalog is read from the inputs `catalog` and `catalog_items`, buildCatalogGraph's outputs
 * for the same weights, so an evaluation computes it once instead of once per batch.
 */
export function buildEvalGraph(c: Hm4srConfig, name = 'hm4sr', form: GraphForm = 'fast', opts: { catalogInput?: boolean } = {}): Graph {
  const g = new Graph(`${name}_eval`);
  const b = declareBatch(g, batchSpec(c, 'eval'));
  if (form === 'plain') {
    g.output(fullCatalogRank(scores(c, encode(g, c, b, false, form)), b.target, c.numItems), 'rank');
    return g;
  }
  const vd = varyingModalities(c).length * c.hidden;
  const catalog = opts.catalogInput ? g.input('catalog', 'float32', [c.numItems + 1, vd]) : undefined;
  // A row-constant score term (a bias-only modality) changes no rank, so neither it nor its encoder is built.
  const enc = encode(g, c, b, false, form, { skipConstant: true, catalog });
  // Scores of items 1..N only: the padding item's column is never computed.
  const items = opts.catalogInput ? g.input('catalog_items', 'float32', [c.numItems, vd]) : op.slice(enc.catalog, [1], [c.numItems + 1], [0]);
  g.output(rankAmongItems(op.matmul(userVector(enc), op.transposeLast(items)), b.target), 'rank');
  return g;
}

/** Scores and the top-K items per user, item 0 excluded: what `recommend` and model.onnx serve. */
export function buildInferenceGraph(c: Hm4srConfig, topK: number, name = 'hm4sr', form: GraphForm = 'fast'): Graph {
  const g = new Graph(`${name}_inference`);
  const b = declareBatch(g, batchSpec(c, 'infer'));
  const s = scores(c, encode(g, c, b, false, form));
  const pad = new Float32Array(c.numItems + 1);
  pad[0] = -Infinity;
  const masked = op.add(s, g.constant(pad, 'float32', [c.numItems + 1]));
  const [vals, idx] = op.topK(masked, Math.min(topK, c.numItems), 1);
  g.output(s, 'scores');
  g.output(idx, 'top_items');
  g.output(vals, 'top_scores');
  return g;
}
