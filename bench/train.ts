// npm run bench -- [--data synth|amazon-beauty|DIR] [--name NAME] [--steps N | --full-epoch] [--preset hm4sr|sasrec]
//                  [--layout packed|padded] [--threads N] [--batch-size N] [--profile PREFIX] [--profile-eval PREFIX]
//                  [--graph production|reference] [--missing-modality zeros|drop] [--mem-pattern] [--epochs N]
// Without --steps a whole epoch is timed (--full-epoch says so explicitly); --steps N gives an estimate.
// --epochs N: N whole epochs on one session, as the trainer runs them; epochSeconds is the first (with session
// creation), laterEpochSeconds the others.
// --graph reference times the reference model (graph/models/hm4sr-reference.ts: the paper read top to bottom,
// padded rows, no speed-ups; same function, more work); it implies --layout padded and skips the evaluation.
// --mem-pattern: onnxruntime's memory pattern on (off by default, see runtime/session.ts).
// --eval-repeats N (default 2): evaluations timed after the first, as every later epoch runs them.
// --profile writes onnxruntime's per-node profile of the training steps, --profile-eval that of the evaluation
// (scripts/profile-table.mjs sums either).
// Prints one JSON line: training throughput and epoch time, full-catalog evaluation time for every
// validation user, session creation time and peak RSS, with the machine it ran on.
import { note } from './note.js';
import { modelFeeds, parseModelForm, trainingModel } from './model-form.js';
import { cpus, totalmem } from 'node:os';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { resolveDataset } from '../train/data/builtin.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { Evaluator } from '../train/evaluate.js';
import { packBatch, packOptions } from '../train/pack.js';
import { prepare } from '../train/prepare.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { initialValues } from '../graph/init.js';

const args = process.argv.slice(2);
const flag = (k: string, d?: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const has = (k: string) => args.includes(`--${k}`);
const form = parseModelForm(flag('graph', 'production'), '--graph');
const which = flag('data', 'synth')!;
const data = resolveDataset(which === 'beauty' ? 'amazon-beauty' : which, flag('name'), () => {});
const rc = mergeConfig(DEFAULT_CONFIG, {
  preset: flag('preset', 'hm4sr') as 'hm4sr' | 'sasrec',
  data: { dir: data.dir, name: data.name, ...(has('missing-modality') ? { missingModality: flag('missing-modality') as 'zeros' | 'drop' } : {}) },
  optim: {
    threads: Number(flag('threads', '0')),
    layout: flag('layout', form === 'reference' ? 'padded' : 'packed') as 'packed' | 'padded',
    batchSize: Number(flag('batch-size', '1024')), lengthBucketing: has('length-bucketing'),
  },
});
if (form === 'reference' && rc.optim.layout !== 'padded') {
  throw new Error('--graph reference reads padded rows: drop --layout packed');
}
const p = prepare(rc, note);
const model = trainingModel(p.model, form);
const specs = probeParams(model);
const values = initialValues(specs, p.frozen, 1);
const session = { memoryPattern: has('mem-pattern'), threads: rc.optim.threads || undefined, executionMode: flag('exec', 'sequential') as 'sequential' | 'parallel', interOpThreads: has('inter') ? Number(flag('inter')) : undefined };
let t = performance.now();
// As in the trainer: one session for the run, dropout from host draws (random.draws).
const runner = await StepRunner.create(buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }), freshState(specs, values), { ...session, profile: flag('profile') });
const createMs = performance.now() - t;
const sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, 1, rc.optim.lengthBucketing ? p.samples.train.length : null);
let batches = sampler.nextEpoch();
// Default: a whole epoch, timed as the trainer runs it (session creation + every batch, the first
// included), which is what an epoch really costs. --steps N samples N batches instead (an estimate).
// --epochs N (whole epochs only) times N epochs on the one session, as a run's later epochs cost.
const steps = has('steps') && !has('full-epoch') ? Math.min(Number(flag('steps')), batches.length) : batches.length;
const wholeEpoch = steps === batches.length;
const epochs = wholeEpoch ? Number(flag('epochs', '1')) : 1;
if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`--epochs ${flag('epochs')}: expected a whole number >= 1`);
const rng = new Rng(1), drawRng = Rng.keyed(1, 'dropout');
const pack = packOptions(rc, p);
let trainMs = 0, samples = 0, tokens = 0, cells = 0, allMs = 0;
const laterEpochMs: number[] = [];
// In the sampled estimate the first step (allocator warm-up) is left out of the rates. As in the trainer, the
// next batch is packed while onnxruntime runs the current one.
const encode = (i: number) => {
  const b = packBatch(p.ds, p.samples.train, batches[i], p.model, { ...pack, withTarget: true, rng });
  return { ...b, feeds: runner.withDraws(modelFeeds(model, b.feeds), drawRng) };
};
for (let e = 0; e < epochs; e++) {
  if (e > 0) batches = sampler.nextEpoch();
  const te = performance.now();
  let next = encode(0);
  for (let i = 0; i < steps; i++) {
    t = performance.now();
    const b = next;
    const running = runner.run(b.feeds, 1e-3);
    if (i + 1 < steps) next = encode(i + 1);
    await running;
    const ms = performance.now() - t;
    if (e === 0 && (i > 0 || wholeEpoch)) { trainMs += ms; samples += b.size; tokens += b.tokens; cells += b.rows * b.width; }
  }
  if (e === 0) allMs = performance.now() - te;
  else laterEpochMs.push(performance.now() - te);
}
if (flag('profile')) runner.endProfiling();
const sps = samples / (trainMs / 1000);
// The trainer evaluates with one evaluator every epoch, and onnxruntime plans memory per new input shape:
// the first evaluation pays for planning, later ones (same users, same batches) reuse it. Both are reported.
let evalSeconds: number | null = null, evalSecondsLater: number[] = [];
if (!has('no-eval') && form === 'production') {
  const ev = await Evaluator.create(p.model, rc.eval, { ...session, profile: flag('profile-eval') });
  evalSeconds = (await ev.evaluate(p.ds, p.samples.valid, values, pack)).seconds;
  for (let i = 0; i < Number(flag('eval-repeats', '2')); i++) evalSecondsLater.push((await ev.evaluate(p.ds, p.samples.valid, values, pack)).seconds);
  if (flag('profile-eval')) ev.endProfiling();
}
process.stdout.write(JSON.stringify({
  bench: 'train', data: data.name, preset: rc.preset, modalities: p.model.modalities.map((m) => (p.model.zeroFeatures.includes(m) ? `${m} (zeros)` : m)), graph: form, layout: rc.optim.layout, batchSize: rc.optim.batchSize,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) }, threads: rc.optim.threads || cpus().length,
  trainSamples: p.samples.train.size, stepsTimed: wholeEpoch ? steps : steps - 1, sessionCreateSeconds: +(createMs / 1000).toFixed(2),
  trainSamplesPerSecond: Math.round(sps), msPerStep: +(trainMs / (wholeEpoch ? steps : steps - 1)).toFixed(1),
  epochTiming: wholeEpoch ? `measured: a whole epoch (${steps} batches) plus session creation` : `estimated from ${steps - 1} of ${batches.length} batches (pass no --steps to time a whole epoch)`,
  epochSeconds: +((wholeEpoch ? allMs + createMs : createMs + p.samples.train.size / sps * 1000) / 1000).toFixed(1),
  laterEpochSeconds: laterEpochMs.map((ms) => +(ms / 1000).toFixed(1)),
  realTokensPerBatch: Math.round(tokens / (wholeEpoch ? steps : steps - 1)), paddedCellsPerBatch: Math.round(cells / (wholeEpoch ? steps : steps - 1)),
  evalUsers: p.samples.valid.size, evalSeconds: evalSeconds === null ? null : +evalSeconds.toFixed(2),
  evalSecondsLater: evalSecondsLater.map((x) => +x.toFixed(2)),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
}) + '\n');
