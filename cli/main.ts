#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeSystemError } from '../graph/input-file.js';
import { registerData } from './data-commands.js';
import { registerFeaturize } from './featurize-commands.js';
import { registerGraphs } from './graph-commands.js';
import { registerInspect } from './inspect-command.js';
import { registerServe } from './serve-commands.js';
import { registerServing } from './serving-commands.js';
import { registerSystem } from './system-commands.js';
import { registerTrain } from './train-commands.js';

/**
 * The message of a failed command. A system error that escaped the readers (a write into a missing or
 * read-only place, say) still names its path in plain words rather than as a bare code like EISDIR.
 */
function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  const plain = describeSystemError(err);
  if (plain !== undefined && err.path) return `${err.path}${err.dest ? ` -> ${err.dest}` : ''}: ${plain}`;
  if (plain !== undefined) return `${plain} (${err.syscall ?? 'system call'})`;
  return err instanceof Error ? err.message : String(e);
}

const cli = yargs(hideBin(process.argv))
  .scriptName('hm4sr')
  .usage('$0 <command> [options]\n\nHM4SR multi-modal, time-aware sequential recommendation, trained and served through ONNX.')
  .strict()
  .demandCommand(1, 'name a command (see --help)')
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err, y) => {
    if (err) {
      process.stderr.write(`hm4sr: ${describeError(err)}\n`);
      if (process.env.HM4SR_DEBUG) process.stderr.write(`${err.stack}\n`);
    } else {
      process.stderr.write(`${y.help()}\n\nhm4sr: ${msg}\n`);
    }
    process.exit(1);
  });

registerTrain(cli);
registerServe(cli);
registerServing(cli);
registerGraphs(cli);
registerData(cli);
registerFeaturize(cli);
registerSystem(cli);
registerInspect(cli);

try {
  await cli.parseAsync();
} catch (e) {
  // Errors thrown by synchronous handlers bypass .fail(); report them the same way.
  process.stderr.write(`hm4sr: ${describeError(e)}\n`);
  if (process.env.HM4SR_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
}
