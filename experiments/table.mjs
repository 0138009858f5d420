#!/usr/bin/env node
// node experiments/table.mjs RUN_DIR... [--group]
// Markdown rows of finished runs' test metrics (metrics.json) with epochs, best epoch and time (log.jsonl).
// --group: one row per config, runs named CONFIG-sSEED averaged over their seeds (mean +- sample sd).
// Each row names the model by what its config.json says it ran, so a label cannot claim less than a run removed.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
const args = process.argv.slice(2);
const group = args.includes('--group');
const runs = args.filter((a) => !a.startsWith('--'));
if (runs.length === 0) {
  console.error('usage: node experiments/table.mjs RUN_DIR... [--group]');
  process.exit(2);
}
/** "HM4SR -Image -PCL" etc.: the paper's components and modalities this run's model lacks, from config.json. */
function describe(dir) {
  const { run, model: m } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  if (run.preset === 'sasrec') {
    const [h, a, e] = [m.hiddenDropout, m.attnDropout, m.embDropout ?? m.hiddenDropout];
    const dropout = h === a && a === e ? `dropout ${h}` : `dropout ${h} (attention ${a}, embedding ${e})`;
    return `SASRec, ${dropout}, ${m.layers} layers x ${m.heads} heads, lr ${run.optim.lr}`;
  }
  const parts = [],
    zeros = [];
  for (const [mod, name] of [
    ['txt', 'Text'],
    ['img', 'Image'],
  ]) {
    if (!m.modalities.includes(mod)) parts.push(`-${name}`);
    else if (m.zeroFeatures.includes(mod)) zeros.push(`${name}: zero features`);
  }
  if (!m.imoe) parts.push('-IMoE');
  if (!m.tmoe) parts.push('-TMoE');
  if (!(m.lambdaCP > 0 && m.numCategories > 0)) parts.push('-CP');
  if (!(m.lambdaIDCL > 0)) parts.push('-IDCL');
  // PCL contrasts a feature modality with its placeholder view: off without TMoE, its weight, or such a modality.
  if (!(m.tmoe && m.lambdaPCL > 0 && m.modalities.some((x) => x !== 'id'))) parts.push('-PCL');
  // The contrastive terms' false-negative rule, when it is not the default (docs/model.md).
  if (m.falseNegatives && m.falseNegatives !== 'exclude') zeros.push(`false negatives: ${m.falseNegatives}`);
  return ['HM4SR', ...parts, ...(zeros.length ? [`(${zeros.join(', ')})`] : [])].join(' ');
}
const cols = ['ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr@5', 'mrr@10', 'hr@10', 'hr@20'];
const rows = runs.map((dir) => {
  const f = join(dir, 'metrics.json');
  if (!existsSync(f)) throw new Error(`${dir}: no metrics.json (the run has not finished)`);
  const m = JSON.parse(readFileSync(f, 'utf8'));
  const log = readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // The median epoch: robust to epochs stretched by other work on the machine (or a pause).
  const secs = log.map((e) => e.trainSeconds).sort((a, b) => a - b);
  const name = basename(dir.replace(/\/$/, ''));
  return {
    name: `${describe(dir)} (${name})`,
    config: `${describe(dir)} (${name.replace(/-s\d+$/, '')})`,
    epochs: m.epochsRun,
    best: m.bestEpoch,
    test: m.test,
    wall: m.wallSeconds,
    epochTrain: secs[secs.length >> 1],
  };
});
const fmt = (x) => x.toFixed(4);
const mins = (s) => `${Math.round(s / 60)} min`;
console.log(
  `| run | epochs (best) | ${cols.map((c) => `test ${c.toUpperCase()}`).join(' | ')} | median train s / epoch | wall |`,
);
console.log(`|---|---|${cols.map(() => '---|').join('')}---|---|`);
if (!group) {
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.epochs} (${r.best}) | ${cols.map((c) => fmt(r.test[c])).join(' | ')} | ${r.epochTrain.toFixed(0)} | ${mins(r.wall)} |`,
    );
} else {
  const by = new Map();
  for (const r of rows) by.set(r.config, [...(by.get(r.config) ?? []), r]);
  for (const [config, rs] of by) {
    const stat = (c) => {
      const xs = rs.map((r) => r.test[c]);
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
      return xs.length > 1 ? `${fmt(mean)} +- ${fmt(sd)}` : fmt(mean);
    };
    console.log(
      `| ${config} (${rs.length} seed${rs.length > 1 ? 's' : ''}) | ${rs.map((r) => `${r.epochs} (${r.best})`).join(', ')} | ${cols.map(stat).join(' | ')} | ${rs.map((r) => r.epochTrain.toFixed(0)).join(', ')} | ${rs.map((r) => mins(r.wall)).join(', ')} |`,
    );
  }
}
