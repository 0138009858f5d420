import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';

const main = new URL('../../cli/main.js', import.meta.url).pathname;

/** Runs the compiled `hm4sr` command as a user would (CI mode, its own cache under dir). */
export function cliRunner(dir: string) {
  const hm4sr = (...args: string[]): { out: string; err: string; code: number } => {
    const r = spawnSync(process.execPath, [main, ...args], {
      encoding: 'utf8',
      env: { ...process.env, CI: 'true', HM4SR_CACHE: join(dir, 'cache') },
    });
    return { out: r.stdout, err: r.stderr, code: r.status ?? -1 };
  };
  /** stdout of a command that must succeed. */
  const ok = (...args: string[]): string => {
    const r = hm4sr(...args);
    assert.is(r.code, 0, `hm4sr ${args.join(' ')} failed:\n${r.err}`);
    return r.out;
  };
  return { hm4sr, ok };
}
