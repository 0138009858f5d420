import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { saveModel } from '../graph/manifest.js';
import { buildEvalGraph, buildInferenceGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep } from '../graph/train-step.js';
import { prepare } from '../train/prepare.js';
import { initialValues } from '../train/trainer.js';
import { type ModelArgs, log, modelOptions, runConfigFrom } from './options.js';

export function registerGraphs(cli: Argv): void {
  cli.command(
    'build-graph',
    'write the training-step, K-step Loop, evaluation and inference graphs of a dataset\'s model, with manifests',
    (y) => modelOptions(y)
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('lr', { type: 'number' }),
    (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const p = prepare(rc, (m) => log(`warning: ${m}`));
      const out = resolve(a.out);
      const model = hm4srModel(p.model);
      const adam = { ...ADAM_DEFAULTS, lr: a.lr ?? rc.optim.lr, weightDecay: rc.optim.weightDecay };
      const step = buildTrainStep(model, { adam, seed: rc.optim.seed });
      const loop = buildTrainLoop(model, { adam, seed: rc.optim.seed });
      const meta = { model: p.model, adam, fingerprint: p.fingerprint };
      const written = [
        saveModel(step.graph, join(out, 'train_step.onnx'), 'train-step', { params: 'inputs' }, { state: step.state, losses: step.losses, meta }),
        saveModel(loop.graph, join(out, 'train_loop.onnx'), 'train-loop', { params: 'inputs' }, { state: loop.state, losses: loop.losses, meta }),
        saveModel(buildEvalGraph(p.model), join(out, 'eval.onnx'), 'eval', { params: 'inputs' }, { meta }),
      ];
      const inf = buildInferenceGraph(p.model, 100);
      const values = initialValues([...inf.params.values()].map((q) => q.spec), p.frozen, rc.optim.seed);
      written.push(saveModel(inf, join(out, 'inference.onnx'), 'inference', { params: 'initializers', values, externalThreshold: 1 << 20 }, { meta: { ...meta, note: 'initial (untrained) weights' } }));
      process.stdout.write(`${JSON.stringify(written.map((m) => ({ file: join(out, m.file), kind: m.kind, inputs: m.inputs.length, outputs: m.outputs.length, params: m.params.length })), null, 2)}\n`);
    },
  );
}
