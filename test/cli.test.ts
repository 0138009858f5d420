import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkModels } from './util/checker.js';
import { checkExecutionProvider } from '../runtime/session.js';
import { cliRunner } from './util/cli.js';
import { rejects } from './util/rejects.js';
import { UsageError, buildParser } from '../cli/parser.js';

const benchScript = new URL('../../scripts/bench.mjs', import.meta.url).pathname;
const cudaStarts = () =>
  checkExecutionProvider('cuda').then(
    () => true,
    () => false,
  );

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-cli-'));
const data = join(dir, 'data'),
  run = join(dir, 'run');

const { hm4sr, ok } = cliRunner(dir);

const config = join(dir, 'tiny.json');
writeFileSync(
  config,
  JSON.stringify({
    model: { hidden: 8, heads: 2, layers: 1, inner: 16, k1: 2, k2: 2, maxLen: 10 },
    optim: { batchSize: 256, threads: 1 },
  }),
);

// The dataset every test uses: whichever test runs first synthesizes it, so no test depends on another's order.
let synth: { users: number } | null = null;
const synthesized = () =>
  (synth ??= JSON.parse(
    ok('data', 'synth', '--out', data, '--name', 'mini', '--users', '60', '--items', '40', '--seed', '3'),
  ) as { users: number });

test('data synth, stats, import', () => {
  const r = synthesized();
  assert.is(r.users, 60);
  assert.match(ok('data', 'stats', '--data', data), /#users 60, #items 40/);
  const csv = join(dir, 'log.csv');
  writeFileSync(csv, 'user_id,item_id,timestamp\nu1,a,100\nu1,b,2024-01-02T00:00:00Z\n');
  ok('data', 'import', '--csv', csv, '--out', join(dir, 'imported'), '--name', 'x');
  writeFileSync(csv, 'user_id,item_id,timestamp\nu1,a,yesterday\n');
  const bad = hm4sr('data', 'import', '--csv', csv, '--out', join(dir, 'imported2'), '--name', 'x');
  assert.is(bad.code, 1);
  assert.match(bad.err, /log\.csv:2: timestamp "yesterday"/);
  assert.not.ok(existsSync(join(dir, 'imported2', 'x.inter')));
});

test('train and evaluate with the catalog in chunks: the chunk in the config, the model serves', () => {
  synthesized();
  const out = join(dir, 'run-chunks');
  const r = JSON.parse(
    ok('train', '--data', data, '--out', out, '--config', config, '--epochs', '1', '--catalog-chunk', '7'),
  );
  assert.is(r.epochs, 1);
  assert.is(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).model.catalogChunk, 7);
  const ev = JSON.parse(ok('evaluate', '--run', out, '--split', 'test'));
  assert.ok(ev.metrics['ndcg@10'] > 0 && ev.metrics['ndcg@10'] <= 1, JSON.stringify(ev.metrics));
  const rec = JSON.parse(ok('recommend', '--run', out, '--user', 'u00', '--k', '5', '--json'));
  assert.is(rec[0].items.length, 5);
});

test('train, evaluate, recommend, export, export-artifacts, baseline', () => {
  synthesized();
  const r = JSON.parse(ok('train', '--data', data, '--out', run, '--config', config, '--epochs', '2'));
  assert.is(r.epochs, 2);
  const ev = JSON.parse(ok('evaluate', '--run', run, '--split', 'test'));
  assert.is(ev.users, 60);
  assert.type(ev.metrics['ndcg@10'], 'number');
  const rec = JSON.parse(ok('recommend', '--run', run, '--user', 'u00', '--k', '3', '--json'));
  assert.is(rec[0].items.length, 3);
  const unknown = hm4sr('recommend', '--run', run, '--user', 'nobody');
  assert.is(unknown.code, 1);
  assert.match(unknown.err, /unknown user "nobody"/);
  const exp = JSON.parse(
    ok('export', '--run', run, '--out', join(dir, 'exported.onnx'), '--triton', join(dir, 'triton')),
  );
  assert.equal(exp.inputs, ['item_ids', 'timestamps', 'exclude_seen']);
  for (const f of ['config.pbtxt', '1/model.onnx']) assert.ok(existsSync(join(dir, 'triton', 'hm4sr', f)), f);
  const viaModel = JSON.parse(
    ok('recommend', '--model', join(dir, 'exported.onnx'), '--items', rec[0].items.join(','), '--k', '2', '--json'),
  );
  assert.is(viaModel[0].items.length, 2);
  assert.is(exp.catalog, 'features', 'a small catalog keeps its feature tables');
  // The precomputed catalog recommends the same items as the feature tables it comes from.
  const pre = JSON.parse(ok('export', '--run', run, '--catalog', 'precomputed', '--out', join(dir, 'pre.onnx')));
  assert.is(pre.catalog, 'precomputed');
  const viaPre = JSON.parse(
    ok('recommend', '--model', join(dir, 'pre.onnx'), '--items', rec[0].items.join(','), '--k', '2', '--json'),
  );
  assert.equal(viaPre[0].items, viaModel[0].items);
  const art = JSON.parse(ok('export-artifacts', '--run', run, '--out', join(dir, 'artifacts')));
  for (const f of ['checkpoint', 'training_model.onnx', 'eval_model.onnx', 'optimizer_model.onnx'])
    assert.ok(existsSync(join(art.artifacts, f)), f);
  // --resume with nothing but the run: its own settings (tiny model from --config), two more epochs allowed.
  const more = JSON.parse(ok('train', '--out', run, '--resume', '--epochs', '3'));
  assert.is(more.epochs, 3);
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  assert.is(cfg.run.model.hidden, 8);
  // The chunk a run used is in its config: a small catalog is scored whole (the chunk is the catalog).
  assert.is(cfg.model.catalogChunk, cfg.model.numItems);
  const changed = hm4sr('train', '--out', run, '--resume', '--lr', '0.5', '--epochs', '4');
  assert.is(changed.code, 1);
  assert.match(
    changed.err,
    /would change them: optim\.lr 0\.5 \(the run's: 0\.001\)\. A resumed run keeps its settings/,
  );
  assert.is(
    JSON.parse(readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').pop()!).epoch,
    3,
    'the refused resume trained nothing',
  );
  // compare: a run against itself, given twice on one side (as seeds would be): no difference at all.
  const cmp = JSON.parse(ok('compare', '-a', run, run, '-b', run, '--split', 'test'));
  assert.equal(cmp.runsA, [run, run]);
  assert.equal([cmp.diff, ...cmp.ci95, cmp.a.sd], [0, 0, 0, 0]);
  const ev3 = JSON.parse(ok('evaluate', '--run', run, '--split', 'test'));
  assert.ok(Math.abs(cmp.a.runs[0] - ev3.metrics['ndcg@10']) < 1e-12 && cmp.b.mean === cmp.a.mean, JSON.stringify(cmp));
  // The ranks training wrote when it ended are what compare read; without them it ranks best.ckpt, to the
  // same figures, and evaluate --write-ranks writes the same file again.
  const ranksFile = join(run, 'ranks.json');
  const saved = JSON.parse(readFileSync(ranksFile, 'utf8'));
  assert.equal([saved.valid.length, saved.test.length], [60, 60]);
  assert.equal(cmp.sources, { [run]: 'ranks.json' });
  rmSync(ranksFile);
  const fromCkpt = JSON.parse(ok('compare', '-a', run, '-b', run));
  assert.equal(fromCkpt.sources, { [run]: 'best.ckpt' });
  assert.is(fromCkpt.a.mean, cmp.a.mean);
  ok('evaluate', '--run', run, '--split', 'valid', '--write-ranks');
  assert.equal(JSON.parse(readFileSync(ranksFile, 'utf8')), saved);
  const original = readFileSync(ranksFile, 'utf8');
  writeFileSync(ranksFile, JSON.stringify({ ...saved, fingerprint: 'other' }));
  assert.match(
    hm4sr('compare', '-a', run, '-b', run).err,
    /ranks\.json: ranks of data other, but the run \(config\.json\) trained on/,
  );
  writeFileSync(ranksFile, JSON.stringify({ ...saved, test: [3, 0.5] }));
  assert.match(hm4sr('compare', '-a', run, '-b', run).err, /ranks\.json: "test" rank 1 is 0\.5, not a rank/);
  writeFileSync(ranksFile, original);
  const base = JSON.parse(ok('baseline', '--data', data));
  assert.type(base.metrics['ndcg@10'], 'number');
  assert.match(hm4sr('evaluate', '--run', join(dir, 'nope')).err, /not a run directory/);
});

test('--ep cuda without a usable CUDA EP: a clear error from every command, nothing written', async () => {
  if (await cudaStarts()) {
    process.stdout.write(
      'SKIP cli --ep cuda errors: the CUDA EP starts on this machine (test/cuda.test.ts covers it)\n',
    );
    return;
  }
  const cudaError = /could not create a CUDA session[\s\S]*(hm4sr setup-cuda|libonnxruntime_providers_cuda\.so)/;
  const train = hm4sr('train', '--data', data, '--out', join(dir, 'cuda-run'), '--ep', 'cuda', '--config', config);
  assert.is(train.code, 1);
  assert.match(train.err, cudaError);
  assert.not.ok(existsSync(join(dir, 'cuda-run')));
  const ev = hm4sr('evaluate', '--run', run, '--ep', 'cuda');
  assert.is(ev.code, 1);
  assert.match(ev.err, cudaError);
  const ex = hm4sr('export', '--run', run, '--ep', 'cuda', '--out', join(dir, 'cuda.onnx'));
  assert.is(ex.code, 1);
  assert.match(ex.err, cudaError);
  assert.not.ok(existsSync(join(dir, 'cuda.onnx')));
  const rec = hm4sr('recommend', '--model', join(dir, 'exported.onnx'), '--items', 'i001', '--ep', 'cuda');
  assert.is(rec.code, 1);
  assert.match(rec.err, cudaError);
});

test('build-graph writes checked graphs, manifests and artifacts', () => {
  synthesized();
  const out = join(dir, 'graphs');
  const listed = JSON.parse(ok('build-graph', '--data', data, '--config', config, '--out', out, '--artifacts')) as {
    file: string;
    kind: string;
  }[];
  assert.equal(
    listed.map((l) => l.kind),
    ['train-step', 'train-loop', 'eval', 'inference', 'ort-training-artifacts'],
  );
  for (const f of ['train_step.json', 'train_loop.json', 'eval.json', 'model.json']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  // One inference graph: the serving signature `export` ships (history ids and Unix seconds in, top-K out).
  type Named = { name: string }[];
  const serving = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { inputs: Named; outputs: Named };
  assert.equal(
    serving.inputs.map((i) => i.name),
    ['item_ids', 'timestamps', 'exclude_seen'],
  );
  assert.ok(serving.outputs.some((o) => o.name === 'top_items'));
  checkModels(listed.filter((l) => l.file.endsWith('.onnx')).map((l) => l.file));
});

test("one strict parser: a misspelt flag, a value out of its setting's range and bench flags are refused before anything runs", () => {
  const typo = hm4sr('train', '--epoch', '3', '--out', join(dir, 'typo'));
  assert.is(typo.code, 1);
  assert.match(typo.err, /\n\nhm4sr: Unknown argument: epoch\n$/);
  assert.match(typo.err, /--epochs +maximum epochs/, "the command's help comes with it");
  const range = hm4sr('train', '--epochs', '0', '--out', join(dir, 'range'));
  assert.is(range.code, 1);
  assert.is(
    range.err,
    'hm4sr: optim.epochs (--epochs) must be an integer from 1 to 1000000, got 0\n',
    'refused as parsed: no run started',
  );
  for (const d of ['typo', 'range']) assert.not.ok(existsSync(join(dir, d)), d);
  const benchTypo = hm4sr('bench', 'train', '--stepz', '3');
  assert.is(benchTypo.code, 1);
  assert.match(benchTypo.err, /hm4sr: Unknown argument: stepz\n$/);
  assert.is(benchTypo.out, '', 'no benchmark ran');
  const nan = hm4sr('bench', 'serve', '--requests', 'many');
  assert.match(nan.err, /hm4sr: --requests: not a number/);
  const help = hm4sr('bench', 'train', '--help');
  assert.is(help.code, 0);
  for (const flag of ['--steps', '--full-epoch', '--epochs', '--batch-size', '--eval-repeats'])
    assert.match(help.out, new RegExp(`${flag} `), flag);
  // yargs may wrap the choices onto the next line.
  assert.match(help.out, /--graph [^\n]*\n?[^\n]*\[choices: "production", "reference"\]/);
  assert.match(ok('bench', '--help'), /hm4sr bench paired/);
  // npm run bench -- NAME ... is hm4sr bench NAME ...; without a name, hm4sr bench suite (train and serve, then featurize).
  const npmBench = (...args: string[]) => spawnSync(process.execPath, [benchScript, ...args], { encoding: 'utf8' });
  const named = npmBench('featurize', '--help');
  assert.is(named.status, 0);
  assert.match(named.stdout, /^hm4sr bench featurize\n[\s\S]*--size/);
  const suite = npmBench('--data', 'synth', '--stepz', '2');
  assert.is(suite.status, 1);
  assert.match(suite.stderr, /hm4sr bench suite[\s\S]*hm4sr: Unknown argument: stepz\n$/);
  assert.match(
    npmBench('--help').stdout,
    /--requests[\s\S]*--full-epoch|--full-epoch[\s\S]*--requests/,
    "the suite takes train's and serve's flags",
  );
});

test('buildParser({ dryRun: true }) validates a line (flags, choices, demanded options, checks) and runs nothing', async () => {
  const dry = (...args: string[]) => buildParser({ dryRun: true }).parseAsync(args);
  const out = join(dir, 'dry-run');
  await dry('train', '--out', out, '--epochs', '2', '--preset', 'sasrec', '--ablate', 'TMoE');
  await dry('bench', 'paired', '--steps', '8', '--a', 'lower=false');
  await dry('data', 'stats', '--data', join(dir, 'none'));
  assert.not.ok(existsSync(out), 'no handler ran');
  await rejects(dry('train', '--epoch', '2'), /^Unknown argument: epoch$/);
  await rejects(dry('train', '--preset', 'bert4rec'), /Invalid values:[\s\S]*preset/);
  await rejects(dry('train', '--lr', '20'), /^optim\.lr \(--lr\) must be a number from 1e-12 to 10, got 20$/);
  await rejects(dry('evaluate'), /Missing required argument: run/);
  await rejects(dry('recommend', '--run', 'r'), /pass either --items \(with --times\) or --user/);
  await rejects(
    dry('bench', 'device', '--steps-per-run', '0'),
    /^optim\.stepsPerRun \(--steps-per-run\) must be an integer from 1/,
  );
  await rejects(dry('bench', 'train', '--stepz'), /^Unknown argument: stepz$/);
  await rejects(dry('nonsense'), /Unknown argument: nonsense/);
  try {
    await dry('train', '--bogus');
    assert.unreachable('refused');
  } catch (e) {
    assert.instance(e, UsageError);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
