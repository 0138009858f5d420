import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, mergeConfig, modelConfig, readConfigFile } from '../train/config.js';

const dims = { numItems: 10, numCategories: 3, intervalBuckets: 5, calendarSize: 1, textDim: 8, imageDim: 8 };

test('presets, ablations (with or without the dash) and overrides compose in order', () => {
  const c = modelConfig(mergeConfig(DEFAULT_CONFIG, { ablations: ['TMoE', '-Text'], model: { hidden: 32 } }), dims);
  assert.is(c.tmoe, false);
  assert.is(c.lambdaPCL, 0);
  assert.equal(c.modalities, ['id', 'img']);
  assert.is(c.hidden, 32);
  const s = modelConfig(mergeConfig(DEFAULT_CONFIG, { preset: 'sasrec' }), dims);
  assert.equal(s.modalities, ['id']);
  assert.equal([s.imoe, s.tmoe, s.lambdaCP, s.lambdaIDCL, s.lambdaPCL], [false, false, 0, 0, 0]);
  assert.throws(() => modelConfig(mergeConfig(DEFAULT_CONFIG, { ablations: ['-Audio'] }), dims), /unknown ablation "-Audio"/);
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
    assert.throws(() => readConfigFile(file({ optim: { metric: 'ndcg@10' } })), /c\.json: unknown field optim\.metric \(now eval\.validMetric\)/);
    assert.throws(() => readConfigFile(file({ eval: { topK: [5] } })), /unknown field eval\.topK \(known: metrics, topk, validMetric, batchSize\)/);
    assert.throws(() => readConfigFile(file({ evaluation: {} })), /unknown config section "evaluation"/);
    // The contrastive terms' false-negative rule is a model setting a config file may set.
    const fn = mergeConfig(DEFAULT_CONFIG, readConfigFile(file({ model: { falseNegatives: 'none' } })));
    assert.is(modelConfig(fn, dims).falseNegatives, 'none');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
