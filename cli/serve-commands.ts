import { join } from 'node:path';
import type { Argv } from 'yargs';
import { Recommender } from '../runtime/recommender.js';
import { DEFAULT_TOP_K, exportInference } from '../train/export.js';
import { prepare } from '../train/prepare.js';
import { evaluateRun, loadRun, userHistories } from '../train/run.js';
import { mostPopular } from '../train/baselines.js';
import { compareRuns } from '../train/compare.js';
import { type DeviceArgs, type ModelArgs, deviceOptions, modelOptions, runConfigFrom, sessionFrom, warn } from './options.js';
import { CUDA_DEFAULTS } from '../train/config.js';
import { checkExecutionProvider } from '../runtime/session.js';

export function registerServe(cli: Argv): void {
  cli.command(
    'evaluate',
    'full-catalog evaluation of a run\'s best checkpoint (NDCG, MRR, HR at 5/10/20)',
    (y) => deviceOptions(y)
      .option('run', { type: 'string', demandOption: true, describe: 'run directory' })
      .option('split', { choices: ['valid', 'test'] as const, default: 'test' as const })
      .option('eval-batch-size', { type: 'number', describe: `users ranked per onnxruntime run (default: the run's, at least ${CUDA_DEFAULTS.evalBatchSize} on CUDA)` }),
    async (a) => {
      await checkExecutionProvider(a.ep);
      const run = loadRun(a.run, 'best', warn);
      const batch = a['eval-batch-size'] ?? (a.ep === 'cuda' ? Math.max(run.rc.eval.batchSize, CUDA_DEFAULTS.evalBatchSize) : run.rc.eval.batchSize);
      const r = await evaluateRun({ ...run, rc: { ...run.rc, eval: { ...run.rc.eval, batchSize: batch } } }, a.split, sessionFrom(a as DeviceArgs, run.rc.optim.threads || undefined));
      process.stdout.write(`${JSON.stringify({ split: a.split, users: r.users, seconds: +r.seconds.toFixed(2), metrics: r.metrics }, null, 2)}\n`);
    },
  );
  cli.command(
    'recommend',
    'top-K items for a user of the run\'s dataset, or for a given history, from the exported model.onnx',
    (y) => deviceOptions(y)
      .option('run', { type: 'string', describe: 'run directory (uses RUN/model.onnx)' })
      .option('model', { type: 'string', describe: 'an exported model.onnx (instead of --run)' })
      .option('user', { type: 'array', string: true, describe: 'user token(s) of the run\'s dataset: recommend after their full history' })
      .option('items', { type: 'string', describe: 'a history as comma-separated item tokens, oldest first' })
      .option('times', { type: 'string', describe: 'comma-separated Unix seconds for --items (default: one day apart, ending now)' })
      .option('k', { type: 'number', default: 10 })
      .check((a) => {
        if (!a.run && !a.model) throw new Error('pass --run or --model');
        if (!a.user && !a.items) throw new Error('pass --user or --items');
        if (a.user && !a.run) throw new Error('--user needs --run (the dataset the user comes from)');
        return true;
      }),
    async (a) => {
      const model = a.model ?? join(a.run!, 'model.onnx');
      const rec = await Recommender.load(model, sessionFrom(a as DeviceArgs));
      let users: { id: string; items: string[]; times: number[] }[];
      if (a.user) {
        users = userHistories(loadRun(a.run!, 'best', warn).p, a.user);
      } else {
        const items = a.items!.split(',').map((s) => s.trim()).filter(Boolean);
        const now = Math.floor(Date.now() / 1000);
        const times = a.times ? a.times.split(',').map((s) => Number(s.trim())) : items.map((_, i) => now - (items.length - 1 - i) * 86400);
        users = [{ id: 'history', items, times }];
      }
      const recs = await rec.recommend(users, a.k);
      process.stdout.write(`${JSON.stringify(users.map((u, i) => ({ user: u.id, historyLength: u.items.length, items: recs[i].items, scores: recs[i].scores.map((s) => +s.toFixed(5)) })), null, 2)}\n`);
    },
  );
  cli.command(
    'compare',
    'paired comparison of two runs on the same users: NDCG@k of each, the difference and its 95% bootstrap interval',
    (y) => y
      .option('a', { type: 'string', demandOption: true, describe: 'reference run directory' })
      .option('b', { type: 'string', demandOption: true, describe: 'run compared against it' })
      .option('split', { choices: ['valid', 'test'] as const, default: 'test' as const })
      .option('k', { type: 'number', default: 10 }),
    async (a) => {
      const c = await compareRuns(loadRun(a.a, 'best', warn), loadRun(a.b, 'best', warn), a.split, a.k);
      process.stdout.write(`${JSON.stringify({ runA: a.a, runB: a.b, split: a.split, ...c }, null, 2)}\n`);
    },
  );
  cli.command(
    'baseline',
    'most-popular baseline on a dataset, with the same split and ranking rule as the model',
    (y) => modelOptions(y).option('split', { choices: ['valid', 'test'] as const, default: 'test' as const }),
    (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const p = prepare(rc, () => {});
      process.stdout.write(`${JSON.stringify({ baseline: 'most-popular', data: rc.data.name, split: a.split, users: p.samples[a.split].size, metrics: mostPopular(p.ds, p.samples[a.split], rc.eval) }, null, 2)}\n`);
    },
  );
  cli.command(
    'export',
    'write a run\'s inference model (best weights) as one portable ONNX file',
    (y) => deviceOptions(y)
      .option('run', { type: 'string', demandOption: true })
      .option('out', { type: 'string', describe: 'output .onnx (default RUN/model.onnx)' })
      .option('top-k', { type: 'number', default: DEFAULT_TOP_K }),
    async (a) => {
      // --ep cuda: the exported model must also load on the device (checked before writing, and after).
      await checkExecutionProvider(a.ep);
      const { rc, p, values } = loadRun(a.run, 'best', warn);
      const out = a.out ?? join(a.run, 'model.onnx');
      const m = exportInference(p.model, values, p, rc, out, a['top-k']);
      if (a.ep !== 'cpu') await Recommender.load(out, sessionFrom(a as DeviceArgs));
      process.stdout.write(`${JSON.stringify({ model: out, inputs: m.inputs.map((i) => i.name), outputs: m.outputs.map((o) => o.name), ...(a.ep !== 'cpu' ? { loadsOn: a.ep } : {}) })}\n`);
    },
  );
}
