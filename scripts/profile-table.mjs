#!/usr/bin/env node
// node scripts/profile-table.mjs PROFILE.json [--top N] [--by op|scope]
// Sums onnxruntime's per-node kernel times (a session created with enableProfiling) over every run but
// the first (the warm-up, which also plans memory), and prints a markdown table of the top ops (or
// top-level graph scopes) by time per step.
import { readFileSync } from 'node:fs';
const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (!file) {
  console.error('usage: profile-table.mjs PROFILE.json [--top N] [--by op|scope]');
  process.exit(2);
}
const opt = (k, d) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const top = Number(opt('top', '20')),
  by = opt('by', 'op');
const events = JSON.parse(readFileSync(file, 'utf8'));
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
if (runs.length < 2) {
  console.error(`${file}: ${runs.length} model_run events; need a warm-up run and at least one more`);
  process.exit(1);
}
const from = runs[1].ts,
  steps = runs.length - 1;
const runUs = runs.slice(1).reduce((s, r) => s + r.dur, 0);
const acc = new Map();
let nodeUs = 0;
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
  const name = e.name.slice(0, -'_kernel_time'.length);
  const key = by === 'op' ? e.args.op_name : name.split(/[./]/).slice(0, 2).join('.');
  const a = acc.get(key) ?? { us: 0, n: 0 };
  a.us += e.dur;
  a.n += 1;
  acc.set(key, a);
  nodeUs += e.dur;
}
const rows = [...acc].sort((a, b) => b[1].us - a[1].us);
const ms = (us) => (us / 1000 / steps).toFixed(1);
console.log(
  `${steps} steps timed; run ${ms(runUs)} ms/step, of which kernels ${ms(nodeUs)} ms/step (${((100 * nodeUs) / runUs).toFixed(0)}%)`,
);
console.log(`| ${by} | ms / step | share of kernel time | nodes run / step |`);
console.log('|---|---|---|---|');
for (const [k, a] of rows.slice(0, top))
  console.log(`| ${k} | ${ms(a.us)} | ${((100 * a.us) / nodeUs).toFixed(1)}% | ${Math.round(a.n / steps)} |`);
const rest = rows.slice(top).reduce((s, [, a]) => s + a.us, 0);
if (rest > 0)
  console.log(`| ${rows.length - top} other ops | ${ms(rest)} | ${((100 * rest) / nodeUs).toFixed(1)}% | |`);
