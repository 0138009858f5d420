import type { Argv } from 'yargs';
import { existsSync } from 'node:fs';
import { flagOverrides } from '../train/setting-flags.js';
import { checkSearch, tune, tuneFiles } from '../train/tune.js';
import { readSpace } from '../train/tune-space.js';
import {
  type DeviceArgs,
  type ModelArgs,
  deviceOptions,
  log,
  modelOptions,
  runConfigFrom,
  trainOptions,
} from './options.js';

const SEARCH_DEFAULTS = { budget: 16, eta: 3, 'min-epochs': 1 } as const;
type SearchFlag = keyof typeof SEARCH_DEFAULTS;

/**
 * A continued search runs as it was started: a flag that would change it is refused, never ignored. --threads
 * may change (as for train --resume: it changes float rounding only), so a search's last rungs, one trial
 * each, can take every core.
 */
function refuseChanges(a: ModelArgs & Record<SearchFlag | 'space', unknown>, out: string): void {
  const given = [
    ...(['space', 'data', 'name', 'config'] as const).filter((k) => a[k] !== undefined),
    ...(Object.keys(SEARCH_DEFAULTS) as SearchFlag[]).filter((k) => a[k] !== undefined),
    ...Object.entries(flagOverrides(a)).flatMap(([sec, v]) =>
      Object.keys(v ?? {}).filter((k) => !(sec === 'optim' && k === 'threads')),
    ),
  ];
  if (given.length)
    throw new Error(
      `${out} already holds a search (${tuneFiles(out).table}); it continues with its own settings: ` +
        `leave out ${given.map((k) => (k.includes('-') || k in SEARCH_DEFAULTS || k === 'space' ? `--${k}` : k)).join(', ')}`,
    );
}

export function registerTune(cli: Argv): void {
  cli.command(
    'tune',
    'search hyper-parameters by successive halving; run again with --out alone to continue a search',
    (y) =>
      // The train flags set what every trial starts from (--epochs: the full schedule; --seed: also the draws).
      deviceOptions(trainOptions(modelOptions(y)))
        .option('space', {
          type: 'string',
          describe: 'JSON search space: {"model.tau": [0.5, 1], "optim.lr": {"min", "max", "scale": "log"}}',
        })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'tune directory (trials.json, trials/NAME run directories)',
        })
        .option('budget', { type: 'number', describe: `trials in the first rung (default ${SEARCH_DEFAULTS.budget})` })
        .option('eta', {
          type: 'number',
          describe: `each rung keeps the best 1/eta for eta times the epochs (default ${SEARCH_DEFAULTS.eta})`,
        })
        .option('min-epochs', {
          type: 'number',
          describe: `epochs of the first rung (default ${SEARCH_DEFAULTS['min-epochs']})`,
        }),
    async (a) => {
      const out = a.out;
      const args = a as unknown as ModelArgs & Record<SearchFlag | 'space', unknown>;
      const continuing = existsSync(tuneFiles(out).table);
      let fresh;
      if (continuing) refuseChanges(args, out);
      else {
        if (!a.space) throw new Error('tune: --space FILE is required to start a search');
        const base = runConfigFrom(a as ModelArgs, true, a.ep);
        const pick = (k: SearchFlag) => (args[k] as number | undefined) ?? SEARCH_DEFAULTS[k];
        fresh = {
          space: readSpace(a.space),
          budget: pick('budget'),
          eta: pick('eta'),
          minEpochs: pick('min-epochs'),
          base,
          // --seed seeds the draws of the trials' settings as it seeds every trial's run.
          seed: base.optim.seed,
        };
        checkSearch(fresh, a.space);
      }
      const threads = continuing ? (flagOverrides(a).optim?.threads as number | undefined) : undefined;
      const st = await tune({ out, ep: (a as DeviceArgs).ep, log, threads }, fresh);
      process.stdout.write(`${JSON.stringify({ tune: out, table: tuneFiles(out).table, trials: st.trials.length })}\n`);
    },
  );
}
