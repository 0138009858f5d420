import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';
import { dropout } from './dropout.js';
import { type LinearInit, linear, linearInits } from './linear.js';

export interface AttentionConfig {
  hidden: number;
  heads: number;
  /** Dropout on the attention probabilities (default 0). */
  attnDropout?: number;
  training?: boolean;
  /** Init of the q/k/v/out linears (default 'normal0.02'). */
  init?: LinearInit;
  /**
   * Keeps only some query positions of the context before the output dense (e.g. each history's last
   * token, [B, L, hidden] -> [N, hidden]): every key and value is still attended, but the output dense
   * runs on the kept rows alone.
   */
  pick?: (ctx: Value) => Value;
  /** One [hidden, 3 hidden] product for q, k, v (default true); false: the three Linears apart. */
  fuseQKV?: boolean;
  /**
   * With the fused projection: each head as a Split slice [B, L, dh] of q, k and v, attended on its own
   * (default false: one [B, heads, L, dh] tensor through Reshape + Transpose). The same function; the head-major
   * Transpose moves single floats and costs more than the attention products on small heads, where a Split
   * copies contiguous runs and k^T folds into the product. The mask must not vary by head.
   */
  splitHeads?: boolean;
  /**
   * With `pick`: the picked positions as query rows, so attention is computed from them alone (Q x P x W
   * scores instead of B x L x L). Must select the same positions, in the same order, as `pick`.
   */
  queries?: Queries;
}

/**
 * Query positions grouped by row of x: query row q attends over row rows[q] of the keys and values from the
 * columns cols[q, :] ([Q], [Q, P], int64), where rows is 0, 1, ..., B - 1 followed by `more` (further query
 * rows of crowded rows); slot [N] orders the flattened [Q * P] results like `pick`'s rows; mask
 * [Q, 1, P, L] is additive, like the layer's mask for those positions.
 */
export interface Queries {
  rows: Value;
  more: Value;
  cols: Value;
  slot: Value;
  mask: Value;
}

export interface AttentionResult {
  /** [B, L, hidden], after the output dense (before any residual / dropout / norm). */
  out: Value;
  /** Attention probabilities [B, heads, L, L] after softmax, before dropout (built on first read with splitHeads). */
  readonly probs: Value;
}

/** [B, L, hidden] -> [B, heads, L, dh] (Reshape [0, 0, h, dh], then Transpose [0, 2, 1, 3]). */
function splitHeads(x: Value, heads: number, headDim: number): Value {
  return op.transpose(op.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, heads, L, dh] -> [B, L, heads * dh]. */
function mergeHeads(x: Value, heads: number, headDim: number): Value {
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

type Attended = { ctx: Value; probs: Value[] | Value };

/**
 * The attention core with all heads in one tensor: q [N, P, heads*dh] (already scaled), k and v
 * [N, L, heads*dh] -> [N, heads, P, dh] through Reshape + Transpose; mask additive, broadcastable to
 * [N, heads, P, L]. Gives the context [N, P, heads*dh] and the probabilities [N, heads, P, L].
 */
function attendHeadMajor(
  g: Graph,
  q: Value,
  k: Value,
  v: Value,
  mask: Value | null,
  heads: number,
  dh: number,
  cfg: AttentionConfig,
): Attended {
  const sc = op.matmul(splitHeads(q, heads, dh), op.transposeLast(splitHeads(k, heads, dh)));
  const probs = op.softmax(mask ? op.add(sc, mask) : sc, -1);
  const dropped = dropout(g, probs, { ratio: cfg.attnDropout ?? 0, training: cfg.training ?? false });
  return { ctx: mergeHeads(op.matmul(dropped, splitHeads(v, heads, dh)), heads, dh), probs };
}

/**
 * The attention core head by head (AttentionConfig.splitHeads): q [N, P, heads*dh] (already scaled), k and v
 * [N, L, heads*dh], additive mask [N, 1, P, L] (or broadcastable, not varying by head) -> context
 * [N, P, heads*dh] and the per-head probabilities [N, P, L].
 */
function attendHeadByHead(
  g: Graph,
  q: Value,
  k: Value,
  v: Value,
  mask: Value | null,
  heads: number,
  dh: number,
  cfg: AttentionConfig,
): Attended {
  if (mask && mask.rank === 4 && mask.dim(1) !== 1) g.fail('Attention', `splitHeads: mask ${mask} varies by head`);
  const m = mask && mask.rank === 4 ? op.squeeze(mask, [1]) : mask;
  const slices = (x: Value) => (heads === 1 ? [x] : op.split(x, Array(heads).fill(dh), -1));
  const qs = slices(q),
    ks = slices(k),
    vs = slices(v);
  const probs = qs.map((qh, h) => {
    const sc = op.matmul(qh, op.transposeLast(ks[h]));
    return op.softmax(m ? op.add(sc, m) : sc, -1);
  });
  const ctx = probs.map((p, h) =>
    op.matmul(dropout(g, p, { ratio: cfg.attnDropout ?? 0, training: cfg.training ?? false }), vs[h]),
  );
  return { ctx: heads === 1 ? ctx[0] : op.concat(ctx, -1), probs };
}

/** The result with its probabilities; per-head ones ([N, P, L] each) are stacked only when a caller reads them. */
function result(out: Value, a: Attended): AttentionResult {
  const probs = a.probs;
  if (!Array.isArray(probs)) return { out, probs };
  let stacked: Value | null = null;
  return {
    out,
    get probs() {
      return (stacked ??= op.concat(
        probs.map((p) => op.unsqueeze(p, [1])),
        1,
      ));
    },
  };
}

/**
 * Multi-head self-attention (RecBole / BERT form): q, k, v and out are Linear(hidden -> hidden) under
 * `<scope>.<name>.{q,k,v,out}`; probs = softmax(q k^T / sqrt(dh) + mask) per head; out = Dense(probs' v)
 * with probs' the dropped-out probabilities. `mask` is ADDITIVE (0 where attended, -10000 where masked),
 * broadcastable to [B, heads, L, L] ([B, 1, L, L] or [B, 1, 1, L]), in x's dtype; null for none.
 * Batch and sequence dims stay symbolic. Three independent choices shape the graph, never the function:
 * the projection (fuseQKV), the attention core (splitHeads) and the query rows (pick, queries).
 */
export function selfAttention(
  g: Graph,
  name: string,
  x: Value,
  mask: Value | null,
  cfg: AttentionConfig,
): AttentionResult {
  const { hidden, heads } = cfg;
  if (hidden % heads !== 0) g.fail('Attention', `${name}: hidden ${hidden} is not a multiple of heads ${heads}`);
  if (x.rank !== 3) g.fail('Attention', `${name}: input ${x} must be [batch, seq, hidden]`);
  if (mask && mask.dtype !== x.dtype)
    g.fail('Attention', `${name}: mask ${mask} must have the input's dtype ${x.dtype}`);
  if (cfg.queries && !cfg.pick) g.fail('Attention', `${name}: queries without pick`);
  const dh = hidden / heads;
  const attend = cfg.splitHeads ? attendHeadByHead : attendHeadMajor;
  return g.withScope(name, () => {
    const lin = (n: string, v: Value) => linear(g, n, v, hidden, hidden, { init: cfg.init });
    const apart = () => ['q', 'k', 'v'].map((n) => lin(n, x));
    const [q, k, v] = cfg.fuseQKV === false ? apart() : projectQKV(g, x, hidden, cfg.init);
    if (!cfg.queries) {
      // The 1/sqrt(dh) scale on q ([B, L, hidden]) rather than on the scores ([B, heads, L, L]).
      const a = attend(g, op.mul(q, 1 / Math.sqrt(dh)), k, v, mask, heads, dh, cfg);
      return result(lin('out', cfg.pick ? cfg.pick(a.ctx) : a.ctx), a);
    }
    const { rows, more, cols, slot, mask: qmask } = cfg.queries;
    // Query row b < B reads row b itself; only the extra query rows gather their row's keys and values.
    const own = (t: Value) => op.concat([t, op.gather(t, more)], 0);
    // Query (rows[q], cols[q, p]) is row rows[q] * L + cols[q, p] of the flattened [B * L, hidden].
    const flat = op.add(op.mul(op.unsqueeze(rows, [1]), op.dimOf(x, 1)), cols);
    const qp = op.mul(op.gather(op.reshape(q, [-1, hidden]), flat), 1 / Math.sqrt(dh));
    const qrows = op.reshape(qp, op.concat([op.shapeOf(cols), op.int64s(g, [hidden])], 0), [null, null, hidden]);
    const a = attend(g, qrows, own(k), own(v), qmask, heads, dh, cfg);
    return result(lin('out', op.gather(op.reshape(a.ctx, [-1, hidden]), slot)), a);
  });
}

/**
 * x @ [Wq | Wk | Wv] + [bq | bk | bv] as one [hidden, 3 hidden] product, split into q, k, v: one GEMM (and
 * one in each direction of the backward pass) instead of three narrow ones. The parameters stay the
 * separate q/k/v Linears, concatenated in the graph.
 */
function projectQKV(g: Graph, x: Value, hidden: number, init?: LinearInit): Value[] {
  const inits = linearInits(hidden, init);
  // Declared in the order of three separate Linears (weight, bias per projection).
  const ps = ['q', 'k', 'v'].map((n) =>
    g.withScope(n, () => [
      g.param('weight', [hidden, hidden], inits.weight, { dtype: x.dtype }),
      g.param('bias', [hidden], inits.bias, { dtype: x.dtype }),
    ]),
  );
  const w = op.concat(
      ps.map((p) => p[0]),
      1,
    ),
    b = op.concat(
      ps.map((p) => p[1]),
      0,
    );
  return op.split(op.add(op.matmul(x, w), b), [hidden, hidden, hidden], -1);
}
