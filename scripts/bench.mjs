#!/usr/bin/env node
// npm run bench -- [NAME] [options]: `hm4sr bench NAME ...` (train, serve, paired, featurize, device,
// scatter-add; `hm4sr bench --help` lists them). Without a name, `hm4sr bench suite ...`: train and serve
// on the built-in synthetic data and Beauty (or on --data alone), then featurize, each in a fresh process.
import { spawnSync } from 'node:child_process';
const args = process.argv.slice(2);
const main = new URL('../dist/cli/main.js', import.meta.url).pathname;
const named = args.length > 0 && !args[0].startsWith('-');
const r = spawnSync(process.execPath, [main, 'bench', ...(named ? args : ['suite', ...args])], { stdio: 'inherit' });
process.exit(r.status ?? 1);
