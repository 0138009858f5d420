// Commands that recommend from an exported model.onnx: recommend (a user or a history), score (every user
// of a dataset, as JSON lines) and demo (a web page running the model in the browser).
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { writeDemo } from '../runtime/demo.js';
import { Recommender, readServingMeta } from '../runtime/recommender.js';
import { readNewItems } from '../featurize/new-items.js';
import { resolveDataset } from '../train/data/builtin.js';
import { progressBar } from '../train/progress.js';
import { runDataset } from '../train/run.js';
import {
  type NamedHistory,
  datasetHistories,
  loadServingData,
  parseHistory,
  readTitles,
} from '../train/serve/histories.js';
import { formatTable, reportOf } from '../train/serve/report.js';
import { scoreUsers } from '../train/serve/score.js';
import { type DeviceArgs, deviceOptions, log, sessionFrom, warn } from './options.js';

export function registerRecommend(cli: Argv): void {
  recommendCommand(cli);
  scoreCommand(cli);
  demoCommand(cli);
}

function scoreCommand(cli: Argv): void {
  cli.command(
    'score',
    "batch scoring: every user's top-K after their full history, as JSON lines (resumable; OUT appears only when complete)",
    (y) =>
      y
        .option('model', { type: 'string', demandOption: true, describe: 'an exported model.onnx' })
        .option('data', { type: 'string', describe: 'dataset directory (default: the built-in synthetic data)' })
        .option('name', { type: 'string', describe: 'dataset name (NAME.inter) when DIR has several' })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'output .jsonl: {"user","items","scores"} per line',
        })
        .option('k', { alias: 'top', type: 'number', default: 10 })
        .option('exclude-seen', { type: 'boolean', default: false })
        .option('batch', {
          type: 'number',
          default: 512,
          describe: 'users per output chunk (bounds memory; resumes at a chunk boundary)',
        })
        .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: every core)' })
        .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar' })
        .option('ep', { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const }),
    async (a) => {
      const rec = await Recommender.load(a.model, { ep: a.ep, threads: a.threads });
      rec.checkK(a.k);
      const ds = resolveDataset(a.data, a.name, log);
      const data = loadServingData(ds.dir, ds.name, rec.meta, rec.tokens);
      const bar = progressBar('score', data.ds.numUsers, a.progress && !process.env.CI);
      const r = await scoreUsers(rec, data, resolve(ds.dir, ds.name), a.out, {
        k: a.k,
        excludeSeen: a['exclude-seen'],
        chunk: a.batch,
        progress: (done) => bar.update(done),
      });
      bar.stop();
      process.stdout.write(
        `${JSON.stringify({ out: r.out, users: r.users, resumedAt: r.resumedAt, seconds: +r.seconds.toFixed(2), usersPerSecond: Math.round((r.users - r.resumedAt) / r.seconds) })}\n`,
      );
    },
  );
}

function demoCommand(cli: Argv): void {
  cli.command(
    'demo',
    'a static web page that runs model.onnx in the browser (onnxruntime-web) and recommends after items you click',
    (y) =>
      y
        .option('model', { type: 'string', demandOption: true, describe: 'an exported model.onnx' })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'output directory (serve it with any static file server)',
        })
        .option('data', { type: 'string', describe: 'dataset directory whose NAME.item titles label the items' })
        .option('name', { type: 'string', describe: 'dataset name (NAME.item) when DIR has several' })
        .option('new-items', {
          type: 'string',
          describe: 'the directory add-items read (its NAME.item): titles of the items added after training',
        }),
    (a) => {
      readServingMeta(a.model);
      const titles = a.data
        ? (() => {
            const ds = resolveDataset(a.data, a.name, log);
            return readTitles(`${ds.dir}/${ds.name}.item`);
          })()
        : null;
      if (a['new-items']) {
        const added = readTitles(readNewItems(a['new-items']).file);
        if (!added) throw new Error(`--new-items ${a['new-items']}: its .item file has no title column`);
        if (!titles) throw new Error('--new-items labels added items: give the training data with --data as well');
        for (const [k, v] of added) titles.set(k, v);
      }
      const r = writeDemo(a.model, a.out, titles);
      process.stdout.write(
        `${JSON.stringify({ out: a.out, files: r.files, titles: titles !== null, serve: `npx http-server ${a.out} (or python3 -m http.server -d ${a.out}), then open http://localhost:8080/` })}\n`,
      );
    },
  );
}

function recommendCommand(cli: Argv): void {
  cli.command(
    'recommend',
    'top-K items after a history: a user of a dataset, or item tokens and times, through model.onnx',
    (y) =>
      deviceOptions(y)
        .option('model', { type: 'string', describe: 'an exported model.onnx' })
        .option('run', { type: 'string', describe: "run directory: RUN/model.onnx and, for --user, the run's dataset" })
        .option('data', {
          type: 'string',
          describe: 'dataset directory the --user tokens come from (titles from NAME.item)',
        })
        .option('name', { type: 'string', describe: 'dataset name (NAME.inter) when DIR has several' })
        .option('user', { type: 'array', string: true, describe: 'user token(s): recommend after their full history' })
        .option('items', { type: 'string', describe: 'a history as comma-separated item tokens, oldest first' })
        .option('times', {
          type: 'string',
          describe: 'comma-separated Unix seconds for --items (default: one day apart, ending now)',
        })
        .option('k', {
          alias: 'top',
          type: 'number',
          default: 10,
          describe: "items to return (at most the model's top-K)",
        })
        .option('exclude-seen', { type: 'boolean', default: false, describe: 'never recommend an item of the history' })
        .option('json', { type: 'boolean', default: false, describe: 'JSON instead of a table' })
        .check((a) => {
          if (!a.run && !a.model) throw new Error('pass --model (or --run)');
          if (!a.user === !a.items) throw new Error('pass either --items (with --times) or --user');
          if (a.user && !a.run && !a.data)
            throw new Error('--user needs --data (or --run): the dataset the user comes from');
          if (a.times && !a.items) throw new Error('--times goes with --items');
          return true;
        }),
    async (a) => {
      const model = a.model ?? join(a.run!, 'model.onnx');
      const rec = await Recommender.load(model, sessionFrom(a as DeviceArgs));
      rec.checkK(a.k);
      let users: NamedHistory[],
        titles: Map<string, string> | null = null;
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
}
