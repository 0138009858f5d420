// `hm4sr featurize`: writes NAME.text.f32 / NAME.image.f32 for a dataset directory, plus a JSON report
// of the items that got zero rows and why.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { lockDirectory, withLock } from '../runtime/output-lock.js';
import { findAtomicFile, readInter } from '../train/data/atomic.js';
import { featurizerRecordPath, fileSha256, hashFile } from '../train/data/featurizer-record.js';
import { writeFeatureTable } from '../train/data/features.js';
import { progressBar } from '../train/progress.js';
import { dropCache, runChunked } from './chunk-cache.js';
import {
  type Ep,
  type ImageEncoder,
  type TextEncoder,
  type TextForm,
  loadImageEncoder,
  loadTextEncoder,
} from './encoders.js';
import { FEATURIZER_FORMAT, modelKey, writeFeaturizerSpec } from './featurizer-spec.js';
import { indexImages } from './images.js';
import { type ItemTexts, type TextField, readItemTexts } from './item-text.js';
import { type ModelKind, type ModelSource, REQUIRED_FILES, resolveModel } from './model-source.js';
import { TFIDF_DEFAULTS, type TfidfOptions, tfidfFeatures } from './tfidf.js';

export interface TextReport {
  model: string;
  file: string;
  items: number;
  dim: number;
  fields: string[];
  /** Items written as zero rows, by reason. */
  zeroRows: { count: number; emptyText: string[]; noKnownFeature: string[] };
  /** .item rows skipped because the .inter file never names the item. */
  unknownItems: { count: number; tokens: string[] };
  overlongFieldsDropped: number;
  seconds: number;
  itemsPerSecond: number;
  vocabulary?: number;
}

export interface TfidfRunOptions {
  dir: string;
  name: string;
  out: string;
  seed?: number;
  dim?: number;
  log: (m: string) => void;
}

/** Report lists are capped so a report stays readable; counts are always complete. */
const LIST_CAP = 1000;
const cap = (xs: string[]) => xs.slice(0, LIST_CAP);

/** DIR/NAME.EXT or its .gz (the built-in datasets ship compressed); the plain name when neither exists, for the error. */
const atomicPath = (o: { dir: string; name: string }, ext: string) =>
  findAtomicFile(o.dir, o.name, ext) ?? join(o.dir, `${o.name}.${ext}`);

/** The lock on a featurize output directory (its tables, reports and chunk caches): one writer at a time. */
const lockOut = (o: { out: string; log: (m: string) => void }) =>
  lockDirectory(o.out, 'featurize', (m) => o.log(`warning: ${m}`));

export function featurizeTextTfidf(o: TfidfRunOptions): TextReport {
  const t0 = performance.now();
  const items = readItemTexts(atomicPath(o, 'inter'), atomicPath(o, 'item'));
  return withLock(lockOut(o), () => tfidfTable(o, items, t0));
}

function tfidfTable(o: TfidfRunOptions, items: ItemTexts, t0: number): TextReport {
  o.log(`tfidf: ${items.tokens.length} items from ${o.name}.item (fields: ${items.fields.join(', ')})`);
  const options: TfidfOptions = {
    ...TFIDF_DEFAULTS,
    seed: o.seed ?? TFIDF_DEFAULTS.seed,
    dim: o.dim ?? TFIDF_DEFAULTS.dim,
  };
  const r = tfidfFeatures(items.texts, options);
  const file = join(o.out, `${o.name}.text.f32`);
  writeFeatureTable(file, items.tokens, r.data, r.dim);
  writeFeaturizerSpec(featurizerRecordPath(o.out, o.name, 'text'), {
    format: FEATURIZER_FORMAT,
    kind: 'text',
    model: 'tfidf',
    fields: items.fields,
    options,
    vocabulary: r.fitted,
    table: fileSha256(file),
  });
  const seconds = (performance.now() - t0) / 1000;
  const noKnown = r.noFeatures.map((i) => items.tokens[i]);
  const report: TextReport = {
    model: 'tfidf',
    file,
    items: items.tokens.length,
    dim: r.dim,
    fields: items.fields,
    zeroRows: { count: items.empty.length + noKnown.length, emptyText: cap(items.empty), noKnownFeature: cap(noKnown) },
    unknownItems: { count: items.unknown.length, tokens: cap(items.unknown) },
    overlongFieldsDropped: items.overlong,
    seconds,
    itemsPerSecond: items.tokens.length / seconds,
    vocabulary: r.vocabulary,
  };
  writeFileAtomic(join(o.out, `${o.name}.text.report.json`), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

export interface ModelRunOptions {
  dir: string;
  name: string;
  out: string;
  /** --text-model / --image-model value: a directory or a Hub id. */
  model: string;
  /** Required for images: DIR/TOKEN.EXT or DIR/TOKEN/first-image. */
  images?: string;
  batch: number;
  ep: Ep;
  download: boolean;
  modelsDir: string;
  form?: TextForm;
  threads?: number;
  /** Items per cache chunk (a multiple of batch keeps batches identical across resumes). Default 16 * batch. */
  chunk?: number;
  progress: boolean;
  log: (m: string) => void;
  /** Called after each finished chunk (items done so far, items in all). */
  onChunk?: (done: number, total: number) => void;
}

export interface ModelReport {
  kind: ModelKind;
  model: string;
  modelDir: string;
  file: string;
  items: number;
  dim: number;
  /** Items written as zero rows, with the reason. */
  zeroRows: { count: number; items: Record<string, string> };
  /** Inputs that name no item of the dataset (text: .item rows; images: files). */
  unknownItems: { count: number; entries: string[] };
  ignoredFiles?: string[];
  fields?: string[];
  textForm?: TextForm;
  overlongFieldsDropped?: number;
  /** Fingerprint of model, inputs and settings: a re-run with the same one does no work. */
  key: string;
  /** Items computed in this run (the rest came from the cache of an interrupted run). */
  computed: number;
  seconds: number;
  itemsPerSecond: number;
  upToDate?: boolean;
}

interface Inputs {
  tokens: string[];
  /** Per token: the text, or the image path ('' = nothing to encode: zero row). */
  inputs: string[];
  zeroRows: Record<string, string>;
  unknown: string[];
  ignored?: string[];
  fields?: string[];
  overlong?: number;
}

function gatherInputs(kind: ModelKind, o: ModelRunOptions): Inputs {
  const inter = atomicPath(o, 'inter');
  if (kind === 'text') {
    const t = readItemTexts(inter, atomicPath(o, 'item'));
    const zeroRows: Record<string, string> = {};
    for (const tok of t.empty) zeroRows[tok] = 'no text';
    return { tokens: t.tokens, inputs: t.texts, zeroRows, unknown: t.unknown, fields: t.fields, overlong: t.overlong };
  }
  if (!o.images) throw new Error('--image-model needs --images DIR (one image per item, named by item token)');
  if (!existsSync(inter))
    throw new Error(`${inter}: no such file (featurize needs the interactions to know which items to write)`);
  const tokens = [...new Set(readInter(inter).items)];
  const idx = indexImages(resolve(o.images), tokens);
  const zeroRows: Record<string, string> = {};
  const inputs = tokens.map((tok) => {
    const p = idx.paths.get(tok);
    if (p === undefined) zeroRows[tok] = 'no image';
    return p ?? '';
  });
  return { tokens, inputs, zeroRows, unknown: idx.unknown, ignored: idx.ignored };
}

function fingerprint(kind: ModelKind, src: ModelSource, inp: Inputs, form: TextForm | undefined): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ kind, form: form ?? null, format: 1 }));
  for (const f of REQUIRED_FILES[kind]) hashFile(h, join(src.dir, f));
  const external = join(src.dir, 'onnx', 'model.onnx_data');
  if (existsSync(external)) hashFile(h, external);
  inp.tokens.forEach((tok, i) => {
    h.update(`${tok}\t`);
    if (kind === 'text' || inp.inputs[i] === '') h.update(`${inp.inputs[i]}\n`);
    else {
      const s = statSync(inp.inputs[i]);
      h.update(`${inp.inputs[i]}\t${s.size}\t${s.mtimeMs}\n`);
    }
  });
  return h.digest('hex');
}

/** Checks options, the model directory and --images without loading anything (run it for every model before the first). */
export function preflight(
  kind: ModelKind,
  o: Pick<ModelRunOptions, 'model' | 'images' | 'modelsDir' | 'download' | 'batch'>,
): ModelSource {
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`--batch must be a positive integer, got ${o.batch}`);
  const src = resolveModel(o.model, kind, {
    modelsDir: o.modelsDir,
    download: o.download,
    flag: kind === 'text' ? '--text-model' : '--image-model',
  });
  if (kind === 'image') {
    if (!o.images) throw new Error('--image-model needs --images DIR (one image per item, named by item token)');
    if (!existsSync(o.images) || !statSync(o.images).isDirectory())
      throw new Error(`--images ${o.images}: no such directory`);
  }
  return src;
}

const tableName = (kind: ModelKind) => (kind === 'text' ? 'text' : 'image');

/** Text or image features through a transformers.js model; resumable, and a no-op when up to date. */
export async function featurizeWithModel(kind: ModelKind, o: ModelRunOptions): Promise<ModelReport> {
  const t0 = performance.now();
  const chunk = o.chunk ?? 16 * o.batch;
  // Everything that can fail on bad input or a missing model fails here, before anything is written.
  const src = preflight(kind, o);
  const inp = gatherInputs(kind, o);
  return withLock(lockOut(o), () => featurizeLocked(kind, o, src, inp, t0, chunk));
}

async function featurizeLocked(
  kind: ModelKind,
  o: ModelRunOptions,
  src: ModelSource,
  inp: Inputs,
  t0: number,
  chunk: number,
): Promise<ModelReport> {
  const file = join(o.out, `${o.name}.${tableName(kind)}.f32`);
  const reportPath = join(o.out, `${o.name}.${tableName(kind)}.report.json`);
  const cacheDir = join(o.out, `.${o.name}.${tableName(kind)}.cache`);
  const key = src.download ? null : fingerprint(kind, src, inp, o.form);
  const prev = key ? upToDateReport(file, reportPath, key) : null;
  if (prev) {
    o.log(`${file} is up to date (same model, items and inputs): nothing to do`);
    // Tables written before featurize recorded its featurizer get the record now.
    if (!existsSync(featurizerRecordPath(o.out, o.name, kind))) writeEncoderSpec(kind, o, src, inp, file);
    return { ...prev, upToDate: true, computed: 0 };
  }
  const encOpts = { source: src, modelsDir: o.modelsDir, ep: o.ep, threads: o.threads };
  const enc =
    kind === 'text'
      ? await loadTextEncoder({ ...encOpts, form: o.form ?? 'standard' })
      : await loadImageEncoder(encOpts);
  // Downloads resolve the fingerprint once the files are there.
  const runKey = key ?? fingerprint(kind, { ...src, download: false }, inp, o.form);
  o.log(`${kind} features: ${inp.tokens.length} items through ${src.id} (${enc.dim} dims, ${o.ep}, batch ${o.batch})`);
  const bar = progressBar(`featurize ${kind}`, inp.tokens.length, o.progress);
  const tRun = performance.now();
  try {
    const r = await runChunked({
      dir: cacheDir,
      key: runKey,
      tokens: inp.tokens,
      dim: enc.dim,
      chunk,
      log: o.log,
      onProgress(done, reused) {
        const s = (performance.now() - tRun) / 1000;
        bar.update(done, { 'items/s': s > 0 ? (done - reused) / s : 0 });
        o.onChunk?.(done, inp.tokens.length);
      },
      compute: (start, end) => encodeRange(kind, enc, inp, o.batch, start, end),
    });
    writeFeatureTable(file, inp.tokens, r.data, enc.dim);
    writeEncoderSpec(kind, o, src, inp, file);
    const seconds = (performance.now() - t0) / 1000;
    const computed = inp.tokens.length - r.reused;
    const report: ModelReport = {
      ...reportHead(kind, o, src, file, inp, enc.dim, { ...inp.zeroRows, ...r.zeroRows }),
      key: runKey,
      computed,
      seconds,
      itemsPerSecond: computed / ((performance.now() - tRun) / 1000),
    };
    writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    dropCache(cacheDir);
    return report;
  } finally {
    bar.stop();
    await enc.dispose();
  }
}

function writeEncoderSpec(kind: ModelKind, o: ModelRunOptions, src: ModelSource, inp: Inputs, file: string): void {
  writeFeaturizerSpec(featurizerRecordPath(o.out, o.name, kind), {
    format: FEATURIZER_FORMAT,
    kind,
    model: o.model,
    modelKey: modelKey(kind, src),
    ...(inp.fields ? { fields: inp.fields as TextField[], textForm: o.form ?? 'standard' } : {}),
    table: fileSha256(file),
  });
}

/** The report's fields that describe the table (the run's key, counts and timings follow them). */
function reportHead(
  kind: ModelKind,
  o: ModelRunOptions,
  src: ModelSource,
  file: string,
  inp: Inputs,
  dim: number,
  zeroRows: Record<string, string>,
): Omit<ModelReport, 'key' | 'computed' | 'seconds' | 'itemsPerSecond'> {
  return {
    kind,
    model: o.model,
    modelDir: src.dir,
    file,
    items: inp.tokens.length,
    dim,
    zeroRows: { count: Object.keys(zeroRows).length, items: zeroRows },
    unknownItems: { count: inp.unknown.length, entries: cap(inp.unknown) },
    ...(inp.ignored ? { ignoredFiles: cap(inp.ignored) } : {}),
    ...(inp.fields ? { fields: inp.fields, textForm: o.form ?? 'standard', overlongFieldsDropped: inp.overlong } : {}),
  };
}

/** The report of a table already built with fingerprint `key`, or null when it must be (re)built. */
function upToDateReport(file: string, reportPath: string, key: string): ModelReport | null {
  if (!existsSync(file) || !existsSync(reportPath)) return null;
  try {
    const prev = JSON.parse(readFileSync(reportPath, 'utf8')) as ModelReport;
    return prev.key === key ? prev : null;
  } catch {
    // An unreadable report means the table must be rebuilt.
    return null;
  }
}

/** Rows start..end of the feature table, in batches of `batch`; empty inputs stay zero rows. */
async function encodeRange(
  kind: ModelKind,
  enc: TextEncoder | ImageEncoder,
  inp: Inputs,
  batch: number,
  start: number,
  end: number,
): Promise<{ data: Float32Array; zeroRows: Record<string, string> }> {
  const data = new Float32Array((end - start) * enc.dim);
  const zeroRows: Record<string, string> = {};
  const todo: number[] = [];
  for (let i = start; i < end; i++) if (inp.inputs[i] !== '') todo.push(i);
  // Texts of similar length share a batch, so little of each batch is padding (order is fixed: resumes match).
  if (kind === 'text') todo.sort((a, b) => inp.inputs[a].length - inp.inputs[b].length || a - b);
  for (let b = 0; b < todo.length; b += batch) {
    const idx = todo.slice(b, b + batch);
    if (kind === 'text') {
      const rows = await (enc as TextEncoder).encode(idx.map((i) => inp.inputs[i]));
      idx.forEach((i, k) => data.set(rows.subarray(k * enc.dim, (k + 1) * enc.dim), (i - start) * enc.dim));
    } else {
      const r = await (enc as ImageEncoder).encode(idx.map((i) => inp.inputs[i]));
      r.ok.forEach((j, k) => data.set(r.rows.subarray(k * enc.dim, (k + 1) * enc.dim), (idx[j] - start) * enc.dim));
      for (const [j, why] of r.failed) zeroRows[inp.tokens[idx[j]]] = `${why} (${inp.inputs[idx[j]]})`;
    }
  }
  return { data, zeroRows };
}
