import yargs, { type Argv } from 'yargs';
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
export function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  const plain = describeSystemError(err);
  if (plain !== undefined && err.path) return `${err.path}${err.dest ? ` -> ${err.dest}` : ''}: ${plain}`;
  if (plain !== undefined) return `${plain} (${err.syscall ?? 'system call'})`;
  return err instanceof Error ? err.message : String(e);
}

/**
 * Thrown by a dry-run parser once a command line has passed every check (strict mode, choices, demanded
 * options, the commands' own checks), in place of running its handler.
 */
export class DryRunStop extends Error {
  constructor(readonly argv: Record<string, unknown>) {
    super('dry run: the command line parsed; its handler was not run');
    this.name = 'DryRunStop';
  }
}

export interface ParserOptions {
  /** Validate without running: failures throw, a valid command line throws DryRunStop, nothing exits. */
  dryRun?: boolean;
}

/** A command's registration with its handler replaced by the DryRunStop sentinel. */
function dryRunCommand(args: unknown[]): unknown[] {
  const stop = (argv: Record<string, unknown>) => { throw new DryRunStop(argv); };
  if (typeof args[3] === 'function') return [...args.slice(0, 3), stop, ...args.slice(4)];
  const module = args[0];
  if (typeof module === 'object' && module !== null && 'handler' in module) {
    return [{ ...module, handler: stop }, ...args.slice(1)];
  }
  return args; // a group such as `data`, whose subcommands carry the handlers
}

/** The `hm4sr` command line with every command registered; parse it with parseAsync(args). */
export function buildParser(opts: ParserOptions = {}): Argv {
  const cli = yargs()
    .scriptName('hm4sr')
    .usage('$0 <command> [options]\n\n'
      + 'HM4SR multi-modal, time-aware sequential recommendation, trained and served through ONNX.')
    .strict()
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100));
  if (opts.dryRun) {
    // Not a global middleware: yargs runs a command's .check() as a middleware registered when its builder
    // runs, after any registered here, so a sentinel there would skip those checks. Every handler (nested
    // ones too: builders receive this same instance) is replaced by the sentinel, which runs last.
    const command = cli.command.bind(cli) as (...args: unknown[]) => Argv;
    (cli as { command: unknown }).command = (...args: unknown[]) => command(...dryRunCommand(args));
    cli.exitProcess(false).fail((msg, err) => { throw err ?? new Error(msg); });
  } else {
    cli.fail((msg, err, y) => {
      if (err) {
        process.stderr.write(`hm4sr: ${describeError(err)}\n`);
        if (process.env.HM4SR_DEBUG) process.stderr.write(`${err.stack}\n`);
      } else {
        process.stderr.write(`${y.help()}\n\nhm4sr: ${msg}\n`);
      }
      process.exit(1);
    });
  }
  const commands = [registerTrain, registerServe, registerServing, registerGraphs, registerData, registerFeaturize,
    registerSystem, registerInspect];
  for (const register of commands) register(cli);
  return cli;
}
