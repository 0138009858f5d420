import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeCheckpoint } from '../graph/artifacts/checkpoint.js';
import { DATA_PARAMS } from '../graph/models/hm4sr.js';
import { type Inspection, formatInspection, inspectFile } from '../runtime/inspect.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { generateSynthetic } from '../train/data/synth.js';
import { runFiles } from '../train/run.js';
import { train } from '../train/trainer.js';

const main = new URL('../cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hm4sr-inspect-'));
generateSynthetic({
  dir: join(dir, 'data'),
  name: 'mini',
  users: 50,
  items: 25,
  categories: 3,
  textDim: 6,
  minLen: 6,
  maxLen: 9,
  seed: 8,
});
const run = join(dir, 'run');
await train(
  mergeConfig(DEFAULT_CONFIG, {
    data: { dir: join(dir, 'data'), name: 'mini' },
    model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 8 },
    eval: { batchSize: 64 },
    optim: { epochs: 1, batchSize: 128, threads: 1, seed: 2 },
  }),
  { out: run, resume: false, ep: 'cpu', progress: false, log: () => {} },
);

const byName = (r: Inspection, name: string, role?: string) =>
  r.tensors.find((t) => t.name === name && (!role || t.role === role));

test('a checkpoint: every parameter with its role and summary, Adam moments, properties', () => {
  const r = inspectFile(runFiles(run).last);
  assert.is(r.kind, 'checkpoint');
  const labels = byName(r, DATA_PARAMS.categories)!;
  assert.is(labels.role, 'frozen');
  assert.ok(labels.nonZeros > 0 && labels.min === 0 && labels.max === 1, `labels ${JSON.stringify(labels)}`);
  assert.is(byName(r, DATA_PARAMS.txt)!.role, 'frozen');
  const emb = byName(r, 'item.id.embedding', 'trainable')!;
  assert.equal(emb.dims, [26, 8]);
  assert.is(emb.count, 26 * 8);
  assert.ok(emb.min < 0 && emb.max > 0 && Math.abs(emb.mean) < 0.05);
  assert.ok(byName(r, 'item.id.embedding', 'adam.m') && byName(r, 'item.id.embedding', 'adam.v'));
  assert.is(byName(r, 'item.id.embedding', 'adam.v')!.min >= 0, true);
  assert.is(r.properties.epoch, 1);
  const text = formatInspection(r);
  assert.match(text, /item\.id\.embedding\s+\[26,8\]\s+float32\s+trainable/);
  assert.match(text, /properties:\n[\s\S]*epoch: 1/);
});

test('an exported model: its initializers and metadata', () => {
  const r = inspectFile(runFiles(run).model);
  assert.is(r.kind, 'onnx');
  const emb = byName(r, 'item.id.embedding')!;
  assert.equal(emb.dims, [26, 8]);
  assert.is(emb.role, 'initializer');
  assert.ok(emb.nonZeros > 0);
  assert.ok(
    Object.keys(r.properties).some((k) => k.startsWith('hm4sr.')),
    `metadata ${Object.keys(r.properties)}`,
  );
});

test('NaN and infinite values are counted, not averaged in', () => {
  const path = join(dir, 'nan.ckpt');
  writeCheckpoint(path, {
    params: [{ name: 'w', dims: [4], data: Float32Array.of(1, NaN, 3, Infinity), trainable: true }],
    properties: {},
  });
  const w = byName(inspectFile(path), 'w')!;
  assert.is(w.nonFinite, 2);
  assert.is(w.mean, 2);
  assert.is(w.max, 3);
});

test('hm4sr inspect: a table, --json, and clear errors for a missing, a directory or a foreign file', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [main, 'inspect', ...args], { encoding: 'utf8' });
  const t = cli(runFiles(run).best);
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /^.*best\.ckpt \(checkpoint, \d+ tensors\)/);
  const j = cli(runFiles(run).best, '--json');
  assert.is(j.status, 0, j.stderr);
  assert.is(
    (JSON.parse(j.stdout) as Inspection).tensors.find((x) => x.name === DATA_PARAMS.categories)!.role,
    'frozen',
  );
  const missing = cli(join(dir, 'nope.ckpt'));
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /nope\.ckpt: no such file/);
  mkdirSync(join(dir, 'adir'));
  assert.match(cli(join(dir, 'adir')).stderr, /adir: is a directory/);
  writeFileSync(join(dir, 'junk.bin'), 'this is not a model at all, just some text that is long enough');
  const junk = cli(join(dir, 'junk.bin'));
  assert.is(junk.status, 1);
  assert.match(junk.stderr, /junk\.bin: /);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
