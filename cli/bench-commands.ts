// hm4sr bench: the benchmarks (bench/*.ts), each a subcommand on the one strict parser, so --help works
// and a misspelt flag is an error rather than a whole benchmark run without it. Each prints JSON lines.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Argv, Options } from 'yargs';
import type { Bench } from '../bench/bench.js';
import { deviceBench } from '../bench/device.js';
import { featurizeBench } from '../bench/featurize.js';
import { pairedBench } from '../bench/paired.js';
import { scaleBench } from '../bench/scale.js';
import { scatterAddBench } from '../bench/scatter-add.js';
import { serveBench } from '../bench/serve.js';
import { trainBench } from '../bench/train.js';
import { checkFlags } from '../train/setting-flags.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

function add<O extends Record<string, Options>>(y: Argv, b: Bench<O>): Argv {
  return y.command(
    b.name,
    b.about,
    (z) =>
      z.options(b.options).check((a) => {
        for (const [k, o] of Object.entries(b.options)) {
          if (o.type === 'number' && Number.isNaN(a[k])) throw new Error(`--${k}: not a number`);
        }
        return checkFlags(a, b.settings ?? []);
      }),
    (a) => b.run(a as never),
  );
}

/** The flags that give a parsed bench option its value again (defaults and --data left out). */
function forward(a: Record<string, unknown>, options: Record<string, Options>): string[] {
  return Object.entries(options).flatMap(([k, o]) => {
    const v = a[k];
    if (k === 'data' || v === undefined || v === o.default) return [];
    if (typeof v === 'boolean') return [v ? `--${k}` : `--no-${k}`];
    return Array.isArray(v) ? [`--${k}`, ...v.map(String)] : [`--${k}`, String(v)];
  });
}

const SUITE_OPTIONS = {
  ...trainBench.options,
  ...serveBench.options,
  data: {
    type: 'string',
    describe:
      'one dataset (synth, beauty or DIR) for bench train and bench serve; default: synth and beauty, then bench featurize',
  },
} as const;

/** `npm run bench` without a name: train and serve per dataset, then featurize, each in its own process (peak RSS per run). */
function suite(y: Argv): Argv {
  return y.command(
    'suite',
    'bench train and bench serve on synth and beauty (or on --data alone), then bench featurize; each in a fresh process',
    (z) => z.options(SUITE_OPTIONS),
    (a) => {
      const runs: string[][] = [];
      for (const data of a.data ? [a.data] : ['synth', 'beauty']) {
        for (const b of [trainBench, serveBench])
          runs.push(['bench', b.name, '--data', data, ...forward(a, b.options)]);
      }
      if (!a.data) runs.push(['bench', featurizeBench.name]);
      let status = 0;
      // As a shell's &&: a failed run ends the suite.
      for (const r of runs) status ||= spawnSync(process.execPath, [MAIN, ...r], { stdio: 'inherit' }).status ?? 1;
      process.exitCode = status;
    },
  );
}

export function registerBench(cli: Argv): void {
  const benches = [
    trainBench,
    serveBench,
    pairedBench,
    featurizeBench,
    deviceBench,
    scatterAddBench,
    scaleBench,
  ] as Bench<Record<string, Options>>[];
  cli.command('bench', `benchmarks that print JSON: ${benches.map((b) => b.name).join(', ')}, suite`, (y) => {
    for (const b of benches) add(y, b);
    return suite(y).demandCommand(1, 'name a benchmark (see hm4sr bench --help)');
  });
}
