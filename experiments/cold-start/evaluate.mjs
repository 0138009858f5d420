// Measures how well models extended with cold-start items (`hm4sr add-items`) rank them. The FULL dataset
// is loaded as training loads it (train/prepare.ts loadRunDataset, with the base model's kCore/dedupe) and
// split leave-one-out as training splits it (train/data/samples.ts buildSamples): a user's test item is
// their last interaction, their history everything before it. Test users whose test item is one of the
// split's new items (SPLIT/new/NAME.item, written by split.mjs) are "cold", the others "warm". Every model
// recommends top-K after each test user's history through its serving signature (runtime/recommender.ts);
// history items outside a model's catalog (the new items, for the base model) are dropped and counted.
// Like `hm4sr evaluate` (train/evaluate.ts: the target's rank among ALL items, history included), seen
// items are not excluded. A popularity baseline ranks the extended catalog (base items, then the new
// items) by interactions in the dataset outside every user's test interaction, ties by catalog index.
//
// Usage: node experiments/cold-start/evaluate.mjs --data DIR [--name NAME] --split SPLIT --base base.onnx
//          --model LABEL=extended.onnx [--model LABEL2=other.onnx ...] [--out FILE.json] [--k 10]
//          [--batch 256] [--threads 1]
// Prints one JSON object on stdout (and writes it to --out, atomically) and a markdown table on stderr.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Recommender, readServingMeta } from '../../dist/runtime/recommender.js';
import { DEFAULT_CONFIG } from '../../dist/train/config.js';
import { columnIndex, findAtomicFile, readAtomic, splitRow } from '../../dist/train/data/atomic.js';
import { resolveDataset } from '../../dist/train/data/builtin.js';
import { buildSamples } from '../../dist/train/data/samples.js';
import { MetricAccumulator } from '../../dist/train/metrics.js';
import { loadRunDataset } from '../../dist/train/prepare.js';
import { progressBar } from '../../dist/train/progress.js';

const USAGE =
  'usage: node experiments/cold-start/evaluate.mjs --data DIR [--name NAME] --split SPLIT --base base.onnx ' +
  '--model LABEL=model.onnx [--model ...] [--out FILE.json] [--k 10] [--batch 256] [--threads 1]';
const RESERVED = new Set(['base', 'popularity']);

function fail(msg) {
  process.stderr.write(`evaluate: ${msg}\n`);
  process.exit(1);
}

function options() {
  let a;
  try {
    a = parseArgs({
      options: {
        data: { type: 'string' },
        name: { type: 'string' },
        split: { type: 'string' },
        base: { type: 'string' },
        model: { type: 'string', multiple: true, default: [] },
        out: { type: 'string' },
        k: { type: 'string', default: '10' },
        batch: { type: 'string', default: '256' },
        threads: { type: 'string', default: '1' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    fail(`${e.message}\n${USAGE}`);
  }
  if (a.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  for (const o of ['data', 'split', 'base']) if (!a[o]) fail(`--${o} is required\n${USAGE}`);
  const int = (o, min) => {
    const v = Number(a[o]);
    if (!Number.isInteger(v) || v < min) fail(`--${o} ${a[o]}: must be an integer >= ${min}`);
    return v;
  };
  const models = [{ label: 'base', path: a.base }];
  for (const m of a.model) {
    const eq = m.indexOf('=');
    const label = eq < 0 ? '' : m.slice(0, eq),
      path = eq < 0 ? '' : m.slice(eq + 1);
    if (label === '' || path === '') fail(`--model ${m}: expected LABEL=PATH (e.g. --model zero=extended.onnx)`);
    if (RESERVED.has(label)) fail(`--model ${m}: the label "${label}" is reserved (base, popularity)`);
    if (models.some((x) => x.label === label)) fail(`--model ${m}: the label "${label}" is given twice`);
    models.push({ label, path });
  }
  for (const m of models) {
    const flag = m.label === 'base' ? `--base ${m.path}` : `--model ${m.label}=${m.path}`;
    if (!existsSync(m.path)) fail(`${flag}: no such file`);
    if (!statSync(m.path).isFile()) fail(`${flag}: not a file`);
  }
  if (!existsSync(a.split) || !statSync(a.split).isDirectory()) fail(`--split ${a.split}: no such directory`);
  return {
    data: a.data,
    name: a.name,
    split: a.split,
    models,
    out: a.out,
    k: int('k', 1),
    batch: int('batch', 1),
    threads: int('threads', 1),
  };
}

/** Item tokens of SPLIT/new/NAME.item(.gz), in file order. */
function newItemTokens(split, name) {
  const file = findAtomicFile(join(split, 'new'), name, 'item');
  if (file === null) fail(`${join(split, 'new', `${name}.item`)}: no such file (run split.mjs first)`);
  const { cols, rows } = readAtomic(file);
  const ii = columnIndex(file, cols, 'item_id');
  const out = [];
  for (const [line, lineNo] of rows) if (line !== '') out.push(splitRow(file, line, lineNo, cols.length)[ii]);
  return { file, tokens: out };
}

const GROUPS = ['cold', 'warm', 'all'];

/** Per-group metric accumulators (the project's own NDCG/HR definitions); a miss is rank k + 1. */
function groupAccumulators(k) {
  return Object.fromEntries(GROUPS.map((g) => [g, new MetricAccumulator(['ndcg', 'hr'], [k])]));
}
function addRank(acc, cold, rank) {
  acc[cold ? 'cold' : 'warm'].add(rank);
  acc.all.add(rank);
}
/** {cold, warm, all} of {ndcg@k, hr@k, users}; metrics are null for an empty group. */
function groupResults(acc, k) {
  return Object.fromEntries(
    GROUPS.map((g) => {
      const r = acc[g].result();
      const n = acc[g].count;
      return [g, { [`ndcg@${k}`]: n ? r[`ndcg@${k}`] : null, [`hr@${k}`]: n ? r[`hr@${k}`] : null, users: n }];
    }),
  );
}

async function evaluateModel(m, tests, k, batch, threads) {
  const rec = await Recommender.load(m.path, { threads });
  rec.checkK(k);
  let dropped = 0,
    usersWithDropped = 0,
    emptyHistories = 0,
    targetsOutside = 0,
    coldTargetsOutside = 0;
  // Histories restricted to the model's catalog; a user left with nothing cannot be asked (a miss).
  const asks = [];
  for (let s = 0; s < tests.length; s++) {
    const t = tests[s];
    if (!rec.index.has(t.target)) {
      targetsOutside += 1;
      if (t.cold) coldTargetsOutside += 1;
    }
    const items = [],
      times = [];
    t.items.forEach((tok, j) => {
      if (rec.index.has(tok) && rec.index.get(tok) !== 0) {
        items.push(tok);
        times.push(t.times[j]);
      }
    });
    const d = t.items.length - items.length;
    dropped += d;
    if (d > 0) usersWithDropped += 1;
    if (items.length === 0) emptyHistories += 1;
    else asks.push({ s, history: { items, times } });
  }
  const ranks = new Int32Array(tests.length).fill(k + 1);
  const bar = progressBar(`${m.label}`, asks.length, true);
  for (let b = 0; b < asks.length; b += batch) {
    const part = asks.slice(b, b + batch);
    const recs = await rec.recommend(
      part.map((x) => x.history),
      k,
      { excludeSeen: false },
    );
    part.forEach((x, i) => {
      const at = recs[i].items.indexOf(tests[x.s].target);
      if (at >= 0) ranks[x.s] = at + 1;
    });
    bar.update(Math.min(b + batch, asks.length));
  }
  bar.stop();
  await rec.release();
  const acc = groupAccumulators(k);
  tests.forEach((t, s) => addRank(acc, t.cold, ranks[s]));
  return {
    catalogItems: rec.tokens.length - 1,
    stats: {
      droppedHistoryTokens: dropped,
      usersWithDroppedTokens: usersWithDropped,
      emptyHistories,
      testItemsOutsideCatalog: targetsOutside,
      coldTestItemsOutsideCatalog: coldTargetsOutside,
    },
    metrics: groupResults(acc, k),
  };
}

/**
 * Most popular over the extended catalog (base tokens 1..N, then the new items not in it, in the order of
 * SPLIT/new/NAME.item): interactions outside every user's test interaction, ties by catalog index; seen
 * items are not excluded (as in the model protocol), so one global ranking serves every user.
 */
function popularity(ds, testPos, catalog, tests, k) {
  const index = new Map(catalog.map((t, i) => [t, i]));
  const isTest = new Uint8Array(ds.items.length);
  for (const p of testPos) isTest[p] = 1;
  const counts = new Float64Array(catalog.length);
  for (let p = 0; p < ds.items.length; p++) {
    if (isTest[p]) continue;
    const i = index.get(ds.itemTokens[ds.items[p]]);
    if (i !== undefined && i > 0) counts[i] += 1;
  }
  const order = Array.from({ length: catalog.length - 1 }, (_, i) => i + 1).sort(
    (a, b) => counts[b] - counts[a] || a - b,
  );
  const rankOf = new Map(order.map((i, r) => [catalog[i], r + 1]));
  const acc = groupAccumulators(k);
  for (const t of tests) addRank(acc, t.cold, Math.min(rankOf.get(t.target) ?? k + 1, k + 1));
  return {
    catalogItems: catalog.length - 1,
    top: order.slice(0, k).map((i) => ({ item: catalog[i], count: counts[i] })),
    metrics: groupResults(acc, k),
  };
}

function markdown(results, k, stats) {
  const f = (v) => (v === null ? '—' : v.toFixed(4));
  const lines = [
    `| model | cold NDCG@${k} | cold HR@${k} | warm NDCG@${k} | warm HR@${k} | all NDCG@${k} | all HR@${k} | dropped history tokens |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [label, r] of Object.entries(results)) {
    const m = r.metrics;
    const cells = GROUPS.flatMap((g) => [f(m[g][`ndcg@${k}`]), f(m[g][`hr@${k}`])]);
    lines.push(`| ${label} | ${cells.join(' | ')} | ${stats[label]?.droppedHistoryTokens ?? '—'} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  const o = options();
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const { dir, name } = resolveDataset(o.data, o.name, log);
  const base = readServingMeta(o.models[0].path);
  // The item indices (and the base model's training data) come from these settings: the full dataset is
  // built with the same ones, so the filtering is that of training.
  const data = {
    kCore: base.meta.data?.kCore ?? DEFAULT_CONFIG.data.kCore,
    dedupe: base.meta.data?.dedupe ?? DEFAULT_CONFIG.data.dedupe,
  };
  for (const m of o.models.slice(1)) {
    const d = readServingMeta(m.path).meta.data;
    if (d && (d.kCore !== data.kCore || d.dedupe !== data.dedupe))
      log(
        `warning: ${m.path} was built with kCore ${d.kCore}, dedupe ${d.dedupe}; the base with kCore ${data.kCore}, dedupe ${data.dedupe}`,
      );
  }
  const maxLen = base.meta.model.maxLen;
  const fresh = newItemTokens(o.split, name);
  const newSet = new Set(fresh.tokens);
  const splitJson = join(o.split, 'split.json');
  const split = existsSync(splitJson) ? JSON.parse(readFileSync(splitJson, 'utf8')) : null;
  const t0 = performance.now();
  const ds = loadRunDataset(dir, name, { ...data, categoryColumn: DEFAULT_CONFIG.data.categoryColumn });
  const { test } = buildSamples(ds, maxLen);
  log(
    `${dir}/${name}: ${ds.numUsers} users, ${ds.numItems} items, ${ds.numInteractions} interactions, ${test.size} test users (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  // Test user s: the history is the user's interactions before the test position (the full history; each
  // model's signature keeps its last maxLen items, as the eval batches do), the target the test item.
  const tests = [];
  const testPos = [];
  for (let s = 0; s < test.size; s++) {
    const u = test.user[s],
      pos = test.pos[s],
      a = ds.offsets[u];
    testPos.push(pos);
    const target = ds.itemTokens[ds.items[pos]];
    tests.push({
      user: ds.userTokens[u],
      target,
      cold: newSet.has(target),
      items: Array.from(ds.items.subarray(a, pos), (i) => ds.itemTokens[i]),
      times: Array.from(ds.timestamps.subarray(a, pos), Math.floor),
    });
  }
  const cold = tests.filter((t) => t.cold).length;
  const inDataset = new Set(ds.itemTokens.slice(1));
  const baseSet = new Set(base.tokens.slice(1));

  const results = {};
  const stats = {};
  for (const m of o.models) {
    const r = await evaluateModel(m, tests, o.k, o.batch, o.threads);
    const tokens = m.label === 'base' ? base.tokens : readServingMeta(m.path).tokens;
    const extendsBase = base.tokens.every((t, i) => tokens[i] === t);
    if (!extendsBase)
      log(`warning: ${m.path}: its first ${base.tokens.length - 1} items are not the base model's, in order`);
    results[m.label] = { path: m.path, catalogItems: r.catalogItems, extendsBase, metrics: r.metrics };
    stats[m.label] = r.stats;
  }
  const catalog = [...base.tokens, ...fresh.tokens.filter((t) => !baseSet.has(t))];
  const pop = popularity(ds, testPos, catalog, tests, o.k);
  results.popularity = { catalogItems: pop.catalogItems, metrics: pop.metrics, top: pop.top };

  const report = {
    data: { dir, name, ...data, maxLen, split: resolve(o.split), splitSummary: split },
    protocol: {
      k: o.k,
      excludeSeen: false,
      history:
        'all interactions before the test item (leave-one-out, buildSamples); items outside the model catalog dropped',
      popularity: 'interactions outside every test interaction; catalog = base items then new items; ties by index',
    },
    counts: {
      datasetUsers: ds.numUsers,
      datasetItems: ds.numItems,
      users: tests.length,
      coldUsers: cold,
      warmUsers: tests.length - cold,
      newItems: newSet.size,
      newItemsInDataset: [...newSet].filter((t) => inDataset.has(t)).length,
      newItemsAsTestItem: new Set(tests.filter((t) => t.cold).map((t) => t.target)).size,
      newItemsInBaseCatalog: [...newSet].filter((t) => baseSet.has(t)).length,
      oldTestItemsOutsideBaseCatalog: tests.filter((t) => !t.cold && !baseSet.has(t.target)).length,
      droppedHistoryTokens: Object.fromEntries(Object.entries(stats).map(([l, s]) => [l, s.droppedHistoryTokens])),
      perModel: stats,
    },
    results,
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (o.out) {
    mkdirSync(dirname(resolve(o.out)), { recursive: true });
    writeFileSync(`${o.out}.tmp`, json);
    renameSync(`${o.out}.tmp`, o.out);
  }
  process.stdout.write(json);
  process.stderr.write(
    `\n${cold} cold / ${tests.length - cold} warm test users; ${newSet.size} new items, ${report.counts.newItemsAsTestItem} of them a test item\n`,
  );
  process.stderr.write(markdown(results, o.k, stats));
}

main().catch((e) => fail(e?.message ?? String(e)));
