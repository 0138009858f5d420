import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CONFIG, mergeConfig, modelConfig } from '../train/config.js';

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

test.run();
