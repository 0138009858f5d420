#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { describeSystemError } from '../graph/input-file.js';
import { UsageError, buildParser } from './parser.js';

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

try {
  await buildParser().parseAsync(hideBin(process.argv));
} catch (e) {
  if (e instanceof UsageError) process.stderr.write(`${e.help}\n\nhm4sr: ${e.message}\n`);
  else process.stderr.write(`hm4sr: ${describeError(e)}\n`);
  if (process.env.HM4SR_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
}
