// The REFERENCE HM4SR: the paper's model (WWW 2025, section 4, eqs. 4-27) read top to bottom, in plain ops on
// padded rows (one history per row, left-aligned, item 0 = padding), with none of the production graph's
// speed-ups. It is the oracle the production model (hm4sr.ts) is tested against (test/hm4sr-equivalence) and
// `bench --graph reference`. Both import the shared blocks (hm4sr-blocks.ts), so they hold the same parameters
// under the same names. Where the code follows the authors' code or this project's contract rather than the
// paper's letter, the block says so (the model contract lists every such place).
import { Graph, type Value } from '../graph.js';
import { causalPaddingMask, transformerEncoder } from '../layers/transformer.js';
import type { LossModel } from '../model.js';
import { declareBatch } from '../model.js';
import * as op from '../ops/index.js';
import type { TensorSpec } from '../types.js';
import {
  type Hm4srConfig,
  type Modality,
  usesCP,
  usesCalendar,
  usesInterval,
  usesPCL,
  usesTimes,
  validateConfig,
} from './hm4sr-config.js';
import {
  binaryCrossEntropy,
  categoryHead,
  categoryLabels,
  concatLast,
  contrastiveLogits,
  encoderConfig,
  encoderInput,
  excludedLogit,
  featurelessBias,
  fullCatalogRank,
  idTable,
  interactiveMoE,
  placeholder,
  positionEmbedding,
  projectedFeatures,
  sameTarget,
  temporalMoE,
  timeEmbedding,
} from './hm4sr-blocks.js';

/**
 * The reference's batch, B histories of width L (padded layout): items [B, L] int64; the time inputs the
 * config reads ([B, L]: buckets int64, times float32, calendar int64); for training, target [B] int64 and,
 * with PCL, pcl_mask [B, L] float32 (1 where a time placeholder replaces the token). `kind: 'eval'` adds the
 * target only.
 */
export function referenceBatchSpec(c: Hm4srConfig, kind: 'train' | 'eval'): TensorSpec[] {
  const bl = ['batch', 'seq'];
  const s: TensorSpec[] = [{ name: 'items', dtype: 'int64', shape: bl }];
  if (usesInterval(c)) s.push({ name: 'buckets', dtype: 'int64', shape: bl });
  if (usesTimes(c)) s.push({ name: 'times', dtype: 'float32', shape: bl });
  if (usesCalendar(c)) s.push({ name: 'calendar', dtype: 'int64', shape: bl });
  s.push({ name: 'target', dtype: 'int64', shape: ['batch'] });
  if (kind === 'train' && usesPCL(c)) s.push({ name: 'pcl_mask', dtype: 'float32', shape: bl });
  return s;
}

interface ReferenceEncoded {
  /** x_m for every item, [N+1, d] per modality (eqs. 4-5). */
  x: Map<Modality, Value>;
  /** H^m, [B, d] (eq. 18). */
  H: Map<Modality, Value>;
  /** H^{m,1} of the PCL-augmented sequences (txt, img), [B, d]. */
  Hpcl: Map<Modality, Value>;
}

/** Eqs. 4-5: each modality's item representations for the whole catalog, [N+1, d]. */
function itemRepresentations(g: Graph, c: Hm4srConfig): Map<Modality, Value> {
  return new Map(
    c.modalities.map((m): [Modality, Value] => {
      if (m === 'id') return [m, idTable(g, c)];
      if (c.zeroFeatures.includes(m)) return [m, op.expand(featurelessBias(g, c, m), [c.numItems + 1, c.hidden])];
      return [m, projectedFeatures(g, c, m as 'txt' | 'img')];
    }),
  );
}

/** Eq. 18's H^m: the encoder's output at each row's last item (left-aligned rows: column length - 1). */
function lastPosition(h: Value, items: Value, d: number): Value {
  const len = op.reduceSum(op.cast(op.not(op.equal(items, 0)), 'int64'), [1]);
  const rowStart = op.mul(op.range(0, op.dimOf(items, 0), 1), op.dimOf(items, 1));
  return op.gather(op.reshape(h, [-1, d]), op.add(rowStart, op.sub(len, op.scalar(h.graph, 1, 'int64'))));
}

/** Eqs. 4-18 (and 24 for PCL's augmented sequences). */
function encode(g: Graph, c: Hm4srConfig, b: Record<string, Value>, training: boolean): ReferenceEncoded {
  validateConfig(c);
  const d = c.hidden,
    M = c.modalities.length;
  const x = itemRepresentations(g, c);
  // Eq. 6: e_m = x_m + p, the position embedding of each column.
  const p = positionEmbedding(g, c, op.range(0, op.dimOf(b.items, 1), 1));
  let e = concatLast(c.modalities.map((m) => op.add(op.gather(x.get(m)!, b.items), p)));
  // Eqs. 7-10: e'_m = e_m + x_m^inter.
  if (c.imoe) e = interactiveMoE(g, c, e);
  // Eqs. 11-16: [x_id^temp; x_txt^temp; x_img^temp], gated by the time embeddings [r1; r2].
  const tvec = c.tmoe ? timeEmbedding(g, c, b) : null;
  if (tvec) e = temporalMoE(g, c, e, tvec);
  const S = M === 1 ? [e] : op.split(e, Array(M).fill(d), -1);
  // Eqs. 17-18 with RecBole's causal + key-padding mask.
  const mask = causalPaddingMask(b.items);
  const transformer = (m: Modality, s: Value) => {
    const input = encoderInput(g, c, m, s, training);
    const h = transformerEncoder(g, `encoder.${m}`, input, mask, encoderConfig(c, training));
    return lastPosition(h, b.items, d);
  };
  const H = new Map(c.modalities.map((m, i): [Modality, Value] => [m, transformer(m, S[i])]));
  const Hpcl = new Map<Modality, Value>();
  if (training && usesPCL(c) && tvec) {
    // Eq. 24: the chosen positions of S_m (after the Temporal MoE) become W_{P,m} [r1; r2] + b_{P,m}.
    const replaced = op.cast(op.unsqueeze(b.pcl_mask, [2]), 'bool');
    c.modalities.forEach((m, i) => {
      if (m !== 'id') Hpcl.set(m, transformer(m, op.where(replaced, placeholder(g, c, m, tvec), S[i])));
    });
  }
  return { x, H, Hpcl };
}

/** Eq. 19: y_v = sum_m H^m . x_m(v) for every item v, [B, N+1]. */
function scores(c: Hm4srConfig, enc: ReferenceEncoded): Value {
  const perModality = c.modalities.map((m) => op.matmul(enc.H.get(m)!, op.transposeLast(enc.x.get(m)!)));
  return perModality.reduce((a, s) => op.add(a, s));
}

/** -mean_i log_softmax(logits)[i, col_i], the cross-entropy of each row's column col [B]. */
function crossEntropy(logits: Value, col: Value): Value {
  const picked = op.gatherElements(op.logSoftmax(logits, 1), op.unsqueeze(col, [1]), 1);
  return op.neg(op.reduceMean(picked));
}

/** Eq. 20 over items 1..N (the contract; with includePadInSoftmax, the authors' 0..N). */
function mainLoss(c: Hm4srConfig, y: Value, target: Value): Value {
  if (c.includePadInSoftmax) return crossEntropy(y, target);
  return crossEntropy(op.slice(y, [1], [c.numItems + 1], [1]), op.sub(target, op.scalar(y.graph, 1, 'int64')));
}

/**
 * Eqs. 21-22 for every item of the input histories: BCE-with-logits of W_CP [x_id; x_txt; x_img] + b_CP, averaged
 * over (items x classes) as the authors' code does (the paper sums over classes and items).
 */
function categoryLoss(g: Graph, c: Hm4srConfig, enc: ReferenceEncoded, items: Value): Value {
  const labels = categoryLabels(g, c, items);
  const { weight, bias } = categoryHead(g, c);
  const x = concatLast(c.modalities.map((m) => op.gather(enc.x.get(m)!, items)));
  const bce = binaryCrossEntropy(op.add(op.matmul(x, weight), bias), labels);
  const real = op.cast(op.unsqueeze(op.not(op.equal(items, 0)), [2]), 'float32');
  return op.div(op.reduceSum(op.mul(bce, real)), op.max(op.mul(op.reduceSum(real), c.numCategories), 1));
}

/**
 * InfoNCE of eqs. 23 and 25: the positive pair of row i is column i. A same-target sample j != i is kept as a
 * negative ('none', the paper), enters with logit 0 ('zero', the authors' code) or leaves the denominator
 * ('exclude').
 */
export function infoNCE(c: Hm4srConfig, q: Value, k: Value, target: Value, tau: number): Value {
  const g = q.graph;
  const logits = contrastiveLogits(q, k, tau);
  const { idx, mask } = sameTarget(target);
  const rule = c.falseNegatives;
  const falseNegative = op.scalar(g, rule === 'zero' ? 0 : excludedLogit(tau), 'float32');
  const masked = rule === 'none' ? logits : op.where(mask, falseNegative, logits);
  return crossEntropy(masked, idx);
}

/** The reference training model: eq. 27's loss and its terms over referenceBatchSpec(c, 'train'). */
export function hm4srReferenceModel(c: Hm4srConfig, name = 'hm4sr'): LossModel {
  return {
    name,
    batch: referenceBatchSpec(c, 'train'),
    loss(g, b) {
      const enc = encode(g, c, b, true);
      const terms: Record<string, Value> = { main: mainLoss(c, scores(c, enc), b.target) };
      if (usesCP(c)) terms.cp = g.withScope('cp', () => categoryLoss(g, c, enc, b.items));
      // Eq. 23 against the ID representations of the batch's targets.
      if (c.lambdaIDCL > 0) {
        const xTarget = op.gather(enc.x.get('id')!, b.target);
        terms.idcl = g.withScope('idcl', () => infoNCE(c, enc.H.get('id')!, xTarget, b.target, c.tau));
      }
      if (enc.Hpcl.size > 0) {
        // Eqs. 25-26, averaged over the modalities that take part.
        const pcl = (m: Modality, h: Value) =>
          g.withScope(`pcl.${m}`, () => infoNCE(c, enc.H.get(m)!, h, b.target, c.pclTau));
        const parts = [...enc.Hpcl].map(([m, h]) => pcl(m, h));
        terms.pcl = op.div(
          parts.reduce((a, t) => op.add(a, t)),
          parts.length,
        );
      }
      // Eq. 27.
      const weight: Record<string, number> = { main: 1, cp: c.lambdaCP, idcl: c.lambdaIDCL, pcl: c.lambdaPCL };
      const loss = Object.entries(terms)
        .map(([k, t]) => op.mul(t, weight[k]))
        .reduce((a, t) => op.add(a, t));
      return { loss, terms };
    },
  };
}

/**
 * Evaluation and serving in reference form: outputs `scores` [B, N+1] (eq. 19) and `rank` [B], the target's
 * full-catalog rank among items 1..N (the same rule as production's evaluation).
 */
export function buildReferenceEvalGraph(c: Hm4srConfig, name = 'hm4sr'): Graph {
  const g = new Graph(`${name}_reference_eval`);
  const b = declareBatch(g, referenceBatchSpec(c, 'eval'));
  const s = scores(c, encode(g, c, b, false));
  g.output(s, 'scores');
  g.output(fullCatalogRank(s, b.target, c.numItems), 'rank');
  return g;
}
