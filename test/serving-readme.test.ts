import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Recommender } from '../runtime/recommender.js';
import { tinyServingModel } from './util/serving-model.js';
import { tempDir } from './util/tmp.js';

// The serving guide (docs/serving.md) holds the example a user copies; it must run as written.
const readme = readFileSync(new URL('../../docs/serving.md', import.meta.url), 'utf8');
// Inside dist/, so the example's bare imports resolve from the project's node_modules.
const OUTPUT = new URL('../test-output/', import.meta.url).pathname;

test("docs/serving.md's Node example runs against an exported model and prints the runtime's top 10", async () => {
  const m = /Node \(onnxruntime-node; this block runs in the test suite[^\n]*\n```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'docs/serving.md has the Node serving example');
  mkdirSync(OUTPUT, { recursive: true });
  const script = join(OUTPUT, 'readme-node-example.mjs');
  writeFileSync(script, m![1]);
  const t = tinyServingModel(tempDir('hm4sr-readme-'));
  const r = spawnSync(process.execPath, [script, t.model], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const tok = t.ds.itemTokens;
  const rec = await Recommender.load(t.model);
  const [want] = await rec.recommend(
    [{ items: [tok[1], tok[2], tok[3]], times: [1700000000, 1700003600, 1700090000] }],
    10,
  );
  assert.equal(got.top, want.items);
  got.scores.forEach((s: number, i: number) => assert.is(s, want.scores[i]));
});

test("docs/serving.md's Python example uses the signature's names", () => {
  const m = /```python\n(import numpy as np, onnxruntime[\s\S]*?)```/.exec(readme);
  assert.ok(m, 'docs/serving.md has the Python serving example');
  for (const name of ['item_ids', 'timestamps', 'exclude_seen', 'top_items', 'top_scores', 'hm4sr.items'])
    assert.ok(m![1].includes(`"${name}"`), name);
  assert.ok(m![1].split('\n').filter(Boolean).length <= 11, 'about ten lines');
});

test.run();
