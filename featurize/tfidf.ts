// Offline text features that need no pretrained weights: TF-IDF over word and character n-grams,
// reduced to the feature width by a seeded sparse random projection. Two items whose titles share
// words or word pieces get close vectors, which is the signal the text modality needs.
import { Rng } from '../graph/rng.js';

export interface TfidfOptions {
  /** Output width (768, the width of a bert-base [CLS] vector, so configs need not change). */
  dim: number;
  seed: number;
  /** Word n-gram lengths (inclusive). */
  wordNgrams: [number, number];
  /** Character n-gram lengths inside word boundaries (inclusive). */
  charNgrams: [number, number];
  /** Features seen in fewer documents are dropped: a feature of one item cannot make two items alike. */
  minDf: number;
  /** Non-zeros per feature in the projection (each +-1/sqrt(k) in distinct output columns). */
  projectionNnz: number;
}

export const TFIDF_DEFAULTS: TfidfOptions = {
  dim: 768,
  seed: 2025,
  wordNgrams: [1, 2],
  charNgrams: [3, 5],
  minDf: 2,
  projectionNnz: 8,
};

export interface TfidfResult {
  /** [texts.length x dim]; empty texts give zero rows; other rows have L2 norm sqrt(dim) (RMS 1 per column). */
  data: Float32Array;
  dim: number;
  vocabulary: number;
  /** The vocabulary fitted on the texts (with the options, what featurizes new texts alike). */
  fitted: TfidfVocabulary;
  /** Non-empty texts whose every feature fell under minDf: zero rows too. */
  noFeatures: number[];
}

const WORD = /[\p{L}\p{N}]+/gu;

/** Words of the lower-cased, compatibility-normalised text (so "Ｏ" and "O", "ﬁ" and "fi" agree). */
export function words(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
}

/** Two blocks of features with their counts: word n-grams ("w" prefix) and char n-grams ("c" prefix). */
export function analyze(
  text: string,
  o: Pick<TfidfOptions, 'wordNgrams' | 'charNgrams'>,
): [Map<string, number>, Map<string, number>] {
  const ws = words(text);
  const w = new Map<string, number>();
  const c = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (let n = o.wordNgrams[0]; n <= o.wordNgrams[1]; n++) {
    for (let i = 0; i + n <= ws.length; i++) bump(w, `w${ws.slice(i, i + n).join(' ')}`);
  }
  for (const word of ws) {
    const padded = [...` ${word} `];
    for (let n = o.charNgrams[0]; n <= o.charNgrams[1]; n++) {
      for (let i = 0; i + n <= padded.length; i++) bump(c, `c${padded.slice(i, i + n).join('')}`);
    }
  }
  return [w, c];
}

/** The projection column of one feature: projectionNnz distinct output indices and signs, from a stream keyed by the feature. */
function projectionOf(feature: string, o: TfidfOptions, idx: Int32Array, sign: Float64Array): void {
  const rng = Rng.keyed(o.seed, feature);
  const s = 1 / Math.sqrt(o.projectionNnz);
  for (let j = 0; j < o.projectionNnz; j++) {
    let r: number;
    do r = rng.nextInt(o.dim);
    while (idx.subarray(0, j).includes(r));
    idx[j] = r;
    sign[j] = rng.nextU32() & 1 ? s : -s;
  }
}

/**
 * The fitted vocabulary: the terms kept (document frequency >= minDf), sorted, with their document
 * frequencies and the number of documents fitted on. With the options it is the whole featurizer: a term's
 * projection column is keyed by the term itself, so new texts can be featurized later exactly as the fitted
 * ones were (hm4sr add-items).
 */
export interface TfidfVocabulary {
  documents: number;
  terms: string[];
  df: number[];
}

function fitVocabulary(docs: ReturnType<typeof analyze>[], o: TfidfOptions): TfidfVocabulary {
  const df = new Map<string, number>();
  for (const blocks of docs) for (const b of blocks) for (const k of b.keys()) df.set(k, (df.get(k) ?? 0) + 1);
  const terms = [...df.keys()].filter((k) => df.get(k)! >= o.minDf).sort();
  return { documents: docs.length, terms, df: terms.map((k) => df.get(k)!) };
}

/** Each term's idf, column and sparse projection. */
function termTable(v: TfidfVocabulary, o: TfidfOptions) {
  // Smoothed idf (as scikit-learn): ln((1 + n) / (1 + df)) + 1.
  const kept = new Map<string, { idf: number; col: number }>();
  const idx = new Int32Array(v.terms.length * o.projectionNnz);
  const sign = new Float64Array(v.terms.length * o.projectionNnz);
  v.terms.forEach((k, col) => {
    kept.set(k, { idf: Math.log((1 + v.documents) / (1 + v.df[col])) + 1, col });
    projectionOf(
      k,
      o,
      idx.subarray(col * o.projectionNnz, (col + 1) * o.projectionNnz),
      sign.subarray(col * o.projectionNnz, (col + 1) * o.projectionNnz),
    );
  });
  return { kept, idx, sign };
}

function checkOptions(o: TfidfOptions): void {
  if (!Number.isInteger(o.dim) || o.dim < 1) throw new Error(`tfidf: dim must be a positive integer, got ${o.dim}`);
  if (o.projectionNnz < 1 || o.projectionNnz > o.dim)
    throw new Error(`tfidf: projectionNnz must be in 1..${o.dim}, got ${o.projectionNnz}`);
}

/** Fits the vocabulary on `texts` and featurizes them. */
export function tfidfFeatures(texts: string[], opts: Partial<TfidfOptions> = {}): TfidfResult {
  const o: TfidfOptions = { ...TFIDF_DEFAULTS, ...opts };
  checkOptions(o);
  const docs = texts.map((t) => analyze(t, o));
  const vocab = fitVocabulary(docs, o);
  return { ...transform(texts, docs, vocab, o), vocabulary: vocab.terms.length, fitted: vocab };
}

/** Featurizes `texts` with a vocabulary fitted before: a fitted text gets the row the fit gave it, bit for bit. */
export function tfidfTransform(
  texts: string[],
  vocab: TfidfVocabulary,
  o: TfidfOptions,
): Omit<TfidfResult, 'vocabulary' | 'fitted'> {
  checkOptions(o);
  return transform(
    texts,
    texts.map((t) => analyze(t, o)),
    vocab,
    o,
  );
}

function transform(
  texts: string[],
  docs: ReturnType<typeof analyze>[],
  vocab: TfidfVocabulary,
  o: TfidfOptions,
): Omit<TfidfResult, 'vocabulary' | 'fitted'> {
  const { kept, idx, sign } = termTable(vocab, o);
  const n = texts.length;
  const data = new Float32Array(n * o.dim);
  const row = new Float64Array(o.dim);
  const noFeatures: number[] = [];
  docs.forEach((blocks, i) => {
    if (texts[i] === '') return;
    row.fill(0);
    let any = false;
    for (const block of blocks) {
      // Sublinear tf, then each block L2-normalised so titles of any length and both n-gram kinds weigh alike.
      const terms: [number, number][] = [];
      let norm = 0;
      for (const [k, tf] of block) {
        const e = kept.get(k);
        if (!e) continue;
        const v = (1 + Math.log(tf)) * e.idf;
        terms.push([e.col, v]);
        norm += v * v;
      }
      if (norm === 0) continue;
      any = true;
      const inv = 1 / Math.sqrt(norm);
      for (const [col, v] of terms) {
        for (let j = col * o.projectionNnz; j < (col + 1) * o.projectionNnz; j++) row[idx[j]] += v * inv * sign[j];
      }
    }
    if (!any) {
      noFeatures.push(i);
      return;
    }
    let norm = 0;
    for (let j = 0; j < o.dim; j++) norm += row[j] * row[j];
    if (norm === 0) {
      noFeatures.push(i);
      return;
    }
    const scale = Math.sqrt(o.dim / norm);
    for (let j = 0; j < o.dim; j++) data[i * o.dim + j] = row[j] * scale;
  });
  return { data, dim: o.dim, noFeatures };
}
