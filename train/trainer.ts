import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { InputError, readInputText } from '../graph/input-file.js';
import { writeRanks } from './ranks.js';
import { writeFileAtomic } from '../graph/atomic.js';
import type { ParamSpec } from '../graph/graph.js';
import { type ParamValues, initialValues } from '../graph/init.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { type ExecutionProvider, type HostTensor, checkExecutionProvider } from '../runtime/session.js';
import {
  checkCheckpointMatches,
  checkpointFromState,
  checkpointValues,
  readCheckpoint,
  stateFromCheckpoint,
  writeCheckpoint,
} from '../graph/artifacts/checkpoint.js';
import { type RunConfig, adamConfig } from './config.js';
import { EpochSampler, type EpochSamplerState, Rng } from './data/shuffle.js';
import { Evaluator } from './evaluate.js';
import { type MetricName, metricNames } from './metrics.js';
import { type Prepared, prepare } from './prepare.js';
import { progressBar } from './progress.js';
import { exportInference } from './export.js';
import { type OptimizerState, StepRunner, freshState } from './step-runner.js';
import type { PackOptions, PackedBatch } from './batch.js';
import { type StepGroup, packBatch, packOptions, stackBatches, stepGroups } from './pack.js';
import { writeCurve } from './plot.js';
import { type EpochLog, type SavedConfig, inRunDirectory, recordedRunConfig, type runFiles } from './run.js';

export interface TrainOptions {
  out: string;
  resume: boolean;
  ep: ExecutionProvider;
  /** CUDA only: let nodes the CUDA EP cannot take run on the CPU (listed in the log) instead of failing. */
  allowCpuNodes?: boolean;
  progress: boolean;
  log: (line: string) => void;
}

export interface TrainSummary {
  bestEpoch: number;
  epochsRun: number;
  valid: Record<string, number>;
  test: Record<string, number>;
  wallSeconds: number;
  /** A user of the run's data, for the "try next" hint (recommend --user). */
  exampleUser: string;
}

/** "SASRec -TMoE on Beauty (runs/x)": the model, its ablations, the data and the run directory. */
export function curveTitle(rc: RunConfig, out: string): string {
  const model = `${rc.preset === 'sasrec' ? 'SASRec' : 'HM4SR'}${rc.ablations.map((a) => ` -${a.replace(/^-/, '')}`).join('')}`;
  return `${model} on ${rc.data.name} (${basename(resolve(out))})`;
}

function epochOfLine(file: string, line: number, text: string): number {
  let epoch: unknown;
  try {
    epoch = (JSON.parse(text) as EpochLog).epoch;
  } catch (e) {
    throw new InputError(file, `not a JSON log line (${(e as Error).message})`, line);
  }
  if (typeof epoch !== 'number') throw new InputError(file, 'log line without an epoch number', line);
  return epoch;
}

/** Seed of the in-graph dropout streams for an epoch: resuming at an epoch boundary replays them. */
const epochSeed = (seed: number, epoch: number) => (Math.imul(seed | 0, 2654435761) ^ Math.imul(epoch, 40503)) | 0;

/** Trains a run in its directory, holding the directory's lock (see inRunDirectory). */
export async function train(rc: RunConfig, opts: TrainOptions): Promise<TrainSummary> {
  return inRunDirectory(opts.out, 'train', opts.log, (files) => trainIn(rc, opts, files));
}

/** What a run's checkpoints record beside the weights: epochs done and the early-stopping state. */
interface Standing {
  epoch: number;
  best: number;
  bestEpoch: number;
  bad: number;
}

/** A started (or resumed) run: what each of its steps reads, and its standing, which the epochs advance. */
interface Run {
  rc: RunConfig;
  opts: TrainOptions;
  files: RunFiles;
  p: Prepared;
  specs: ParamSpec[];
  state: OptimizerState;
  sampler: EpochSampler;
  standing: Standing;
  evaluator: Evaluator;
  pack: PackOptions;
  /** One session per graph for the whole run; the K-step Loop's only when K > 1. */
  step: StepRunner;
  loop: StepRunner | null;
}

type RunFiles = ReturnType<typeof runFiles>;

/** A run in named steps: start or resume; per epoch, train it, then validate and checkpoint; finish. */
async function trainIn(rc: RunConfig, opts: TrainOptions, files: RunFiles): Promise<TrainSummary> {
  const t0 = performance.now();
  const run = await startOrResume(rc, opts, files);
  while (run.standing.epoch < rc.optim.epochs && run.standing.bad < rc.optim.patience) {
    run.standing.epoch += 1;
    const trained = await trainEpoch(run);
    await validateAndCheckpoint(run, trained);
  }
  return finish(run, t0);
}

/** Refuses a run that cannot start (or resume) in its directory, before anything is read or written. */
async function checkStart(rc: RunConfig, opts: TrainOptions, files: RunFiles): Promise<void> {
  await checkExecutionProvider(opts.ep);
  const evaluated = metricNames(rc.eval.metrics, rc.eval.topk);
  if (!evaluated.includes(rc.eval.validMetric as MetricName)) {
    throw new Error(
      `eval.validMetric "${rc.eval.validMetric}" is not one of the evaluated metrics (${evaluated.join(', ')})`,
    );
  }
  if (!opts.resume && existsSync(files.last)) {
    throw new Error(
      `${opts.out} already holds a run (${files.last}); pass --resume to continue it or choose another --out`,
    );
  }
  if (opts.resume && !existsSync(files.last)) throw new Error(`--resume: no checkpoint at ${files.last}`);
}

/**
 * Start or resume: checks and prepares the data and model, writes the run's config, then takes the weights,
 * sampler and standing from last.ckpt (resume) or fresh ones, and opens the sessions.
 */
async function startOrResume(rc: RunConfig, opts: TrainOptions, files: RunFiles): Promise<Run> {
  await checkStart(rc, opts, files);
  // Everything that can reject the input runs before the run directory is made.
  const p = prepare(rc, (m) => opts.log(`warning: ${m}`));
  const mc = p.model;
  const model = hm4srModel(mc);
  const specs = probeParams(model);
  const adam = adamConfig(rc);
  const fresh = opts.resume ? null : initialValues(specs, p.frozen, rc.optim.seed);
  mkdirSync(opts.out, { recursive: true });
  const saved: SavedConfig = { run: recordedRunConfig(rc), model: mc, fingerprint: p.fingerprint };
  writeFileAtomic(files.config, JSON.stringify(saved, null, 2) + '\n');
  const { samples } = p;
  const trainable = specs.filter((s) => s.trainable).reduce((a, s) => a + s.dims.reduce((x, y) => x * y, 1), 0);
  opts.log(
    `data: ${p.ds.numUsers} users, ${p.ds.numItems} items, ${p.ds.numInteractions} interactions; ` +
      `samples train ${samples.train.size} / valid ${samples.valid.size} / test ${samples.test.size}`,
  );
  opts.log(
    `model: ${rc.preset}${rc.ablations.length ? ` ${rc.ablations.join(' ')}` : ''}, ` +
      `modalities ${mc.modalities.join('+')}, ${trainable.toLocaleString('en')} trainable parameters`,
  );
  const begun = fresh ? begin(rc, files, p, specs, fresh) : resume(rc, opts, files, p, specs);

  const { ep, log } = opts;
  const session = { ep, threads: rc.optim.threads || undefined, strictDevice: !opts.allowCpuNodes, log };
  const evaluator = await Evaluator.create(mc, rc.eval, session);
  const K = rc.optim.stepsPerRun;
  if (ep !== 'cpu') log(`${ep}: ${K} steps per run (Loop graph), evaluation batches of ${rc.eval.batchSize}`);
  // Dropout reads host draws (random.draws) from each epoch's own generator, so the graphs hold no random
  // state and a resumed run replays the same masks.
  const graphOpts = { adam, seed: 0, fedDraws: true };
  const step = await StepRunner.create(buildTrainStep(model, graphOpts), begun.state, session);
  const loop = K > 1 ? await StepRunner.create(buildTrainLoop(model, graphOpts), begun.state, session) : null;
  return { rc, opts, files, p, specs, ...begun, evaluator, pack: packOptions(rc, p), step, loop };
}

type Begun = Pick<Run, 'state' | 'sampler' | 'standing'>;

function begin(rc: RunConfig, files: RunFiles, p: Prepared, specs: ParamSpec[], fresh: ParamValues): Begun {
  writeFileAtomic(files.log, '');
  return {
    state: freshState(specs, fresh),
    sampler: new EpochSampler(p.samples.train.size, rc.optim.batchSize, rc.optim.seed, trainLengths(rc, p)),
    standing: { epoch: 0, best: -Infinity, bestEpoch: 0, bad: 0 },
  };
}

/** Takes weights, optimizer state, sampler and standing from last.ckpt; the log loses the epochs after it. */
function resume(rc: RunConfig, opts: TrainOptions, files: RunFiles, p: Prepared, specs: ParamSpec[]): Begun {
  const ck = readCheckpoint(files.last);
  checkCheckpointMatches(ck, specs, files.last);
  if (ck.properties.fingerprint !== p.fingerprint) {
    throw new Error(
      `${files.last} was written for another dataset (fingerprint ${ck.properties.fingerprint}, data ${p.fingerprint})`,
    );
  }
  const state = stateFromCheckpoint(ck, files.last);
  const at = (key: string) => Number(ck.properties[key]);
  const standing: Standing = { epoch: at('epoch'), best: at('best'), bestEpoch: at('bestEpoch'), bad: at('bad') };
  const sampled = JSON.parse(String(ck.properties.sampler)) as EpochSamplerState;
  const sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, sampled, trainLengths(rc, p));
  // Epochs after the checkpoint were lost with the crash; their log lines go too.
  if (existsSync(files.log)) {
    const lines = readInputText(files.log).split('\n');
    const kept = lines.filter((l, i) => l && epochOfLine(files.log, i + 1, l) <= standing.epoch);
    writeFileAtomic(files.log, kept.map((l) => l + '\n').join(''));
  }
  const { epoch, best, bestEpoch } = standing;
  opts.log(`resuming after epoch ${epoch} (best ${rc.eval.validMetric} ${best.toFixed(4)} at epoch ${bestEpoch})`);
  return { state, sampler, standing };
}

const trainLengths = (rc: RunConfig, p: Prepared) => (rc.optim.lengthBucketing ? p.samples.train.length : null);

/** An epoch's training: loss sums weighted by samples, and what the batches held. */
interface Trained {
  sums: Record<string, number>;
  samples: number;
  tokens: number;
  padded: number;
  seconds: number;
}

/** A step group packed for its runner: its batches, the feeds the runner takes (stacked when looped), their cells. */
interface PackedGroup {
  packed: PackedBatch[];
  feeds: Record<string, HostTensor>;
  by: StepRunner;
  cells: number;
}

/** Adds a step group's per-batch losses (weighted by batch size) and counts to the epoch's totals. */
function accumulate(t: Trained, packed: PackedBatch[], out: Awaited<ReturnType<StepRunner['run']>>, cells: number) {
  packed.forEach((e, k) => {
    for (const [name, v] of Object.entries(out)) t.sums[name] = (t.sums[name] ?? 0) + v[k] * e.size;
    t.samples += e.size;
    t.tokens += e.tokens;
    t.padded += cells;
  });
}

/** Fails when any summed loss term of the epoch is not finite. */
function checkFinite(t: Trained, epoch: number): void {
  const badTerm = Object.entries(t.sums).find(([, v]) => !Number.isFinite(v));
  if (badTerm) {
    throw new Error(
      `training diverged in epoch ${epoch}: ${badTerm[0]} is ${badTerm[1]} ` +
        '(lower --lr, or check the feature tables for extreme values)',
    );
  }
}

/** One epoch: the sampler's batches in step groups (stepGroups), each packed while the previous one runs. */
async function trainEpoch(run: Run): Promise<Trained> {
  const {
    rc,
    p,
    opts,
    standing: { epoch },
  } = run;
  const seed = epochSeed(rc.optim.seed, epoch);
  const pclRng = new Rng(seed >>> 0),
    dropRng = Rng.keyed(seed >>> 0, 'dropout');
  const groups = stepGroups(run.sampler.nextEpoch(), run.loop ? rc.optim.stepsPerRun : 1);
  const packGroup = (g: StepGroup): PackedGroup => {
    const o = { ...run.pack, withTarget: true, rng: pclRng };
    const packed = g.batches.map((idx) => packBatch(p.ds, p.samples.train, idx, p.model, o));
    const b = g.looped ? stackBatches(packed) : packed[0];
    const by = g.looped ? run.loop! : run.step;
    return { packed, feeds: by.withDraws(b.feeds, dropRng), by, cells: b.rows * b.width };
  };
  const t: Trained = { sums: {}, samples: 0, tokens: 0, padded: 0, seconds: 0 };
  const bar = progressBar(
    `epoch ${epoch}`,
    groups.reduce((a, g) => a + g.batches.length, 0),
    opts.progress,
  );
  const te = performance.now();
  let next = groups.length > 0 ? packGroup(groups[0]) : null;
  for (let j = 0, done = 0; j < groups.length; j++) {
    const { packed, feeds, by, cells } = next!;
    const running = by.run(feeds, rc.optim.lr);
    // The next step's batches are packed while onnxruntime runs this one (its run leaves the event loop
    // free): packing a Beauty batch takes about 8 ms of the main thread. Same order, same PCL draws.
    if (j + 1 < groups.length) {
      try {
        next = packGroup(groups[j + 1]);
      } catch (e) {
        await running.catch(() => {});
        throw e;
      }
    }
    const out = await running;
    accumulate(t, packed, out, cells);
    done += packed.length;
    bar.update(done, { loss: t.sums.loss / t.samples, 'samples/s': t.samples / ((performance.now() - te) / 1000) });
  }
  bar.stop();
  // Checked before any checkpoint is written, so last.ckpt keeps the last finite weights.
  checkFinite(t, epoch);
  t.seconds = (performance.now() - te) / 1000;
  return t;
}

/** Validates the epoch's weights, updates the standing, logs the epoch and writes best.ckpt and last.ckpt. */
async function validateAndCheckpoint(run: Run, t: Trained): Promise<void> {
  const { rc, p, opts, files, standing: s } = run;
  const evBar = progressBar(`valid ${s.epoch}`, p.samples.valid.size, opts.progress);
  const tv = performance.now();
  const progress = (n: number) => evBar.update(n, { 'users/s': n / ((performance.now() - tv) / 1000) });
  const ev = await run.evaluator.evaluate(p.ds, p.samples.valid, run.state.params, run.pack, progress);
  evBar.stop();
  const score = ev.metrics[rc.eval.validMetric as MetricName];
  const improved = score > s.best;
  if (improved) {
    Object.assign(s, { best: score, bestEpoch: s.epoch, bad: 0 });
    writeCheckpoint(files.best, checkpointOf(run));
  } else s.bad += 1;
  const line: EpochLog = {
    epoch: s.epoch,
    train: Object.fromEntries(Object.entries(t.sums).map(([k, v]) => [k, v / t.samples])),
    valid: ev.metrics,
    samples: t.samples,
    tokens: t.tokens,
    paddedTokens: t.padded,
    trainSeconds: t.seconds,
    samplesPerSecond: t.samples / t.seconds,
    evalSeconds: ev.seconds,
    best: improved,
  };
  appendFileSync(files.log, JSON.stringify(line) + '\n');
  writeCheckpoint(files.last, checkpointOf(run));
  opts.log(
    `epoch ${s.epoch}: loss ${line.train.loss.toFixed(4)} | valid ${rc.eval.validMetric} ${score.toFixed(4)}${improved ? ' *' : ''}` +
      ` | ${t.seconds.toFixed(1)} s train (${line.samplesPerSecond.toFixed(0)} samples/s), ${ev.seconds.toFixed(1)} s eval`,
  );
}

function checkpointOf(run: Run) {
  const { rc, p, standing: s } = run;
  const properties = {
    format: 'hm4sr-run/1',
    epoch: s.epoch,
    seed: rc.optim.seed,
    best: s.best,
    bestEpoch: s.bestEpoch,
    bad: s.bad,
    fingerprint: p.fingerprint,
    sampler: JSON.stringify(run.sampler.state()),
    config: JSON.stringify(p.model),
  };
  return checkpointFromState(run.specs, run.state, { lr: rc.optim.lr, properties });
}

/** Finish: the best weights' valid and test metrics, ranks, model.onnx and the training curve. */
async function finish(run: Run, t0: number): Promise<TrainSummary> {
  const {
    rc,
    p,
    opts,
    files,
    standing: { epoch, bestEpoch, bad },
  } = run;
  if (bad >= rc.optim.patience) opts.log(`early stop: no ${rc.eval.validMetric} improvement for ${bad} epochs`);
  const bestValues = checkpointValues(readCheckpoint(files.best));
  const valid = await run.evaluator.evaluate(p.ds, p.samples.valid, bestValues, run.pack);
  const test = await run.evaluator.evaluate(p.ds, p.samples.test, bestValues, run.pack);
  const wallSeconds = (performance.now() - t0) / 1000;
  const summary: TrainSummary = {
    bestEpoch,
    epochsRun: epoch,
    valid: valid.metrics,
    test: test.metrics,
    wallSeconds,
    exampleUser: p.ds.userTokens[0],
  };
  const metrics = {
    ...summary,
    exampleUser: undefined,
    testEvalSeconds: test.seconds,
    users: test.users,
    preset: rc.preset,
    ablations: rc.ablations,
    data: `${recordedRunConfig(rc).data.dir}/${rc.data.name}`,
  };
  writeFileAtomic(files.metrics, JSON.stringify(metrics, null, 2) + '\n');
  writeRanks(files.ranks, { fingerprint: p.fingerprint, bestEpoch, valid: valid.ranks, test: test.ranks });
  await exportInference(p.model, bestValues, p, rc, files.model);
  await writeCurve(files.log, files.curve, rc.eval.validMetric, curveTitle(rc, opts.out));
  const shown = Object.entries(test.metrics).filter(([k]) => /@(10|20)$/.test(k));
  opts.log(`best epoch ${bestEpoch} of ${epoch}: test ${shown.map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  return summary;
}
