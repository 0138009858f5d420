import { existsSync } from 'node:fs';
import { InputError, readJsonFile } from '../graph/input-file.js';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { Recommender } from '../runtime/recommender.js';
import { checkCheckpointMatches, readCheckpoint } from '../graph/artifacts/checkpoint.js';
import type { RunConfig } from '../train/config.js';
import { Evaluator } from '../train/evaluate.js';
import { DEFAULT_TOP_K, exportInference } from '../train/export.js';
import { prepare } from '../train/prepare.js';
import { packOptions, runFiles } from '../train/trainer.js';
import { probeParams } from '../graph/train-step.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { mostPopular } from '../train/baselines.js';
import { comparePaired } from '../train/compare.js';
import { type DeviceArgs, type ModelArgs, deviceOptions, log, modelOptions, runConfigFrom, sessionFrom } from './options.js';
import { CUDA_DEFAULTS } from '../train/config.js';
import { checkExecutionProvider } from '../runtime/session.js';

/** A finished (or running) run: its config, data and best weights, checked against each other. */
export function loadRun(run: string, which: 'best' | 'last' = 'best') {
  const f = runFiles(run);
  if (!existsSync(f.config)) throw new Error(`${run}: not a run directory (no config.json)`);
  const saved = readJsonFile(f.config, 'a run config') as { run: RunConfig; model: Hm4srConfig; fingerprint: string };
  if (typeof saved?.run?.data?.dir !== 'string' || typeof saved.fingerprint !== 'string') throw new InputError(f.config, 'not an hm4sr run config (no run.data.dir or fingerprint)');
  const p = prepare(saved.run, (m) => log(`warning: ${m}`));
  if (p.fingerprint !== saved.fingerprint) throw new Error(`${run}: the dataset at ${saved.run.data.dir} changed since training (fingerprint ${p.fingerprint}, run ${saved.fingerprint})`);
  const path = which === 'best' ? f.best : f.last;
  if (!existsSync(path)) throw new Error(`${run}: no ${which} checkpoint yet (${path})`);
  const ck = readCheckpoint(path);
  checkCheckpointMatches(ck, probeParams(hm4srModel(p.model)), path);
  return { rc: saved.run, p, values: new Map(ck.params.map((q) => [q.name, q.data])), ck };
}

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
      const { rc, p, values } = loadRun(a.run);
      const ev = await Evaluator.create(p.model, sessionFrom(a as DeviceArgs, rc.optim.threads || undefined));
      const batch = a['eval-batch-size'] ?? (a.ep === 'cuda' ? Math.max(rc.optim.evalBatchSize, CUDA_DEFAULTS.evalBatchSize) : rc.optim.evalBatchSize);
      const r = await ev.evaluate(p.ds, p.samples[a.split], values, packOptions(rc, p), batch);
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
        const { p } = loadRun(a.run!);
        const index = new Map(p.ds.userTokens.map((t, i) => [t, i]));
        users = a.user.map((u) => {
          const i = index.get(u);
          if (i === undefined) throw new Error(`unknown user "${u}" in ${p.ds.userTokens.length} users of the run's dataset`);
          const s = p.ds.offsets[i], e = p.ds.offsets[i + 1];
          return { id: u, items: Array.from(p.ds.items.subarray(s, e), (x) => p.ds.itemTokens[x]), times: Array.from(p.ds.timestamps.subarray(s, e)) };
        });
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
      const ranks: Int32Array[] = [];
      let fp = '';
      for (const run of [a.a, a.b]) {
        const { rc, p, values } = loadRun(run);
        if (fp && fp !== p.fingerprint) throw new Error(`${a.a} and ${a.b} were trained on different data`);
        fp = p.fingerprint;
        const ev = await Evaluator.create(p.model, { threads: rc.optim.threads || undefined });
        ranks.push((await ev.evaluate(p.ds, p.samples[a.split], values, packOptions(rc, p), rc.optim.evalBatchSize)).ranks);
      }
      process.stdout.write(`${JSON.stringify({ runA: a.a, runB: a.b, split: a.split, ...comparePaired(ranks[0], ranks[1], a.k) }, null, 2)}\n`);
    },
  );
  cli.command(
    'baseline',
    'most-popular baseline on a dataset, with the same split and ranking rule as the model',
    (y) => modelOptions(y).option('split', { choices: ['valid', 'test'] as const, default: 'test' as const }),
    (a) => {
      const rc = runConfigFrom(a as ModelArgs);
      const p = prepare(rc, () => {});
      process.stdout.write(`${JSON.stringify({ baseline: 'most-popular', data: rc.data.name, split: a.split, users: p.samples[a.split].size, metrics: mostPopular(p.ds, p.samples[a.split]) }, null, 2)}\n`);
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
      const { rc, p, values } = loadRun(a.run);
      const out = a.out ?? join(a.run, 'model.onnx');
      const m = exportInference(p.model, values, p, rc, out, a['top-k']);
      if (a.ep !== 'cpu') await Recommender.load(out, sessionFrom(a as DeviceArgs));
      process.stdout.write(`${JSON.stringify({ model: out, inputs: m.inputs.map((i) => i.name), outputs: m.outputs.map((o) => o.name), ...(a.ep !== 'cpu' ? { loadsOn: a.ep } : {}) })}\n`);
    },
  );
}
