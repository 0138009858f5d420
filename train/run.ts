// A run directory: the files a training run writes, the per-epoch log line, and loading a run back with
// its config, data and weights checked against each other.
import { InputError, readJsonFile } from '../graph/input-file.js';
import { existsSync, rmSync, statSync } from 'node:fs';
import { lockDirectory } from '../runtime/output-lock.js';
import { join } from 'node:path';
import {
  type CheckpointData,
  checkCheckpointMatches,
  checkpointValues,
  readCheckpoint,
} from '../graph/artifacts/checkpoint.js';
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { probeParams } from '../graph/train-step.js';
import { DEFAULT_CONFIG, type RunConfig } from './config.js';
import { type Prepared, prepare } from './prepare.js';
import type { SessionOptions } from '../runtime/session.js';
import { type EvalResult, Evaluator } from './evaluate.js';
import { packOptions } from './pack.js';
import { recordedDataDir, recordedDataDirPath } from './data/builtin.js';

export const runFiles = (out: string) => ({
  config: join(out, 'config.json'),
  last: join(out, 'last.ckpt'),
  best: join(out, 'best.ckpt'),
  log: join(out, 'log.jsonl'),
  metrics: join(out, 'metrics.json'),
  ranks: join(out, 'ranks.json'),
  model: join(out, 'model.onnx'),
  curve: join(out, 'curve.png'),
});

type RunFiles = ReturnType<typeof runFiles>;

/**
 * Runs a command that writes run directory OUT (train; tune's trials when it lands) holding OUT's lock: a second
 * writer is refused naming this one, and a lock left by a process that has gone is taken over with a
 * warning. A new run whose first epoch never finished leaves nothing behind: its directory (when this
 * call created it) is removed on failure, so a failed command does not look like a run.
 */
export async function inRunDirectory<T>(
  out: string,
  command: string,
  log: (m: string) => void,
  fn: (files: RunFiles) => Promise<T>,
): Promise<T> {
  const files = runFiles(out);
  if (existsSync(out) && !statSync(out).isDirectory()) {
    throw new InputError(out, 'is a file; --out takes a run directory');
  }
  const created = !existsSync(out);
  // Taken before the try: a refused second writer must not clean up the directory the first one writes.
  const lock = lockDirectory(out, command, (m) => log(`warning: ${m}`));
  try {
    return await fn(files);
  } catch (e) {
    if (created && !existsSync(files.last)) rmSync(out, { recursive: true, force: true });
    throw e;
  } finally {
    lock.release();
  }
}

/** config.json: the run's settings, the model config they gave on its data, and the data's fingerprint. */
export interface SavedConfig {
  run: RunConfig;
  model: Hm4srConfig;
  fingerprint: string;
}

/** One line of log.jsonl. */
export interface EpochLog {
  epoch: number;
  train: Record<string, number>;
  valid: Record<string, number>;
  samples: number;
  tokens: number;
  paddedTokens: number;
  trainSeconds: number;
  samplesPerSecond: number;
  evalSeconds: number;
  best: boolean;
}

export interface LoadedRun {
  run: string;
  rc: RunConfig;
  p: Prepared;
  values: Map<string, Float32Array>;
  ck: CheckpointData;
  checkpoint: string;
}

/** Runs written before the eval section kept the selection metric and eval batch size in optim. */
function withEvalSection(rc: RunConfig): RunConfig {
  if (rc.eval) return rc;
  const old = rc.optim as Partial<Record<'metric' | 'evalBatchSize', unknown>>;
  return {
    ...rc,
    eval: {
      ...DEFAULT_CONFIG.eval,
      validMetric: String(old.metric ?? DEFAULT_CONFIG.eval.validMetric),
      batchSize: Number(old.evalBatchSize ?? DEFAULT_CONFIG.eval.batchSize),
    },
  };
}

/** The settings as config.json and metrics.json record them: the dataset by recordedDataDir. */
export const recordedRunConfig = (rc: RunConfig): RunConfig => ({
  ...rc,
  data: { ...rc.data, dir: recordedDataDir(rc.data.dir) },
});

/** A run directory's config.json, checked to be one, with its dataset as a directory of this machine. */
export function readSavedConfig(run: string): SavedConfig {
  const f = runFiles(run).config;
  if (!existsSync(f)) throw new Error(`${run}: not a run directory (no config.json)`);
  const saved = readJsonFile(f, 'a run config') as SavedConfig;
  if (typeof saved?.run?.data?.dir !== 'string' || typeof saved.fingerprint !== 'string')
    throw new InputError(f, 'not an hm4sr run config (no run.data.dir or fingerprint)');
  saved.run.data.dir = recordedDataDirPath(saved.run.data.dir, () => {});
  return saved;
}

/** A finished (or running) run: its config, data and a checkpoint's weights, checked against each other. */
export function loadRun(run: string, which: 'best' | 'last' = 'best', warn: (m: string) => void = () => {}): LoadedRun {
  const f = runFiles(run);
  const saved = readSavedConfig(run);
  saved.run = withEvalSection(saved.run);
  const p = prepare(saved.run, warn);
  if (p.fingerprint !== saved.fingerprint)
    throw new Error(
      `${run}: the dataset at ${saved.run.data.dir} changed since training (fingerprint ${p.fingerprint}, run ${saved.fingerprint})`,
    );
  const path = which === 'best' ? f.best : f.last;
  if (!existsSync(path)) throw new Error(`${run}: no ${which} checkpoint yet (${path})`);
  const ck = readCheckpoint(path);
  checkCheckpointMatches(ck, probeParams(hm4srModel(p.model)), path);
  return { run, rc: saved.run, p, values: checkpointValues(ck), ck, checkpoint: path };
}

/** Full-catalog evaluation of a loaded run's weights on one split (session options over the run's threads). */
export async function evaluateRun(
  r: LoadedRun,
  split: 'valid' | 'test',
  session: SessionOptions = {},
): Promise<EvalResult> {
  const ev = await Evaluator.create(r.p.model, r.rc.eval, { threads: r.rc.optim.threads || undefined, ...session });
  return ev.evaluate(r.p.ds, r.p.samples[split], r.values, packOptions(r.rc, r.p));
}

/** The dataset a run was trained on, from its config.json (without loading it). */
export function runDataset(run: string): { dir: string; name: string } {
  const { run: rc } = readSavedConfig(run);
  return { dir: rc.data.dir, name: rc.data.name };
}
