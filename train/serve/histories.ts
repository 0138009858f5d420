import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHeader, readItems } from '../data/atomic.js';
import { type Dataset, loadAtomicDataset } from '../data/dataset.js';
import type { ServingMeta, UserHistory } from '../../runtime/recommender.js';

/** A dataset's users and their full histories, indexed as the model's catalog, with item titles when it has them. */
export interface ServingData {
  ds: Dataset;
  titles: Map<string, string> | null;
  userIndex: Map<string, number>;
  history(u: number): UserHistory;
}

/**
 * Rebuilds the dataset the way the model's training run did (same k-core and de-duplication, from its
 * metadata) and checks that its catalog is the model's, item for item.
 */
export function loadServingData(dir: string, name: string, meta: ServingMeta, tokens: string[]): ServingData {
  const ds = loadAtomicDataset(dir, name, { kCore: meta.data.kCore, dedupe: meta.data.dedupe, itemFile: false });
  // Items added after training (add-items) follow the trained catalog, which the dataset must equal.
  const trained = meta.added?.length ? meta.added[0].first : tokens.length;
  const added = tokens.length - trained;
  const differs = ds.itemTokens.length !== trained ? 0 : ds.itemTokens.findIndex((t, i) => t !== tokens[i]);
  if (differs !== -1) {
    throw new Error(
      `${join(dir, `${name}.inter`)}: not the dataset the model was trained on (${ds.numItems} items after ${meta.data.kCore}-core, ` +
        `the model has ${trained - 1}${added ? ` trained and ${added} added` : ''}${differs > 0 ? `; item ${differs} is "${ds.itemTokens[differs]}" here, "${tokens[differs]}" in the model` : ''})`,
    );
  }
  return {
    ds,
    titles: readTitles(join(dir, `${name}.item`)),
    userIndex: new Map(ds.userTokens.map((t, i) => [t, i])),
    history(u) {
      const a = ds.offsets[u],
        b = ds.offsets[u + 1];
      return {
        items: Array.from(ds.items.subarray(a, b), (i) => ds.itemTokens[i]),
        times: Array.from(ds.timestamps.subarray(a, b)),
      };
    },
  };
}

/** Item titles from NAME.item's `title` column; null when there is no item file or no such column. */
export function readTitles(path: string): Map<string, string> | null {
  if (!existsSync(path)) return null;
  const text = readFileSync(path, 'utf8');
  const header = text
    .slice(0, text.indexOf('\n') >>> 0)
    .replace(/\r$/, '')
    .replace(/^\uFEFF/, '');
  if (!parseHeader(path, header).some((c) => c.name === 'title')) return null;
  const info = readItems(path, { categoryColumn: 'title', titleColumn: 'title' });
  return new Map([...info].map(([t, i]) => [t, i.title]));
}

export interface NamedHistory extends UserHistory {
  id: string;
}

/** A history given on the command line: comma-separated tokens and (optional) Unix seconds. */
export function parseHistory(
  items: string,
  times: string | undefined,
  now = Math.floor(Date.now() / 1000),
): NamedHistory {
  const toks = items
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (toks.length === 0) throw new Error('--items: empty history (give at least one item token)');
  let ts: number[];
  if (times === undefined)
    ts = toks.map((_, i) => now - (toks.length - 1 - i) * 86400); // one day apart, ending now
  else {
    ts = times.split(',').map((s, i) => {
      const x = Number(s.trim());
      if (s.trim() === '' || !Number.isSafeInteger(x))
        throw new Error(`--times: entry ${i + 1} (${JSON.stringify(s.trim())}) is not an integer of Unix seconds`);
      return x;
    });
    if (ts.length !== toks.length) throw new Error(`--times gives ${ts.length} timestamps for ${toks.length} items`);
  }
  return { id: 'history', items: toks, times: ts };
}

/** Users of a dataset by token, each with their full history. */
export function datasetHistories(data: ServingData, users: string[]): NamedHistory[] {
  return users.map((u) => {
    const i = data.userIndex.get(u);
    if (i === undefined)
      throw new Error(
        `unknown user "${u}" (the dataset has ${data.ds.numUsers} users, e.g. "${data.ds.userTokens[0]}")`,
      );
    return { id: u, ...data.history(i) };
  });
}
