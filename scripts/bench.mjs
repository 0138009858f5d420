#!/usr/bin/env node
// npm run bench -- [options]: runs the compiled benchmark (dist/bench/train.js), one JSON line per run.
import { spawnSync } from 'node:child_process';
const r = spawnSync(process.execPath, [new URL('../dist/bench/train.js', import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
