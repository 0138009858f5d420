import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { writeDemo } from '../runtime/demo.js';
import { loadServingData, readTitles } from '../train/serve/histories.js';
import { Recommender, readServingMeta } from '../runtime/recommender.js';
import { scoreUsers } from '../train/serve/score.js';
import { progressBar } from '../train/progress.js';
import { resolveDataset } from '../train/data/builtin.js';
import { log } from './options.js';

export function registerServing(cli: Argv): void {
  cli.command(
    'score',
    'batch scoring: every user\'s top-K after their full history, as JSON lines (resumable; OUT appears only when complete)',
    (y) => y
      .option('model', { type: 'string', demandOption: true, describe: 'an exported model.onnx' })
      .option('data', { type: 'string', describe: 'dataset directory (default: the built-in synthetic data)' })
      .option('name', { type: 'string', describe: 'dataset name (NAME.inter) when DIR has several' })
      .option('out', { type: 'string', demandOption: true, describe: 'output .jsonl: {"user","items","scores"} per line' })
      .option('k', { alias: 'top', type: 'number', default: 10 })
      .option('exclude-seen', { type: 'boolean', default: false })
      .option('batch', { type: 'number', default: 512, describe: 'users per output chunk (bounds memory; resumes at a chunk boundary)' })
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
        k: a.k, excludeSeen: a['exclude-seen'], chunk: a.batch, progress: (done) => bar.update(done),
      });
      bar.stop();
      process.stdout.write(`${JSON.stringify({ out: r.out, users: r.users, resumedAt: r.resumedAt, seconds: +r.seconds.toFixed(2), usersPerSecond: Math.round((r.users - r.resumedAt) / r.seconds) })}\n`);
    },
  );
  cli.command(
    'demo',
    'a static web page that runs model.onnx in the browser (onnxruntime-web) and recommends after items you click',
    (y) => y
      .option('model', { type: 'string', demandOption: true, describe: 'an exported model.onnx' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory (serve it with any static file server)' })
      .option('data', { type: 'string', describe: 'dataset directory whose NAME.item titles label the items' })
      .option('name', { type: 'string', describe: 'dataset name (NAME.item) when DIR has several' }),
    (a) => {
      readServingMeta(a.model);
      const titles = a.data ? (() => { const ds = resolveDataset(a.data, a.name, log); return readTitles(`${ds.dir}/${ds.name}.item`); })() : null;
      const r = writeDemo(a.model, a.out, titles);
      process.stdout.write(`${JSON.stringify({ out: a.out, files: r.files, titles: titles !== null, serve: `npx http-server ${a.out} (or python3 -m http.server -d ${a.out}), then open http://localhost:8080/` })}\n`);
    },
  );
}
