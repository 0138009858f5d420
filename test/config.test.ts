import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FALSE_NEGATIVE_RULES, HM4SR_DEFAULTS } from '../graph/models/hm4sr-config.js';
import {
  CUDA_DEFAULTS,
  DEFAULT_CONFIG,
  RESUMABLE,
  type RunConfig,
  checkResume,
  checkRunConfig,
  cudaDefaults,
  mergeConfig,
  modelConfig,
  readConfigFile,
  valueAt,
} from '../train/config.js';
import { progressBar } from '../train/progress.js';
import { checkFlags, flagOptions, flagOverrides, flagged } from '../train/setting-flags.js';
import { SETTINGS, type Setting, allSettings } from '../train/settings.js';

const dims = { numItems: 10, numCategories: 3, intervalBuckets: 5, calendarSize: 1, textDim: 8, imageDim: 8 };

test('presets, ablations (with or without the dash) and overrides compose in order', () => {
  const c = modelConfig(mergeConfig(DEFAULT_CONFIG, { ablations: ['TMoE', '-Text'], model: { hidden: 32 } }), dims);
  assert.is(c.tmoe, false);
  assert.is(c.lambdaPCL, 0);
  assert.equal(c.modalities, ['id', 'img']);
  assert.is(c.hidden, 32);
  // An ablation wins over the same setting given explicitly: a tuned config minus CP has no CP.
  const t = {
    model: { lambdaCP: 0.05, lambdaIDCL: 0.1, modalities: ['id', 'txt', 'img'] as ('id' | 'txt' | 'img')[] },
  };
  const a = modelConfig(mergeConfig(DEFAULT_CONFIG, { ...t, ablations: ['CP', 'Image'] }), dims);
  assert.equal([a.lambdaCP, a.lambdaIDCL, a.modalities], [0, 0.1, ['id', 'txt']]);
  const s = modelConfig(mergeConfig(DEFAULT_CONFIG, { preset: 'sasrec' }), dims);
  assert.equal(s.modalities, ['id']);
  assert.equal([s.imoe, s.tmoe, s.lambdaCP, s.lambdaIDCL, s.lambdaPCL], [false, false, 0, 0, 0]);
  assert.throws(
    () => modelConfig(mergeConfig(DEFAULT_CONFIG, { ablations: ['-Audio'] }), dims),
    /unknown ablation "-Audio"/,
  );
  assert.is(modelConfig(DEFAULT_CONFIG, { ...dims, numCategories: 0 }).lambdaCP, 0, 'no categories: no CP');
});

test('config files: the eval section merges over the defaults; unknown and moved fields are refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hm4sr-config-'));
  try {
    const file = (o: unknown) => {
      const p = join(dir, 'c.json');
      writeFileSync(p, JSON.stringify(o));
      return p;
    };
    const rc = mergeConfig(DEFAULT_CONFIG, readConfigFile(file({ eval: { topk: [10], validMetric: 'hr@10' } })));
    assert.equal(rc.eval, { ...DEFAULT_CONFIG.eval, topk: [10], validMetric: 'hr@10' });
    assert.throws(
      () => readConfigFile(file({ optim: { metric: 'ndcg@10' } })),
      /c\.json: unknown field optim\.metric \(now eval\.validMetric\)/,
    );
    assert.throws(
      () => readConfigFile(file({ eval: { topK: [5] } })),
      /unknown field eval\.topK \(known: metrics, topk, validMetric, batchSize\)/,
    );
    assert.throws(() => readConfigFile(file({ evaluation: {} })), /unknown config section "evaluation"/);
    // The contrastive terms' false-negative rule is a model setting a config file may set.
    const fn = mergeConfig(DEFAULT_CONFIG, readConfigFile(file({ model: { falseNegatives: 'none' } })));
    assert.is(modelConfig(fn, dims).falseNegatives, 'none');
    // Every rule the model implements passes the settings table's check; the retired name does not.
    for (const rule of FALSE_NEGATIVE_RULES) {
      checkRunConfig(mergeConfig(DEFAULT_CONFIG, readConfigFile(file({ model: { falseNegatives: rule } }))));
    }
    assert.throws(
      () => checkRunConfig(mergeConfig(DEFAULT_CONFIG, { model: { falseNegatives: 'reference' } } as never)),
      /falseNegatives/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the defaults, the CUDA defaults and the config-file fields are the settings table's", () => {
  for (const [path, s] of allSettings()) {
    const [sec] = path.split('.');
    // A run config leaves the model's settings unset (the preset decides); the table shows the model's own.
    assert.equal(
      sec === 'model' ? HM4SR_DEFAULTS[path.slice(6) as keyof typeof HM4SR_DEFAULTS] : valueAt(DEFAULT_CONFIG, path),
      s.default,
      path,
    );
  }
  assert.equal(DEFAULT_CONFIG.model, {});
  assert.equal(
    Object.keys(SETTINGS.model),
    Object.keys(HM4SR_DEFAULTS),
    "every model setting has an entry, in the model's order",
  );
  assert.equal(cudaDefaults(), {
    optim: { stepsPerRun: CUDA_DEFAULTS.stepsPerRun },
    eval: { batchSize: CUDA_DEFAULTS.evalBatchSize },
  });
  assert.ok(CUDA_DEFAULTS.stepsPerRun === 16 && CUDA_DEFAULTS.evalBatchSize === 4096);
  // config.json keeps its layout: sections and fields in the order runs were saved in.
  assert.equal(Object.keys(DEFAULT_CONFIG), ['preset', 'ablations', 'data', 'model', 'optim', 'eval']);
  assert.equal(Object.keys(DEFAULT_CONFIG.optim), [
    'epochs',
    'batchSize',
    'lr',
    'weightDecay',
    'seed',
    'patience',
    'layout',
    'lengthBucketing',
    'mu',
    'pclBeta',
    'absTime',
    'threads',
    'stepsPerRun',
  ]);
});

/** A value just outside what setting s accepts, and one at its edge that it accepts. */
function outsideAndEdge(s: Setting): [bad: unknown, good: unknown][] {
  if (s.kind === 'int' || s.kind === 'number') {
    const [min, max] = s.range!;
    const cases: [unknown, unknown][] = [
      [min - (s.kind === 'int' ? 1 : Math.max(1e-6, Math.abs(min) * 1e-3)), min],
      [max * 2 + 1, max],
      [Number.NaN, min],
    ];
    if (s.kind === 'int') cases.push([min + 0.5, min]);
    return cases;
  }
  if (s.kind === 'choice') return [['bogus', s.choices![0]]];
  if (s.kind === 'boolean') return [['yes', true]];
  if (s.kind === 'string') return [[7, 'x']];
  return s.of === 'int'
    ? [[[s.range![0] - 1], [s.range![0]]]]
    : s.of === 'choice'
      ? [[['bogus'], [s.choices![0]]]]
      : [['a', ['a']]];
}

test("every setting's range check comes from its table entry: refused by path (and flag), edges accepted", () => {
  let checked = 0;
  for (const [path, s] of allSettings()) {
    if (path === 'model.modalities') continue; // id is required: validateConfig's rule, not a range.
    const [head, key] = path.split('.');
    const withValue = (v: unknown) =>
      mergeConfig(DEFAULT_CONFIG, (key ? { [head]: { [key]: v } } : { [head]: v }) as never);
    for (const [bad, good] of outsideAndEdge(s)) {
      const name = `${path}${s.flag ? ` (--${s.flag})` : ''}`.replace(/[.()-]/g, '\\$&');
      assert.throws(
        () => checkRunConfig(withValue(bad)),
        new RegExp(`^${name} (entry 1 )?must be`),
        `${path} = ${JSON.stringify(bad)}`,
      );
      checkRunConfig(withValue(good));
      checked++;
    }
  }
  assert.ok(checked > 50, `${checked} cases`);
  assert.throws(
    () => checkRunConfig(mergeConfig(DEFAULT_CONFIG, { optim: { epochs: 0 } })),
    /^optim\.epochs \(--epochs\) must be an integer from 1 to 1000000, got 0$/,
  );
  assert.throws(
    () => checkRunConfig(mergeConfig(DEFAULT_CONFIG, { model: { timeEmbedding: 'weekly' as never } })),
    /^model\.timeEmbedding must be one of both, interval/,
  );
  assert.throws(
    () => checkRunConfig(mergeConfig(DEFAULT_CONFIG, { eval: { topk: [10, 0] } })),
    /^eval\.topk entry 2 must be an integer from 1/,
  );
});

test('flags: yargs options, the config they make and their checks, all from the table', () => {
  const train = flagOptions('train');
  assert.equal(Object.keys(train), [
    'epochs',
    'batch-size',
    'lr',
    'patience',
    'layout',
    'length-bucketing',
    'threads',
    'steps-per-run',
    'eval-batch-size',
  ]);
  assert.equal(Object.keys(flagOptions('build')), [
    'preset',
    'ablate',
    'category-column',
    'k-core',
    'missing-modality',
    'catalog-chunk',
    'seed',
  ]);
  assert.equal(train.epochs, {
    type: 'number',
    describe: 'maximum epochs (early stopping after --patience) (default 200)',
  });
  assert.equal(train.layout.choices, ['packed', 'padded']);
  assert.match(train['steps-per-run'].describe, /\(default 1 on the CPU, 16 on CUDA\)$/);
  assert.is(flagOptions('build').ablate.type, 'array');
  assert.equal(flagOverrides({ epochs: 3, 'batch-size': 8, preset: 'sasrec', ablate: ['TMoE'], lr: undefined }), {
    optim: { epochs: 3, batchSize: 8 },
    preset: 'sasrec',
    ablations: ['TMoE'],
  });
  assert.equal(
    flagOverrides({ epochs: 3, seed: 1 }, 'build'),
    { optim: { seed: 1 } },
    'a scope takes only its own flags',
  );
  assert.throws(() => checkFlags({ epochs: 0 }, 'train'), /optim\.epochs \(--epochs\) must be an integer from 1/);
  assert.throws(
    () => checkFlags({ 'eval-batch-size': Number.NaN }, ['eval.batchSize']),
    /eval\.batchSize \(--eval-batch-size\) must be a number, got NaN/,
  );
  assert.is(checkFlags({ epochs: 1, lr: 0.5 }, 'train'), true);
  // Every flag is unique across the table.
  const flags = flagged().map(([, s]) => s.flag);
  assert.equal(flags.length, new Set(flags).size);
});

test("what --resume may change is the table's resumable settings; any other change is refused by name", () => {
  assert.equal([...RESUMABLE].sort(), ['data.dir', 'data.name', 'eval.batchSize', 'optim.epochs', 'optim.threads']);
  const started: RunConfig = mergeConfig(DEFAULT_CONFIG, { data: { dir: '/d', name: 'x' }, model: { hidden: 8 } });
  checkResume(
    started,
    mergeConfig(started, {
      data: { dir: '/moved', name: 'y' },
      optim: { epochs: 500, threads: 3 },
      eval: { batchSize: 64 },
    }),
    'c.json',
  );
  for (const [path, s] of allSettings()) {
    if (s.resumable) continue;
    const [head, key] = path.split('.');
    const other = outsideAndEdge(s)[0][0];
    const resumed = mergeConfig(started, (key ? { [head]: { [key]: other } } : { [head]: other }) as never);
    assert.throws(
      () => checkResume(started, resumed, 'c.json'),
      (e: Error) => e.message.includes(`would change them: ${path} `),
      path,
    );
  }
});

test('progress off a terminal: one line per bar when it stops, none per update', () => {
  const lines: string[] = [];
  const bar = progressBar('epoch 1', 10, true, { isTTY: false, write: (s: string) => lines.push(s) });
  for (let i = 1; i <= 10; i++) bar.update(i, { loss: 1 / i });
  assert.is(lines.length, 0);
  bar.stop();
  assert.is(lines.length, 1);
  assert.match(lines[0], /^epoch 1: 10\/10 \| loss 0\.1000 \| \d+\.\d s\n$/);
  progressBar('off', 3, false, { isTTY: false, write: (s: string) => lines.push(s) }).stop();
  assert.is(lines.length, 1, 'a disabled bar writes nothing');
});

test.run();
