// npm run bench -- [--data synth|beauty|DIR] [--name NAME] [--requests N] [--batch N] [--threads N] [--latency-threads N]
// Prints one JSON line: single-user top-10 latency through model.onnx's serving signature (p50/p99 over
// N requests, in process, CPU, after a warm-up) and batch-scoring throughput for every user of the dataset.
// Without --run the model has its initial weights: timing does not depend on their values.
import { note } from './note.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { resolveDataset } from '../train/data/builtin.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { probeParams } from '../graph/train-step.js';
import { loadServingData } from '../train/serve/histories.js';
import { Recommender } from '../runtime/recommender.js';
import { scoreUsers } from '../train/serve/score.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { Rng } from '../train/data/shuffle.js';
import { exportInference } from '../train/export.js';
import { prepare } from '../train/prepare.js';
import { initialValues } from '../graph/init.js';

const args = process.argv.slice(2);
const flag = (k: string, d?: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const which = flag('data', 'synth')!;
const data = resolveDataset(which === 'beauty' ? 'amazon-beauty' : which, flag('name'), () => {});
// One request per onnxruntime run is too small to split across cores (thread hand-offs cost more than they
// save, measured: p50 29 ms with 2 threads vs 1.2 ms with 1 on a loaded 2-core machine), so single-user
// latency runs on one intra-op thread, as a server running one session per worker would; batch scoring
// uses every core.
const latencyThreads = Number(flag('latency-threads', '1'));
const threads = Number(flag('threads', '0')) || undefined;
const requests = Number(flag('requests', '1000')), batch = Number(flag('batch', '512')), k = 10;

const tmp = mkdtempSync(join(tmpdir(), 'hm4sr-bench-serve-'));
try {
  const rc = mergeConfig(DEFAULT_CONFIG, { data });
  const p = prepare(rc, note);
  const model = join(tmp, 'model.onnx');
  exportInference(p.model, initialValues(probeParams(hm4srModel(p.model)), p.frozen, 1), p, rc, model);
  let t = performance.now();
  const rec = await Recommender.load(model, { threads: latencyThreads });
  const loadSeconds = (performance.now() - t) / 1000;
  const served = loadServingData(data.dir, data.name, rec.meta, rec.tokens);
  const rng = new Rng(7);
  const pick = () => served.history(rng.nextInt(served.ds.numUsers));
  for (let i = 0; i < 50; i++) await rec.recommend([pick()], k); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < requests; i++) {
    const h = pick();
    t = performance.now();
    await rec.recommend([h], k);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const q = (f: number) => +ms[Math.min(ms.length - 1, Math.floor(f * ms.length))].toFixed(3);
  await rec.release();
  const batchRec = await Recommender.load(model, { threads });
  const scored = await scoreUsers(batchRec, served, data.name, join(tmp, 'recs.jsonl'), { k, excludeSeen: false, chunk: batch });
  process.stdout.write(JSON.stringify({
    bench: 'serve', data: data.name, items: p.ds.numItems, users: p.ds.numUsers,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) }, latencyThreads, batchThreads: threads ?? cpus().length,
    modelLoadSeconds: +loadSeconds.toFixed(2),
    latency: { requests, k, p50Ms: q(0.5), p90Ms: q(0.9), p99Ms: q(0.99), meanMs: +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(3) },
    batchScoring: { users: scored.users, batch, seconds: +scored.seconds.toFixed(2), usersPerSecond: Math.round(scored.users / scored.seconds), k },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }) + '\n');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
