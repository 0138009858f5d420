// hm4sr bench serve [--data synth|beauty|DIR] [--name NAME] [--requests N] [--batch N] [--threads N] [--latency-threads N]
// Prints one JSON line: single-user top-10 latency through model.onnx's serving signature (p50/p99 over
// N requests, in process, CPU, after a warm-up) and batch-scoring throughput for every user of the dataset.
// Without --run the model has its initial weights: timing does not depend on their values.
import { note } from './note.js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { probeParams } from '../graph/train-step.js';
import { type ServingData, loadServingData } from '../train/serve/histories.js';
import { Recommender } from '../runtime/recommender.js';
import { scoreUsers } from '../train/serve/score.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { Rng } from '../train/data/shuffle.js';
import { CATALOG_FORMS, catalogFormOf, exportInference } from '../train/export.js';
import { prepare } from '../train/prepare.js';
import { flagOptions, flagOverrides } from '../train/setting-flags.js';
import { initialValues } from '../graph/init.js';

import { DATA_OPTIONS, bench, benchData } from './bench.js';

// One request per onnxruntime run is too small to split across cores (thread hand-offs cost more than they
// save, measured: p50 29 ms with 2 threads vs 1.2 ms with 1 on a loaded 2-core machine), so single-user
// latency runs on one intra-op thread, as a server running one session per worker would; batch scoring
// uses every core.
/** Run settings the bench takes as flags, as train does: a generated catalog keeps its rare items (k-core). */
const SETTING_FLAGS = ['data.kCore', 'model.catalogChunk'];

export const serveBench = bench({
  name: 'serve',
  about: 'single-user top-10 latency through model.onnx and batch-scoring throughput for every user (one JSON line)',
  settings: SETTING_FLAGS,
  options: {
    ...DATA_OPTIONS,
    ...flagOptions(SETTING_FLAGS),
    requests: { type: 'number', default: 1000, describe: 'single-user requests timed (after 50 to warm up)' },
    batch: { type: 'number', default: 512, describe: 'users per batch-scoring chunk' },
    'batch-scoring': {
      type: 'boolean',
      default: true,
      describe: 'time scoring every user (--no-batch-scoring: single-user latency alone)',
    },
    threads: { type: 'number', describe: 'onnxruntime intra-op threads of batch scoring (default: all cores)' },
    catalog: {
      choices: CATALOG_FORMS,
      default: 'auto' as const,
      describe: 'what the model holds: feature tables, the precomputed catalog, or auto (as hm4sr export)',
    },
    'latency-threads': {
      type: 'number',
      default: 1,
      describe: 'onnxruntime intra-op threads of the single-user requests',
    },
  },
  async run(a) {
    const data = benchData(a.data, a.name);
    const latencyThreads = a['latency-threads'],
      threads = a.threads || undefined,
      requests = a.requests,
      batch = a.batch,
      k = 10;
    const tmp = mkdtempSync(join(tmpdir(), 'hm4sr-bench-serve-'));
    try {
      const rc = mergeConfig(mergeConfig(DEFAULT_CONFIG, { data }), flagOverrides(a, SETTING_FLAGS));
      const p = prepare(rc, note);
      const model = join(tmp, 'model.onnx');
      const values = initialValues(probeParams(hm4srModel(p.model)), p.frozen, 1);
      const exportStart = performance.now();
      await exportInference(p.model, values, p, rc, model, undefined, a.catalog);
      const exportSeconds = (performance.now() - exportStart) / 1000;
      const t = performance.now();
      const rec = await Recommender.load(model, { threads: latencyThreads });
      const loadSeconds = (performance.now() - t) / 1000;
      const served = loadServingData(data.dir, data.name, rec.meta, rec.tokens);
      const latency = await timeRequests(rec, served, requests, k);
      await rec.release();
      const scored = a['batch-scoring']
        ? await timeScoring(model, served, data.name, join(tmp, 'recs.jsonl'), threads, batch, k)
        : null;
      process.stdout.write(
        JSON.stringify({
          bench: 'serve',
          data: data.name,
          items: p.ds.numItems,
          users: p.ds.numUsers,
          catalogChunk: p.model.catalogChunk,
          catalog: catalogFormOf(p.model, a.catalog),
          modelMiB: +(statSync(model).size / 2 ** 20).toFixed(1),
          exportSeconds: +exportSeconds.toFixed(2),
          machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
          latencyThreads,
          batchThreads: threads ?? cpus().length,
          modelLoadSeconds: +loadSeconds.toFixed(2),
          latency,
          batchScoring: scored && {
            users: scored.users,
            batch,
            seconds: +scored.seconds.toFixed(2),
            usersPerSecond: Math.round(scored.users / scored.seconds),
            k,
          },
          peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        }) + '\n',
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
});

/** Every user's top-k through `hm4sr score`'s path, `batch` users per run on `threads` threads. */
async function timeScoring(
  model: string,
  served: ServingData,
  label: string,
  out: string,
  threads: number | undefined,
  batch: number,
  k: number,
) {
  const rec = await Recommender.load(model, { threads });
  try {
    return await scoreUsers(rec, served, label, out, { k, excludeSeen: false, chunk: batch });
  } finally {
    await rec.release();
  }
}

/** p50/p90/p99 and mean of single-user requests for random users, after a warm-up. */
async function timeRequests(rec: Recommender, served: ServingData, requests: number, k: number) {
  const rng = new Rng(7);
  const pick = () => served.history(rng.nextInt(served.ds.numUsers));
  for (let i = 0; i < 50; i++) await rec.recommend([pick()], k); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < requests; i++) {
    const h = pick();
    const t = performance.now();
    await rec.recommend([h], k);
    ms.push(performance.now() - t);
  }
  ms.sort((x, y) => x - y);
  const q = (f: number) => +ms[Math.min(ms.length - 1, Math.floor(f * ms.length))].toFixed(3);
  return {
    requests,
    k,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    meanMs: +(ms.reduce((x, y) => x + y, 0) / ms.length).toFixed(3),
  };
}
