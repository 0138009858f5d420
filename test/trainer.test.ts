import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Recommender } from '../runtime/recommender.js';
import { rejects } from './util/rejects.js';
import { readCheckpoint } from '../graph/artifacts/checkpoint.js';
import { DEFAULT_CONFIG, type RunConfig, mergeConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { type EpochLog, runFiles } from '../train/run.js';
import { writeMiniData } from './util/tiny-hm4sr.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-trainer-'));
writeMiniData(join(dir, 'data'));

const rc: RunConfig = mergeConfig(DEFAULT_CONFIG, {
  data: { dir: join(dir, 'data'), name: 'mini' },
  model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 10 },
  eval: { batchSize: 64 },
  optim: { epochs: 3, batchSize: 128, patience: 10, threads: 1, seed: 7 },
});
const quiet = { ep: 'cpu' as const, progress: false, log: () => {} };
const lines = (out: string) =>
  readFileSync(runFiles(out).log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochLog);

// Run A is shared by the tests below: whichever runs first trains it, so no test depends on another's order.
const a = join(dir, 'a');
let runA: ReturnType<typeof train> | null = null;
const trainedA = () => (runA ??= train(rc, { ...quiet, out: a, resume: false }));

test('a run writes metrics, log, checkpoints, model and curve; the same seed gives the same run', async () => {
  const b = join(dir, 'b');
  const sa = await trainedA();
  const sb = await train(rc, { ...quiet, out: b, resume: false });
  const f = runFiles(a);
  for (const p of [f.config, f.last, f.best, f.log, f.metrics, f.model, f.curve])
    assert.ok(existsSync(p), `missing ${p}`);
  assert.is(lines(a).length, 3);
  assert.equal(sa.test, sb.test);
  assert.equal(
    lines(a).map((l) => l.train.loss),
    lines(b).map((l) => l.train.loss),
  );
  const m = JSON.parse(readFileSync(f.metrics, 'utf8'));
  for (const k of ['ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr@10', 'hr@20']) assert.type(m.test[k], 'number');
  assert.ok(Object.keys(lines(a)[0].train).includes('loss.pcl'));
  const ck = readCheckpoint(f.last);
  assert.is(ck.properties.epoch, 3);
  assert.ok(ck.optimizer && ck.optimizer.step > 0);
  assert.equal([...readFileSync(f.curve).subarray(1, 4)], [...Buffer.from('PNG')]);
});

test('a run stopped after one epoch and resumed ends exactly like an uninterrupted one', async () => {
  await trainedA();
  const full = a,
    part = join(dir, 'c');
  await train({ ...rc, optim: { ...rc.optim, epochs: 1 } }, { ...quiet, out: part, resume: false });
  await rejects(train(rc, { ...quiet, out: part, resume: false }), /--resume/);
  const s = await train(rc, { ...quiet, out: part, resume: true });
  assert.equal(
    lines(part).map((l) => l.train.loss),
    lines(full).map((l) => l.train.loss),
  );
  assert.equal(s.test, JSON.parse(readFileSync(runFiles(full).metrics, 'utf8')).test);
});

test('the exported model recommends known items, never the padding item or unknown ids', async () => {
  await trainedA();
  const rec = await Recommender.load(runFiles(a).model);
  const tokens = rec.tokens.slice(1, 6);
  const [r] = await rec.recommend([{ items: tokens, times: tokens.map((_, i) => 1.5e9 + i * 86400) }], 5);
  assert.is(r.items.length, 5);
  for (const t of r.items) assert.ok(rec.tokens.indexOf(t) > 0, `recommended ${t}`);
  assert.ok(r.scores[0] >= r.scores[4]);
  await rejects(rec.recommend([{ items: ['no-such-item'], times: [1] }]), /unknown item "no-such-item"/);
});

test('training through the K-step Loop graph gives the same losses as single steps', async () => {
  const det = mergeConfig(rc, {
    model: { hiddenDropout: 0, attnDropout: 0, embDropout: 0 },
    optim: { epochs: 2, batchSize: 64 },
  });
  await train(det, { ...quiet, out: join(dir, 'single'), resume: false });
  await train(mergeConfig(det, { optim: { stepsPerRun: 3 } }), { ...quiet, out: join(dir, 'looped'), resume: false });
  const a = lines(join(dir, 'single')),
    b = lines(join(dir, 'looped'));
  a.forEach((l, e) => {
    for (const k of Object.keys(l.train))
      assert.ok(Math.abs(l.train[k] - b[e].train[k]) < 1e-4, `epoch ${e + 1} ${k}: ${l.train[k]} vs ${b[e].train[k]}`);
  });
  assert.ok(b[0].paddedTokens > a[0].paddedTokens, 'stacked batches are padded to a common shape');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test('an eval.validMetric the evaluator does not compute is refused before any work', async () => {
  const out = join(dir, 'bad-metric');
  await rejects(
    train(mergeConfig(rc, { eval: { validMetric: 'ndcg@50' } }), { ...quiet, out, resume: false }),
    /eval\.validMetric "ndcg@50" is not one of the evaluated metrics \(ndcg@5, mrr@5/,
  );
  assert.not.ok(existsSync(out));
});

test.run();
