import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addItems, type AddItemsOptions } from '../featurize/add-items.js';
import { featurizeTextTfidf } from '../featurize/featurize.js';
import { writeRandomBert } from '../featurize/random-model.js';
import { Graph } from '../graph/graph.js';
import { declareBatch } from '../graph/model.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { writeDemo } from '../runtime/demo.js';
import { Recommender, type ServingFeaturizers, readServingMeta } from '../runtime/recommender.js';
import { writeTritonRepository } from '../runtime/triton.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { alignFeatures, readFeatureTable } from '../train/data/features.js';
import { featurizerRecordPath, readFeaturizerRecord } from '../train/data/featurizer-record.js';
import { generateSynthetic } from '../train/data/synth.js';
import { writeServingModel } from '../train/export.js';
import { loadServingData } from '../train/serve/histories.js';
import { checkModels } from './util/checker.js';
import { rng } from './util/gradcheck.js';
import { paramValues } from './util/params.js';
import { tinyHm4sr } from './util/tiny-hm4sr.js';
import { tempDir } from './util/tmp.js';

// A model over a small synthetic catalog with TF-IDF text features (random weights: adding items must not
// depend on training), its TopK as wide as any catalog here so every item's score can be read.
const dir = tempDir('hm4sr-add-items-');
const data = join(dir, 'data'),
  name = 'mini';
generateSynthetic({ dir: data, name, users: 60, items: 30, categories: 4, textDim: 8, minLen: 5, maxLen: 12, seed: 9 });
rmSync(join(data, `${name}.image.f32`));
featurizeTextTfidf({ dir: data, name, out: data, dim: 16, log: () => {} });
const ds = loadAtomicDataset(data, name, { kCore: 5, itemFile: false });
const config = tinyHm4sr(ds, {
  modalities: ['id', 'txt'],
  zeroFeatures: [],
  textDim: 16,
  numCategories: 0,
  maxLen: 10,
  intervalBuckets: 3000,
});
const g = new Graph('probe');
hm4srModel(config).loss(g, declareBatch(g, hm4srModel(config).batch));
const values = paramValues(g, rng(23));
const textTable = readFeaturesInDatasetOrder();
values.set('features.text', textTable);
const record = readFeaturizerRecord(featurizerRecordPath(data, name, 'text'), join(data, `${name}.text.f32`));
/** The model over the catalog with these featurizer records, at `path`. */
function writeModel(path: string, topK: number, featurizers?: ServingFeaturizers): string {
  writeServingModel(path, {
    model: config,
    values,
    tokens: ds.itemTokens,
    topK,
    encode: { mu: 100, maxBucket: config.intervalBuckets - 1, absTime: 'days', timeOrigin: ds.firstTimestamp },
    data: { kCore: 5, dedupe: true },
    featurizers,
  });
  return path;
}
const base = writeModel(join(dir, 'model.onnx'), 100, { txt: record.record ?? { missing: 'test setup' } });

/** The text table rows in the dataset's item order (row 0 padding), as training binds them. */
function readFeaturesInDatasetOrder(): Float32Array {
  return alignFeatures(readFeatureTable(join(data, `${name}.text.f32`)), ds.itemTokens, {
    known: ds.knownItemTokens,
  }).data;
}

const itemLines = readFileSync(join(data, `${name}.item`), 'utf8')
  .trim()
  .split('\n');
const header = itemLines[0];
const rowOf = (tok: string) => itemLines.find((l) => l.startsWith(`${tok}\t`))!;

/** DIR/mini.item with the given rows (and the catalog's header unless another is given). */
function newItemsDir(label: string, rows: string[], head = header): string {
  const d = join(dir, label);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${name}.item`), `${[head, ...rows].join('\n')}\n`);
  return d;
}

const opts = (over: Partial<AddItemsOptions>): AddItemsOptions => ({
  model: base,
  data: '',
  out: join(dir, 'ext.onnx'),
  idRule: 'nearest',
  neighbours: 10,
  modelsDir: join(dir, 'models'),
  batch: 8,
  log: () => {},
  topK: 100,
  ...over,
});

/** Every item's score for each history (token -> score), read through the model's own TopK. */
async function allScores(model: string, histories: { items: string[]; times: number[] }[]) {
  const rec = await Recommender.load(model);
  const n = rec.tokens.length - 1;
  const out = (await rec.recommend(histories, n)).map((r) => new Map(r.items.map((t, i) => [t, r.scores[i]])));
  await rec.release();
  return out;
}

const twin = ds.itemTokens[7];
const histories = [1, 2, 3].map((u) => {
  const items = [ds.itemTokens[u], ds.itemTokens[u + 5], ds.itemTokens[u + 11]];
  return { items, times: [1_500_000_000, 1_500_086_400 * 1, 1_500_200_000 + u] };
});

test('add-items: the old items keep their scores bit for bit; the twin of an item ranks next to it', async () => {
  // n-twin copies item 7's text; n-other is text no item has.
  const twinRow = rowOf(twin).replace(/^[^\t]+/, 'n-twin');
  const other = rowOf(ds.itemTokens[3]).replace(/^[^\t]+/, 'n-other');
  const d = newItemsDir('new', [twinRow, other]);
  const out = join(dir, 'ext.onnx');
  const r = await addItems(opts({ data: d, out, neighbours: 1 }));
  assert.equal(r.items, { before: ds.numItems, added: 2, after: ds.numItems + 2 });
  checkModels([out]);
  const { meta, tokens } = readServingMeta(out);
  assert.equal(tokens.slice(0, ds.numItems + 1), ds.itemTokens);
  assert.equal(tokens.slice(-2), ['n-twin', 'n-other']);
  assert.equal(meta.added, [{ first: ds.numItems + 1, count: 2, idRule: 'nearest' }]);
  const before = await allScores(base, histories),
    after = await allScores(out, histories);
  histories.forEach((_, u) => {
    assert.is(after[u].size, ds.numItems + 2);
    for (const [tok, s] of before[u])
      assert.ok(Object.is(after[u].get(tok), s), `history ${u}: ${tok} ${s} -> ${after[u].get(tok)}`);
    // Same text, and (nearest, 1 neighbour) the ID vector of the item whose text it is: the same score.
    assert.is(after[u].get('n-twin'), after[u].get(twin));
    const ranked = [...after[u].keys()];
    assert.is(Math.abs(ranked.indexOf('n-twin') - ranked.indexOf(twin)), 1);
  });
  // The extended model serves through the same signature: Triton's repository too; the demo page marks
  // the added items.
  const tri = writeTritonRepository(out, join(dir, 'triton'), { name: 'hm4sr' });
  assert.ok(existsSync(tri.model));
  // score and recommend --user read the training data's users against the trained part of the catalog.
  const served = loadServingData(data, name, meta, tokens);
  assert.equal(served.history(2).items.slice(0, 2), [
    ds.itemTokens[ds.items[ds.offsets[2]]],
    ds.itemTokens[ds.items[ds.offsets[2] + 1]],
  ]);
  assert.throws(() => loadServingData(data, name, { ...meta, added: undefined }, tokens), /the model has 32/);
  writeDemo(out, join(dir, 'site'), null);
  const shown = JSON.parse(readFileSync(join(dir, 'site', 'items.json'), 'utf8'));
  assert.equal(shown.added, [[ds.numItems + 1, ds.numItems + 3]]);
});

test('add-items: the ID rules give zero, the catalog mean, or the nearest items mean; a new model adds again', async () => {
  const d = newItemsDir('rules', [rowOf(twin).replace(/^[^\t]+/, 'n-a')]);
  const read = async (rule: AddItemsOptions['idRule'], k = 10) => {
    const out = join(dir, `rule-${rule}-${k}.onnx`);
    await addItems(opts({ data: d, out, idRule: rule, neighbours: k }));
    return out;
  };
  const zero = await allScores(await read('zero'), histories);
  const mean = await allScores(await read('mean'), histories);
  const near = await allScores(await read('nearest', 3), histories);
  // Rules change only the new item's score.
  for (const s of [mean, near])
    for (const [tok, v] of zero[0]) if (tok !== 'n-a') assert.ok(Object.is(s[0].get(tok), v));
  assert.not.equal(zero[0].get('n-a'), mean[0].get('n-a'));
  assert.not.equal(mean[0].get('n-a'), near[0].get('n-a'));
  // Adding to an extended model appends after its added items and keeps the record of both.
  const again = join(dir, 'again.onnx');
  await addItems(
    opts({
      model: join(dir, 'rule-zero-10.onnx'),
      data: newItemsDir('second', [rowOf(ds.itemTokens[4]).replace(/^[^\t]+/, 'n-b')]),
      out: again,
    }),
  );
  const m = readServingMeta(again);
  assert.equal(m.tokens.slice(-2), ['n-a', 'n-b']);
  assert.equal(m.meta.added, [
    { first: ds.numItems + 1, count: 1, idRule: 'zero' },
    { first: ds.numItems + 2, count: 1, idRule: 'nearest' },
  ]);
});

/** add-items that must fail with `message` and write nothing. */
async function refused(over: Partial<AddItemsOptions>, message: RegExp): Promise<void> {
  const out = join(dir, 'refused', 'out.onnx');
  try {
    await addItems(opts({ out, ...over }));
    assert.unreachable('add-items succeeded');
  } catch (e) {
    assert.instance(e, Error);
    if ((e as Error).name === 'Assertion') throw e;
    assert.match((e as Error).message, message);
  }
  assert.not.ok(existsSync(out), 'nothing written');
  if (existsSync(join(dir, 'refused'))) assert.equal(readdirSync(join(dir, 'refused')), []);
}

test('add-items: refuses an item the catalog has, an item without text, a missing column, naming each', async () => {
  await refused(
    { data: newItemsDir('dup', [rowOf(twin)]) },
    new RegExp(`already in the model's catalog \\(${twin}\\)`),
  );
  const empty = rowOf(twin)
    .split('\t')
    .map((_, i) => (i === 0 ? 'n-empty' : ''))
    .join('\t');
  await refused({ data: newItemsDir('empty', [empty]) }, /1 new item\(s\) without text \(n-empty\)/);
  // Unless asked: then a zero text row, as featurize gives catalog items without text.
  const out = join(dir, 'allowed.onnx');
  const warned: string[] = [];
  await addItems(opts({ data: join(dir, 'empty'), out, allowMissing: true, log: (m) => warned.push(m) }));
  assert.ok(
    warned.some((m) => /1 new item\(s\) without text get zero text rows: n-empty/.test(m)),
    warned.join('\n'),
  );
  assert.is(readServingMeta(out).meta.model.numItems, ds.numItems + 1);
  await refused(
    { data: newItemsDir('nocol', ['n-x\tc00 c00s0'], 'item_id:token\tcategories:token_seq') },
    /no title, brand column; the model's text featurizer \(tfidf\) read title, categories, brand/,
  );
});

test('add-items: refuses a model without a featurizer record, and an encoder whose files differ', async () => {
  const bare = writeModel(join(dir, 'bare.onnx'), 10);
  const d = newItemsDir('fine', [rowOf(twin).replace(/^[^\t]+/, 'n-c')]);
  await refused({ model: bare, data: d }, /does not record how its text features were made/);
  // A record of a BERT model, and a directory holding another one.
  const bert = join(dir, 'bert');
  writeRandomBert(bert, {
    vocab: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello'],
    hidden: 16,
    layers: 1,
    heads: 2,
    intermediate: 32,
    maxPositions: 32,
    seed: 1,
  });
  const bertRecord = {
    format: 'hm4sr.featurizer/1',
    kind: 'text',
    model: bert,
    modelKey: '0'.repeat(64),
    fields: ['title'],
    table: 'x',
  };
  const withBert = writeModel(join(dir, 'bert-model.onnx'), 10, { txt: bertRecord });
  await refused(
    { model: withBert, data: d },
    /featurizer mismatch: text model .*bert.* is not the model the catalog was featurized with/,
  );
});

test.run();
