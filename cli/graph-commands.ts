import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { exportArtifacts } from '../graph/artifacts/write.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { adamConfig } from '../train/config.js';
import { writeGraphs } from '../train/graphs.js';
import { prepare } from '../train/prepare.js';
import { loadRun } from '../train/run.js';
import { type ModelArgs, modelOptions, runConfigFrom, warn } from './options.js';

export function registerGraphs(cli: Argv): void {
  cli.command(
    'build-graph',
    'write the training-step, K-step Loop and evaluation graphs of a dataset\'s model and the serving model.onnx '
      + '(untrained weights), with manifests',
    (y) => modelOptions(y)
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('lr', { type: 'number' })
      .option('artifacts', { type: 'boolean', default: false, describe: 'also write ONNX Runtime training artifacts (checkpoint, training/eval/optimizer models) in OUT/artifacts' }),
    (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const listed = writeGraphs(rc, prepare(rc, warn), resolve(a.out), { lr: a.lr, artifacts: a.artifacts });
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
      const { rc, p, checkpoint } = loadRun(a.run, a.from, warn);
      const adam = adamConfig(rc);
      const m = exportArtifacts(hm4srModel(p.model), checkpoint, resolve(a.out), { adam, seed: rc.optim.seed, fixedLearningRate: a['fixed-lr'] });
      process.stdout.write(`${JSON.stringify({ artifacts: resolve(a.out), files: m.files }, null, 2)}\n`);
    },
  );
}
