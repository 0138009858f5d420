// The settings' command-line flags, derived from SETTINGS: their yargs option declarations, the partial
// config the given flags make, and their checks at parse time. Plain objects, so bench/ and cli/ share
// them without train/ depending on yargs.
import type { DeepPartial, RunConfig } from './config.js';
import { refusal, settingName } from './config.js';
import { type FlagScope, type Setting, allSettings } from './settings.js';

/** A yargs option declaration (structurally yargs' Options). */
export interface FlagOption {
  type: 'number' | 'boolean' | 'string' | 'array';
  describe: string;
  choices?: readonly string[];
  string?: boolean;
  number?: boolean;
}

type Flagged = [path: string, s: Setting & { flag: string }];

/** The settings with a flag: all, those the commands of a scope take, or those at the given paths. */
export function flagged(which?: FlagScope | readonly string[]): Flagged[] {
  const all = allSettings().filter((e): e is Flagged => e[1].flag !== undefined);
  if (which === undefined) return all;
  return typeof which === 'string'
    ? all.filter(([, s]) => (s.scope ?? 'train') === which)
    : all.filter(([p]) => which.includes(p));
}

const plain = (v: unknown): string =>
  typeof v === 'boolean' ? (v ? 'on' : 'off') : Array.isArray(v) ? (v.length ? v.join(' ') : 'none') : String(v);

/** What --help says of a setting: its help and its default (and a different one on CUDA). */
export function describeSetting(s: Setting): string {
  const d = s.shown ?? `${plain(s.default)}${s.cuda !== undefined ? ` on the CPU, ${plain(s.cuda)} on CUDA` : ''}`;
  return `${s.help} (default ${d})`;
}

/** No yargs default: an absent flag leaves the setting to the config file or the table. */
function option(s: Setting): FlagOption {
  const describe = describeSetting(s);
  switch (s.kind) {
    case 'int':
    case 'number':
      return { type: 'number', describe };
    case 'boolean':
      return { type: 'boolean', describe };
    case 'string':
      return { type: 'string', describe };
    case 'choice':
      return { type: 'string', choices: s.choices, describe };
    case 'list': {
      const elements = s.of === 'int' ? { number: true } : { string: true };
      return { type: 'array', ...elements, ...(s.of === 'choice' ? { choices: s.choices } : {}), describe };
    }
  }
}

/** yargs options of the settings' flags (flag name -> declaration), for `.options(...)`. */
export function flagOptions(which: FlagScope | readonly string[]): Record<string, FlagOption> {
  return Object.fromEntries(flagged(which).map(([, s]) => [s.flag, option(s)]));
}

/** The settings the given flags set (absent flags left out), as a partial config to lay over another. */
type Which = FlagScope | readonly string[];

export function flagOverrides(args: Record<string, unknown>, which?: Which): DeepPartial<RunConfig> {
  const over: Record<string, unknown> = {};
  for (const [path, s] of flagged(which)) {
    const v = args[s.flag];
    if (v === undefined) continue;
    const [head, key] = path.split('.');
    if (key === undefined) over[head] = v;
    else ((over[head] ??= {}) as Record<string, unknown>)[key] = v;
  }
  return over as DeepPartial<RunConfig>;
}

/** A yargs check: the first flag whose value its setting refuses, named by its path and flag. */
export function checkFlags(args: Record<string, unknown>, which: FlagScope | readonly string[]): true {
  for (const [path, s] of flagged(which)) {
    const v = args[s.flag];
    const why = v === undefined ? null : refusal(s, v);
    if (why) throw new Error(`${settingName(path, s)} ${why}`);
  }
  return true;
}
