// node dist/bench/device.js --data DIR [--name NAME] [--ep cpu|cuda] [--steps-per-run K] [--epochs N | --steps N]
//                           [--eval-runs N] [--eval-batch-size B] [--batch-size B] [--threads N] [--allow-cpu-nodes]
// The figures scripts/gpu-check.sh reports, for one execution provider: training through the trainer's own
// path (K-step Loop runs for same-size batches, single steps for the tail), timed per epoch or over the
// first N steps, then full-catalog evaluation of every validation user. Prints one JSON line.
import { note } from './note.js';
import { cpus, totalmem } from 'node:os';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { resolveDataset } from '../train/data/builtin.js';
import { CUDA_DEFAULTS, DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { Evaluator } from '../train/evaluate.js';
import { packBatch, packOptions, stackBatches } from '../train/pack.js';
import { prepare } from '../train/prepare.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { initialValues } from '../graph/init.js';
import { type ExecutionProvider, checkExecutionProvider } from '../runtime/session.js';

// Failures end in one line (gpu-check puts the last lines of stderr into its JSON).
process.on('uncaughtException', (e) => { process.stderr.write(`bench: ${e.message}\n`); process.exit(1); });
const args = process.argv.slice(2);
const flag = (k: string, d?: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const num = (k: string, d: number) => { const v = Number(flag(k, String(d))); if (!Number.isFinite(v)) throw new Error(`--${k}: not a number`); return v; };
const ep = flag('ep', 'cpu') as ExecutionProvider;
if (ep !== 'cpu' && ep !== 'cuda') throw new Error(`--ep ${ep}: cpu or cuda`);
const onCuda = ep === 'cuda';
const K = num('steps-per-run', onCuda ? CUDA_DEFAULTS.stepsPerRun : 1);
const stepsCap = flag('steps') === undefined ? Infinity : num('steps', 0);
const epochs = stepsCap < Infinity ? 1 : num('epochs', 1);
const evalRuns = num('eval-runs', 1);
const log = (m: string) => process.stderr.write(`[bench ${ep}] ${m}\n`);
await checkExecutionProvider(ep);

const data = resolveDataset(flag('data'), flag('name'), log);
const rc = mergeConfig(DEFAULT_CONFIG, {
  data: { dir: data.dir, name: data.name },
  optim: { threads: num('threads', 0), batchSize: num('batch-size', 1024), stepsPerRun: K },
  eval: { batchSize: num('eval-batch-size', onCuda ? CUDA_DEFAULTS.evalBatchSize : DEFAULT_CONFIG.eval.batchSize) },
});
const session = { ep, threads: rc.optim.threads || undefined, strictDevice: !args.includes('--allow-cpu-nodes'), log };
let t = performance.now();
const p = prepare(rc, note);
const prepareSeconds = (performance.now() - t) / 1000;
log(`data ${data.dir}: ${p.ds.numUsers} users, ${p.samples.train.size} training samples (prepared in ${prepareSeconds.toFixed(1)} s)`);
const model = hm4srModel(p.model);
const specs = probeParams(model);
const values = initialValues(specs, p.frozen, 1);
const state = freshState(specs, values);
t = performance.now();
// As the trainer builds them: dropout from host draws (random.draws), one session per graph for every epoch.
const runner = await StepRunner.create(buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }), state, session);
const loopRunner = K > 1 ? await StepRunner.create(buildTrainLoop(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }), state, session) : null;
const sessionCreateSeconds = (performance.now() - t) / 1000;
log(`sessions created in ${sessionCreateSeconds.toFixed(1)} s (${K > 1 ? `Loop of ${K} steps + single step` : 'single step'})`);

const sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, 1, null);
const rng = new Rng(1), drawRng = Rng.keyed(1, 'dropout');
const pack = packOptions(rc, p);
const encode = (idx: Int32Array) => packBatch(p.ds, p.samples.train, idx, p.model, { ...pack, withTarget: true, rng });
let fullEpoch = false;
const epochLog: { seconds: number; samples: number; steps: number; runs: number; samplesPerSecond: number; firstRunSeconds: number; warmSamplesPerSecond: number | null; loss: number }[] = [];
for (let e = 0; e < epochs; e++) {
  const batches = sampler.nextEpoch();
  const n = Math.min(batches.length, stepsCap);
  fullEpoch = n === batches.length;
  let samples = 0, runs = 0, lossSum = 0, firstRun = 0, firstSamples = 0;
  const te = performance.now();
  for (let i = 0; i < n;) {
    const tr = performance.now();
    const group = batches.slice(i, Math.min(i + K, n));
    const looped = loopRunner !== null && group.length === K && group.every((b) => b.length === group[0].length);
    const enc = looped ? group.map(encode) : [encode(batches[i])];
    const r = looped ? loopRunner! : runner;
    const out = await r.run(r.withDraws((looped ? stackBatches(enc) : enc[0]).feeds, drawRng), rc.optim.lr);
    enc.forEach((b, k) => { samples += b.size; lossSum += out.loss[k] * b.size; });
    i += enc.length;
    runs += 1;
    if (runs === 1) { firstRun = (performance.now() - tr) / 1000; firstSamples = samples; }
  }
  const seconds = (performance.now() - te) / 1000;
  // The first run of a session pays for its allocations (and, on CUDA, kernel selection): also timed without it.
  const warm = runs > 1 ? (samples - firstSamples) / (seconds - firstRun) : null;
  epochLog.push({ seconds, samples, steps: n, runs, samplesPerSecond: samples / seconds, firstRunSeconds: firstRun, warmSamplesPerSecond: warm, loss: lossSum / samples });
  log(`epoch ${e + 1}: ${n} steps in ${runs} runs, ${seconds.toFixed(2)} s, ${(samples / seconds).toFixed(0)} samples/s, loss ${(lossSum / samples).toFixed(4)}`);
}
const last = epochLog[epochLog.length - 1];

const evalSeconds: number[] = [];
let evalCreateSeconds: number | null = null;
if (evalRuns > 0) {
  t = performance.now();
  const ev = await Evaluator.create(p.model, rc.eval, session);
  evalCreateSeconds = (performance.now() - t) / 1000;
  for (let r = 0; r < evalRuns; r++) {
    evalSeconds.push((await ev.evaluate(p.ds, p.samples.valid, state.params, pack)).seconds);
    log(`evaluation ${r + 1}: ${p.samples.valid.size} users in ${evalSeconds[r].toFixed(2)} s (batches of ${rc.eval.batchSize})`);
  }
}
const round = (x: number, d = 2) => +x.toFixed(d);
process.stdout.write(JSON.stringify({
  bench: 'device', ep, strictDevice: session.strictDevice, data: data.name, trainSamples: p.samples.train.size, batchSize: rc.optim.batchSize, stepsPerRun: K,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) }, threads: rc.optim.threads || cpus().length,
  prepareSeconds: round(prepareSeconds), sessionCreateSeconds: round(sessionCreateSeconds),
  epochs: epochLog.map((e) => ({ ...e, seconds: round(e.seconds, 3), samplesPerSecond: Math.round(e.samplesPerSecond), firstRunSeconds: round(e.firstRunSeconds, 3), warmSamplesPerSecond: e.warmSamplesPerSecond === null ? null : Math.round(e.warmSamplesPerSecond), loss: round(e.loss, 4) })),
  trainSamplesPerSecond: Math.round(last.samplesPerSecond),
  epochSeconds: round(fullEpoch ? last.seconds : p.samples.train.size / (last.warmSamplesPerSecond ?? last.samplesPerSecond), 2), epochSecondsMeasured: fullEpoch,
  evalUsers: p.samples.valid.size, evalBatchSize: rc.eval.batchSize, evalCreateSeconds: evalCreateSeconds === null ? null : round(evalCreateSeconds), evalSeconds: evalSeconds.map((s) => round(s, 3)),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
}) + '\n');
