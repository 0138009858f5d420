import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { InputError, readInputText } from '../graph/input-file.js';
import { writeRanks } from './ranks.js';
import { writeFileAtomic } from '../graph/atomic.js';
import { initialValues } from '../graph/init.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { type ExecutionProvider, checkExecutionProvider } from '../runtime/session.js';
import { checkCheckpointMatches, checkpointFromState, checkpointValues, readCheckpoint, stateFromCheckpoint, writeCheckpoint } from '../graph/artifacts/checkpoint.js';
import { type RunConfig, adamConfig } from './config.js';
import { EpochSampler, type EpochSamplerState, Rng } from './data/shuffle.js';
import { Evaluator } from './evaluate.js';
import { type MetricName, metricNames } from './metrics.js';
import { prepare } from './prepare.js';
import { progressBar } from './progress.js';
import { exportInference } from './export.js';
import { type OptimizerState, StepRunner, freshState } from './step-runner.js';
import { packBatch, packOptions, stackBatches } from './pack.js';
import { writeCurve } from './plot.js';
import { type EpochLog, type SavedConfig, inRunDirectory, type runFiles } from './run.js';

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

async function trainIn(rc: RunConfig, opts: TrainOptions, files: ReturnType<typeof runFiles>): Promise<TrainSummary> {
  const t0 = performance.now();
  await checkExecutionProvider(opts.ep);
  const evaluated = metricNames(rc.eval.metrics, rc.eval.topk);
  if (!evaluated.includes(rc.eval.validMetric as MetricName)) throw new Error(`eval.validMetric "${rc.eval.validMetric}" is not one of the evaluated metrics (${evaluated.join(', ')})`);
  if (!opts.resume && existsSync(files.last)) throw new Error(`${opts.out} already holds a run (${files.last}); pass --resume to continue it or choose another --out`);
  if (opts.resume && !existsSync(files.last)) throw new Error(`--resume: no checkpoint at ${files.last}`);
  // Everything that can reject the input runs before the run directory is made.
  const p = prepare(rc, (m) => opts.log(`warning: ${m}`));
  const mc = p.model;
  const model = hm4srModel(mc);
  const specs = probeParams(model);
  const adam = adamConfig(rc);
  const fresh = opts.resume ? null : initialValues(specs, p.frozen, rc.optim.seed);
  mkdirSync(opts.out, { recursive: true });
  const saved: SavedConfig = { run: rc, model: mc, fingerprint: p.fingerprint };
  writeFileAtomic(files.config, JSON.stringify(saved, null, 2) + '\n');
  opts.log(`data: ${p.ds.numUsers} users, ${p.ds.numItems} items, ${p.ds.numInteractions} interactions; samples train ${p.samples.train.size} / valid ${p.samples.valid.size} / test ${p.samples.test.size}`);
  opts.log(`model: ${rc.preset}${rc.ablations.length ? ` ${rc.ablations.join(' ')}` : ''}, modalities ${mc.modalities.join('+')}, ${specs.filter((s) => s.trainable).reduce((a, s) => a + s.dims.reduce((x, y) => x * y, 1), 0).toLocaleString('en')} trainable parameters`);

  let state: OptimizerState;
  let epoch = 0, best = -Infinity, bestEpoch = 0, bad = 0;
  let sampler: EpochSampler;
  const lengths = rc.optim.lengthBucketing ? p.samples.train.length : null;
  if (opts.resume) {
    const ck = readCheckpoint(files.last);
    checkCheckpointMatches(ck, specs, files.last);
    if (ck.properties.fingerprint !== p.fingerprint) throw new Error(`${files.last} was written for another dataset (fingerprint ${ck.properties.fingerprint}, data ${p.fingerprint})`);
    state = stateFromCheckpoint(ck, files.last);
    epoch = Number(ck.properties.epoch);
    best = Number(ck.properties.best);
    bestEpoch = Number(ck.properties.bestEpoch);
    bad = Number(ck.properties.bad);
    sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, JSON.parse(String(ck.properties.sampler)) as EpochSamplerState, lengths);
    // Epochs after the checkpoint were lost with the crash; their log lines go too.
    if (existsSync(files.log)) {
      const kept = readInputText(files.log).split('\n').filter((l, i) => l && epochOfLine(files.log, i + 1, l) <= epoch);
      writeFileAtomic(files.log, kept.map((l) => l + '\n').join(''));
    }
    opts.log(`resuming after epoch ${epoch} (best ${rc.eval.validMetric} ${best.toFixed(4)} at epoch ${bestEpoch})`);
  } else {
    state = freshState(specs, fresh!);
    sampler = new EpochSampler(p.samples.train.size, rc.optim.batchSize, rc.optim.seed, lengths);
    writeFileAtomic(files.log, '');
  }

  const session = { ep: opts.ep, threads: rc.optim.threads || undefined, strictDevice: !opts.allowCpuNodes, log: opts.log };
  const evaluator = await Evaluator.create(mc, rc.eval, session);
  const pack = packOptions(rc, p);
  const props = (): Record<string, number | string> => ({
    format: 'hm4sr-run/1', epoch, seed: rc.optim.seed, best, bestEpoch, bad, fingerprint: p.fingerprint,
    sampler: JSON.stringify(sampler.state()), config: JSON.stringify(mc),
  });

  if (opts.ep !== 'cpu') opts.log(`${opts.ep}: ${rc.optim.stepsPerRun} steps per run (Loop graph), evaluation batches of ${rc.eval.batchSize}`);
  const K = rc.optim.stepsPerRun;
  // One session per graph for the whole run: dropout reads host draws (random.draws) from each epoch's own
  // generator, so the graphs hold no random state and a resumed run replays the same masks.
  const runner = await StepRunner.create(buildTrainStep(model, { adam, seed: 0, fedDraws: true }), state, session);
  const loopRunner = K > 1 ? await StepRunner.create(buildTrainLoop(model, { adam, seed: 0, fedDraws: true }), state, session) : null;
  while (epoch < rc.optim.epochs && bad < rc.optim.patience) {
    epoch += 1;
    const seed = epochSeed(rc.optim.seed, epoch);
    const batches = sampler.nextEpoch();
    const pclRng = new Rng(seed >>> 0);
    const dropRng = Rng.keyed(seed >>> 0, 'dropout');
    const sums: Record<string, number> = {};
    let samples = 0, tokens = 0, padded = 0;
    const bar = progressBar(`epoch ${epoch}`, batches.length, opts.progress);
    const te = performance.now();
    const encode = (idx: Int32Array) => packBatch(p.ds, p.samples.train, idx, mc, { ...pack, withTarget: true, rng: pclRng });
    // K same-size batches share one Loop run; the rest (an epoch's tail) take single steps.
    const groups: { batches: Int32Array[]; looped: boolean }[] = [];
    for (let i = 0; i < batches.length;) {
      const group = batches.slice(i, i + K);
      const looped = loopRunner !== null && group.length === K && group.every((b) => b.length === group[0].length);
      groups.push({ batches: looped ? group : [batches[i]], looped });
      i += looped ? K : 1;
    }
    const packGroup = ({ batches: idx, looped }: (typeof groups)[number]) => {
      const enc = idx.map(encode);
      const b = looped ? stackBatches(enc) : enc[0];
      const by = looped ? loopRunner! : runner;
      return { enc, looped, b, by, feeds: by.withDraws(b.feeds, dropRng) };
    };
    let next = groups.length > 0 ? packGroup(groups[0]) : null;
    for (let j = 0, i = 0; j < groups.length; j++) {
      const { enc, looped, b, by, feeds } = next!;
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
      enc.forEach((e, k) => {
        for (const [name, v] of Object.entries(out)) sums[name] = (sums[name] ?? 0) + v[k] * e.size;
        samples += e.size;
        tokens += e.tokens;
        padded += looped ? b.rows * b.width : e.rows * e.width;
      });
      i += enc.length;
      bar.update(i, { loss: sums.loss / samples, 'samples/s': samples / ((performance.now() - te) / 1000) });
    }
    bar.stop();
    // Checked before any checkpoint is written, so last.ckpt keeps the last finite weights.
    const badTerm = Object.entries(sums).find(([, v]) => !Number.isFinite(v));
    if (badTerm) throw new Error(`training diverged in epoch ${epoch}: ${badTerm[0]} is ${badTerm[1]} (lower --lr, or check the feature tables for extreme values)`);
    const trainSeconds = (performance.now() - te) / 1000;
    const evBar = progressBar(`valid ${epoch}`, p.samples.valid.size, opts.progress);
    const tv = performance.now();
    const ev = await evaluator.evaluate(p.ds, p.samples.valid, state.params, pack, (n) => evBar.update(n, { 'users/s': n / ((performance.now() - tv) / 1000) }));
    evBar.stop();
    const score = ev.metrics[rc.eval.validMetric as MetricName];
    const improved = score > best;
    if (improved) {
      best = score;
      bestEpoch = epoch;
      bad = 0;
      writeCheckpoint(files.best, checkpointFromState(specs, state, { lr: rc.optim.lr, properties: props() }));
    } else bad += 1;
    const line: EpochLog = {
      epoch,
      train: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / samples])),
      valid: ev.metrics,
      samples, tokens, paddedTokens: padded,
      trainSeconds, samplesPerSecond: samples / trainSeconds, evalSeconds: ev.seconds, best: improved,
    };
    appendFileSync(files.log, JSON.stringify(line) + '\n');
    writeCheckpoint(files.last, checkpointFromState(specs, state, { lr: rc.optim.lr, properties: props() }));
    opts.log(`epoch ${epoch}: loss ${line.train.loss.toFixed(4)} | valid ${rc.eval.validMetric} ${score.toFixed(4)}${improved ? ' *' : ''} | ${trainSeconds.toFixed(1)} s train (${line.samplesPerSecond.toFixed(0)} samples/s), ${ev.seconds.toFixed(1)} s eval`);
  }
  if (bad >= rc.optim.patience) opts.log(`early stop: no ${rc.eval.validMetric} improvement for ${bad} epochs`);

  const bestValues = checkpointValues(readCheckpoint(files.best));
  const valid = await evaluator.evaluate(p.ds, p.samples.valid, bestValues, pack);
  const test = await evaluator.evaluate(p.ds, p.samples.test, bestValues, pack);
  const wallSeconds = (performance.now() - t0) / 1000;
  const summary: TrainSummary = { bestEpoch, epochsRun: epoch, valid: valid.metrics, test: test.metrics, wallSeconds, exampleUser: p.ds.userTokens[0] };
  writeFileAtomic(files.metrics, JSON.stringify({ ...summary, exampleUser: undefined, testEvalSeconds: test.seconds, users: test.users, preset: rc.preset, ablations: rc.ablations, data: `${rc.data.dir}/${rc.data.name}` }, null, 2) + '\n');
  writeRanks(files.ranks, { fingerprint: p.fingerprint, bestEpoch, valid: valid.ranks, test: test.ranks });
  exportInference(mc, bestValues, p, rc, files.model);
  await writeCurve(files.log, files.curve, rc.eval.validMetric, curveTitle(rc, opts.out));
  opts.log(`best epoch ${bestEpoch} of ${epoch}: test ${Object.entries(test.metrics).filter(([k]) => /@(10|20)$/.test(k)).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  return summary;
}

