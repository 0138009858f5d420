// The datasets that come with hm4sr, named on the command line instead of a directory:
// `synth` (generated offline into the user's cache, the default) and `amazon-beauty` (the paper's
// Beauty set, shipped gzip-compressed in the repository's data/ folder).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, describeSystemError } from '../../graph/input-file.js';
import { generateSynthetic } from './synth.js';

/** The built-in synthetic dataset: generated once, deterministically, into the user's cache. */
export const SYNTH_DEFAULT = { name: 'synth', users: 1000, items: 500, seed: 2025, textDim: 64 };
/**
 * Training settings of the synthetic data where neither a flag nor the config sets them: they keep
 * `npm start` (install, build, train, test) under 3 minutes on two cores. Batches of 512 give twice the
 * updates of the general default's 1024 per epoch, at about 1.4 times its cost (256 cost twice as much).
 */
export const SYNTH_OPTIM = { epochs: 5, batchSize: 512 } as const;

export interface BuiltInDataset {
  id: string;
  about: string;
  /** Training settings applied where neither a flag nor the config sets them. */
  optim?: { epochs?: number; batchSize?: number };
  locate: (log: (m: string) => void) => { dir: string; name: string };
}

export function cacheDir(): string {
  return process.env.HM4SR_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hm4sr');
}

/** The repository's data/ folder (this file runs from dist/train/data/). */
export const REPO_DATA = fileURLToPath(new URL('../../../data/', import.meta.url));

const synthDir = () => join(cacheDir(), `synth-v2-${SYNTH_DEFAULT.users}x${SYNTH_DEFAULT.items}-${SYNTH_DEFAULT.seed}`);
const BEAUTY_DIR = join(REPO_DATA, 'amazon-beauty');

export function defaultDataset(log: (m: string) => void): { dir: string; name: string } {
  const dir = synthDir();
  if (!existsSync(join(dir, `${SYNTH_DEFAULT.name}.inter`))) {
    log(`generating the built-in synthetic dataset in ${dir}`);
    generateSynthetic({ dir, ...SYNTH_DEFAULT });
  }
  return { dir, name: SYNTH_DEFAULT.name };
}

export const BUILT_IN: readonly BuiltInDataset[] = [
  {
    id: 'synth',
    about: `synthetic (offline default): ${SYNTH_DEFAULT.users} users, ${SYNTH_DEFAULT.items} items, interest drift, informative intervals, text and image features`,
    optim: SYNTH_OPTIM,
    locate: defaultDataset,
  },
  {
    id: 'amazon-beauty',
    about: "Amazon Beauty 5-core (Amazon Reviews 2014), the HM4SR paper's dataset; attribute labels, no features",
    locate: () => ({ dir: BEAUTY_DIR, name: 'Beauty' }),
  },
];

export const builtInDataset = (id: string): BuiltInDataset | undefined => BUILT_IN.find((b) => b.id === id);

/**
 * --data (a built-in name or a directory) [--name NAME] -> directory and dataset name; the name defaults
 * to the directory's only NAME.inter (or NAME.inter.gz). A built-in name that is also a directory here is
 * an error rather than a guess: `./amazon-beauty` names the directory.
 */
export function resolveDataset(
  data: string | undefined,
  name: string | undefined,
  log: (m: string) => void,
): { dir: string; name: string; builtIn?: BuiltInDataset } {
  const b = builtInDataset(data ?? 'synth');
  if (b) {
    if (data !== undefined && existsSync(data))
      throw new Error(
        `--data ${data} is both a built-in dataset and a path here: write ./${data} for the directory, or run elsewhere for the built-in set`,
      );
    if (name !== undefined) throw new Error(`--name does not apply to the built-in dataset ${b.id}`);
    return { ...b.locate(log), builtIn: b };
  }
  const dir = resolve(data!);
  if (!existsSync(dir))
    throw new InputError(data!, `no such directory (built-in datasets: ${BUILT_IN.map((x) => x.id).join(', ')})`);
  if (!statSync(dir).isDirectory())
    throw new InputError(data!, 'is a file; --data takes a dataset directory holding NAME.inter');
  if (name) return { dir, name };
  const inters = readdirNames(dir).filter((f) => /\.inter(\.gz)?$/.test(f));
  const names = [...new Set(inters.map((f) => f.replace(/\.inter(\.gz)?$/, '')))];
  if (names.length !== 1)
    throw new InputError(
      data!,
      `${names.length === 0 ? 'no .inter file' : `several datasets (${names.join(', ')})`}; pass --name`,
    );
  return { dir, name: names[0] };
}

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw new InputError(dir, `cannot list the directory: ${describeSystemError(e) ?? (e as Error).message}`);
  }
}

const REPO_ROOT = resolve(REPO_DATA, '..');

/**
 * A dataset directory as a run's config.json records it: a built-in set by its name, a directory inside the
 * repository by its path from the repository root (`./` before one that reads like a built-in name), so a
 * committed run names no path of the machine it ran on. Other directories keep their absolute path.
 */
export function recordedDataDir(dir: string): string {
  const abs = resolve(dir);
  const builtIn = Object.entries({ synth: synthDir(), 'amazon-beauty': BEAUTY_DIR }).find(
    ([, d]) => resolve(d) === abs,
  );
  if (builtIn) return builtIn[0];
  const rel = relative(REPO_ROOT, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return abs;
  const posix = rel.split(sep).join('/');
  return builtInDataset(posix) ? `./${posix}` : posix;
}

/** The directory a recorded dataset names (recordedDataDir's inverse); an absolute path is itself. */
export function recordedDataDirPath(recorded: string, log: (m: string) => void): string {
  const b = builtInDataset(recorded);
  if (b) return b.locate(log).dir;
  return isAbsolute(recorded) ? recorded : resolve(REPO_ROOT, recorded);
}
