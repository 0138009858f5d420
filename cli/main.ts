#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { buildParser, describeError } from './parser.js';

try {
  await buildParser().parseAsync(hideBin(process.argv));
} catch (e) {
  // Errors thrown by synchronous handlers bypass .fail(); report them the same way.
  process.stderr.write(`hm4sr: ${describeError(e)}\n`);
  if (process.env.HM4SR_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
}
