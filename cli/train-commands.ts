import type { Argv } from 'yargs';
import { train } from '../train/trainer.js';
import { type DeviceArgs, type ModelArgs, deviceOptions, log, modelOptions, runConfigFrom, trainOptions } from './options.js';

export function registerTrain(cli: Argv): void {
  cli.command(
    'train',
    'train HM4SR (or SASRec) with the training-step graph; evaluate every epoch, early-stop, report test metrics',
    (y) => deviceOptions(trainOptions(modelOptions(y)))
      .option('out', { type: 'string', describe: 'run directory (default runs/<preset>-<data>-<time>)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the run in --out from its last checkpoint' })
      .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' }),
    async (a) => {
      const rc = runConfigFrom(a as ModelArgs, true, a.ep);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const out = a.out ?? `runs/${rc.preset}-${rc.data.name}-${stamp}`;
      log(`run: ${out}`);
      const s = await train(rc, { out, resume: a.resume, ep: a.ep, allowCpuNodes: (a as DeviceArgs)['allow-cpu-nodes'], progress: a.progress && !process.env.CI, log });
      process.stdout.write(`${JSON.stringify({ run: out, bestEpoch: s.bestEpoch, epochs: s.epochsRun, test: s.test, wallSeconds: Math.round(s.wallSeconds) }, null, 2)}\n`);
    },
  );
}
