// hm4sr bench device --data DIR [--name NAME] [--ep cpu|cuda] [--steps-per-run K] [--epochs N | --steps N]
//                    [--eval-runs N] [--eval-batch-size B] [--batch-size B] [--threads N] [--allow-cpu-nodes]
// The figures scripts/gpu-check.sh reports, for one execution provider: training through the trainer's own
// path (K-step Loop runs for same-size batches, single steps for the tail), timed per epoch or over the
// first N steps, then full-catalog evaluation of every validation user. Prints one JSON line.
import { note } from './note.js';
import { cpus, totalmem } from 'node:os';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { DEFAULT_CONFIG, type RunConfig, cudaDefaults, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { Evaluator } from '../train/evaluate.js';
import { packBatch, packOptions, stackBatches } from '../train/pack.js';
import { type Prepared, prepare } from '../train/prepare.js';
import { flagOptions, flagOverrides } from '../train/setting-flags.js';
import { StepRunner, freshState } from '../train/step-runner.js';
import { initialValues } from '../graph/init.js';
import { type SessionOptions, checkExecutionProvider } from '../runtime/session.js';
import { DATA_OPTIONS, bench, benchData } from './bench.js';

/** Run settings the bench takes as flags, as train does (SETTINGS: names, defaults on each EP, checks). */
const SETTING_FLAGS = ['optim.batchSize', 'optim.threads', 'optim.stepsPerRun', 'eval.batchSize'];

interface EpochFigures {
  seconds: number;
  samples: number;
  steps: number;
  runs: number;
  samplesPerSecond: number;
  firstRunSeconds: number;
  warmSamplesPerSecond: number | null;
  loss: number;
}

export const deviceBench = bench({
  name: 'device',
  about:
    'what scripts/gpu-check.sh reports for one execution provider: training as the trainer runs it, then full-catalog evaluation (one JSON line)',
  settings: SETTING_FLAGS,
  options: {
    ...DATA_OPTIONS,
    ep: { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const, describe: 'onnxruntime execution provider' },
    'allow-cpu-nodes': {
      type: 'boolean',
      default: false,
      describe: 'on CUDA, run nodes the CUDA EP cannot take on the CPU instead of failing',
    },
    ...flagOptions(SETTING_FLAGS),
    epochs: { type: 'number', default: 1, describe: 'whole epochs timed' },
    steps: { type: 'number', describe: 'time the first N steps of one epoch instead' },
    'eval-runs': { type: 'number', default: 1, describe: 'evaluations of every validation user timed (0: none)' },
  },
  async run(a) {
    const log = (m: string) => process.stderr.write(`[bench ${a.ep}] ${m}\n`);
    await checkExecutionProvider(a.ep);
    const data = benchData(a.data, a.name);
    const base = a.ep === 'cuda' ? mergeConfig(DEFAULT_CONFIG, cudaDefaults()) : DEFAULT_CONFIG;
    const rc = mergeConfig(
      mergeConfig(base, { data: { dir: data.dir, name: data.name } }),
      flagOverrides(a, SETTING_FLAGS),
    );
    const session: SessionOptions = {
      ep: a.ep,
      threads: rc.optim.threads || undefined,
      strictDevice: !a['allow-cpu-nodes'],
      log,
    };
    let t = performance.now();
    const p = prepare(rc, note);
    const prepareSeconds = (performance.now() - t) / 1000;
    log(
      `data ${data.dir}: ${p.ds.numUsers} users, ${p.samples.train.size} training samples (prepared in ${prepareSeconds.toFixed(1)} s)`,
    );
    const model = hm4srModel(p.model);
    const specs = probeParams(model);
    const state = freshState(specs, initialValues(specs, p.frozen, 1));
    const K = rc.optim.stepsPerRun;
    t = performance.now();
    const { runner, loopRunner } = await createRunners(model, state, K, session);
    const sessionCreateSeconds = (performance.now() - t) / 1000;
    log(
      `sessions created in ${sessionCreateSeconds.toFixed(1)} s (${K > 1 ? `Loop of ${K} steps + single step` : 'single step'})`,
    );
    const stepsCap = a.steps === undefined ? Infinity : a.steps;
    const { epochLog, fullEpoch } = await timeEpochs(
      rc,
      p,
      { runner, loopRunner },
      stepsCap < Infinity ? 1 : a.epochs,
      stepsCap,
      log,
    );
    const evals = await timeEvaluation(rc, p, state.params, session, a['eval-runs'], log);
    report({
      ep: a.ep,
      session,
      data: data.name,
      rc,
      p,
      prepareSeconds,
      sessionCreateSeconds,
      epochLog,
      fullEpoch,
      evals,
    });
  },
});

/**
 * The single-step runner and, for K > 1, the K-step Loop runner, as the trainer builds them: dropout from host
 * draws (random.draws), one session per graph for every epoch.
 */
async function createRunners(
  model: ReturnType<typeof hm4srModel>,
  state: ReturnType<typeof freshState>,
  K: number,
  session: SessionOptions,
): Promise<{ runner: StepRunner; loopRunner: StepRunner | null }> {
  const runner = await StepRunner.create(
    buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }),
    state,
    session,
  );
  const loopRunner =
    K > 1
      ? await StepRunner.create(buildTrainLoop(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: true }), state, session)
      : null;
  return { runner, loopRunner };
}

// Stays whole: one timed loop whose counters (samples, runs, first run) make up each epoch's figures.
async function timeEpochs(
  rc: RunConfig,
  p: Prepared,
  r: { runner: StepRunner; loopRunner: StepRunner | null },
  epochs: number,
  stepsCap: number,
  log: (m: string) => void,
) {
  const K = rc.optim.stepsPerRun;
  const sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, 1, null);
  const rng = new Rng(1),
    drawRng = Rng.keyed(1, 'dropout');
  const pack = packOptions(rc, p);
  const encode = (idx: Int32Array) =>
    packBatch(p.ds, p.samples.train, idx, p.model, { ...pack, withTarget: true, rng });
  let fullEpoch = false;
  const epochLog: EpochFigures[] = [];
  for (let e = 0; e < epochs; e++) {
    const batches = sampler.nextEpoch();
    const n = Math.min(batches.length, stepsCap);
    fullEpoch = n === batches.length;
    let samples = 0,
      runs = 0,
      lossSum = 0,
      firstRun = 0,
      firstSamples = 0;
    const te = performance.now();
    for (let i = 0; i < n;) {
      const tr = performance.now();
      const group = batches.slice(i, Math.min(i + K, n));
      const looped = r.loopRunner !== null && group.length === K && group.every((b) => b.length === group[0].length);
      const enc = looped ? group.map(encode) : [encode(batches[i])];
      const by = looped ? r.loopRunner! : r.runner;
      const out = await by.run(by.withDraws((looped ? stackBatches(enc) : enc[0]).feeds, drawRng), rc.optim.lr);
      enc.forEach((b, k) => {
        samples += b.size;
        lossSum += out.loss[k] * b.size;
      });
      i += enc.length;
      runs += 1;
      if (runs === 1) {
        firstRun = (performance.now() - tr) / 1000;
        firstSamples = samples;
      }
    }
    const seconds = (performance.now() - te) / 1000;
    // The first run of a session pays for its allocations (and, on CUDA, kernel selection): also timed without it.
    const warm = runs > 1 ? (samples - firstSamples) / (seconds - firstRun) : null;
    epochLog.push({
      seconds,
      samples,
      steps: n,
      runs,
      samplesPerSecond: samples / seconds,
      firstRunSeconds: firstRun,
      warmSamplesPerSecond: warm,
      loss: lossSum / samples,
    });
    log(
      `epoch ${e + 1}: ${n} steps in ${runs} runs, ${seconds.toFixed(2)} s, ${(samples / seconds).toFixed(0)} samples/s, loss ${(lossSum / samples).toFixed(4)}`,
    );
  }
  return { epochLog, fullEpoch };
}

async function timeEvaluation(
  rc: RunConfig,
  p: Prepared,
  params: Map<string, Float32Array>,
  session: SessionOptions,
  runs: number,
  log: (m: string) => void,
) {
  const seconds: number[] = [];
  if (runs <= 0) return { createSeconds: null, seconds };
  const t = performance.now();
  const ev = await Evaluator.create(p.model, rc.eval, session);
  const createSeconds = (performance.now() - t) / 1000;
  for (let r = 0; r < runs; r++) {
    seconds.push((await ev.evaluate(p.ds, p.samples.valid, params, packOptions(rc, p))).seconds);
    log(
      `evaluation ${r + 1}: ${p.samples.valid.size} users in ${seconds[r].toFixed(2)} s (batches of ${rc.eval.batchSize})`,
    );
  }
  return { createSeconds, seconds };
}

interface Figures {
  ep: string;
  session: SessionOptions;
  data: string;
  rc: RunConfig;
  p: Prepared;
  prepareSeconds: number;
  sessionCreateSeconds: number;
  epochLog: EpochFigures[];
  fullEpoch: boolean;
  evals: { createSeconds: number | null; seconds: number[] };
}

function report(f: Figures): void {
  const { rc, p, epochLog } = f;
  const last = epochLog[epochLog.length - 1];
  const round = (x: number, d = 2) => +x.toFixed(d);
  process.stdout.write(
    JSON.stringify({
      bench: 'device',
      ep: f.ep,
      strictDevice: f.session.strictDevice,
      data: f.data,
      trainSamples: p.samples.train.size,
      batchSize: rc.optim.batchSize,
      stepsPerRun: rc.optim.stepsPerRun,
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
      threads: rc.optim.threads || cpus().length,
      prepareSeconds: round(f.prepareSeconds),
      sessionCreateSeconds: round(f.sessionCreateSeconds),
      epochs: epochLog.map((e) => ({
        ...e,
        seconds: round(e.seconds, 3),
        samplesPerSecond: Math.round(e.samplesPerSecond),
        firstRunSeconds: round(e.firstRunSeconds, 3),
        warmSamplesPerSecond: e.warmSamplesPerSecond === null ? null : Math.round(e.warmSamplesPerSecond),
        loss: round(e.loss, 4),
      })),
      trainSamplesPerSecond: Math.round(last.samplesPerSecond),
      epochSeconds: round(
        f.fullEpoch ? last.seconds : p.samples.train.size / (last.warmSamplesPerSecond ?? last.samplesPerSecond),
        2,
      ),
      epochSecondsMeasured: f.fullEpoch,
      evalUsers: p.samples.valid.size,
      evalBatchSize: rc.eval.batchSize,
      evalCreateSeconds: f.evals.createSeconds === null ? null : round(f.evals.createSeconds),
      evalSeconds: f.evals.seconds.map((s) => round(s, 3)),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }) + '\n',
  );
}
