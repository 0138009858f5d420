// A synthetic dataset in the same atomic layout as the real ones, with known structure so that
// every part of HM4SR has something to learn:
// - Items belong to one of C categories (and one of S sub-categories within it) and have a latent
//   vector near their category's centre. The frozen "text" feature is a noisy linear function of
//   latent + category, so text features carry signal that the ID embedding must learn from data.
// - Within a category the items form a chain; users tend to move to the chain successor of the
//   last item they took from that category (a sequential pattern for the ID/Transformer path).
// - A user's history is a series of visits, each a short session (1-4 events minutes apart) in
//   one category. After a visit to category c the user comes back after a gap of about c's
//   characteristic period (1 to 8 days, log-normal spread).
// - The category of the next visit depends on the current visit's category AND on whether the
//   gap that preceded the current visit was longer than the previous category's period
//   ("lapsed" -> late[c], "eager" -> early[c]); so the intervals in the history, not the item
//   ids alone, tell which category comes next. The user stays in c with probability 0.2.
// - Interests drift with the calendar: with probability 0.1 (and for the first visit) the next
//   category is drawn from a seasonal popularity cycle (a yearly cosine with a per-category
//   phase), which absolute time can explain.
// - NAME.synth.json records the hidden structure (periods, transition tables).
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Rng } from './shuffle.js';
import { writeFeatureTable } from './features.js';

export interface SynthOptions {
  /** Output directory (created; existing files of the same names are replaced). */
  dir: string;
  /** File stem: NAME.inter, NAME.item, NAME.text.f32, NAME.image.f32, NAME.synth.json. Default "synth". */
  name?: string;
  users?: number;
  items?: number;
  categories?: number;
  subcategories?: number;
  seed?: number;
  /** Per-user sequence length drawn uniformly from [minLen, maxLen]. Defaults 12..28 (mean 20). */
  minLen?: number;
  maxLen?: number;
  textDim?: number;
  latentDim?: number;
  /** Std of the noise added to each text feature coordinate (signal coordinates have std ~1). */
  textNoise?: number;
  /** Unix seconds of the earliest possible first interaction. Default 2015-01-01. */
  startTime?: number;
  /** false: no NAME.image.f32 (everything else is generated as with it). Default true. */
  images?: boolean;
}

export interface SynthResult {
  dir: string;
  name: string;
  files: { inter: string; item: string; text: string; image?: string; meta: string };
  users: number;
  items: number;
  interactions: number;
  categories: number;
}

const DAY = 86400;
const YEAR = 365.25 * DAY;
const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ru',
  'sen',
  'ta',
  'vi',
  'no',
  'pel',
  'dra',
  'qu',
  'zo',
  'bel',
  'fin',
  'gra',
  'hu',
];

function word(rng: Rng, syllables: number): string {
  let w = '';
  for (let i = 0; i < syllables; i++) w += SYLLABLES[rng.nextInt(SYLLABLES.length)];
  return w;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

interface Catalog {
  category: Int32Array;
  sub: Int32Array;
  latent: Float64Array;
  popularity: Float64Array;
  /** Per category, its items in chain order; successor[i] is the next item in i's chain. */
  byCategory: number[][];
  successor: Int32Array;
}

function makeCatalog(rng: Rng, nItems: number, nCat: number, nSub: number, r: number): Catalog {
  const centre = Float64Array.from({ length: nCat * r }, () => rng.nextGaussian());
  const subCentre = Float64Array.from({ length: nCat * nSub * r }, () => 0.5 * rng.nextGaussian());
  const category = new Int32Array(nItems),
    sub = new Int32Array(nItems);
  const latent = new Float64Array(nItems * r),
    popularity = new Float64Array(nItems);
  const byCategory: number[][] = Array.from({ length: nCat }, () => []);
  for (let i = 0; i < nItems; i++) {
    // Round-robin then shuffled chains keeps category sizes balanced.
    const c = i % nCat,
      s = rng.nextInt(nSub);
    category[i] = c;
    sub[i] = s;
    for (let d = 0; d < r; d++)
      latent[i * r + d] = centre[c * r + d] + subCentre[(c * nSub + s) * r + d] + 0.3 * rng.nextGaussian();
    popularity[i] = 0.5 * rng.nextGaussian();
    byCategory[c].push(i);
  }
  const successor = new Int32Array(nItems);
  for (const chain of byCategory) {
    for (let j = chain.length - 1; j > 0; j--) {
      const k = rng.nextInt(j + 1);
      [chain[j], chain[k]] = [chain[k], chain[j]];
    }
    chain.forEach((it, j) => (successor[it] = chain[(j + 1) % chain.length]));
  }
  return { category, sub, latent, popularity, byCategory, successor };
}

function textFeatures(rng: Rng, cat: Catalog, nCat: number, r: number, dim: number, noise: number): Float32Array {
  const a = Float64Array.from({ length: dim * r }, () => rng.nextGaussian() / Math.sqrt(r));
  const b = Float64Array.from({ length: dim * nCat }, () => rng.nextGaussian());
  const n = cat.category.length;
  const out = new Float32Array(n * dim);
  const eps = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    rng.fillGaussian(eps);
    for (let d = 0; d < dim; d++) {
      let v = b[d * nCat + cat.category[i]];
      for (let k = 0; k < r; k++) v += a[d * r + k] * cat.latent[i * r + k];
      out[i * dim + d] = Math.tanh(0.5 * v) + noise * eps[d];
    }
  }
  return out;
}

/**
 * Image-like features: a weaker view than text. They encode the sub-category's visual style and a different
 * projection of the latent vector, under more noise. Drawn from their own generator so that adding them
 * left the interactions and text features of a given seed unchanged.
 */
function imageFeatures(
  seed: number,
  cat: Catalog,
  nCat: number,
  nSub: number,
  r: number,
  dim: number,
  noise: number,
): Float32Array {
  const rng = new Rng(seed ^ 0x1a6e5);
  const styles = nCat * nSub;
  const a = Float64Array.from({ length: dim * r }, () => rng.nextGaussian() / Math.sqrt(r));
  const b = Float64Array.from({ length: dim * styles }, () => rng.nextGaussian());
  const n = cat.category.length;
  const out = new Float32Array(n * dim);
  const eps = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const style = cat.category[i] * nSub + cat.sub[i];
    rng.fillGaussian(eps);
    for (let d = 0; d < dim; d++) {
      let v = 0.7 * b[d * styles + style];
      for (let k = 0; k < r; k++) v += 0.5 * a[d * r + k] * cat.latent[i * r + k];
      out[i * dim + d] = Math.tanh(0.5 * v) + 2 * noise * eps[d];
    }
  }
  return out;
}

/**
 * A category of up to WHOLE_CATEGORY items picks among all of them (every catalog up to 20 x 1,024 items with the
 * default categories, so those sets are generated as they always were); a larger one draws PICK_CANDIDATES
 * candidates (uniformly, with replacement) and picks among them by the same weights, so a pick costs the same
 * in a million-item catalog as in a small one.
 */
const WHOLE_CATEGORY = 1024;
const PICK_CANDIDATES = 128;

/** Scratch for pickItem's weights (grown as needed): a pick allocates nothing. */
let weights = new Float64Array(WHOLE_CATEGORY);
let picks = new Int32Array(WHOLE_CATEGORY);

/** Samples an item of category c for a user, by affinity to the user's taste plus popularity. */
function pickItem(rng: Rng, cat: Catalog, c: number, taste: Float64Array, r: number): number {
  const all = cat.byCategory[c];
  const whole = all.length <= WHOLE_CATEGORY;
  const n = whole ? all.length : PICK_CANDIDATES;
  if (weights.length < n) [weights, picks] = [new Float64Array(n), new Int32Array(n)];
  for (let j = 0; j < n; j++) picks[j] = whole ? all[j] : all[rng.nextInt(all.length)];
  const scale = 1.5 / Math.sqrt(r);
  let total = 0;
  for (let j = 0; j < n; j++) {
    const i = picks[j];
    let s = 0;
    for (let k = 0; k < r; k++) s += taste[k] * cat.latent[i * r + k];
    weights[j] = Math.exp(cat.popularity[i] + scale * s);
    total += weights[j];
  }
  let u = rng.nextFloat() * total;
  for (let j = 0; j < n; j++) {
    u -= weights[j];
    if (u <= 0) return picks[j];
  }
  return picks[n - 1];
}

function seasonalCategory(rng: Rng, phase: Float64Array, t: number): number {
  const w = Array.from(phase, (ph) => Math.exp(0.8 * Math.cos((2 * Math.PI * t) / YEAR + ph)));
  let u = rng.nextFloat() * w.reduce((x, y) => x + y, 0);
  for (let c = 0; c < w.length; c++) {
    u -= w[c];
    if (u <= 0) return c;
  }
  return w.length - 1;
}

const lognormal = (rng: Rng, sigma: number): number => Math.exp(sigma * rng.nextGaussian());

/** The options with their defaults, checked. */
function settings(opts: SynthOptions) {
  const s = {
    name: opts.name ?? 'synth',
    users: opts.users ?? 2000,
    items: opts.items ?? 1000,
    categories: opts.categories ?? 20,
    subcategories: opts.subcategories ?? 3,
    minLen: opts.minLen ?? 12,
    maxLen: opts.maxLen ?? 28,
    textDim: opts.textDim ?? 64,
    latentDim: opts.latentDim ?? 16,
    textNoise: opts.textNoise ?? 0.5,
    startTime: opts.startTime ?? 1420070400,
    seed: opts.seed ?? 0,
  };
  if (s.items < s.categories)
    throw new Error(`need at least one item per category (${s.items} items, ${s.categories} categories)`);
  if (!(s.minLen >= 1 && s.maxLen >= s.minLen)) throw new Error(`bad length range ${s.minLen}..${s.maxLen}`);
  return s;
}

type Settings = ReturnType<typeof settings>;

/** How users move between categories: return periods, the early and late transitions, seasonal phases. */
interface Dynamics {
  period: Float64Array;
  early: Int32Array;
  late: Int32Array;
  phase: Float64Array;
}

function categoryDynamics(rng: Rng, nCat: number): Dynamics {
  // Return periods from 1 to 8 days, log-spaced, in shuffled order over categories.
  const period = Float64Array.from({ length: nCat }, (_, c) => DAY * Math.pow(8, c / Math.max(1, nCat - 1)));
  const cycle = Int32Array.from({ length: nCat }, (_, c) => c);
  for (const a of [period, cycle]) {
    for (let c = nCat - 1; c > 0; c--) {
      const k = rng.nextInt(c + 1);
      [a[c], a[k]] = [a[k], a[c]];
    }
  }
  // Category transitions are two rotations of one random cycle: permutations keep every
  // category equally visited in the long run, so k-core filtering drops few items.
  const early = new Int32Array(nCat),
    late = new Int32Array(nCat);
  const hop = Math.max(1, Math.floor(nCat / 2));
  for (let j = 0; j < nCat; j++) {
    early[cycle[j]] = cycle[(j + 1) % nCat];
    late[cycle[j]] = cycle[(j + hop) % nCat];
  }
  const phase = Float64Array.from({ length: nCat }, () => 2 * Math.PI * rng.nextFloat());
  return { period, early, late, phase };
}

/** One user's interactions (series of visits, see the file's head), appended to `inter` as .inter lines. */
function userHistory(
  rng: Rng,
  s: Settings,
  cat: Catalog,
  dyn: Dynamics,
  user: string,
  itemTok: (i: number) => string,
  inter: string[],
): number {
  const r = s.latentDim,
    { period, early, late, phase } = dyn;
  const n = s.minLen + rng.nextInt(s.maxLen - s.minLen + 1);
  let t = s.startTime + Math.floor(rng.nextFloat() * 2 * YEAR);
  const taste = new Float64Array(r);
  const anchor = rng.nextInt(s.items);
  for (let k = 0; k < r; k++) taste[k] = cat.latent[anchor * r + k] + 0.5 * rng.nextGaussian();
  const lastItem = new Map<number, number>();
  let c = seasonalCategory(rng, phase, t);
  let lapsed = rng.nextFloat() < 0.5;
  let emitted = 0;
  while (emitted < n) {
    for (let v = 0; emitted < n && (v === 0 || (v < 4 && rng.nextFloat() < 0.5)); v++) {
      if (v > 0) t += 30 + Math.round(300 * -Math.log(1 - rng.nextFloat()));
      const prev = lastItem.get(c);
      const follows = prev !== undefined && rng.nextFloat() < (v > 0 ? 0.7 : 0.5);
      const item = follows ? cat.successor[prev!] : pickItem(rng, cat, c, taste, r);
      lastItem.set(c, item);
      inter.push(`${user}\t${itemTok(item)}\t${t}`);
      emitted += 1;
    }
    const gap = Math.max(2 * 3600, Math.round(period[c] * lognormal(rng, 0.6)));
    const x = rng.nextFloat();
    const next = x < 0.1 ? seasonalCategory(rng, phase, t) : x < 0.3 ? c : lapsed ? late[c] : early[c];
    lapsed = gap > period[c];
    t += gap;
    c = next;
  }
  return n;
}

/** The .item file's lines: a made-up title, the category and sub-category tokens, a brand. */
function itemLines(rng: Rng, s: Settings, cat: Catalog, itemTok: (i: number) => string): string[] {
  const catTok = (i: number): string => `c${pad(cat.category[i], 2)} c${pad(cat.category[i], 2)}s${cat.sub[i]}`;
  const catWords = Array.from({ length: s.categories }, () => word(rng, 2));
  const brands = Array.from({ length: Math.max(5, Math.floor(s.items / 20)) }, () => word(rng, 2));
  const item: string[] = ['item_id:token\ttitle:token_seq\tcategories:token_seq\tbrand:token'];
  for (let i = 0; i < s.items; i++) {
    const brand = brands[rng.nextInt(brands.length)];
    item.push(`${itemTok(i)}\t${brand} ${catWords[cat.category[i]]} ${word(rng, 3)} ${i}\t${catTok(i)}\t${brand}`);
  }
  return item;
}

export function generateSynthetic(opts: SynthOptions): SynthResult {
  const s = settings(opts);
  const { name, users: nUsers, items: nItems, categories: nCat, textDim: dim, latentDim: r } = s;
  const rng = new Rng(s.seed);
  const cat = makeCatalog(rng, nItems, nCat, s.subcategories, r);
  const text = textFeatures(rng, cat, nCat, r, dim, s.textNoise);
  const dyn = categoryDynamics(rng, nCat);
  const itemTok = (i: number): string => `i${pad(i, String(nItems).length)}`;
  const userTok = (u: number): string => `u${pad(u, String(nUsers).length)}`;
  const inter: string[] = ['user_id:token\titem_id:token\ttimestamp:float'];
  let interactions = 0;
  for (let u = 0; u < nUsers; u++) interactions += userHistory(rng, s, cat, dyn, userTok(u), itemTok, inter);
  const item = itemLines(rng, s, cat, itemTok);

  const files = {
    inter: `${name}.inter`,
    item: `${name}.item`,
    text: `${name}.text.f32`,
    ...(opts.images === false ? {} : { image: `${name}.image.f32` }),
    meta: `${name}.synth.json`,
  };
  const meta = {
    generator: 'hm4sr synth v2',
    options: { ...opts, dir: undefined, ...s },
    categoryPeriodSeconds: Array.from(dyn.period, Math.round),
    transitions: { early: Array.from(dyn.early), late: Array.from(dyn.late), stay: 0.2, seasonal: 0.1 },
    interactions,
  };
  const tokens = Array.from({ length: nItems }, (_, i) => itemTok(i));
  const dir = writeAtomically(resolve(opts.dir), (tmp) => {
    writeFileSync(join(tmp, files.inter), inter.join('\n') + '\n');
    writeFileSync(join(tmp, files.item), item.join('\n') + '\n');
    writeFeatureTable(join(tmp, files.text), tokens, text, dim);
    // The image table draws from its own generator: leaving it out changes nothing else.
    if (files.image)
      writeFeatureTable(
        join(tmp, files.image),
        tokens,
        imageFeatures(s.seed, cat, nCat, s.subcategories, r, dim, s.textNoise),
        dim,
      );
    writeFileSync(join(tmp, files.meta), JSON.stringify(meta, null, 2) + '\n');
  });
  const at = (f: string) => join(dir, f);
  return {
    dir,
    name,
    files: Object.fromEntries(Object.entries(files).map(([k, f]) => [k, at(f)])) as typeof files,
    users: nUsers,
    items: nItems,
    interactions,
    categories: nCat,
  };
}

/** Writes files into a fresh folder beside dir, then renames them into dir, so readers never see half a file. */
function writeAtomically(dir: string, write: (tmp: string) => void): string {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp);
  try {
    write(tmp);
    if (!existsSync(dir)) {
      renameSync(tmp, dir);
    } else {
      // Each rename is atomic, so readers never see a half-written file.
      for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
      rmSync(tmp, { recursive: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
