#!/usr/bin/env node
// npm run bench -- [options]: runs the compiled benchmarks (dist/bench/train.js, serve.js) in a fresh process per
// dataset (so peak RSS is per dataset): the built-in synthetic data and Beauty unless --data names one.
import { spawnSync } from 'node:child_process';
const args = process.argv.slice(2);
const scripts = ['train', 'serve'].map((b) => new URL(`../dist/bench/${b}.js`, import.meta.url).pathname);
const runs = args.includes('--data') ? [args] : [['--data', 'synth', ...args], ['--data', 'beauty', ...args]];
let status = 0;
for (const a of runs) for (const script of scripts) status ||= spawnSync(process.execPath, [script, ...a], { stdio: 'inherit' }).status ?? 1;
process.exit(status);
