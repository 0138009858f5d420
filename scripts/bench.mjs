#!/usr/bin/env node
// npm run bench -- [options]: runs the compiled benchmarks in a fresh process each (so peak RSS is per
// run): training and serving on the built-in synthetic data and Beauty unless --data names one, then
// featurize (dist/bench/featurize.js). `npm run bench -- featurize [--size tiny|base]` runs only featurize;
// `npm run bench -- paired [...]` compares two training-graph settings step by step (dist/bench/paired.js).
import { spawnSync } from 'node:child_process';
const args = process.argv.slice(2);
const bench = (name) => new URL(`../dist/bench/${name}.js`, import.meta.url).pathname;
const perData = (a) => [[bench('train'), ...a], [bench('serve'), ...a]];
const runs = args[0] === 'featurize' ? [[bench('featurize'), ...args.slice(1)]]
  : args[0] === 'paired' ? [[bench('paired'), ...args.slice(1)]]
  : args.includes('--data') ? perData(args)
  : [...perData(['--data', 'synth', ...args]), ...perData(['--data', 'beauty', ...args]), [bench('featurize')]];
let status = 0;
for (const a of runs) status ||= spawnSync(process.execPath, a, { stdio: 'inherit' }).status ?? 1;
process.exit(status);
