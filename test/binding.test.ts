// Every tensor supplied by name must bind to something: frozen data to a parameter, feeds to a graph input.
// A parameter that takes its values from the data must get them. (Issue: CP's labels were silently zero.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCheckpoint } from '../graph/artifacts/checkpoint.js';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import { DATA_PARAMS, hm4srModel } from '../graph/models/hm4sr.js';
import { probeParams } from '../graph/train-step.js';
import { createSession, ort, runChecked } from '../runtime/session.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { generateSynthetic } from '../train/data/synth.js';
import { prepare } from '../train/prepare.js';
import { initialValues } from '../graph/init.js';
import { runFiles } from '../train/run.js';
import { train } from '../train/trainer.js';
import { rejects } from './util/rejects.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-binding-'));
generateSynthetic({
  dir: join(dir, 'data'),
  name: 'mini',
  users: 60,
  items: 30,
  categories: 4,
  textDim: 8,
  minLen: 6,
  maxLen: 10,
  seed: 5,
});
const rc = mergeConfig(DEFAULT_CONFIG, {
  data: { dir: join(dir, 'data'), name: 'mini' },
  model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 8 },
  eval: { batchSize: 64 },
  optim: { epochs: 1, batchSize: 128, threads: 1, seed: 3 },
});

test('the data binds its features and category labels to parameters of the model', () => {
  const p = prepare(rc);
  const names = new Set(probeParams(hm4srModel(p.model)).map((s) => s.name));
  assert.equal([...p.frozen.keys()].sort(), [DATA_PARAMS.categories, DATA_PARAMS.img, DATA_PARAMS.txt].sort());
  for (const k of p.frozen.keys()) assert.ok(names.has(k), `${k} is not a parameter`);
});

test('a supplied tensor that names no parameter is an error naming it', () => {
  const p = prepare(rc);
  const specs = probeParams(hm4srModel(p.model));
  const frozen = new Map(p.frozen);
  frozen.set('cp.data.item_categories', frozen.get(DATA_PARAMS.categories)!);
  assert.throws(
    () => initialValues(specs, frozen, 1),
    /supplied tensor cp\.data\.item_categories binds to no parameter of the model \(parameters that take data: .*data\.item_categories/,
  );
});

test('a parameter that takes data and gets none is an error naming it', () => {
  const p = prepare(rc);
  const specs = probeParams(hm4srModel(p.model));
  for (const missing of [DATA_PARAMS.categories, DATA_PARAMS.txt]) {
    const frozen = new Map(p.frozen);
    frozen.delete(missing);
    assert.throws(
      () => initialValues(specs, frozen, 1),
      new RegExp(
        `parameter ${missing.replace('.', '\\.')} \\[\\d+,\\d+\\] takes .* from the data, and none was supplied`,
      ),
    );
  }
});

test('a feed that names no input of the model is an error naming it', async () => {
  const g = new Graph('probe');
  g.output(g.node('Identity', [g.input('x', 'float32', [1])], [{ dtype: 'float32', shape: [1] }])[0], 'y');
  const s = await createSession(serialize(g, { params: 'inputs' }), { threads: 1 });
  const x = new ort.Tensor('float32', Float32Array.of(2), [1]);
  assert.equal([...((await runChecked(s, { x })).y.data as Float32Array)], [2]);
  await rejects(runChecked(s, { x, typo: x }), /feed typo binds to no input of the model \(inputs: x\)/);
});

test("a trained run's checkpoint holds the dataset's multi-hot category labels, row by item token", async () => {
  const out = join(dir, 'run');
  await train(rc, { out, resume: false, ep: 'cpu', progress: false, log: () => {} });
  const ck = readCheckpoint(runFiles(out).last);
  const labels = ck.params.find((q) => q.name === DATA_PARAMS.categories);
  assert.ok(labels, `no ${DATA_PARAMS.categories} in the checkpoint`);
  assert.not.ok(labels.trainable);
  // Read the item file directly: every category string of an item is a label.
  const rows = readFileSync(join(dir, 'data', 'mini.item'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'));
  const byToken = new Map(rows.map((r) => [r[0], r[2].split(' ')]));
  const classes = [...new Set(rows.flatMap((r) => r[2].split(' ')))];
  const tokens = prepare(rc).ds.itemTokens;
  const [n, c] = labels.dims;
  assert.is(n, tokens.length);
  assert.is(c, classes.length);
  assert.equal([...labels.data.subarray(0, c)], new Array(c).fill(0), 'row 0 (padding) has no labels');
  let ones = 0;
  for (let i = 1; i < n; i++) {
    const row = labels.data.subarray(i * c, (i + 1) * c);
    const count = row.reduce((a, b) => a + b, 0);
    assert.is(count, byToken.get(tokens[i])!.length, `item ${tokens[i]}: ${count} labels`);
    assert.ok(row.every((x) => x === 0 || x === 1));
    ones += count;
  }
  assert.ok(ones >= n - 1, 'every item has a label');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
