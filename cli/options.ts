import type { Argv } from 'yargs';
import type { ExecutionProvider, SessionOptions } from '../runtime/session.js';
import {
  type DeepPartial,
  type OptimConfig,
  type RunConfig,
  DEFAULT_CONFIG,
  checkResume,
  cudaDefaults,
  mergeConfig,
  readConfigFile,
} from '../train/config.js';
import { type BuiltInDataset, resolveDataset } from '../train/data/builtin.js';
import { checkFlags, flagOptions, flagOverrides } from '../train/setting-flags.js';
import type { FlagScope } from '../train/settings.js';

export const log = (m: string) => process.stderr.write(`${m}\n`);
export const warn = (m: string) => log(`warning: ${m}`);

/** Options shared by every command that builds a model for a dataset (the settings' flags of scope 'build'). */
export function modelOptions<T>(y: Argv<T>) {
  return settingOptions(
    y
      .option('data', {
        type: 'string',
        describe:
          'a built-in dataset (synth, amazon-beauty: see `hm4sr data list`) or a directory of RecBole atomic files; default: synth',
      })
      .option('name', {
        type: 'string',
        describe: "dataset name (NAME.inter); default: the directory's only .inter file",
      })
      .option('config', { type: 'string', describe: 'JSON config file {preset, ablations, data, model, optim, eval}' }),
    'build',
  );
}

/** The flags of the settings of a scope or at the given paths (train/settings.ts), checked as they are parsed. */
export function settingOptions<T>(y: Argv<T>, which: FlagScope | readonly string[]): Argv<T> {
  return y.options(flagOptions(which)).check((a) => checkFlags(a, which)) as unknown as Argv<T>;
}

/** --ep and --allow-cpu-nodes, shared by every command that runs a model (train, evaluate, recommend, export, ...). */
export function deviceOptions<T>(y: Argv<T>) {
  return y
    .option('ep', {
      choices: ['cpu', 'cuda'] as const,
      default: 'cpu' as const,
      describe: 'onnxruntime execution provider (cuda: see hm4sr setup-cuda)',
    })
    .option('allow-cpu-nodes', {
      type: 'boolean',
      default: false,
      describe: 'on CUDA, run nodes the CUDA EP cannot take on the CPU (listed) instead of failing',
    });
}

export interface DeviceArgs {
  ep: ExecutionProvider;
  'allow-cpu-nodes': boolean;
}

/** Session options for a command's --ep flags: strict on CUDA unless --allow-cpu-nodes. */
export const sessionFrom = (a: DeviceArgs, threads?: number): SessionOptions => ({
  ep: a.ep,
  threads,
  strictDevice: !a['allow-cpu-nodes'],
  log,
});

/** The training settings' flags (SETTINGS, scope 'train'). */
export const trainOptions = <T>(y: Argv<T>) => settingOptions(y, 'train');

/** A command's arguments: --data, --name and --config, and the settings' flags (by flag name). */
export type ModelArgs = { data?: string; name?: string; config?: string } & Record<string, unknown>;

/** Defaults <- device defaults (CUDA) <- config file <- built-in data's training settings <- flags. */
export function runConfigFrom(a: ModelArgs, training = false, ep: ExecutionProvider = 'cpu'): RunConfig {
  const file = a.config ? readConfigFile(a.config) : {};
  const rc = mergeConfig(ep === 'cuda' ? mergeConfig(DEFAULT_CONFIG, cudaDefaults()) : DEFAULT_CONFIG, file);
  const ds =
    a.data || !file.data?.dir
      ? resolveDataset(a.data, a.name, log)
      : resolveDataset(file.data.dir, file.data.name ?? a.name, log);
  const flags = flagOverrides(a);
  const quick = training ? builtInOptim(ds.builtIn, [file, flags], ep) : {};
  return mergeConfig(mergeConfig(rc, { data: { dir: ds.dir, name: ds.name }, optim: quick }), flags);
}

/** A built-in dataset's training settings that neither the config file nor a flag sets (batch size: on the CPU). */
function builtInOptim(
  b: BuiltInDataset | undefined,
  given: DeepPartial<RunConfig>[],
  ep: ExecutionProvider,
): Partial<OptimConfig> {
  const unset = (k: 'epochs' | 'batchSize') =>
    b?.optim?.[k] !== undefined && given.every((g) => g.optim?.[k] === undefined);
  const out: Partial<OptimConfig> = {};
  if (unset('epochs')) {
    log(`built-in ${b!.id} data: at most ${b!.optim!.epochs} epochs (pass --epochs to change)`);
    out.epochs = b!.optim!.epochs;
  }
  if (unset('batchSize') && ep === 'cpu') out.batchSize = b!.optim!.batchSize;
  return out;
}

/**
 * `train --resume`: the run's own settings (its config.json), with a --config file and the flags given laid
 * over them, so `train --out RUN --resume` alone continues the run as it was started. A flag or file that
 * would change what the run computes is an error naming each setting (train/config.ts, checkResume).
 */
export function resumeConfigFrom(a: ModelArgs, saved: RunConfig, configFile: string): RunConfig {
  const base = mergeConfig(DEFAULT_CONFIG, saved as DeepPartial<RunConfig>);
  const file = a.config ? readConfigFile(a.config) : {};
  const ds = a.data ? resolveDataset(a.data, a.name, log) : null;
  const rc = mergeConfig(
    mergeConfig(mergeConfig(base, file), ds ? { data: { dir: ds.dir, name: ds.name } } : {}),
    flagOverrides(a),
  );
  checkResume(base, rc, configFile);
  return rc;
}
