import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { SERVE_INPUTS } from '../graph/models/hm4sr-serve.js';
import { requireInputs } from './model-bytes.js';
import { ortWebDist } from './ort-web.js';
import { readServingMeta } from './recommender.js';

/** onnxruntime-web 1.19's plain WASM build: the script, and the module + binary it loads from wasmPaths. */
const ORT_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/**
 * A static page (no server code: any static file server will do) that loads model.onnx in
 * onnxruntime-web and recommends, with titles, after a history the visitor builds by clicking items.
 * Clicks are timestamped with the visitor's clock, so the model's interval and time features see them.
 */
export function writeDemo(modelPath: string, out: string, titles: Map<string, string> | null): { files: string[] } {
  const { meta, tokens } = readServingMeta(modelPath);
  mkdirSync(out, { recursive: true });
  const dist = ortWebDist();
  for (const f of ORT_FILES) copyFileSync(join(dist, f), join(out, f));
  writeFileAtomic(join(out, 'model.onnx'), requireInputs(modelPath, [SERVE_INPUTS.excludeSeen]));
  writeFileAtomic(
    join(out, 'items.json'),
    JSON.stringify({
      tokens,
      titles: titles ? tokens.map((t) => titles.get(t) ?? '') : null,
      topK: meta.topK,
      readsTime: meta.inputs.includes(SERVE_INPUTS.times),
      // Items added after training (hm4sr add-items): the page marks them "new".
      added: (meta.added ?? []).map((a) => [a.first, a.first + a.count]),
    }),
  );
  writeFileAtomic(join(out, 'app.js'), APP_JS);
  writeFileAtomic(join(out, 'index.html'), INDEX_HTML);
  return { files: [...ORT_FILES, 'model.onnx', 'items.json', 'app.js', 'index.html'] };
}

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hm4sr recommendations</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  main { display: grid; grid-template-columns: 1fr 1fr 1.3fr; gap: 1.5em; }
  h1 { font-size: 1.3em; } h2 { font-size: 1.05em; margin: 0 0 .5em; }
  ul { list-style: none; padding: 0; margin: 0; max-height: 70vh; overflow: auto; }
  li.item { padding: .3em .4em; border-bottom: 1px solid #eee; cursor: pointer; }
  li.item:hover { background: #eef4ff; }
  .token { color: #666; font-family: monospace; font-size: .9em; }
  .new { background: #e6f6e6; color: #1a6b1a; border-radius: 3px; padding: 0 .3em; font-size: .8em; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25em .4em; border-bottom: 1px solid #eee; }
  td.score { font-family: monospace; text-align: right; }
  #status { color: #666; margin-bottom: 1em; }
  input[type=search] { width: 100%; margin-bottom: .5em; padding: .3em; }
</style>
</head>
<body>
<h1>hm4sr: next-item recommendations in your browser</h1>
<div id="status">loading the model…</div>
<main>
  <section><h2>Catalog</h2><input type="search" id="filter" placeholder="filter by title or id"><ul id="catalog"></ul></section>
  <section><h2>Your history <button id="clear">clear</button></h2><label><input type="checkbox" id="exclude" checked> hide items already in the history</label><ol id="history"></ol></section>
  <section><h2>Recommended next</h2><table><thead><tr><th>#</th><th>item</th><th>score</th></tr></thead><tbody id="recs"></tbody></table></section>
</main>
<script src="ort.wasm.min.js"></script>
<script src="app.js"></script>
</body>
</html>
`;

const APP_JS = `'use strict';
// Runs model.onnx (hm4sr's serving signature) with onnxruntime-web's WASM backend.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./', location.href).href;
const state = { history: [], times: [], session: null, items: null, lastRun: null };
const $ = (id) => document.getElementById(id);
const label = (i) => (state.items.titles && state.items.titles[i]) || state.items.tokens[i];
const isNew = (i) => (state.items.added || []).some(([a, b]) => i >= a && i < b);
const badge = (el, i) => { if (isNew(i)) { const b = document.createElement('span'); b.className = 'new'; b.textContent = 'new'; el.appendChild(b); } };

async function main() {
  state.items = await (await fetch('items.json')).json();
  const bytes = new Uint8Array(await (await fetch('model.onnx')).arrayBuffer());
  state.session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  $('status').textContent = (state.items.tokens.length - 1) + ' items. Click items to build a history.';
  renderCatalog('');
  $('filter').addEventListener('input', (e) => renderCatalog(e.target.value));
  $('clear').addEventListener('click', () => { state.history = []; state.times = []; update(); });
  $('exclude').addEventListener('change', update);
  document.body.dataset.ready = '1';
}

function renderCatalog(q) {
  const ul = $('catalog'); ul.textContent = '';
  const needle = q.toLowerCase();
  let shown = 0;
  for (let i = 1; i < state.items.tokens.length && shown < 200; i++) {
    if (needle && !label(i).toLowerCase().includes(needle) && !state.items.tokens[i].toLowerCase().includes(needle)) continue;
    ul.appendChild(itemRow(i)); shown++;
  }
}

function itemRow(i) {
  const li = document.createElement('li');
  li.className = 'item'; li.dataset.item = String(i);
  li.innerHTML = '<span class="title"></span> <span class="token"></span>';
  li.querySelector('.title').textContent = label(i);
  li.querySelector('.token').textContent = state.items.tokens[i];
  badge(li, i);
  li.addEventListener('click', () => add(i));
  return li;
}

function add(i) {
  // Unix seconds, never earlier than the previous click: the model expects histories oldest first.
  const now = Math.floor(Date.now() / 1000);
  state.history.push(i);
  state.times.push(Math.max(now, state.times.length ? state.times[state.times.length - 1] : now));
  update();
}

async function update() {
  const ol = $('history'); ol.textContent = '';
  for (const i of state.history) { const li = document.createElement('li'); li.textContent = label(i); ol.appendChild(li); }
  const tbody = $('recs'); tbody.textContent = '';
  document.body.dataset.results = '0';
  if (state.history.length === 0) return;
  const n = state.history.length, exclude = $('exclude').checked;
  const feeds = {
    item_ids: new ort.Tensor('int64', BigInt64Array.from(state.history, BigInt), [1, n]),
    exclude_seen: new ort.Tensor('bool', [exclude], [1, 1]),
  };
  if (state.items.readsTime) feeds.timestamps = new ort.Tensor('int64', BigInt64Array.from(state.times, BigInt), [1, n]);
  const t0 = performance.now();
  const out = await state.session.run(feeds);
  const ms = performance.now() - t0;
  const ids = Array.from(out.top_items.data, Number), scores = Array.from(out.top_scores.data);
  state.lastRun = { history: state.history.slice(), times: state.times.slice(), excludeSeen: exclude, items: ids.slice(0, 10), scores: scores.slice(0, 10) };
  ids.slice(0, 10).forEach((i, r) => {
    const tr = document.createElement('tr'); tr.className = 'rec'; tr.dataset.item = String(i);
    tr.innerHTML = '<td></td><td><span class="title"></span> <span class="token"></span></td><td class="score"></td>';
    tr.children[0].textContent = String(r + 1);
    tr.querySelector('.title').textContent = label(i);
    tr.querySelector('.token').textContent = state.items.tokens[i];
    badge(tr.children[1], i);
    tr.children[2].textContent = scores[r].toFixed(4);
    tr.addEventListener('click', () => add(i));
    tbody.appendChild(tr);
  });
  $('status').textContent = 'top 10 of ' + (state.items.tokens.length - 1) + ' items in ' + ms.toFixed(1) + ' ms (onnxruntime-web, WASM)';
  document.body.dataset.results = String(state.history.length);
}

window.hm4sr = state;
main().catch((e) => { $('status').textContent = 'error: ' + (e && e.message || e); document.body.dataset.error = String(e && e.message || e); });
`;
