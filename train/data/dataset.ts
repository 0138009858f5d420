// Turns raw atomic columns into the indexed dataset the trainer uses: de-duplication, iterative
// k-core, stable chronological order per user, dense ids, and category labels.
import { InputError } from '../../graph/input-file.js';
import {
  findAtomicFile,
  readAtomic,
  readInter,
  readItems,
  type InterColumns,
  type ItemInfo,
  type ReadInterOptions,
} from './atomic.js';

export interface DatasetOptions {
  /** Minimum interactions per user and per item, applied until stable; 0 disables. Default 5. */
  kCore?: number;
  /** Drop exact duplicate (user, item, timestamp) rows, keeping the first. Default true. */
  dedupe?: boolean;
}

export interface CategoryLabels {
  /** Class id -> category token, ids 0..C-1 in order of first appearance over items 1..N. */
  names: string[];
  /** Item index -> sorted class ids; entry 0 (padding) and items absent from the item file are empty. */
  labels: Int32Array[];
  /** Dataset items that had no row in the item file. */
  itemsWithoutInfo: number;
}

export interface BuildReport {
  rowsRead: number;
  duplicatesRemoved: number;
  /** Rounds until no row was dropped, counting the final check (1 when k-core changes nothing). */
  kCoreRounds: number;
  kCoreRowsDropped: number;
}

export interface Dataset {
  numUsers: number;
  /** Real items; ids run 1..numItems and 0 is padding. */
  numItems: number;
  numInteractions: number;
  /** User index (0-based, order of first appearance) -> token. */
  userTokens: string[];
  /** Item index -> token; entry 0 is '' (padding). */
  itemTokens: string[];
  /** CSR layout: user u's history is positions offsets[u] .. offsets[u+1]-1, chronological. */
  offsets: Int32Array;
  items: Int32Array;
  timestamps: Float64Array;
  /** Earliest timestamp in the dataset: the origin of the "days" absolute-time feature. */
  firstTimestamp: number;
  lastTimestamp: number;
  categories: CategoryLabels | null;
  /**
   * Every item token the source files mention (interaction rows before filtering, item-file
   * rows): a feature row for one of these that is not in the dataset was filtered, not a mistake.
   */
  knownItemTokens: ReadonlySet<string>;
  report: BuildReport;
}

export interface UserSequence {
  items: Int32Array;
  timestamps: Float64Array;
}

/** Views (no copies) of user u's chronological history. */
export function userSequence(ds: Dataset, u: number): UserSequence {
  const a = ds.offsets[u],
    b = ds.offsets[u + 1];
  return { items: ds.items.subarray(a, b), timestamps: ds.timestamps.subarray(a, b) };
}

/** Dense [(numItems + 1) x C] 0/1 label matrix (row 0 all zero), e.g. for a graph constant. */
export function multiHot(categories: CategoryLabels): Float32Array {
  const c = categories.names.length;
  const out = new Float32Array(categories.labels.length * c);
  categories.labels.forEach((ids, item) => ids.forEach((id) => (out[item * c + id] = 1)));
  return out;
}

/** Dense ids in order of first appearance; returns per-row ids and id -> token. */
function intern(tokens: string[], rows: Int32Array): { ids: Int32Array; names: string[] } {
  const map = new Map<string, number>();
  const names: string[] = [];
  const ids = new Int32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const tok = tokens[rows[r]];
    let id = map.get(tok);
    if (id === undefined) {
      id = names.length;
      map.set(tok, id);
      names.push(tok);
    }
    ids[r] = id;
  }
  return { ids, names };
}

function dedupeRows(inter: InterColumns, rows: Int32Array): Int32Array {
  const seen = new Set<string>();
  const keep: number[] = [];
  for (const r of rows) {
    // Tabs cannot occur inside atomic tokens, so the key is unambiguous.
    const key = `${inter.users[r]}\t${inter.items[r]}\t${inter.timestamps[r]}`;
    if (seen.has(key)) continue;
    seen.add(key);
    keep.push(r);
  }
  return Int32Array.from(keep);
}

/** Repeats "drop rows whose user or item has < k rows" until a round drops nothing. */
export function kCoreFilter(inter: InterColumns, rows: Int32Array, k: number): { rows: Int32Array; rounds: number } {
  if (k <= 0) return { rows, rounds: 0 };
  const u = intern(inter.users, rows).ids;
  const i = intern(inter.items, rows).ids;
  let alive = Int32Array.from(rows.keys());
  let rounds = 0;
  for (;;) {
    rounds += 1;
    const uc = new Int32Array(rows.length);
    const ic = new Int32Array(rows.length);
    for (const r of alive) {
      uc[u[r]] += 1;
      ic[i[r]] += 1;
    }
    const next = alive.filter((r) => uc[u[r]] >= k && ic[i[r]] >= k);
    if (next.length === alive.length) break;
    alive = next;
  }
  return { rows: alive.map((r) => rows[r]), rounds };
}

function buildCategories(itemTokens: string[], info: Map<string, ItemInfo>): CategoryLabels {
  const index = new Map<string, number>();
  const names: string[] = [];
  const labels: Int32Array[] = [new Int32Array(0)];
  let missing = 0;
  for (let it = 1; it < itemTokens.length; it++) {
    const meta = info.get(itemTokens[it]);
    if (meta === undefined) missing += 1;
    const ids = new Set<number>();
    for (const c of meta?.categories ?? []) {
      let id = index.get(c);
      if (id === undefined) {
        id = names.length;
        index.set(c, id);
        names.push(c);
      }
      ids.add(id);
    }
    labels.push(Int32Array.from(ids).sort());
  }
  return { names, labels, itemsWithoutInfo: missing };
}

/** Longest time span a dataset may cover: the "days" absolute-time embedding has one row per day. */
export const MAX_SPAN_DAYS = 100_000;

/**
 * Row positions grouped by user (offsets[u]..offsets[u + 1]), each user's rows by time. Counting sort by user
 * keeps file order within a user; a stable sort by time then gives ties in file order.
 */
function chronologicalOrder(
  userIds: Int32Array,
  numUsers: number,
  ts: (r: number) => number,
): { offsets: Int32Array; order: Int32Array } {
  const offsets = new Int32Array(numUsers + 1);
  for (const uid of userIds) offsets[uid + 1] += 1;
  for (let x = 0; x < numUsers; x++) offsets[x + 1] += offsets[x];
  const fill = offsets.slice(0, numUsers);
  const order = new Int32Array(userIds.length);
  for (let r = 0; r < userIds.length; r++) order[fill[userIds[r]]++] = r;
  for (let uid = 0; uid < numUsers; uid++) {
    const seg = order.subarray(offsets[uid], offsets[uid + 1]);
    const sorted = Array.from(seg).sort((a, b) => ts(a) - ts(b) || a - b);
    seg.set(sorted);
  }
  return { offsets, order };
}

/** Items (ids + 1) and timestamps in per-user chronological order, and the time span, which must fit the embedding. */
function chronologicalColumns(path: string, order: Int32Array, itemIds: Int32Array, ts: (r: number) => number) {
  const items = new Int32Array(order.length);
  const timestamps = new Float64Array(order.length);
  let first = Infinity,
    last = -Infinity;
  for (let p = 0; p < order.length; p++) {
    const r = order[p];
    items[p] = itemIds[r] + 1;
    const t = ts(r);
    timestamps[p] = t;
    if (t < first) first = t;
    if (t > last) last = t;
  }
  if ((last - first) / 86400 > MAX_SPAN_DAYS) {
    const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);
    throw new InputError(
      path,
      `the interactions span ${Math.round((last - first) / 86400)} days (${day(first)} to ${day(last)}); at most ${MAX_SPAN_DAYS} days (about 270 years) are supported, since the absolute-time embedding has a row per day`,
    );
  }
  return { items, timestamps, first, last };
}

/**
 * Builds the dataset from raw columns. Ids are assigned scanning the kept rows in FILE order
 * (not per-user chronological order), so they do not depend on the sort.
 */
export function buildDataset(
  inter: InterColumns,
  itemInfo: Map<string, ItemInfo> | null,
  opts: DatasetOptions = {},
): Dataset {
  const k = opts.kCore ?? 5;
  const rowsRead = inter.users.length;
  let rows: Int32Array = Int32Array.from({ length: rowsRead }, (_, r) => r);
  if (opts.dedupe ?? true) rows = dedupeRows(inter, rows);
  const duplicatesRemoved = rowsRead - rows.length;
  const core = kCoreFilter(inter, rows, k);
  const kCoreRowsDropped = rows.length - core.rows.length;
  rows = core.rows;
  if (rows.length === 0) {
    throw new Error(`${inter.path}: no interactions left after ${k}-core filtering (${rowsRead} read)`);
  }

  const users = intern(inter.users, rows);
  const itemIds = intern(inter.items, rows);
  const numUsers = users.names.length;
  const numItems = itemIds.names.length;

  const ts = (r: number): number => inter.timestamps[rows[r]];
  const { offsets, order } = chronologicalOrder(users.ids, numUsers, ts);

  const { items, timestamps, first, last } = chronologicalColumns(inter.path, order, itemIds.ids, ts);
  const itemTokens = ['', ...itemIds.names];
  const knownItemTokens = new Set(inter.items);
  for (const tok of itemInfo?.keys() ?? []) knownItemTokens.add(tok);
  return {
    numUsers,
    numItems,
    numInteractions: rows.length,
    userTokens: users.names,
    itemTokens,
    offsets,
    items,
    timestamps,
    firstTimestamp: first,
    lastTimestamp: last,
    categories: itemInfo === null ? null : buildCategories(itemTokens, itemInfo),
    knownItemTokens,
    report: { rowsRead, duplicatesRemoved, kCoreRounds: core.rounds, kCoreRowsDropped },
  };
}

export interface LoadDatasetOptions extends DatasetOptions, ReadInterOptions {
  interPath: string;
  /** Item file with category labels; omit for ID-only data. */
  itemPath?: string;
  /** token_seq column of the item file holding category labels. Default "categories". */
  categoryColumn?: string;
}

export function loadDataset(opts: LoadDatasetOptions): Dataset {
  const inter = readInter(opts.interPath, opts);
  const info =
    opts.itemPath === undefined
      ? null
      : readItems(opts.itemPath, { categoryColumn: opts.categoryColumn ?? 'categories' });
  return buildDataset(inter, info, opts);
}

/** 'auto' picks the first of categories / attr_ids / category present in the item file's header. */
export function resolveCategoryColumn(itemPath: string, wanted: string): string | null {
  const names = readAtomic(itemPath).cols.map((c) => c.name);
  if (wanted !== 'auto') {
    if (!names.includes(wanted))
      throw new InputError(itemPath, `no column "${wanted}" (columns: ${names.join(', ')})`, 1);
    return wanted;
  }
  return ['categories', 'attr_ids', 'category'].find((c) => names.includes(c)) ?? null;
}

export interface AtomicDatasetOptions extends DatasetOptions {
  /** NAME.item column with category labels, or 'auto' (the default). */
  categoryColumn?: string;
  /** false: ignore NAME.item even when it exists. */
  itemFile?: boolean;
}

/**
 * `DIR/NAME.inter` (+ `DIR/NAME.item` when present), each possibly gzip-compressed (`.inter.gz`), the
 * RecBole directory layout. Every command loads data through here, so they all give the same verdict.
 */
export function loadAtomicDataset(dir: string, name: string, opts: AtomicDatasetOptions = {}): Dataset {
  const interPath = findAtomicFile(dir, name, 'inter');
  if (interPath === null) throw new InputError(`${dir}/${name}.inter`, 'no such file (nor a .gz of it)');
  const itemPath = opts.itemFile === false ? null : findAtomicFile(dir, name, 'item');
  const categoryColumn = itemPath === null ? null : resolveCategoryColumn(itemPath, opts.categoryColumn ?? 'auto');
  return loadDataset({
    ...opts,
    interPath,
    itemPath: itemPath === null || categoryColumn === null ? undefined : itemPath,
    categoryColumn: categoryColumn ?? undefined,
  });
}
