import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { featurizeWithModel, type ModelRunOptions } from '../featurize/featurize.js';
import { loadTextEncoder } from '../featurize/encoders.js';
import { itemText } from '../featurize/item-text.js';
import { readFeatureTable } from '../train/data/features.js';
import { checkExecutionProvider } from '../runtime/session.js';
import { checkModels } from './util/checker.js';
import { ITEMS, TINY_BERT, TINY_VIT, writeDataset, writeImages, writeTinyModels } from './util/featurize-fixtures.js';
import { tempDir } from './util/tmp.js';

const root = tempDir('hm4sr-featurize-');
const models = writeTinyModels(join(root, 'models'));
const data = join(root, 'data');
writeDataset(data);
const images = join(root, 'images');
await writeImages(images);
const modelsDir = join(root, 'hub-cache');

test('the random BERT and ViT models pass onnx.checker (full check)', () => {
  checkModels([join(models.bert, 'onnx', 'model.onnx'), join(models.vit, 'onnx', 'model.onnx')]);
});

const opts = (out: string, extra: Partial<ModelRunOptions> = {}): ModelRunOptions => ({
  dir: data,
  name: 'D',
  out,
  model: models.bert,
  batch: 3,
  ep: 'cpu',
  download: false,
  modelsDir,
  progress: false,
  log: () => {},
  ...extra,
});
const row = (t: { data: Float32Array; dim: number; tokens: string[] }, tok: string) => {
  const i = t.tokens.indexOf(tok);
  assert.ok(i >= 0, `no row for ${tok}`);
  return t.data.subarray(i * t.dim, (i + 1) * t.dim);
};
const isZero = (v: Float32Array) => v.every((x) => x === 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

test('text: one row per dataset item, model width, zero rows for items without text, report lists them', async () => {
  const out = join(root, 'text1');
  const r = await featurizeWithModel('text', opts(out));
  const t = readFeatureTable(join(out, 'D.text.f32'));
  assert.is(t.dim, TINY_BERT.hidden);
  assert.equal(
    t.tokens,
    ITEMS.map(([tok]) => tok),
  );
  // a3 has an empty title, a6's only field exceeds 2000 characters (dropped), a9 has no .item row.
  for (const tok of ['a3', 'a6', 'a9']) assert.ok(isZero(row(t, tok)), `${tok} should be a zero row`);
  for (const tok of ['a1', 'a2', 'a4', 'a5', 'a7', 'a8'])
    assert.ok(!isZero(row(t, tok)), `${tok} should have features`);
  // Distinct texts give clearly distinct rows, so the equality checks below can tell rows apart.
  assert.ok(maxDiff(row(t, 'a1'), row(t, 'a2')) > 0.05, `a1 vs a2: ${maxDiff(row(t, 'a1'), row(t, 'a2'))}`);
  assert.equal(Object.keys(r.zeroRows.items).sort(), ['a3', 'a6', 'a9']);
  assert.equal(r.unknownItems, { count: 1, entries: ['ghost'] });
  assert.is(r.overlongFieldsDropped, 1);
  const report = JSON.parse(readFileSync(join(out, 'D.text.report.json'), 'utf8'));
  assert.is(report.zeroRows.count, 3);
  assert.equal(
    readdirSync(out).sort(),
    ['D.text.f32', 'D.text.featurizer.json', 'D.text.report.json'],
    'the cache is gone after a finished run',
  );
  // The featurizer's record names the model, its files' hash, the fields and form (add-items reads it).
  const record = JSON.parse(readFileSync(join(out, 'D.text.featurizer.json'), 'utf8'));
  assert.equal(
    { kind: record.kind, fields: record.fields, textForm: record.textForm, key: record.modelKey.length },
    { kind: 'text', fields: r.fields, textForm: 'standard', key: 64 },
  );
});

test('text: the [CLS] row equals onnxruntime-node run directly on the tokenizer ids; real WordPiece ids; long titles truncated', async () => {
  const out = join(root, 'text1');
  const t = readFeatureTable(join(out, 'D.text.f32'));
  const enc = await loadTextEncoder({
    source: { id: models.bert, dir: models.bert, download: false },
    modelsDir,
    ep: 'cpu',
    form: 'standard',
  });
  // bert-base-uncased ids: [CLS]=101 hello=7592 world=2088 &=1004 friends=2814 .=1012 [SEP]=102.
  assert.equal(enc.tokenize(['Hello World & Friends.']).ids[0].map(Number), [101, 7592, 2088, 1004, 2814, 1012, 102]);
  const session = await ort.InferenceSession.create(join(models.bert, 'onnx', 'model.onnx'));
  const texts: Record<string, string> = {
    a1: ITEMS[0][1]!,
    a2: 'Hello World & Friends.',
    a4: ITEMS[3][1]!,
    a5: ITEMS[4][1]!,
  };
  for (const [tok, raw] of Object.entries(texts)) {
    const text = tok === 'a2' ? raw : itemText([raw]).text;
    const ids = enc.tokenize([text]).ids[0];
    assert.ok(ids.length <= TINY_BERT.maxPositions, `${tok}: ${ids.length} tokens`);
    if (tok === 'a5')
      assert.is(ids.length, TINY_BERT.maxPositions, 'a 250-word title is truncated to the model positions');
    const n = ids.length;
    const r = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [1, n]),
    });
    const direct = (r.last_hidden_state.data as Float32Array).subarray(0, TINY_BERT.hidden);
    // The table row came from a padded batch of 3; padding is masked out, so only rounding differs.
    assert.ok(maxDiff(row(t, tok), direct) < 1e-4, `${tok}: max difference ${maxDiff(row(t, tok), direct)}`);
  }
  await enc.dispose();
  // The HM4SR code's form: "[CLS] " prepended, no [SEP].
  const ref = await loadTextEncoder({
    source: { id: models.bert, dir: models.bert, download: false },
    modelsDir,
    ep: 'cpu',
    form: 'reference',
  });
  assert.equal(ref.tokenize(['Hello World & Friends.']).ids[0].map(Number), [101, 7592, 2088, 1004, 2814, 1012]);
  await ref.dispose();
});

test('text: two runs give identical bytes; a re-run with nothing changed does no work', async () => {
  const a = join(root, 'text1'),
    b = join(root, 'text2');
  await featurizeWithModel('text', opts(b));
  assert.equal(readFileSync(join(a, 'D.text.f32')), readFileSync(join(b, 'D.text.f32')));
  const before = readFileSync(join(b, 'D.text.report.json'), 'utf8');
  const again = await featurizeWithModel('text', opts(b));
  assert.is(again.upToDate, true);
  assert.is(again.computed, 0);
  assert.is(readFileSync(join(b, 'D.text.report.json'), 'utf8'), before);
});

test('text: an interrupted run resumes from its cache and ends with the same table', async () => {
  const out = join(root, 'text-resume');
  const stop = new Error('interrupted');
  const killAfter = (chunks: number) => (done: number) => {
    if (done >= chunks * 2) throw stop;
  };
  // Chunks of 2 items; the run dies after 2 chunks, before any table is written.
  await featurizeWithModel('text', opts(out, { chunk: 2, batch: 2, onChunk: killAfter(2) })).then(
    () => assert.unreachable('the run should have been interrupted'),
    (e) => assert.is(e, stop),
  );
  assert.not.ok(existsSync(join(out, 'D.text.f32')));
  assert.ok(readdirSync(join(out, '.D.text.cache')).filter((f) => f.endsWith('.f32')).length === 2);
  const r = await featurizeWithModel('text', opts(out, { chunk: 2, batch: 2 }));
  assert.is(r.computed, ITEMS.length - 4);
  const full = await featurizeWithModel('text', opts(join(root, 'text-full'), { chunk: 2, batch: 2 }));
  assert.is(full.computed, ITEMS.length);
  assert.equal(readFileSync(join(out, 'D.text.f32')), readFileSync(join(root, 'text-full', 'D.text.f32')));
});

test('images: width, zero rows for missing / corrupt / empty files (listed with reasons), first image of a folder, unknown files reported', async () => {
  const out = join(root, 'img1');
  const r = await featurizeWithModel('image', opts(out, { model: models.vit, images }));
  const t = readFeatureTable(join(out, 'D.image.f32'));
  assert.is(t.dim, TINY_VIT.hidden);
  assert.equal(
    t.tokens,
    ITEMS.map(([tok]) => tok),
  );
  for (const tok of ['a1', 'a2', 'a4', 'a5']) assert.ok(!isZero(row(t, tok)), `${tok} should have features`);
  assert.ok(maxDiff(row(t, 'a1'), row(t, 'a2')) > 0.05, `a1 vs a2: ${maxDiff(row(t, 'a1'), row(t, 'a2'))}`);
  for (const tok of ['a3', 'a6', 'a7', 'a8', 'a9']) assert.ok(isZero(row(t, tok)), `${tok} should be a zero row`);
  assert.equal(Object.keys(r.zeroRows.items).sort(), ['a3', 'a6', 'a7', 'a8', 'a9']);
  assert.match(r.zeroRows.items.a7, /^unreadable: .*a7\.jpg/);
  assert.match(r.zeroRows.items.a8, /^unreadable: .*a8\.png/);
  assert.is(r.zeroRows.items.a3, 'no image');
  assert.equal(r.unknownItems.entries, ['stranger.png']);
  assert.equal(r.ignoredFiles, ['notes.txt']);
  // Determinism, and the re-run no-op.
  const again = await featurizeWithModel('image', opts(join(root, 'img2'), { model: models.vit, images }));
  assert.is(again.computed, ITEMS.length);
  assert.equal(readFileSync(join(out, 'D.image.f32')), readFileSync(join(root, 'img2', 'D.image.f32')));
  assert.is((await featurizeWithModel('image', opts(out, { model: models.vit, images }))).computed, 0);
});

test("images: the [CLS] row equals onnxruntime-node on the processor's pixel values", async () => {
  const t = readFeatureTable(join(root, 'img1', 'D.image.f32'));
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  const processor = await hf.AutoProcessor.from_pretrained(models.vit, { local_files_only: true });
  const session = await ort.InferenceSession.create(join(models.vit, 'onnx', 'model.onnx'));
  for (const [tok, file] of [
    ['a1', 'a1.png'],
    ['a2', 'a2.jpeg'],
    ['a5', join('a5', '0-front.png')],
  ]) {
    const img = (await hf.RawImage.read(join(images, file))).rgb();
    const px = (await processor([img])).pixel_values;
    assert.equal(px.dims, [1, 3, TINY_VIT.imageSize, TINY_VIT.imageSize]);
    const r = await session.run({ pixel_values: new ort.Tensor('float32', px.data as Float32Array, px.dims) });
    const direct = (r.last_hidden_state.data as Float32Array).subarray(0, TINY_VIT.hidden);
    assert.ok(maxDiff(row(t, tok), direct) < 1e-4, `${tok}: max difference ${maxDiff(row(t, tok), direct)}`);
  }
});

test('bad models and options: clear errors naming what is missing, nothing written', async () => {
  const out = join(root, 'bad');
  const broken = join(root, 'models', 'broken');
  const { cpSync } = await import('node:fs');
  cpSync(models.bert, broken, { recursive: true });
  rmSync(join(broken, 'tokenizer.json'));
  await featurizeWithModel('text', opts(out, { model: broken })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /broken lacks tokenizer\.json/),
  );
  await featurizeWithModel('image', opts(out, { model: models.bert, images })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /lacks preprocessor_config\.json/),
  );
  await featurizeWithModel('image', opts(out, { model: models.vit })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /needs --images/),
  );
  await featurizeWithModel('image', opts(out, { model: models.vit, images: join(root, 'no-images') })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /--images .*no-images: no such directory/),
  );
  await featurizeWithModel('text', opts(out, { model: join(root, 'nope') })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /nope: no such directory/),
  );
  await featurizeWithModel('text', opts(out, { model: 'someone/bert-base-uncased' })).then(
    () => assert.unreachable(),
    (e: Error) =>
      assert.match(
        e.message,
        /not found offline\. Looked for the directory .*someone\/bert-base-uncased and for the model cache .*hub-cache\/someone\/bert-base-uncased\. Pass --download/,
      ),
  );
  await featurizeWithModel('text', opts(out, { batch: 0 })).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /--batch/),
  );
  let cuda = true;
  try {
    await checkExecutionProvider('cuda');
  } catch {
    cuda = false;
  }
  if (!cuda) {
    await featurizeWithModel('text', opts(out, { ep: 'cuda' })).then(
      () => assert.unreachable(),
      (e: Error) => assert.match(e.message, /CUDA execution provider/),
    );
  }
  assert.not.ok(existsSync(out), 'nothing written');
});

test.run();
