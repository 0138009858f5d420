// What a benchmark is to the command line: `hm4sr bench NAME` (cli/bench-commands.ts) declares its
// options on the one strict parser, so --help works and a misspelt flag is an error, and calls run.
import type { InferredOptionTypes, Options } from 'yargs';
import { resolveDataset } from '../train/data/builtin.js';

export interface Bench<O extends Record<string, Options>> {
  name: string;
  about: string;
  options: O;
  /** Paths of the run settings among the options (their flags from train/settings.ts), checked as train checks them. */
  settings?: readonly string[];
  /** Runs the benchmark; its result goes to stdout as one JSON line. */
  run(a: InferredOptionTypes<O>): Promise<void>;
}

export const bench = <O extends Record<string, Options>>(b: Bench<O>): Bench<O> => b;

/** --data and --name of the benchmarks that take a dataset. */
export const DATA_OPTIONS = {
  data: {
    type: 'string',
    default: 'synth',
    describe: 'synth, beauty (the built-in amazon-beauty) or a dataset directory',
  },
  name: { type: 'string', describe: 'dataset name (NAME.inter) when DIR has several' },
} as const;

/** The dataset --data names (`beauty` is short for amazon-beauty). */
export const benchData = (data: string, name: string | undefined) =>
  resolveDataset(data === 'beauty' ? 'amazon-beauty' : data, name, () => {});
