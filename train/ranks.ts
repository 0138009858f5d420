// ranks.json: the rank of every user's held-out item under a run's best weights, on both splits. Written
// when training ends (and by `hm4sr evaluate --write-ranks`), so a paired comparison needs only these few
// hundred kilobytes, which can be committed beside a run's config and log, not its checkpoints.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../graph/atomic.js';
import { InputError, readJsonFile } from '../graph/input-file.js';
import { evaluateRun, loadRun, readSavedConfig, runFiles } from './run.js';

export type Split = 'valid' | 'test';

export interface RunRanks {
  /** The dataset's fingerprint, as in the run's config.json. */
  fingerprint: string;
  bestEpoch: number;
  valid: number[];
  test: number[];
}

export function writeRanks(
  path: string,
  r: { fingerprint: string; bestEpoch: number; valid: Int32Array; test: Int32Array },
): void {
  // One split per line keeps the file readable and its diffs small.
  const line = (a: Int32Array) => `[${Array.from(a).join(',')}]`;
  writeFileAtomic(
    path,
    `{"fingerprint":${JSON.stringify(r.fingerprint)},"bestEpoch":${r.bestEpoch},\n"valid":${line(r.valid)},\n"test":${line(r.test)}}\n`,
  );
}

export function readRanks(path: string): RunRanks {
  const r = readJsonFile(path, 'a ranks file') as Partial<RunRanks>;
  if (typeof r?.fingerprint !== 'string') throw new InputError(path, 'not a ranks file (no fingerprint)');
  for (const split of ['valid', 'test'] as const) {
    const v = r[split];
    if (!Array.isArray(v)) throw new InputError(path, `no "${split}" ranks`);
    const bad = v.findIndex((x) => !Number.isInteger(x) || x < 1);
    if (bad >= 0)
      throw new InputError(path, `"${split}" rank ${bad} is ${JSON.stringify(v[bad])}, not a rank (an integer from 1)`);
  }
  return r as RunRanks;
}

/** A run's ranks on one split and where they came from: its ranks.json, or its best checkpoint ranked now. */
export interface RankedRun {
  run: string;
  fingerprint: string;
  ranks: Int32Array;
  source: 'ranks.json' | 'best.ckpt';
}

export async function runRanks(run: string, split: Split, warn: (m: string) => void = () => {}): Promise<RankedRun> {
  const f = runFiles(run);
  if (existsSync(f.ranks)) {
    const saved = readSavedConfig(run);
    const r = readRanks(f.ranks);
    if (r.fingerprint !== saved.fingerprint)
      throw new InputError(
        f.ranks,
        `ranks of data ${r.fingerprint}, but the run (config.json) trained on ${saved.fingerprint}`,
      );
    return { run, fingerprint: r.fingerprint, ranks: Int32Array.from(r[split]), source: 'ranks.json' };
  }
  const loaded = loadRun(run, 'best', warn);
  return {
    run,
    fingerprint: loaded.p.fingerprint,
    ranks: (await evaluateRun(loaded, split)).ranks,
    source: 'best.ckpt',
  };
}
