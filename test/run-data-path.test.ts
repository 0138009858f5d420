// A run's config.json names its dataset by the built-in name, or by its path from the repository root, so a
// committed run names no path of the machine it ran on; reading the run back finds the directory again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_DATA, builtInDataset, recordedDataDir, recordedDataDirPath } from '../train/data/builtin.js';

const ROOT = resolve(REPO_DATA, '..');
const quiet = () => {};

test('built-in datasets are recorded by name and found again', () => {
  const beauty = builtInDataset('amazon-beauty')!.locate(quiet).dir;
  assert.is(recordedDataDir(beauty), 'amazon-beauty');
  assert.is(recordedDataDirPath('amazon-beauty', quiet), beauty);
  const cache = mkdtempSync(join(tmpdir(), 'hm4sr-cache-'));
  const was = process.env.HM4SR_CACHE;
  process.env.HM4SR_CACHE = cache;
  try {
    const synth = join(cache, 'synth-v2-1000x500-2025');
    assert.is(recordedDataDir(synth), 'synth', 'the cache path of the built-in synthetic set is recorded by its name');
  } finally {
    if (was === undefined) delete process.env.HM4SR_CACHE;
    else process.env.HM4SR_CACHE = was;
    rmSync(cache, { recursive: true, force: true });
  }
});

test('a directory inside the repository is recorded by its relative path; one outside keeps its own', () => {
  assert.is(recordedDataDir(join(ROOT, 'runs', 'my-data')), 'runs/my-data');
  assert.is(recordedDataDirPath('runs/my-data', quiet), join(ROOT, 'runs', 'my-data'));
  const like = recordedDataDir(join(ROOT, 'synth'));
  assert.is(like, './synth', 'a relative path that reads like a built-in name is marked');
  assert.is(recordedDataDirPath('./synth', quiet), join(ROOT, 'synth'));
  const outside = resolve(ROOT, '..', 'elsewhere', 'data');
  assert.is(recordedDataDir(outside), outside);
  assert.is(recordedDataDirPath(outside, quiet), outside);
});

test.run();
