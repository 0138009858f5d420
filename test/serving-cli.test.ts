import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { onnx as P } from 'onnx-proto';
import { onnx } from '../graph/onnx-proto.js';
import { loadServingData } from '../train/serve/histories.js';
import { parseTextFormat } from '../runtime/pbtxt.js';
import { Recommender } from '../runtime/recommender.js';
import { scoreUsers } from '../train/serve/score.js';
import { createSession, ort } from '../runtime/session.js';
import { modelConfigType, writeTritonRepository } from '../runtime/triton.js';
import { checkModels } from './util/checker.js';
import { tinyServingModel } from './util/serving-model.js';
import { cliRunner } from './util/cli.js';
import { tempDir } from './util/tmp.js';

const dir = tempDir('hm4sr-serving-cli-');
const t = tinyServingModel(dir);

const { hm4sr, ok } = cliRunner(dir);
const tok = (i: number) => t.ds.itemTokens[i];

test('recommend: a table with titles by default, JSON with --json, both equal to the library', async () => {
  const rec = await Recommender.load(t.model);
  const items = [tok(1), tok(2), tok(3)],
    times = [1_500_000_000, 1_500_003_600, 1_500_090_000];
  const [want] = await rec.recommend([{ items, times }], 5);
  const args = [
    'recommend',
    '--model',
    t.model,
    '--data',
    t.data,
    '--items',
    items.join(','),
    '--times',
    times.join(','),
    '-k',
    '5',
  ];
  const table = ok(...args).split('\n');
  assert.match(table[0], /^history \(3 items of history\)$/);
  assert.match(table[1], /^rank\s+item\s+title\s+score$/);
  const titles = readFileSync(join(t.data, `${t.name}.item`), 'utf8');
  want.items.forEach((it, r) => {
    const cells = table[2 + r].trim().split(/\s{2,}/);
    assert.equal([cells[0], cells[1], cells[cells.length - 1]], [String(r + 1), it, want.scores[r].toFixed(4)]);
    assert.ok(titles.includes(`${it}\t`) && titles.includes(cells[2]), `row ${r + 1} shows the title of ${it}`);
  });
  const json = JSON.parse(ok(...args, '--json'));
  assert.equal(json[0].items, want.items);
  assert.is(json[0].titles.length, 5);
  // A dataset user: their full history, the same as handing it over by hand.
  const data = loadServingData(t.data, t.name, rec.meta, rec.tokens);
  const u = t.ds.userTokens[3];
  const [byHand] = await rec.recommend([data.history(3)], 5, { excludeSeen: true });
  const viaUser = JSON.parse(
    ok('recommend', '--model', t.model, '--data', t.data, '--user', u, '-k', '5', '--exclude-seen', '--json'),
  );
  assert.equal([viaUser[0].user, viaUser[0].items], [u, byHand.items]);
  for (const it of viaUser[0].items)
    assert.not.ok(data.history(3).items.includes(it), `--exclude-seen recommended ${it} from the history`);
});

test('recommend: clear errors and exit 1 for bad requests', () => {
  const bad: [string[], RegExp][] = [
    [['--model', join(dir, 'missing.onnx'), '--items', tok(1)], /no model at .*missing\.onnx/],
    [['--model', join(t.data, `${t.name}.inter`), '--items', tok(1)], /mini\.inter: not an ONNX model/],
    [
      ['--model', t.model, '--items', `${tok(1)},nope`],
      /history 1: unknown item "nope" \(not in the model's \d+-item catalog\)/,
    ],
    [
      ['--model', t.model, '--items', `${tok(1)},${tok(2)}`, '--times', '200,100'],
      /timestamps out of order at item 2 \(100 < 200\)/,
    ],
    [['--model', t.model, '--items', ','], /--items: empty history/],
    [
      ['--model', t.model, '--items', tok(1), '-k', '21'],
      /k = 21: must be an integer in 1\.\.20 \(the model's top-K size/,
    ],
    [['--model', t.model, '--items', tok(1), '--times', '1.5'], /--times: entry 1 \("1\.5"\) is not an integer/],
    [
      ['--model', t.model, '--items', `${tok(1)},${tok(2)}`, '--times', '100'],
      /--times gives 1 timestamps for 2 items/,
    ],
    [['--model', t.model, '--data', t.data, '--user', 'nobody'], /unknown user "nobody"/],
  ];
  for (const [args, msg] of bad) {
    const r = hm4sr('recommend', ...args);
    assert.is(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.out}`);
    assert.match(r.err, msg);
    assert.is(r.out, '', 'nothing on stdout');
  }
});

test("score: every user's top-K, equal to recommend; an interrupted run resumes; OUT appears only when complete", async () => {
  const out = join(dir, 'recs.jsonl');
  const r = JSON.parse(ok('score', '--model', t.model, '--data', t.data, '--out', out, '-k', '4', '--batch', '7'));
  assert.is(r.users, t.ds.numUsers);
  const lines = readFileSync(out, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(lines.length, t.ds.numUsers);
  const rec = await Recommender.load(t.model);
  const data = loadServingData(t.data, t.name, rec.meta, rec.tokens);
  const all = await rec.recommend(
    Array.from({ length: t.ds.numUsers }, (_, u) => data.history(u)),
    4,
  );
  lines.forEach((l, u) => assert.equal([l.user, l.items], [t.ds.userTokens[u], all[u].items], `user ${u}`));

  const out2 = join(dir, 'resumed.jsonl');
  let chunks = 0;
  const crash = () => {
    if (++chunks === 3) throw new Error('simulated crash');
  };
  const o = { k: 4, excludeSeen: false, chunk: 7 };
  try {
    await scoreUsers(rec, data, 'mini', out2, { ...o, progress: crash });
    assert.unreachable('the crash should propagate');
  } catch (e) {
    assert.match((e as Error).message, /simulated crash/);
  }
  assert.not.ok(existsSync(out2), 'no OUT after a crash');
  appendFileSync(`${out2}.partial`, '{"user":"torn'); // the process died mid-line
  let mismatch = '';
  await scoreUsers(rec, data, 'mini', out2, { ...o, k: 5 }).catch((e: Error) => (mismatch = e.message));
  assert.match(
    mismatch,
    /resumed\.jsonl\.partial: an unfinished run with k = 4, not 5; delete it or rerun with the same settings/,
  );
  const res = await scoreUsers(rec, data, 'mini', out2, o);
  assert.is(res.resumedAt, 14, 'two complete chunks kept');
  assert.is(readFileSync(out2, 'utf8'), readFileSync(out, 'utf8'));
  assert.equal(
    readdirSync(dir).filter((f) => f.startsWith('resumed')),
    ['resumed.jsonl'],
  );
});

test('export --triton layout: config.pbtxt parses against model_config.proto and matches the ONNX model; it runs', async () => {
  const repo = join(dir, 'triton');
  const w = writeTritonRepository(t.model, repo);
  assert.equal(readdirSync(repo), ['hm4sr']);
  assert.equal(readdirSync(join(repo, 'hm4sr')).sort(), ['1', 'config.pbtxt']);
  assert.equal(readdirSync(join(repo, 'hm4sr', '1')), ['model.onnx']);
  const cfg = parseTextFormat(readFileSync(w.config, 'utf8'), modelConfigType(), 'config.pbtxt') as Record<string, any>;
  assert.is(cfg.backend, 'onnxruntime');
  assert.ok(cfg.max_batch_size > 0 && cfg.dynamic_batching, 'dynamic batching');
  checkModels([w.model]);
  const m = onnx.ModelProto.decode(readFileSync(w.model));
  const elem: Record<number, string> = { 1: 'TYPE_FP32', 7: 'TYPE_INT64', 9: 'TYPE_BOOL' };
  const sig = (vs: P.IValueInfoProto[]) =>
    vs.map((v) => ({
      name: v.name,
      data_type: elem[v.type!.tensorType!.elemType!],
      // Triton's dims leave out the batch axis; symbolic dims are -1.
      dims: v.type!.tensorType!.shape!.dim!.slice(1).map((d) => (d.dimValue != null ? Number(d.dimValue) : -1)),
    }));
  const inits = new Set(m.graph!.initializer!.map((i) => i.name));
  assert.equal(cfg.input, sig(m.graph!.input!.filter((i) => !inits.has(i.name!))));
  assert.equal(cfg.output, sig(m.graph!.output!));
  // What Triton's onnxruntime backend would run: a batch of 2 with per-request exclude_seen.
  const s = await createSession(w.model, { threads: 1 });
  const items = BigInt64Array.from([1, 2, 3, 4, 5, 0].map(BigInt)),
    times = BigInt64Array.from([1e9, 1e9 + 60, 1e9 + 7200, 1e9, 1e9 + 5, 0].map(BigInt));
  const r = await s.run({
    item_ids: new ort.Tensor('int64', items, [2, 3]),
    timestamps: new ort.Tensor('int64', times, [2, 3]),
    exclude_seen: new ort.Tensor('bool', [true, false], [2, 1]),
  });
  const top = Array.from(r.top_items.data as BigInt64Array, Number);
  for (const seen of [1, 2, 3]) assert.not.ok(top.slice(0, 20).includes(seen), `user 1 excludes ${seen}`);
  assert.equal(r.top_items.dims, [2, 20]);
});

test('demo writes a self-contained static site', () => {
  const site = join(dir, 'site');
  const r = JSON.parse(ok('demo', '--model', t.model, '--out', site, '--data', t.data));
  assert.equal(readdirSync(site).sort(), [...r.files].sort());
  const items = JSON.parse(readFileSync(join(site, 'items.json'), 'utf8'));
  assert.equal(items.tokens, t.ds.itemTokens);
  assert.ok(
    items.titles.slice(1).every((x: string) => x.length > 0),
    'every item has its title',
  );
  assert.match(hm4sr('demo', '--model', join(dir, 'none.onnx'), '--out', join(dir, 'site2')).err, /no model at/);
  assert.not.ok(existsSync(join(dir, 'site2')), 'nothing written for a missing model');
});

test('text-format parser: the syntax Triton configs use, and errors with line numbers', () => {
  const T = modelConfigType();
  const ok1 = parseTextFormat(
    `# comment\nname: 'a' "b"\nmax_batch_size: 8,\ninput [ { name: "x", data_type: TYPE_INT64, dims: [ -1 ] }, { name: "y" data_type: 11 dims: 3 dims: 4 } ]\noutput < name: "z" >;\ninstance_group { kind: KIND_CPU count: 2 }\ndynamic_batching { preserve_ordering: true preferred_batch_size: [4, 8] }\n`,
    T,
  );
  assert.equal(ok1, {
    name: 'ab',
    max_batch_size: 8,
    input: [
      { name: 'x', data_type: 'TYPE_INT64', dims: [-1] },
      { name: 'y', data_type: 11, dims: [3, 4] },
    ],
    output: [{ name: 'z' }],
    instance_group: [{ kind: 'KIND_CPU', count: 2 }],
    dynamic_batching: { preserve_ordering: true, preferred_batch_size: [4, 8] },
  });
  const bad: [string, RegExp][] = [
    ['name: "a"\nbogus: 1', /<text>:2: bogus: message inference.ModelConfig has no field bogus/],
    ['max_batch_size: "8"', /:1: max_batch_size: an integer expected, got "8"/],
    ['input { data_type: TYPE_INT65 }', /input.data_type: TYPE_INT65 is not a value of enum DataType/],
    ['name: "a"\nname: "b"', /:2: name: singular field given twice/],
    [
      'dynamic_batching {}\nsequence_batching {}',
      /sequence_batching: dynamic_batching and sequence_batching are both set/,
    ],
    ['name: "a', /:1: unterminated string/],
    ['dynamic_batching { max_queue_delay_microseconds: -5 }', /uint64 cannot be negative/],
    ['input { name: "x" ', /:1: input: field name expected before the end/],
    ['name "x"', /name: ':' expected/],
    ['max_batch_size: [1]', /max_batch_size: a list for a singular field/],
  ];
  for (const [src, msg] of bad) assert.throws(() => parseTextFormat(src, T), msg, src);
});

test.run();
