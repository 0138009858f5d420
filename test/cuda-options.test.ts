import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runConfigFrom, sessionFrom } from '../cli/options.js';
import { CUDA_DEFAULTS, DEFAULT_CONFIG } from '../train/config.js';
import { generateSynthetic } from '../train/data/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-cuda-options-'));
generateSynthetic({ dir, name: 'mini', users: 20, items: 10, categories: 3, textDim: 4, seed: 1 });

test('on CUDA the Loop graph and large evaluation batches are the defaults; a config file or flag still wins', () => {
  const cpu = runConfigFrom({ data: dir }, true, 'cpu');
  assert.is(cpu.optim.stepsPerRun, DEFAULT_CONFIG.optim.stepsPerRun);
  assert.is(cpu.optim.evalBatchSize, DEFAULT_CONFIG.optim.evalBatchSize);
  const cuda = runConfigFrom({ data: dir }, true, 'cuda');
  assert.is(cuda.optim.stepsPerRun, CUDA_DEFAULTS.stepsPerRun);
  assert.is(cuda.optim.evalBatchSize, CUDA_DEFAULTS.evalBatchSize);
  assert.ok(CUDA_DEFAULTS.stepsPerRun > 1 && CUDA_DEFAULTS.evalBatchSize >= 4096);
  assert.is(runConfigFrom({ data: dir, 'steps-per-run': 4 }, true, 'cuda').optim.stepsPerRun, 4);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ optim: { stepsPerRun: 8, evalBatchSize: 512 } }));
  const fromFile = runConfigFrom({ data: dir, config: file }, true, 'cuda');
  assert.is(fromFile.optim.stepsPerRun, 8);
  assert.is(fromFile.optim.evalBatchSize, 512);
});

test('CUDA sessions are strict unless --allow-cpu-nodes is passed', () => {
  assert.is(sessionFrom({ ep: 'cuda', 'allow-cpu-nodes': false }).strictDevice, true);
  assert.is(sessionFrom({ ep: 'cuda', 'allow-cpu-nodes': true }, 3).strictDevice, false);
  assert.is(sessionFrom({ ep: 'cuda', 'allow-cpu-nodes': true }, 3).threads, 3);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
