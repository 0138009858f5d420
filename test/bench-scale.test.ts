import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureData, predictedMiB } from '../bench/scale.js';
import type { ScalePoint } from '../bench/scale-plot.js';
import { cliRunner } from './util/cli.js';
import { tempDir } from './util/tmp.js';

const dir = tempDir('hm4sr-bench-scale-');
const { ok } = cliRunner(dir);

test('bench scale: a generated catalog, measured in three processes, reported as JSON and drawn', () => {
  const args = ['--root', join(dir, 'data'), '--out', join(dir, 'out'), '--users', '40', '--steps', '2'];
  const out = ok('bench', 'scale', '--items', '80', '--no-before', '--eval-users', '10', '--requests', '5', ...args);
  const lines = out.trim().split('\n');
  assert.is(lines.length, 1, 'stdout holds one JSON line per catalog (data synth reports to stderr)');
  const p = JSON.parse(lines[0]) as { items: number; after: Record<string, Record<string, unknown>>; before?: object };
  assert.is(p.items, 80);
  assert.is(p.before, undefined);
  assert.ok((p.after.train.msPerStep as number) > 0);
  assert.is(p.after.train.stepsTimed, 1);
  assert.is(p.after.eval.training, 'not timed (--steps 0)');
  assert.is(p.after.eval.evalUsers, 10);
  assert.ok((p.after.eval.evalSeconds as number) > 0);
  assert.ok(((p.after.serve.latency as Record<string, number>).p50Ms as number) > 0);
  assert.is(p.after.serve.batchScoring, null, 'serve timed single-user requests alone');
  assert.is(p.after.serve.catalog, 'features');
  assert.equal(readdirSync(join(dir, 'out')).sort(), ['scale.json', 'scale.png']);
  const png = readFileSync(join(dir, 'out', 'scale.png'));
  assert.equal([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.is(JSON.parse(readFileSync(join(dir, 'out', 'scale.json'), 'utf8')).points.length, 1);
  assert.not.ok(existsSync(join(dir, 'data', 'items-80', 'scale.image.f32')), 'text features only');
  // A dataset generated with other settings is not reused under these.
  assert.throws(() => ensureData(join(dir, 'data'), 80, 41), /generated with users 40, not 41; remove/);
  assert.is(ensureData(join(dir, 'data'), 80, 40), join(dir, 'data', 'items-80'));
});

test('a whole-catalog measurement is predicted on the line through the two largest catalogs measured', () => {
  const point = (items: number, train: number | null): ScalePoint => ({
    items,
    after: { train: {}, eval: {}, serve: {} },
    before: { train: train === null ? { skipped: 'x' } : { peakRssMiB: train }, eval: {}, serve: {} },
  });
  assert.is(predictedMiB([point(10, 100)], 'before', 'train', 1000), null, 'one point predicts nothing');
  const done = [point(10, 50), point(100, 100), point(1000, 1000)];
  assert.is(predictedMiB(done, 'before', 'train', 2000), 2000);
  assert.is(predictedMiB([...done, point(5000, null)], 'before', 'train', 2000), 2000, 'a skipped size is no point');
  assert.is(predictedMiB(done, 'after', 'train', 2000), null);
});

test.run();
