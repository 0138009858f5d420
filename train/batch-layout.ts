import type { HostTensor } from '../runtime/session.js';

export type Layout = 'packed' | 'padded';

/** Where packing put each history: row, first column and segment (1, 2, ... within the row). */
export interface RowLayout {
  rows: number;
  width: number;
  rowOf: Int32Array;
  colOf: Int32Array;
  segOf: Int32Array;
}

/**
 * Lays histories of these lengths out in rows as wide as the longest. 'packed' puts several histories in one
 * row (best fit, longest first) so a batch costs about its real tokens; 'padded' gives each its own row.
 */
export function packRows(lengths: number[], layout: Layout): RowLayout {
  const B = lengths.length,
    width = lengths.reduce((a, b) => Math.max(a, b), 0);
  const rowOf = new Int32Array(B),
    colOf = new Int32Array(B),
    segOf = new Int32Array(B).fill(1);
  if (layout === 'padded') {
    for (let i = 0; i < B; i++) rowOf[i] = i;
    return { rows: B, width, rowOf, colOf, segOf };
  }
  let rows = 0;
  const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  // free[k] lists rows with exactly k free slots; best fit takes the tightest row that holds the history.
  const free: number[][] = Array.from({ length: width + 1 }, () => []);
  const used: number[] = [],
    segs: number[] = [];
  for (const i of order) {
    const len = lengths[i];
    let k = len;
    while (k <= width && free[k].length === 0) k++;
    let r: number;
    if (k > width) {
      r = rows++;
      used.push(0);
      segs.push(0);
    } else r = free[k].pop()!;
    rowOf[i] = r;
    colOf[i] = used[r];
    segOf[i] = ++segs[r];
    used[r] += len;
    const left = width - used[r];
    if (left > 0) free[left].push(r);
  }
  return { rows, width, rowOf, colOf, segOf };
}

/** Read positions per query row of the last encoder layer (see lastLayerQueries). */
export const QUERIES_PER_ROW = 8;

export interface LastLayerQueries {
  pick_more: HostTensor;
  pick_col: HostTensor;
  pick_slot: HostTensor;
}

/**
 * Only each history's last position leaves the encoder, so the training and evaluation graphs run the last
 * layer's attention for those positions alone, grouped by packed row, P = QUERIES_PER_ROW at a time. Query
 * row r < R holds the first P read positions of packed row r; a row with more takes further query rows,
 * appended after the R first ones, whose packed rows are pick_more [Q - R]. pick_col [Q, P] holds the columns
 * (slots past a row's last history repeat its first column) and pick_slot [B] sample i's slot in the
 * flattened [Q * P]. Attention then costs Q x P x W scores instead of R x W x W, and only the few extra query
 * rows gather keys and values (whose gradient is a sorted scatter-add).
 */
export function lastLayerQueries(lengths: number[], at: RowLayout, P: number): LastLayerQueries {
  if (!(Number.isInteger(P) && P >= 1))
    throw new Error(`packHistories: queriesPerRow must be a positive integer, got ${P}`);
  const B = lengths.length,
    { rows, rowOf, colOf } = at;
  const byRow: number[][] = Array.from({ length: rows }, () => []);
  for (let i = 0; i < B; i++) byRow[rowOf[i]].push(i);
  const more: number[] = [],
    pcol: number[] = [];
  const slot = new BigInt64Array(B);
  const chunk = (r: number, k: number, q: number) => {
    const part = byRow[r].slice(k, k + P);
    const cols = part.map((i) => colOf[i] + lengths[i] - 1);
    part.forEach((i, j) => {
      slot[i] = BigInt(q * P + j);
    });
    for (let j = 0; j < P; j++) pcol.push(j < cols.length ? cols[j] : cols[0]);
  };
  for (let r = 0; r < rows; r++) {
    byRow[r].sort((a, b) => colOf[a] - colOf[b]);
    chunk(r, 0, r);
  }
  for (let r = 0; r < rows; r++) {
    for (let k = P; k < byRow[r].length; k += P) {
      chunk(r, k, rows + more.length);
      more.push(r);
    }
  }
  return {
    pick_more: { data: BigInt64Array.from(more, BigInt), dims: [more.length] },
    pick_col: { data: BigInt64Array.from(pcol, BigInt), dims: [rows + more.length, P] },
    pick_slot: { data: slot, dims: [B] },
  };
}
