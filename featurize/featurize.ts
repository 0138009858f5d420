// `hm4sr featurize`: writes NAME.text.f32 / NAME.image.f32 for a dataset directory, plus a JSON report
// of the items that got zero rows and why.
import { join } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { writeFeatureTable } from '../train/data/features.js';
import { readItemTexts } from './item-text.js';
import { TFIDF_DEFAULTS, tfidfFeatures } from './tfidf.js';

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

export function featurizeTextTfidf(o: TfidfRunOptions): TextReport {
  const t0 = performance.now();
  const items = readItemTexts(join(o.dir, `${o.name}.inter`), join(o.dir, `${o.name}.item`));
  o.log(`tfidf: ${items.tokens.length} items from ${o.name}.item (fields: ${items.fields.join(', ')})`);
  const r = tfidfFeatures(items.texts, { seed: o.seed ?? TFIDF_DEFAULTS.seed, dim: o.dim ?? TFIDF_DEFAULTS.dim });
  const file = join(o.out, `${o.name}.text.f32`);
  writeFeatureTable(file, items.tokens, r.data, r.dim);
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
