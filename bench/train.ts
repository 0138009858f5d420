// hm4sr bench train [--data synth|beauty|DIR] [--name NAME] [--steps N | --full-epoch] [--epochs N] [--preset hm4sr|sasrec]
//                   [--layout packed|padded] [--threads N] [--batch-size N] [--profile PREFIX] [--profile-eval PREFIX]
//                   [--graph production|reference] [--missing-modality zeros|drop] [--mem-pattern] [--eval-repeats N] [--no-eval]
// Without --steps a whole epoch is timed (--full-epoch says so explicitly); --steps N gives an estimate; --steps 0
// times the evaluation alone.
// --epochs N: N whole epochs on one session, as the trainer runs them; epochSeconds is the first (with session
// creation), laterEpochSeconds the others.
// --graph reference times the reference model (graph/models/hm4sr-reference.ts: the paper read top to bottom,
// padded rows, no speed-ups; same function, more work); it needs --layout padded and skips the evaluation.
// --mem-pattern: onnxruntime's memory pattern on (off by default, see runtime/session.ts).
// --eval-repeats N (default 2): evaluations timed after the first, as every later epoch runs them.
// --profile writes onnxruntime's per-node profile of the training steps, --profile-eval that of the evaluation
// (scripts/profile-table.mjs sums either).
// Prints one JSON line: training throughput and epoch time, full-catalog evaluation time for every
// validation user, session creation time and peak RSS, with the machine it ran on.
import { note } from './note.js';
import { cpus, totalmem } from 'node:os';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { DEFAULT_CONFIG, type RunConfig, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { Evaluator } from '../train/evaluate.js';
import { packBatch, packOptions } from '../train/pack.js';
import { type Prepared, prepare } from '../train/prepare.js';
import { flagOptions, flagOverrides } from '../train/setting-flags.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { initialValues } from '../graph/init.js';
import type { LossModel } from '../graph/model.js';
import type { SessionOptions } from '../runtime/session.js';
import type { SampleSet } from '../train/data/samples.js';
import { DATA_OPTIONS, bench, benchData } from './bench.js';
import { MODEL_FORMS, modelFeeds, trainingModel } from './model-form.js';

/** Run settings the bench takes as flags, as train does (SETTINGS: same names, defaults and checks). */
const SETTING_FLAGS = [
  'preset',
  'data.missingModality',
  'optim.batchSize',
  'optim.layout',
  'optim.lengthBucketing',
  'optim.threads',
  'model.catalogChunk',
  'data.kCore',
];

const OPTIONS = {
  ...DATA_OPTIONS,
  ...flagOptions(SETTING_FLAGS),
  steps: {
    type: 'number',
    describe: 'time N batches (an estimate) instead of a whole epoch; 0: no training, the evaluation alone',
  },
  'full-epoch': { type: 'boolean', default: false, describe: 'time a whole epoch (the default; overrides --steps)' },
  epochs: { type: 'number', default: 1, describe: 'whole epochs timed on one session, as the trainer runs them' },
  graph: {
    choices: MODEL_FORMS,
    default: MODEL_FORMS[0],
    describe: 'model timed (reference: padded, no eval)',
  },
  'mem-pattern': { type: 'boolean', default: false, describe: "onnxruntime's memory pattern on (off in runs)" },
  exec: {
    choices: ['sequential', 'parallel'] as const,
    default: 'sequential' as const,
    describe: 'onnxruntime execution mode',
  },
  inter: { type: 'number', describe: 'onnxruntime inter-op threads (with --exec parallel)' },
  profile: { type: 'string', describe: "write onnxruntime's per-node profile of the training steps to PREFIX*.json" },
  'profile-eval': {
    type: 'string',
    describe: "write onnxruntime's per-node profile of the evaluation to PREFIX*.json",
  },
  eval: { type: 'boolean', default: true, describe: 'time full-catalog evaluation (--no-eval: skip it)' },
  'eval-users': {
    type: 'number',
    describe: 'evaluate the first N validation users only (a full evaluation costs users / (N / seconds))',
  },
  'eval-repeats': {
    type: 'number',
    default: 2,
    describe: 'evaluations timed after the first, as later epochs run them',
  },
} as const;

type Args = Parameters<ReturnType<typeof bench<typeof OPTIONS>>['run']>[0];

interface Timing {
  steps: number;
  batches: number;
  wholeEpoch: boolean;
  trainMs: number;
  samples: number;
  tokens: number;
  cells: number;
  allMs: number;
  laterEpochMs: number[];
}

export const trainBench = bench({
  name: 'train',
  about: 'training throughput and epoch time on one session, and full-catalog evaluation time (one JSON line)',
  options: OPTIONS,
  settings: SETTING_FLAGS,
  async run(a) {
    const data = benchData(a.data, a.name);
    const rc = mergeConfig(
      mergeConfig(DEFAULT_CONFIG, { data: { dir: data.dir, name: data.name } }),
      flagOverrides(a, SETTING_FLAGS),
    );
    if (a.graph === 'reference' && rc.optim.layout !== 'padded')
      throw new Error('--graph reference reads padded rows: add --layout padded');
    const p = prepare(rc, note);
    const session: SessionOptions = {
      memoryPattern: a['mem-pattern'],
      threads: rc.optim.threads || undefined,
      executionMode: a.exec,
      interOpThreads: a.inter,
    };
    const model = trainingModel(p.model, a.graph);
    const specs = probeParams(model);
    const values = initialValues(specs, p.frozen, 1);
    let timing: Timing | null = null,
      createMs = 0;
    if (a.steps !== 0 || a['full-epoch']) {
      const t = performance.now();
      // As in the trainer: one session for the run, dropout from host draws (random.draws).
      const runner = await StepRunner.create(
        buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }),
        freshState(specs, values),
        { ...session, profile: a.profile },
      );
      createMs = performance.now() - t;
      timing = await timeEpochs(a, rc, p, runner, model);
      if (a.profile) runner.endProfiling();
    }
    const evals = a.eval && a.graph === 'production' ? await timeEvaluation(a, rc, p, values, session) : null;
    report(a, rc, p, data.name, createMs, timing, evals);
  },
});

/**
 * Default: a whole epoch, timed as the trainer runs it (session creation + every batch, the first
 * included), which is what an epoch really costs. --steps N samples N batches instead (an estimate), the
 * first step (allocator warm-up) left out of the rates. --epochs N (whole epochs only) times N epochs on
 * the one session, as a run's later epochs cost.
 */
async function timeEpochs(a: Args, rc: RunConfig, p: Prepared, runner: StepRunner, model: LossModel): Promise<Timing> {
  const sampler = new EpochSampler(
    p.samples.train.size,
    rc.optim.batchSize,
    1,
    rc.optim.lengthBucketing ? p.samples.train.length : null,
  );
  let batches = sampler.nextEpoch();
  const steps = a.steps !== undefined && !a['full-epoch'] ? Math.min(a.steps, batches.length) : batches.length;
  const wholeEpoch = steps === batches.length;
  const epochs = wholeEpoch ? a.epochs : 1;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`--epochs ${a.epochs}: expected a whole number >= 1`);
  const rng = new Rng(1),
    drawRng = Rng.keyed(1, 'dropout');
  const pack = packOptions(rc, p);
  const tm: Timing = {
    steps,
    batches: batches.length,
    wholeEpoch,
    trainMs: 0,
    samples: 0,
    tokens: 0,
    cells: 0,
    allMs: 0,
    laterEpochMs: [],
  };
  // As in the trainer, the next batch is packed while onnxruntime runs the current one.
  const encode = (i: number) => {
    const b = packBatch(p.ds, p.samples.train, batches[i], p.model, { ...pack, withTarget: true, rng });
    return { ...b, feeds: runner.withDraws(modelFeeds(model, b.feeds), drawRng) };
  };
  for (let e = 0; e < epochs; e++) {
    if (e > 0) batches = sampler.nextEpoch();
    const te = performance.now();
    let next = encode(0);
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      const b = next;
      const running = runner.run(b.feeds, 1e-3);
      if (i + 1 < steps) next = encode(i + 1);
      await running;
      const ms = performance.now() - t;
      if (e === 0 && (i > 0 || wholeEpoch)) {
        tm.trainMs += ms;
        tm.samples += b.size;
        tm.tokens += b.tokens;
        tm.cells += b.rows * b.width;
      }
    }
    if (e === 0) tm.allMs = performance.now() - te;
    else tm.laterEpochMs.push(performance.now() - te);
  }
  return tm;
}

/**
 * The trainer evaluates with one evaluator every epoch, and onnxruntime plans memory per new input shape:
 * the first evaluation pays for planning, later ones (same users, same batches) reuse it. Both are reported.
 */
/** The validation samples evaluated: all, or the first --eval-users. */
function evalUsers(a: Args, valid: SampleSet): SampleSet {
  const n = a['eval-users'];
  if (n === undefined) return valid;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`--eval-users ${n}: expected a whole number >= 1`);
  const k = Math.min(n, valid.size);
  return {
    size: k,
    user: valid.user.subarray(0, k),
    pos: valid.pos.subarray(0, k),
    length: valid.length.subarray(0, k),
  };
}

async function timeEvaluation(
  a: Args,
  rc: RunConfig,
  p: Prepared,
  values: Map<string, Float32Array>,
  session: SessionOptions,
) {
  const pack = packOptions(rc, p);
  const ev = await Evaluator.create(p.model, rc.eval, { ...session, profile: a['profile-eval'] });
  const users = evalUsers(a, p.samples.valid);
  const first = (await ev.evaluate(p.ds, users, values, pack)).seconds;
  const later: number[] = [];
  for (let i = 0; i < a['eval-repeats']; i++) later.push((await ev.evaluate(p.ds, users, values, pack)).seconds);
  if (a['profile-eval']) ev.endProfiling();
  return { first, later };
}

function report(
  a: Args,
  rc: RunConfig,
  p: Prepared,
  data: string,
  createMs: number,
  tm: Timing | null,
  evals: { first: number; later: number[] } | null,
): void {
  process.stdout.write(
    JSON.stringify({
      bench: 'train',
      data,
      preset: rc.preset,
      modalities: p.model.modalities.map((m) => (p.model.zeroFeatures.includes(m) ? `${m} (zeros)` : m)),
      graph: a.graph,
      layout: rc.optim.layout,
      batchSize: rc.optim.batchSize,
      catalogItems: p.model.numItems,
      catalogChunk: p.model.catalogChunk,
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
      threads: rc.optim.threads || cpus().length,
      trainSamples: p.samples.train.size,
      ...(tm ? trainingFields(p, createMs, tm) : { training: 'not timed (--steps 0)' }),
      validUsers: p.samples.valid.size,
      evalUsers: a['eval-users'] === undefined ? p.samples.valid.size : Math.min(a['eval-users'], p.samples.valid.size),
      evalSeconds: evals === null ? null : +evals.first.toFixed(2),
      evalSecondsLater: (evals?.later ?? []).map((x) => +x.toFixed(2)),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }) + '\n',
  );
}

function trainingFields(p: Prepared, createMs: number, tm: Timing) {
  const timed = tm.wholeEpoch ? tm.steps : tm.steps - 1;
  const sps = tm.samples / (tm.trainMs / 1000);
  return {
    stepsTimed: timed,
    sessionCreateSeconds: +(createMs / 1000).toFixed(2),
    trainSamplesPerSecond: Math.round(sps),
    msPerStep: +(tm.trainMs / timed).toFixed(1),
    epochTiming: tm.wholeEpoch
      ? `measured: a whole epoch (${tm.steps} batches) plus session creation`
      : `estimated from ${tm.steps - 1} of ${tm.batches} batches (pass no --steps to time a whole epoch)`,
    epochSeconds: +(
      (tm.wholeEpoch ? tm.allMs + createMs : createMs + (p.samples.train.size / sps) * 1000) / 1000
    ).toFixed(1),
    laterEpochSeconds: tm.laterEpochMs.map((ms) => +(ms / 1000).toFixed(1)),
    realTokensPerBatch: Math.round(tm.tokens / timed),
    paddedCellsPerBatch: Math.round(tm.cells / timed),
  };
}
