import type { Argv } from 'yargs';
import type { ExecutionProvider, SessionOptions } from '../runtime/session.js';
import { type DeepPartial, type RunConfig, CUDA_DEFAULTS, DEFAULT_CONFIG, mergeConfig, readConfigFile } from '../train/config.js';
import type { Layout } from '../train/batch-layout.js';
import { resolveDataset } from '../train/data/builtin.js';

export const log = (m: string) => process.stderr.write(`${m}\n`);
export const warn = (m: string) => log(`warning: ${m}`);

/** Options shared by every command that builds a model for a dataset. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('data', { type: 'string', describe: 'a built-in dataset (synth, amazon-beauty: see `hm4sr data list`) or a directory of RecBole atomic files; default: synth' })
    .option('name', { type: 'string', describe: 'dataset name (NAME.inter); default: the directory\'s only .inter file' })
    .option('config', { type: 'string', describe: 'JSON config file {preset, ablations, data, model, optim}' })
    .option('preset', { choices: ['hm4sr', 'sasrec'] as const, describe: 'model preset (default hm4sr)' })
    .option('ablate', { type: 'array', string: true, describe: 'ablations (the paper\'s -IMoE ... written without the dash): IMoE TMoE CP IDCL PCL Text Image' })
    .option('category-column', { type: 'string', describe: 'NAME.item column with category labels (default: auto)' })
    .option('missing-modality', { choices: ['zeros', 'drop'] as const, describe: 'absent feature table: zero features or drop the modality' })
    .option('seed', { type: 'number', describe: 'random seed (default 2025)' });
}

/** --ep and --allow-cpu-nodes, shared by every command that runs a model (train, evaluate, recommend, export, ...). */
export function deviceOptions<T>(y: Argv<T>) {
  return y
    .option('ep', { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const, describe: 'onnxruntime execution provider (cuda: see hm4sr setup-cuda)' })
    .option('allow-cpu-nodes', { type: 'boolean', default: false, describe: 'on CUDA, run nodes the CUDA EP cannot take on the CPU (listed) instead of failing' });
}

export interface DeviceArgs { ep: ExecutionProvider; 'allow-cpu-nodes': boolean }

/** Session options for a command's --ep flags: strict on CUDA unless --allow-cpu-nodes. */
export const sessionFrom = (a: DeviceArgs, threads?: number): SessionOptions => ({ ep: a.ep, threads, strictDevice: !a['allow-cpu-nodes'], log });

export function trainOptions<T>(y: Argv<T>) {
  return y
    .option('epochs', { type: 'number', describe: 'maximum epochs (default 200, early stopping after --patience)' })
    .option('patience', { type: 'number', describe: 'epochs without validation improvement (default 10)' })
    .option('batch-size', { type: 'number', describe: 'training batch size (default 1024)' })
    .option('lr', { type: 'number', describe: 'Adam learning rate (default 1e-3)' })
    .option('layout', { choices: ['packed', 'padded'] as const, describe: 'batch layout: pack histories into rows (default) or one per row' })
    .option('length-bucketing', { type: 'boolean', describe: 'batch similar lengths together (default off: random batches)' })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' })
    .option('steps-per-run', { type: 'number', describe: `training steps per onnxruntime run through the K-step Loop graph (default 1 on the CPU, ${CUDA_DEFAULTS.stepsPerRun} on CUDA)` });
}

export interface ModelArgs {
  data?: string; name?: string; config?: string; preset?: 'hm4sr' | 'sasrec'; ablate?: string[]; 'category-column'?: string;
  'missing-modality'?: 'zeros' | 'drop'; seed?: number;
  epochs?: number; patience?: number; 'batch-size'?: number; lr?: number; layout?: Layout; 'length-bucketing'?: boolean; threads?: number; 'steps-per-run'?: number;
}

/** Defaults <- device defaults (CUDA) <- config file <- flags. */
export function runConfigFrom(a: ModelArgs, training = false, ep: ExecutionProvider = 'cpu'): RunConfig {
  const file = a.config ? readConfigFile(a.config) : {};
  const rc = mergeConfig(ep === 'cuda' ? mergeConfig(DEFAULT_CONFIG, { optim: { stepsPerRun: CUDA_DEFAULTS.stepsPerRun }, eval: { batchSize: CUDA_DEFAULTS.evalBatchSize } }) : DEFAULT_CONFIG, file);
  const ds = a.data || !file.data?.dir ? resolveDataset(a.data, a.name, log) : resolveDataset(file.data.dir, file.data.name ?? a.name, log);
  const quick = ds.builtIn?.optim;
  if (training && quick?.epochs !== undefined && a.epochs === undefined && file.optim?.epochs === undefined) {
    log(`built-in ${ds.builtIn!.id} data: at most ${quick.epochs} epochs (pass --epochs to change)`);
    a = { ...a, epochs: quick.epochs };
  }
  if (training && ep === 'cpu' && quick?.batchSize !== undefined && a['batch-size'] === undefined && file.optim?.batchSize === undefined) a = { ...a, 'batch-size': quick.batchSize };
  return mergeConfig(rc, flagOverrides(a, ds));
}

/** The settings given as flags (undefined ones left out), over the dataset they resolved to. */
function flagOverrides(a: ModelArgs, ds: { dir: string; name: string } | null): DeepPartial<RunConfig> {
  const def = <V>(v: V | undefined) => (v === undefined ? {} : v);
  return {
    ...(a.preset ? { preset: a.preset } : {}),
    ...(a.ablate ? { ablations: a.ablate } : {}),
    data: {
      ...(ds ? { dir: ds.dir, name: ds.name } : {}),
      ...def(a['category-column'] && { categoryColumn: a['category-column'] }),
      ...def(a['missing-modality'] && { missingModality: a['missing-modality'] }),
    },
    optim: Object.fromEntries(Object.entries({
      seed: a.seed, epochs: a.epochs, patience: a.patience, batchSize: a['batch-size'], lr: a.lr, layout: a.layout,
      lengthBucketing: a['length-bucketing'], threads: a.threads, stepsPerRun: a['steps-per-run'],
    }).filter(([, v]) => v !== undefined)),
  };
}

/** What a resumed run may change: how long it goes on, where its data lies and how it runs, never what it computes. */
const RESUMABLE = ['optim.epochs', 'optim.threads', 'eval.batchSize', 'data.dir', 'data.name'];

const leaves = (x: unknown, at = ''): [string, string][] =>
  x !== null && typeof x === 'object' && !Array.isArray(x)
    ? Object.entries(x).flatMap(([k, v]) => leaves(v, at ? `${at}.${k}` : k))
    : [[at, JSON.stringify(x)]];

/**
 * `train --resume`: the run's own settings (its config.json), with a --config file and the flags given laid
 * over them, so `train --out RUN --resume` alone continues the run as it was started. A flag or file that
 * would change what the run computes is an error naming each setting, never a silently different run.
 */
export function resumeConfigFrom(a: ModelArgs, saved: RunConfig, configFile: string): RunConfig {
  const base = mergeConfig(DEFAULT_CONFIG, saved as DeepPartial<RunConfig>);
  const file = a.config ? readConfigFile(a.config) : {};
  const ds = a.data ? resolveDataset(a.data, a.name, log) : null;
  const rc = mergeConfig(mergeConfig(base, file), flagOverrides(a, ds));
  const was = new Map(leaves(base));
  const changed = leaves(rc).filter(([k, v]) => was.get(k) !== v && !RESUMABLE.includes(k));
  if (changed.length) {
    throw new Error(`--resume: ${configFile} holds the settings the run was started with, and these would change them: ${changed.map(([k, v]) => `${k} ${v} (the run's: ${was.get(k) ?? 'unset'})`).join(', ')}. A resumed run keeps its settings; only ${RESUMABLE.join(', ')} may change. Leave those options out (or start a new run).`);
  }
  return rc;
}
