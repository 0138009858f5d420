// Commands that measure runs: evaluate (a run's best checkpoint), compare (paired, across seeds) and
// baseline (most popular on the same split).
import type { Argv } from 'yargs';
import { evaluateRun, loadRun, runFiles } from '../train/run.js';
import { type Split, writeRanks } from '../train/ranks.js';
import { mostPopular } from '../train/baselines.js';
import { compareRuns } from '../train/compare.js';
import { prepare } from '../train/prepare.js';
import { CUDA_DEFAULTS } from '../train/config.js';
import { checkFlags } from '../train/setting-flags.js';
import { checkExecutionProvider } from '../runtime/session.js';
import {
  type DeviceArgs,
  type ModelArgs,
  deviceOptions,
  modelOptions,
  runConfigFrom,
  sessionFrom,
  warn,
} from './options.js';

const SPLIT = { choices: ['valid', 'test'] as const, default: 'test' as const };

export function registerEvaluate(cli: Argv): void {
  evaluateCommand(cli);
  cli.command(
    'compare',
    "paired comparison of two models on the same users, each given as one run or several (seeds): NDCG@k of each run, each side's mean and spread, the difference and its 95% bootstrap interval. A run is ranked from its ranks.json (written when training ends), else from its best checkpoint",
    (y) =>
      y
        .option('a', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'reference run directories (one per seed)',
        })
        .option('b', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'run directories compared against them',
        })
        .option('split', SPLIT)
        .option('k', { type: 'number', default: 10 }),
    async (a) => {
      const c = await compareRuns(a.a, a.b, a.split, a.k, warn);
      process.stdout.write(`${JSON.stringify({ runsA: a.a, runsB: a.b, split: a.split, ...c }, null, 2)}\n`);
    },
  );
  cli.command(
    'baseline',
    'most-popular baseline on a dataset, with the same split and ranking rule as the model',
    (y) => modelOptions(y).option('split', SPLIT),
    (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const p = prepare(rc, () => {});
      const metrics = mostPopular(p.ds, p.samples[a.split], rc.eval);
      process.stdout.write(
        `${JSON.stringify({ baseline: 'most-popular', data: rc.data.name, split: a.split, users: p.samples[a.split].size, metrics }, null, 2)}\n`,
      );
    },
  );
}

function evaluateCommand(cli: Argv): void {
  cli.command(
    'evaluate',
    "full-catalog evaluation of a run's best checkpoint (NDCG, MRR, HR at 5/10/20)",
    (y) =>
      deviceOptions(y)
        .option('run', { type: 'string', demandOption: true, describe: 'run directory' })
        .option('split', SPLIT)
        // The flag of the eval.batchSize setting, checked as train checks it, but by default the run's.
        .option('eval-batch-size', {
          type: 'number',
          describe: `users ranked per onnxruntime run (default: the run's, at least ${CUDA_DEFAULTS.evalBatchSize} on CUDA)`,
        })
        .option('write-ranks', {
          type: 'boolean',
          default: false,
          describe:
            'also rank the other split and write RUN/ranks.json (what hm4sr compare reads; training writes it when it ends)',
        })
        .check((a) => checkFlags(a, ['eval.batchSize'])),
    async (a) => {
      await checkExecutionProvider(a.ep);
      const run = loadRun(a.run, 'best', warn);
      const batch =
        a['eval-batch-size'] ??
        (a.ep === 'cuda' ? Math.max(run.rc.eval.batchSize, CUDA_DEFAULTS.evalBatchSize) : run.rc.eval.batchSize);
      const evaluate = (split: Split) =>
        evaluateRun(
          { ...run, rc: { ...run.rc, eval: { ...run.rc.eval, batchSize: batch } } },
          split,
          sessionFrom(a as DeviceArgs, run.rc.optim.threads || undefined),
        );
      const r = await evaluate(a.split);
      if (a['write-ranks']) {
        const other = await evaluate(a.split === 'test' ? 'valid' : 'test');
        const [valid, test] = a.split === 'test' ? [other, r] : [r, other];
        writeRanks(runFiles(a.run).ranks, {
          fingerprint: run.p.fingerprint,
          bestEpoch: Number(run.ck.properties.bestEpoch),
          valid: valid.ranks,
          test: test.ranks,
        });
      }
      process.stdout.write(
        `${JSON.stringify({ split: a.split, users: r.users, seconds: +r.seconds.toFixed(2), metrics: r.metrics }, null, 2)}\n`,
      );
    },
  );
}
