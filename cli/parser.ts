// The hm4sr command line: every command registered on one strict yargs parser. cli/main.ts runs it;
// tests parse command lines with it dry (validation only, no command runs).
import yargs, { type Argv } from 'yargs';
import { registerAddItems } from './add-items-command.js';
import { registerBench } from './bench-commands.js';
import { registerData } from './data-commands.js';
import { registerEvaluate } from './evaluate-commands.js';
import { registerExport } from './export-commands.js';
import { registerFeaturize } from './featurize-commands.js';
import { registerInspect } from './inspect-command.js';
import { registerRecommend } from './recommend-commands.js';
import { registerSystem } from './system-commands.js';
import { registerTrain } from './train-commands.js';
import { registerTune } from './tune-commands.js';

/** A command line yargs refused (unknown flag, bad choice, missing option): shown with the command's help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
  }
}

/**
 * The parser. Failures throw (a UsageError, or the command's own error) instead of exiting, so the caller
 * reports them. With dryRun, parsing validates the line (strict flags, choices, demanded options, checks)
 * and runs no command handler, and --help prints without exiting the process.
 */
export function buildParser(opts: { dryRun?: boolean } = {}): Argv {
  const cli = yargs()
    .scriptName('hm4sr')
    .usage(
      '$0 <command> [options]\n\nHM4SR multi-modal, time-aware sequential recommendation, trained and served through ONNX.',
    )
    .strict()
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(!opts.dryRun)
    .fail((msg, err, y) => {
      throw err ?? new UsageError(msg, opts.dryRun ? '' : (y.help() as unknown as string));
    });
  // A command's checks run as middleware after those registered here, so a global "stop" middleware
  // would skip them: a dry parser registers each command (nested ones too: yargs hands builders this
  // same instance) with a handler that does nothing instead.
  if (opts.dryRun) {
    const command = cli.command.bind(cli) as (...a: unknown[]) => Argv;
    (cli as unknown as { command: (...a: unknown[]) => Argv }).command = (...a: unknown[]) =>
      command(...a.map((x, i) => (i === 3 && typeof x === 'function' ? () => {} : x)));
  }
  const groups = [
    registerTrain,
    registerTune,
    registerEvaluate,
    registerRecommend,
    registerExport,
    registerAddItems,
    registerData,
    registerFeaturize,
    registerSystem,
    registerInspect,
    registerBench,
  ];
  for (const register of groups) register(cli);
  // yargs validates synchronously where it can, so a refused line would throw out of parseAsync itself:
  // as a rejected promise it reaches callers that only await.
  const parseAsync = cli.parseAsync.bind(cli);
  cli.parseAsync = (async (...a: Parameters<Argv['parseAsync']>) => parseAsync(...a)) as Argv['parseAsync'];
  return cli;
}
