import { dirname, join } from 'node:path';
import { lockDirectory, withLock } from '../runtime/output-lock.js';
import type { Argv } from 'yargs';
import { Recommender } from '../runtime/recommender.js';
import { DEFAULT_TOP_K, exportInference } from '../train/export.js';
import { prepare } from '../train/prepare.js';
import { evaluateRun, loadRun, runDataset, runFiles } from '../train/run.js';
import { type Split, writeRanks } from '../train/ranks.js';
import { mostPopular } from '../train/baselines.js';
import { compareRuns } from '../train/compare.js';
import { type DeviceArgs, type ModelArgs, deviceOptions, modelOptions, runConfigFrom, sessionFrom, warn } from './options.js';
import { CUDA_DEFAULTS } from '../train/config.js';
import { checkExecutionProvider } from '../runtime/session.js';
import { resolveDataset } from '../train/data/builtin.js';
import { type NamedHistory, datasetHistories, loadServingData, parseHistory, readTitles } from '../train/serve/histories.js';
import { formatTable, reportOf } from '../train/serve/report.js';
import { writeTritonRepository } from '../runtime/triton.js';

export function registerServe(cli: Argv): void {
  cli.command(
    'evaluate',
    'full-catalog evaluation of a run\'s best checkpoint (NDCG, MRR, HR at 5/10/20)',
    (y) => deviceOptions(y)
      .option('run', { type: 'string', demandOption: true, describe: 'run directory' })
      .option('split', { choices: ['valid', 'test'] as const, default: 'test' as const })
      .option('eval-batch-size', { type: 'number', describe: `users ranked per onnxruntime run (default: the run's, at least ${CUDA_DEFAULTS.evalBatchSize} on CUDA)` })
      .option('write-ranks', { type: 'boolean', default: false, describe: 'also rank the other split and write RUN/ranks.json (what hm4sr compare reads; training writes it when it ends)' }),
    async (a) => {
      await checkExecutionProvider(a.ep);
      const run = loadRun(a.run, 'best', warn);
      const batch = a['eval-batch-size'] ?? (a.ep === 'cuda' ? Math.max(run.rc.eval.batchSize, CUDA_DEFAULTS.evalBatchSize) : run.rc.eval.batchSize);
      const evaluate = (split: Split) => evaluateRun({ ...run, rc: { ...run.rc, eval: { ...run.rc.eval, batchSize: batch } } }, split, sessionFrom(a as DeviceArgs, run.rc.optim.threads || undefined));
      const r = await evaluate(a.split);
      if (a['write-ranks']) {
        const other = await evaluate(a.split === 'test' ? 'valid' : 'test');
        const [valid, test] = a.split === 'test' ? [other, r] : [r, other];
        writeRanks(runFiles(a.run).ranks, { fingerprint: run.p.fingerprint, bestEpoch: Number(run.ck.properties.bestEpoch), valid: valid.ranks, test: test.ranks });
      }
      process.stdout.write(`${JSON.stringify({ split: a.split, users: r.users, seconds: +r.seconds.toFixed(2), metrics: r.metrics }, null, 2)}\n`);
    },
  );
  cli.command(
    'recommend',
    'top-K items after a history: a user of a dataset, or item tokens and times, through model.onnx',
    (y) => deviceOptions(y)
      .option('model', { type: 'string', describe: 'an exported model.onnx' })
      .option('run', { type: 'string', describe: 'run directory: RUN/model.onnx and, for --user, the run\'s dataset' })
      .option('data', { type: 'string', describe: 'dataset directory the --user tokens come from (titles from NAME.item)' })
      .option('name', { type: 'string', describe: 'dataset name (NAME.inter) when DIR has several' })
      .option('user', { type: 'array', string: true, describe: 'user token(s): recommend after their full history' })
      .option('items', { type: 'string', describe: 'a history as comma-separated item tokens, oldest first' })
      .option('times', { type: 'string', describe: 'comma-separated Unix seconds for --items (default: one day apart, ending now)' })
      .option('k', { alias: 'top', type: 'number', default: 10, describe: 'items to return (at most the model\'s top-K)' })
      .option('exclude-seen', { type: 'boolean', default: false, describe: 'never recommend an item of the history' })
      .option('json', { type: 'boolean', default: false, describe: 'JSON instead of a table' })
      .check((a) => {
        if (!a.run && !a.model) throw new Error('pass --model (or --run)');
        if (!a.user === !a.items) throw new Error('pass either --items (with --times) or --user');
        if (a.user && !a.run && !a.data) throw new Error('--user needs --data (or --run): the dataset the user comes from');
        if (a.times && !a.items) throw new Error('--times goes with --items');
        return true;
      }),
    async (a) => {
      const model = a.model ?? join(a.run!, 'model.onnx');
      const rec = await Recommender.load(model, sessionFrom(a as DeviceArgs));
      rec.checkK(a.k);
      let users: NamedHistory[], titles: Map<string, string> | null = null;
      const ds = a.data ? resolveDataset(a.data, a.name, warn) : a.run ? runDataset(a.run) : null;
      const data = ds && a.user ? loadServingData(ds.dir, ds.name, rec.meta, rec.tokens) : null;
      if (ds) titles = data?.titles ?? readTitles(join(ds.dir, `${ds.name}.item`));
      if (data) users = datasetHistories(data, a.user!);
      else users = [parseHistory(a.items!, a.times)];
      const recs = await rec.recommend(users, a.k, { excludeSeen: a['exclude-seen'] });
      const reports = reportOf(users, recs, titles);
      process.stdout.write(a.json ? `${JSON.stringify(reports, null, 2)}\n` : formatTable(reports));
    },
  );
  cli.command(
    'compare',
    'paired comparison of two models on the same users, each given as one run or several (seeds): NDCG@k of each run, each side\'s mean and spread, the difference and its 95% bootstrap interval. A run is ranked from its ranks.json (written when training ends), else from its best checkpoint',
    (y) => y
      .option('a', { type: 'string', array: true, demandOption: true, describe: 'reference run directories (one per seed)' })
      .option('b', { type: 'string', array: true, demandOption: true, describe: 'run directories compared against them' })
      .option('split', { choices: ['valid', 'test'] as const, default: 'test' as const })
      .option('k', { type: 'number', default: 10 }),
    async (a) => {
      const c = await compareRuns(a.a, a.b, a.split, a.k, warn);
      process.stdout.write(`${JSON.stringify({ runsA: a.a, runsB: a.b, split: a.split, ...c }, null, 2)}\n`);
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
      .option('top-k', { type: 'number', default: DEFAULT_TOP_K, describe: 'K of the model\'s TopK output' })
      .option('triton', { type: 'string', describe: 'also lay out a Triton Inference Server model repository in DIR' })
      .option('triton-name', { type: 'string', default: 'hm4sr', describe: 'model name in the Triton repository' }),
    async (a) => {
      // --ep cuda: the exported model must also load on the device (checked before writing, and after).
      await checkExecutionProvider(a.ep);
      const { rc, p, values } = loadRun(a.run, 'best', warn);
      const out = a.out ?? join(a.run, 'model.onnx');
      // The directory the model goes to is locked as train locks its run: by default that is the run itself.
      const { m, triton } = await withLock(lockDirectory(dirname(out), 'export', warn), async () => {
        const m = exportInference(p.model, values, p, rc, out, a['top-k']);
        if (a.ep !== 'cpu') await Recommender.load(out, sessionFrom(a as DeviceArgs));
        return { m, triton: a.triton ? writeTritonRepository(out, a.triton, { name: a['triton-name'] }) : null };
      });
      process.stdout.write(`${JSON.stringify({ model: out, inputs: m.inputs.map((i) => i.name), outputs: m.outputs.map((o) => o.name), ...(a.ep !== 'cpu' ? { loadsOn: a.ep } : {}), ...(triton ? { triton: { config: triton.config, model: triton.model } } : {}) })}\n`);
    },
  );
}
