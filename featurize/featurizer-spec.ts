// The featurizers' records in full (train/data/featurizer-record.ts has the fields every record shares):
// what featurize writes beside a table, and what add-items reads back from a model to featurize new items.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../graph/atomic.js';
import { FEATURIZER_FORMAT, type FeaturizerRecord, hashFile } from '../train/data/featurizer-record.js';
import type { TextForm } from './encoders.js';
import type { TextField } from './item-text.js';
import { type ModelKind, type ModelSource, REQUIRED_FILES } from './model-source.js';
import { TFIDF_DEFAULTS, type TfidfOptions, type TfidfVocabulary } from './tfidf.js';

export { FEATURIZER_FORMAT };

/** The offline TF-IDF featurizer: its options and the vocabulary fitted on the dataset's items. */
export interface TfidfSpec extends FeaturizerRecord {
  kind: 'text';
  model: 'tfidf';
  fields: TextField[];
  options: TfidfOptions;
  vocabulary: TfidfVocabulary;
}

/** A transformers.js encoder: which model (its files' hash), and for text the fields and form. */
export interface EncoderSpec extends FeaturizerRecord {
  /** sha256 over the model's files (REQUIRED_FILES and external weights). */
  modelKey: string;
  fields?: TextField[];
  textForm?: TextForm;
}

export type FeaturizerSpec = TfidfSpec | EncoderSpec;

export const isTfidf = (s: FeaturizerSpec): s is TfidfSpec => s.model === 'tfidf';

/** The hash of a model's weights and configuration, as files on disk. */
export function modelKey(kind: ModelKind, src: Pick<ModelSource, 'dir'>): string {
  const h = createHash('sha256');
  for (const f of REQUIRED_FILES[kind]) hashFile(h, join(src.dir, f));
  const external = join(src.dir, 'onnx', 'model.onnx_data');
  if (existsSync(external)) hashFile(h, external);
  return h.digest('hex');
}

export function writeFeaturizerSpec(path: string, spec: FeaturizerSpec): void {
  writeFileAtomic(path, `${JSON.stringify(spec)}\n`);
}

/** A record read back from a model, checked for the fields its featurizer needs (`what` names it in errors). */
export function featurizerSpec(record: unknown, what: string): FeaturizerSpec {
  const r = record as Partial<TfidfSpec & EncoderSpec> | null;
  const bad = (field: string) => new Error(`${what}: the featurizer record has no valid ${field}`);
  if (!r || r.format !== FEATURIZER_FORMAT) throw bad(`format (want ${FEATURIZER_FORMAT})`);
  if (r.kind !== 'text' && r.kind !== 'image') throw bad('kind');
  if (typeof r.model !== 'string') throw bad('model');
  if (r.model === 'tfidf') {
    const v = r.vocabulary;
    if (!v || !Array.isArray(v.terms) || !Array.isArray(v.df) || v.terms.length !== v.df.length)
      throw bad('vocabulary');
    if (!Array.isArray(r.fields) || r.fields.length === 0) throw bad('fields');
    return { ...r, options: { ...TFIDF_DEFAULTS, ...r.options } } as TfidfSpec;
  }
  if (typeof r.modelKey !== 'string') throw bad('modelKey');
  if (r.kind === 'text' && (!Array.isArray(r.fields) || r.fields.length === 0)) throw bad('fields');
  return r as EncoderSpec;
}
