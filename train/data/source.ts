import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { generateSynthetic } from './synth.js';

/** The built-in default dataset: generated once, deterministically, into the user's cache. */
export const SYNTH_DEFAULT = { name: 'synth', users: 1000, items: 500, seed: 2025, textDim: 64 };
/** Epoch cap when training on the built-in data without --epochs: keeps `npm start` to a few minutes. */
export const SYNTH_EPOCHS = 20;

export function cacheDir(): string {
  return process.env.HM4SR_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hm4sr');
}

export function defaultDataset(log: (m: string) => void): { dir: string; name: string } {
  const dir = join(cacheDir(), `synth-v2-${SYNTH_DEFAULT.users}x${SYNTH_DEFAULT.items}-${SYNTH_DEFAULT.seed}`);
  if (!existsSync(join(dir, `${SYNTH_DEFAULT.name}.inter`))) {
    log(`generating the built-in synthetic dataset in ${dir}`);
    generateSynthetic({ dir, ...SYNTH_DEFAULT });
  }
  return { dir, name: SYNTH_DEFAULT.name };
}

/** --data DIR [--name NAME]: the name defaults to the directory's only NAME.inter. */
export function resolveDataset(data: string | undefined, name: string | undefined, log: (m: string) => void): { dir: string; name: string } {
  if (!data) return defaultDataset(log);
  const dir = resolve(data);
  if (!existsSync(dir)) throw new Error(`--data ${data}: no such directory`);
  if (name) return { dir, name };
  const inters = readdirSync(dir).filter((f) => f.endsWith('.inter'));
  if (inters.length !== 1) throw new Error(`--data ${data}: ${inters.length === 0 ? 'no .inter file' : `several .inter files (${inters.join(', ')})`}; pass --name`);
  return { dir, name: basename(inters[0], '.inter') };
}
