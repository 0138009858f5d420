// Commands that write ONNX files: export (a run's inference model, optionally as a Triton repository),
// export-artifacts (ONNX Runtime training artifacts of a run) and build-graph (every graph of a dataset's model).
import { dirname, join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { exportArtifacts } from '../graph/artifacts/write.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { lockDirectory, withLock } from '../runtime/output-lock.js';
import { checkExecutionProvider } from '../runtime/session.js';
import { Recommender } from '../runtime/recommender.js';
import { writeTritonRepository } from '../runtime/triton.js';
import { adamConfig } from '../train/config.js';
import { CATALOG_FORMS, DEFAULT_TOP_K, catalogFormOf, exportInference } from '../train/export.js';
import { writeGraphs } from '../train/graphs.js';
import { prepare } from '../train/prepare.js';
import { loadRun } from '../train/run.js';
import {
  type DeviceArgs,
  type ModelArgs,
  deviceOptions,
  modelOptions,
  runConfigFrom,
  sessionFrom,
  settingOptions,
  warn,
} from './options.js';

export function registerExport(cli: Argv): void {
  exportCommand(cli);
  buildGraphCommand(cli);
  exportArtifactsCommand(cli);
}

function exportCommand(cli: Argv): void {
  cli.command(
    'export',
    "write a run's inference model (best weights) as one portable ONNX file",
    (y) =>
      deviceOptions(y)
        .option('run', { type: 'string', demandOption: true })
        .option('out', { type: 'string', describe: 'output .onnx (default RUN/model.onnx)' })
        .option('top-k', { type: 'number', default: DEFAULT_TOP_K, describe: "K of the model's TopK output" })
        .option('catalog', {
          choices: CATALOG_FORMS,
          default: 'auto' as const,
          describe:
            'what the model holds: the feature tables and projections (features: add-items can extend them), ' +
            'their product (precomputed: smaller, any catalog size), or features while the tables fit 1 GiB (auto)',
        })
        .option('triton', {
          type: 'string',
          describe: 'also lay out a Triton Inference Server model repository in DIR',
        })
        .option('triton-name', { type: 'string', default: 'hm4sr', describe: 'model name in the Triton repository' }),
    async (a) => {
      // --ep cuda: the exported model must also load on the device (checked before writing, and after).
      await checkExecutionProvider(a.ep);
      const { rc, p, values } = loadRun(a.run, 'best', warn);
      const out = a.out ?? join(a.run, 'model.onnx');
      // The directory the model goes to is locked as train locks its run: by default that is the run itself.
      const { m, triton } = await withLock(lockDirectory(dirname(out), 'export', warn), async () => {
        const m = await exportInference(p.model, values, p, rc, out, a['top-k'], a.catalog);
        if (a.ep !== 'cpu') await Recommender.load(out, sessionFrom(a as DeviceArgs));
        return { m, triton: a.triton ? writeTritonRepository(out, a.triton, { name: a['triton-name'] }) : null };
      });
      process.stdout.write(
        `${JSON.stringify({ model: out, catalog: catalogFormOf(p.model, a.catalog), inputs: m.inputs.map((i) => i.name), outputs: m.outputs.map((o) => o.name), ...(a.ep !== 'cpu' ? { loadsOn: a.ep } : {}), ...(triton ? { triton: { config: triton.config, model: triton.model } } : {}) })}\n`,
      );
    },
  );
}

function buildGraphCommand(cli: Argv): void {
  cli.command(
    'build-graph',
    "write the training-step, K-step Loop and evaluation graphs of a dataset's model and the serving model.onnx " +
      '(untrained weights), with manifests',
    (y) =>
      settingOptions(modelOptions(y), ['optim.lr'])
        .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
        .option('artifacts', {
          type: 'boolean',
          default: false,
          describe:
            'also write ONNX Runtime training artifacts (checkpoint, training/eval/optimizer models) in OUT/artifacts',
        }),
    async (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const listed = await writeGraphs(rc, prepare(rc, warn), resolve(a.out), { artifacts: a.artifacts });
      process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    },
  );
}

function exportArtifactsCommand(cli: Argv): void {
  cli.command(
    'export-artifacts',
    'write ONNX Runtime training artifacts from a trained run (its weights and Adam state), to continue training on device',
    (y) =>
      y
        .option('run', { type: 'string', demandOption: true })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'artifact directory (created; replaced if it holds only artifacts)',
        })
        .option('from', {
          choices: ['last', 'best'] as const,
          default: 'last' as const,
          describe: 'checkpoint to export (last has the Adam state)',
        })
        .option('fixed-lr', {
          type: 'boolean',
          default: false,
          describe: 'bake the learning rate into the optimizer model (for runtimes that cannot set it)',
        }),
    (a) => {
      const { rc, p, checkpoint } = loadRun(a.run, a.from, warn);
      const adam = adamConfig(rc);
      const m = exportArtifacts(hm4srModel(p.model), checkpoint, resolve(a.out), {
        adam,
        seed: rc.optim.seed,
        fixedLearningRate: a['fixed-lr'],
      });
      process.stdout.write(`${JSON.stringify({ artifacts: resolve(a.out), files: m.files }, null, 2)}\n`);
    },
  );
}
