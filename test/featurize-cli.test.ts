import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFeatureTable } from '../train/data/features.js';
import { writeTinyModels } from './util/featurize-fixtures.js';
import { tempDir } from './util/tmp.js';

const main = new URL('../cli/main.js', import.meta.url).pathname;
const root = tempDir('hm4sr-featurize-cli-');
const models = writeTinyModels(join(root, 'models'));
const data = join(root, 'data');
const N = 80;
mkdirSync(data);
const words = [
  'nail',
  'polish',
  'red',
  'matte',
  'lipstick',
  'serum',
  'argan',
  'oil',
  'mascara',
  'black',
  'pack',
  'of',
  'three',
];
writeFileSync(
  join(data, 'D.inter'),
  `user_id:token\titem_id:token\ttimestamp:float\n${Array.from({ length: N }, (_, i) => `u${i % 7}\ti${i}\t${i}`).join('\n')}\n`,
);
writeFileSync(
  join(data, 'D.item'),
  `item_id:token\ttitle:token_seq\n${Array.from({ length: N }, (_, i) => `i${i}\t${Array.from({ length: 3 + (i % 5) }, (_, k) => words[(i * 5 + k * 3) % words.length]).join(' ')}`).join('\n')}\n`,
);
const env = { ...process.env, HM4SR_CACHE: join(root, 'cache'), CI: '1' };
const cli = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env });

test('a run killed with SIGKILL resumes from its cache and ends with the table of an uninterrupted run', async () => {
  const out = join(root, 'killed');
  const cache = join(out, '.D.text.cache');
  const child = spawn(
    process.execPath,
    [main, 'featurize', '--data', data, '--text-model', models.bert, '--batch', '1', '--chunk', '1', '--out', out],
    { env, stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const chunks = () => (existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.f32')).length : 0);
  while (chunks() < 5 && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  assert.not.ok(
    existsSync(join(out, 'D.text.f32')),
    'the run finished before it could be killed; the test needs more items',
  );
  const left = chunks();
  const r = cli('featurize', '--data', data, '--text-model', models.bert, '--batch', '1', '--chunk', '1', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`warning: ${out}: taking over the lock of hm4sr featurize .*\\(pid ${child.pid} on `),
  );
  const report = JSON.parse(r.stdout).text;
  assert.ok(
    report.computed <= N - left && report.computed > 0,
    `computed ${report.computed} with ${left} chunks cached`,
  );
  // Batches of one item give the same rows whatever the chunking, so the reference run need not crawl.
  const full = cli(
    'featurize',
    '--data',
    data,
    '--text-model',
    models.bert,
    '--batch',
    '1',
    '--chunk',
    String(N),
    '--out',
    join(root, 'full'),
  );
  assert.is(full.status, 0, full.stderr);
  assert.equal(readFileSync(join(out, 'D.text.f32')), readFileSync(join(root, 'full', 'D.text.f32')));
});

test('tfidf through the CLI; errors exit non-zero naming the problem and write nothing', () => {
  const r = cli('featurize', '--data', data, '--text-model', 'tfidf', '--out', join(root, 'tf'));
  assert.is(r.status, 0, r.stderr);
  const t = readFeatureTable(join(root, 'tf', 'D.text.f32'));
  assert.is(t.dim, 768);
  assert.is(t.tokens.length, N);
  const bad = join(root, 'bad');
  // Each spawn costs the CLI's start-up (seconds on a busy machine): the library suites cover the other errors.
  const cases: [string[], RegExp][] = [
    // The image model is checked before the text run starts, so no text table is left behind either.
    [['--text-model', models.bert, '--image-model', models.bert, '--images', data], /lacks preprocessor_config\.json/],
    [['--text-model', 'tfidf', '--ep', 'cuda'], /tfidf runs on the CPU/],
  ];
  for (const [args, msg] of cases) {
    const e = cli('featurize', '--data', data, '--out', bad, ...args);
    assert.is(e.status, 1, `${args.join(' ')}: exit ${e.status}`);
    assert.match(e.stderr, msg);
  }
  const cuda = cli('featurize', '--data', data, '--text-model', models.bert, '--ep', 'cuda', '--out', bad);
  if (cuda.status !== 0) assert.match(cuda.stderr, /CUDA/);
  else assert.ok(existsSync(join(bad, 'D.text.f32')), 'a CUDA run that succeeds writes its table');
  if (cuda.status !== 0) assert.not.ok(existsSync(bad), 'nothing written');
});

test.run();
