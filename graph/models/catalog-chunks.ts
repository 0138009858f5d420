// Scoring the whole catalog chunk by chunk (Hm4srConfig.catalogChunk): an ONNX Loop whose body scores one
// chunk of catalog rows, so a session holds one [B, chunk] block of scores, never [B, N]. A Loop rather than
// unrolled chunks: identical per-chunk nodes could be merged by onnxruntime's common-subexpression elimination,
// keeping every chunk's scores alive at once.
import type { Graph, Value } from '../graph.js';
import * as op from '../ops/index.js';

/** Rows [start, start + len) of a catalog table: `rows` [len, d], `start` an int64 scalar. */
export interface Chunk {
  rows: Value;
  start: Value;
}

/**
 * A Loop over the table's rows [from, table rows) in chunks of `size` rows (the last one shorter when size does
 * not divide them), carrying `carried` through `step`. Returns the final carried values.
 */
export function overChunks(
  g: Graph,
  table: Value,
  from: number,
  size: number,
  carried: Value[],
  step: (chunk: Chunk, carried: Value[]) => Value[],
  name: string,
): Value[] {
  const total = table.dim(0);
  if (typeof total !== 'number') return g.fail('Loop', `chunks need a static row count, got ${table}`);
  const trips = op.scalar(g, Math.ceil((total - from) / size), 'int64');
  return op.loop(
    g,
    trips,
    carried,
    (_body, iter, ins) => {
      const start = op.add(op.mul(iter, size), from);
      const begin = op.unsqueeze(start, [0]);
      // Slice clamps an end past the table: the last chunk is the rows that are left.
      const rows = op.sliceDynamic(table, begin, op.add(begin, size), [0], [null, table.dim(1)]);
      return { carried: step({ rows, start }, ins) };
    },
    { name },
  ).carried;
}

/**
 * rankAmongItems(MatMul(user, items^T), target) (hm4sr-blocks.ts) over chunks of `size` items: the 1-based rank
 * of each row's target among items 1..N (items [N, d] holds them in order), pessimistic ties. The target's score
 * must be the very matmul element the counts compare against (a dot product computed another way can differ by
 * an ulp and move a rank at a tie), so a first pass reads it out of the chunk that holds it and a second counts
 * the scores >= it: twice the scoring matmuls, one chunk of scores at a time.
 */
export function chunkedRank(user: Value, items: Value, target: Value, size: number): Value {
  const g = user.graph;
  const col = op.sub(target, 1);
  const score = (ch: Chunk) => op.matmul(user, op.transposeLast(ch.rows));
  const col1 = op.unsqueeze(col, [1]);
  const unread = op.constantOfShape(op.shapeOf(col1), 'float32', 0, col1.shape ?? undefined);
  const [t] = overChunks(
    g,
    items,
    0,
    size,
    [unread],
    (ch, [was]) => [targetScore(score(ch), col, ch.start, was)],
    'target',
  );
  const [rank] = overChunks(
    g,
    items,
    0,
    size,
    [op.zerosLike(col)],
    (ch, [n]) => {
      // Counts in float32 as the whole form does (exact below 2^24 per chunk), summed across chunks in int64.
      const ge = op.reduceSum(op.cast(op.greaterOrEqual(score(ch), t), 'float32'), [1]);
      return [op.add(n, op.cast(ge, 'int64'))];
    },
    'count',
  );
  return rank;
}

/** s [B, len] scores of the items from `start`: the row's score at column col [B] where it lies in the chunk, else `was`. */
function targetScore(s: Value, col: Value, start: Value, was: Value): Value {
  const local = op.sub(col, start);
  const width = op.dimOf(s, 1);
  const inside = op.and(op.greaterOrEqual(local, 0), op.less(local, width));
  // GatherElements needs an index inside the chunk even for rows whose target lies elsewhere.
  const at = op.min(op.max(local, 0), op.sub(width, 1));
  return op.where(op.unsqueeze(inside, [1]), op.gatherElements(s, op.unsqueeze(at, [1]), 1), was);
}

/**
 * TopK(k) along axis 1 of the scores of every table row, chunk by chunk: the values and table-row indices the
 * TopK over all rows at once gives, ties included. `score` gives a chunk's scores [B, len]; `head` marks the
 * first chunk, rows [0, max(size, k)) outside the Loop, which seeds the running best with k real entries (a
 * placeholder entry would win ties against a real one). Each later chunk's TopK(min(k, len)) is merged with the
 * running best by a TopK over [best, chunk]: TopK puts the lower index first among equal values, and the best
 * so far (lower rows, in order) comes first, so ties resolve as over the whole catalog.
 */
export function chunkedTopK(
  table: Value,
  size: number,
  k: number,
  score: (ch: Chunk, head: boolean) => Value,
): [Value, Value] {
  const g = table.graph;
  const total = table.dim(0) as number;
  const first = Math.min(total, Math.max(size, k));
  const head = { rows: op.slice(table, [0], [first], [0]), start: op.scalar(g, 0, 'int64') };
  const best = op.topK(score(head, true), k, 1);
  if (first === total) return best;
  const [vals, idx] = overChunks(
    g,
    table,
    first,
    size,
    best,
    (ch, [bestVals, bestIdx]) => {
      const s = score(ch, false);
      const [v, i] = op.topK(s, op.min(op.unsqueeze(op.dimOf(s, 1), [0]), k), 1);
      const [merged, at] = op.topK(op.concat([bestVals, v], 1), k, 1);
      return [merged, op.gatherElements(op.concat([bestIdx, op.add(i, ch.start)], 1), at, 1)];
    },
    'topk',
  );
  return [vals, idx];
}
