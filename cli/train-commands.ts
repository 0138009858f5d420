import type { Argv } from 'yargs';
import { existsSync } from 'node:fs';
import { readSavedConfig, runFiles } from '../train/run.js';
import { flagged } from '../train/setting-flags.js';
import { train } from '../train/trainer.js';
import {
  type DeviceArgs,
  type ModelArgs,
  deviceOptions,
  log,
  modelOptions,
  resumeConfigFrom,
  runConfigFrom,
  trainOptions,
} from './options.js';

/** What --help says a resumed run may change: the flags of the table's resumable settings, and the data's place. */
function resumableFlags(): string {
  const flags = flagged()
    .filter(([, s]) => s.resumable)
    .map(([, s]) => `--${s.flag}`);
  return `${flags.join(', ')} and where the data lies (--data, --name)`;
}

export function registerTrain(cli: Argv): void {
  cli.command(
    'train',
    'train HM4SR (or SASRec) with the training-step graph; evaluate every epoch, early-stop, report test metrics',
    (y) =>
      deviceOptions(trainOptions(modelOptions(y)))
        .option('out', { type: 'string', describe: 'run directory (default runs/<preset>-<data>-<time>)' })
        .option('resume', {
          type: 'boolean',
          default: false,
          describe: `continue the run in --out from its last checkpoint, with its own settings (only ${resumableFlags()} may change)`,
        })
        .option('progress', {
          type: 'boolean',
          default: true,
          describe: 'show a progress bar (off a terminal: a line per epoch)',
        }),
    async (a) => {
      const saved = a.resume && a.out ? runFiles(a.out).config : null;
      const rc =
        saved && existsSync(saved)
          ? resumeConfigFrom(a as ModelArgs, readSavedConfig(a.out!).run, saved)
          : runConfigFrom(a as ModelArgs, true, a.ep);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const out = a.out ?? `runs/${rc.preset}-${rc.data.name}-${stamp}`;
      log(`run: ${out}`);
      const s = await train(rc, {
        out,
        resume: a.resume,
        ep: a.ep,
        allowCpuNodes: (a as DeviceArgs)['allow-cpu-nodes'],
        progress: a.progress && !process.env.CI,
        log,
      });
      process.stdout.write(
        `${JSON.stringify({ run: out, bestEpoch: s.bestEpoch, epochs: s.epochsRun, test: s.test, wallSeconds: Math.round(s.wallSeconds) }, null, 2)}\n`,
      );
      const onBeauty = rc.data.name === 'Beauty';
      log(
        [
          'try next:',
          `  npm run hm4sr -- recommend --run ${out} --user ${s.exampleUser}    # top-10 items for a user of this run`,
          `  npm run hm4sr -- evaluate --run ${out}                             # test metrics again, from the saved model`,
          onBeauty
            ? `  npm run hm4sr -- train --out ${out} --resume   # continue after a stop, with the run's own settings`
            : "  npm run hm4sr -- train --data amazon-beauty --out runs/beauty      # the paper's Amazon Beauty (about 56-60 s an epoch on 2 cores)",
          `  see ${out}/curve.png for the training curve; hm4sr --help lists every command`,
        ].join('\n'),
      );
    },
  );
}
