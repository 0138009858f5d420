import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { saveModel } from '../graph/manifest.js';
import { buildEvalGraph, buildInferenceGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { exportArtifacts, writeArtifacts } from '../graph/artifacts/write.js';
import { prepare } from '../train/prepare.js';
import { initialValues, runFiles } from '../train/trainer.js';
import { loadRun } from './serve-commands.js';
import { type ModelArgs, log, modelOptions, runConfigFrom } from './options.js';

export function registerGraphs(cli: Argv): void {
  cli.command(
    'build-graph',
    'write the training-step, K-step Loop, evaluation and inference graphs of a dataset\'s model, with manifests',
    (y) => modelOptions(y)
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('lr', { type: 'number' })
      .option('artifacts', { type: 'boolean', default: false, describe: 'also write ONNX Runtime training artifacts (checkpoint, training/eval/optimizer models) in OUT/artifacts' }),
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
      // Frozen tensors bind to the training model's parameters; the inference graph takes its subset of them.
      const all = initialValues(probeParams(model), p.frozen, rc.optim.seed);
      const values = new Map([...inf.params.keys()].map((k) => [k, all.get(k)!]));
      written.push(saveModel(inf, join(out, 'inference.onnx'), 'inference', { params: 'initializers', values, externalThreshold: 1 << 20 }, { meta: { ...meta, note: 'initial (untrained) weights' } }));
      const listed = written.map((m) => ({ file: join(out, m.file), kind: m.kind, inputs: m.inputs.length, outputs: m.outputs.length, params: m.params.length }));
      if (a.artifacts) {
        const dir = join(out, 'artifacts');
        writeArtifacts(model, dir, { adam, values: all, seed: rc.optim.seed, properties: { epoch: 0, seed: rc.optim.seed, fingerprint: p.fingerprint, config: JSON.stringify(p.model) } });
        listed.push({ file: dir, kind: 'ort-training-artifacts', inputs: 0, outputs: 0, params: all.size });
      }
      process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    },
  );
  cli.command(
    'export-artifacts',
    'write ONNX Runtime training artifacts from a trained run (its weights and Adam state), to continue training on device',
    (y) => y
      .option('run', { type: 'string', demandOption: true })
      .option('out', { type: 'string', demandOption: true, describe: 'artifact directory (created; replaced if it holds only artifacts)' })
      .option('from', { choices: ['last', 'best'] as const, default: 'last' as const, describe: 'checkpoint to export (last has the Adam state)' })
      .option('fixed-lr', { type: 'boolean', default: false, describe: 'bake the learning rate into the optimizer model (for runtimes that cannot set it)' }),
    (a) => {
      const { rc, p } = loadRun(a.run, a.from);
      const adam = { ...ADAM_DEFAULTS, lr: rc.optim.lr, weightDecay: rc.optim.weightDecay };
      const f = runFiles(a.run);
      const m = exportArtifacts(hm4srModel(p.model), a.from === 'best' ? f.best : f.last, resolve(a.out), { adam, seed: rc.optim.seed, fixedLearningRate: a['fixed-lr'] });
      process.stdout.write(`${JSON.stringify({ artifacts: resolve(a.out), files: m.files }, null, 2)}\n`);
    },
  );
}
