import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { Graph } from '../graph/graph.js';
import { buildBertGraph } from '../graph/layers/bert.js';
import { buildVitGraph } from '../graph/layers/vit.js';
import { initialValues } from '../graph/init.js';
import { type Manifest, manifestPath, saveModel } from '../graph/manifest.js';
import * as op from '../graph/ops/index.js';
import { buildTrainLoop, buildTrainStep } from '../graph/train-step.js';
import { createSession, ort } from '../runtime/session.js';
import { checkModels } from './util/checker.js';
import { mlpModel } from './util/toy-models.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-emit-'));

test('training-step and Loop graphs (and the step unlowered) pass onnx.checker full_check, with manifests', () => {
  const adam = ADAM_DEFAULTS;
  const step = buildTrainStep(mlpModel(), { adam, seed: 1 });
  const loop = buildTrainLoop(mlpModel(), { adam, seed: 1 });
  const a = join(dir, 'mlp_step.onnx'),
    b = join(dir, 'mlp_loop.onnx'),
    c = join(dir, 'mlp_step_built.onnx');
  saveModel(step.graph, a, 'train-step', { params: 'inputs' }, { state: step.state, losses: step.losses });
  saveModel(loop.graph, b, 'train-loop', { params: 'inputs' }, { state: loop.state, losses: loop.losses });
  saveModel(step.graph, c, 'train-step', { params: 'inputs', lower: false }, { losses: step.losses });
  checkModels([a, b, c]);
  const m = JSON.parse(readFileSync(manifestPath(a), 'utf8')) as Manifest;
  assert.is(m.format, 'hm4sr.graph/1');
  assert.ok(m.inputs.some((i) => i.name === 'fc1.weight' && i.shape.join() === '2,16'));
  assert.ok(m.inputs.some((i) => i.name === 'x' && i.shape.join() === 'batch,2'));
  assert.ok(
    m.state.some((s) => s.input === 'adam.m.fc2.bias' && s.output === 'adam.m.fc2.bias.next' && s.role === 'adam.m'),
  );
  assert.equal(m.losses, ['loss', 'loss.accuracy']);
  assert.is(m.params.length, 4);
});

test('external data: large initializers go beside the model and load back identically', async () => {
  const g = new Graph('ext');
  const x = g.input('x', 'float32', ['batch', 64]);
  const w = g.param('w', [64, 32], { kind: 'normal', std: 1 });
  g.output(op.matmul(x, w), 'y');
  const values = initialValues(
    [...g.params.values()].map((p) => p.spec),
    new Map(),
    3,
  );
  const inline = join(dir, 'inline.onnx'),
    ext = join(dir, 'ext.onnx');
  saveModel(g, inline, 'inference', { params: 'initializers', values });
  const man = saveModel(g, ext, 'inference', { params: 'initializers', values, externalThreshold: 1024 });
  assert.is(man.externalData, 'ext.onnx.data');
  assert.ok(existsSync(`${ext}.data`));
  assert.ok(readFileSync(ext).length < 2048, 'weights left the model file');
  checkModels([inline, ext]);
  const feed = {
    x: new ort.Tensor(
      'float32',
      new Float32Array(128).map((_, i) => Math.sin(i)),
      [2, 64],
    ),
  };
  const y1 = (await (await createSession(inline)).run(feed)).y.data as Float32Array;
  const y2 = (await (await createSession(ext)).run(feed)).y.data as Float32Array;
  assert.equal(Array.from(y1), Array.from(y2));
});

test('BERT and ViT encoder graphs pass onnx.checker full_check', () => {
  const bert = buildBertGraph({ vocab: 30, hidden: 8, layers: 1, heads: 2, intermediate: 16, maxPositions: 16 });
  const vit = buildVitGraph({ imageSize: 8, patchSize: 4, hidden: 8, layers: 1, heads: 2, intermediate: 16 });
  const files = [
    [bert, 'bert.onnx'],
    [vit, 'vit.onnx'],
  ] as const;
  for (const [g, f] of files)
    saveModel(g, join(dir, f), 'encoder', {
      params: 'initializers',
      values: initialValues(
        [...g.params.values()].map((p) => p.spec),
        new Map(),
        1,
      ),
    });
  checkModels(files.map(([, f]) => join(dir, f)));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
