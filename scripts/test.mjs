#!/usr/bin/env node
// Runs every compiled uvu suite (dist/test/**/*.test.js), one process per file so a crash in one
// suite cannot hide the others, and ends with the summary line CI reads: "N passed, N failed".
// Each suite process gets a fresh TMPDIR of its own (os.tmpdir() reads it, and so do the commands it
// spawns), removed after it: a suite that dies or fails half-way still leaves nothing behind, and other
// processes' use of /tmp cannot mislead the check. An hm4sr-* entry left there (the prefix of every temp
// folder the suites make) fails the run, naming the suite; anything else is listed and swept, since
// third-party code writes there too (onnxruntime-node's telemetry: mat-debug-PID.log and .ses).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

let passed = 0,
  failed = 0,
  crashed = [],
  littered = [];
const swept = new Set();
// The running suite's temp directory goes too when this runner stops early (a throw, process.exit).
let tmp = null;
process.on('exit', () => tmp && rmSync(tmp, { recursive: true, force: true }));
const files = walk(dir)
  .filter((f) => !filter || filter.test(f))
  .sort();
const t0 = Date.now();
for (const f of files) {
  const t = Date.now();
  tmp = mkdtempSync(join(tmpdir(), 'hm4sr-suite-'));
  const env = { ...process.env, FORCE_COLOR: '0', TMPDIR: tmp };
  const r = spawnSync(process.execPath, [f], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  const total = /Total:\s+(\d+)/.exec(out),
    ok = /Passed:\s+(\d+)/.exec(out);
  const name = relative(root, f);
  const left = readdirSync(tmp),
    ours = left.filter((e) => e.startsWith('hm4sr-'));
  rmSync(tmp, { recursive: true, force: true });
  tmp = null;
  if (ours.length > 0) {
    failed += 1;
    littered.push(name);
    process.stdout.write(`\n✘ ${name} left ${ours.length} temporary folders behind: ${ours.join(', ')}\n`);
  }
  const others = [...new Set(left.filter((e) => !ours.includes(e)).map((e) => e.replace(/\d+/g, 'N')))];
  if (others.length > 0) swept.add(others.join(', '));
  if (!total || !ok) {
    failed += 1;
    crashed.push(name);
    process.stdout.write(`\n✘ ${name} did not finish (exit ${r.status})\n${out}\n`);
    continue;
  }
  const nT = +total[1],
    nP = +ok[1];
  passed += nP;
  failed += nT - nP;
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  if (nT !== nP || r.status !== 0) process.stdout.write(`\n✘ ${name}\n${out}\n`);
  else process.stdout.write(`✔ ${name}: ${nP} passed (${secs}s)\n`);
  // A suite that skips (test/cuda.test.ts without a GPU) says so in a line starting with SKIP.
  for (const l of out.split('\n').filter((l) => l.startsWith('SKIP '))) process.stdout.write(`  ${l}\n`);
}
process.stdout.write(`\n${files.length} suites in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
if (swept.size > 0)
  process.stdout.write(`swept from the suites' temp directories (not the suites' own): ${[...swept].join('; ')}\n`);
if (littered.length > 0) process.stdout.write(`suites that left temporary folders behind: ${littered.join(', ')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
