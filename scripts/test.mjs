#!/usr/bin/env node
// Runs every compiled uvu suite (dist/test/**/*.test.js), one process per file so a crash in one
// suite cannot hide the others, and ends with the summary line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function walk(d) {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

let passed = 0, failed = 0, crashed = [];
const files = walk(dir).filter((f) => !filter || filter.test(f)).sort();
const t0 = Date.now();
for (const f of files) {
  const t = Date.now();
  const r = spawnSync(process.execPath, [f], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, maxBuffer: 64 << 20 });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  const total = /Total:\s+(\d+)/.exec(out), ok = /Passed:\s+(\d+)/.exec(out);
  const name = relative(root, f);
  if (!total || !ok) {
    failed += 1; crashed.push(name);
    process.stdout.write(`\n✘ ${name} did not finish (exit ${r.status})\n${out}\n`);
    continue;
  }
  const nT = +total[1], nP = +ok[1];
  passed += nP; failed += nT - nP;
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  if (nT !== nP || r.status !== 0) process.stdout.write(`\n✘ ${name}\n${out}\n`);
  else process.stdout.write(`✔ ${name}: ${nP} passed (${secs}s)\n`);
  // A suite that skips (test/cuda.test.ts without a GPU) says so in a line starting with SKIP.
  for (const l of out.split('\n').filter((l) => l.startsWith('SKIP '))) process.stdout.write(`  ${l}\n`);
}
process.stdout.write(`\n${files.length} suites in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
