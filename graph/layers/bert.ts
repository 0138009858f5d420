import { Graph, type Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { DType } from '../types.js';
import { dropout } from './dropout.js';
import { embedding, embeddingTable } from './embedding.js';
import { layerNorm } from './norm.js';
import { type HfEncoderFields, hfEncoderConfig, keyPaddingMask, transformerEncoder } from './transformer.js';

export interface BertConfig extends HfEncoderFields {
  vocab: number;
  maxPositions: number;
  /** Token-type vocabulary (default 2). */
  typeVocab?: number;
  /** Dtype of the parameters and the output (default float32; float64 for gradient checks). */
  dtype?: DType;
}

export interface BertInputs {
  /** int64 [B, T]. */
  inputIds: Value;
  /** int64 [B, T], 1 = token, 0 = padding; null attends everywhere. */
  attentionMask: Value | null;
  /** int64 [B, T]; null means all type 0. */
  tokenTypeIds: Value | null;
}

/** Runs fn under scope `name`, or unscoped when name is ''. */
function maybeScope<T>(g: Graph, name: string, fn: () => T): T {
  return name ? g.withScope(name, fn) : fn();
}

/**
 * BERT embeddings under `<name>`: word [vocab, hidden], position [maxPositions, hidden] (positions 0..T-1),
 * token_type [typeVocab, hidden], summed, then norm (LN) and hidden dropout. Output [B, T, hidden].
 */
function bertEmbeddings(g: Graph, name: string, inputIds: Value, tokenTypeIds: Value | null, cfg: BertConfig): Value {
  const dtype = cfg.dtype ?? 'float32';
  return maybeScope(g, name, () => {
    const words = embedding(g, 'word', inputIds, cfg.vocab, cfg.hidden, { dtype });
    const positions = op.range(0, op.dimOf(inputIds, 1), 1);
    const pos = embedding(g, 'position', positions, cfg.maxPositions, cfg.hidden, { dtype });
    const typeTable = embeddingTable(g, 'token_type', cfg.typeVocab ?? 2, cfg.hidden, { dtype });
    const types = tokenTypeIds ? op.gather(typeTable, tokenTypeIds, 0) : op.slice(typeTable, [0], [1], [0]);
    const sum = op.add(op.add(words, pos), types);
    const normed = layerNorm(g, 'norm', sum, cfg.hidden, { eps: cfg.eps ?? 1e-12 });
    return dropout(g, normed, { ratio: cfg.hiddenDropout ?? 0, training: cfg.training ?? false });
  });
}

/**
 * BERT encoder: embeddings (`<name>.embeddings.*`) then `layers` post-LN Transformer layers
 * (`<name>.encoder.layer{i}.*`, GELU, bidirectional attention with the key-padding mask of attentionMask).
 * Returns last_hidden_state [B, T, hidden].
 */
export function bert(g: Graph, name: string, inputs: BertInputs, cfg: BertConfig): Value {
  return maybeScope(g, name, () => {
    const emb = bertEmbeddings(g, 'embeddings', inputs.inputIds, inputs.tokenTypeIds, cfg);
    return bertLayers(g, 'encoder', emb, inputs.attentionMask, cfg);
  });
}

/** The layer stack of `bert` alone, on given embeddings [B, T, hidden] (e.g. to differentiate wrt them). */
function bertLayers(g: Graph, name: string, embeddings: Value, attentionMask: Value | null, cfg: BertConfig): Value {
  const mask = attentionMask ? keyPaddingMask(attentionMask, { dtype: embeddings.dtype }) : null;
  return transformerEncoder(g, name, embeddings, mask, hfEncoderConfig(cfg, 'post'));
}

/**
 * A complete inference graph in the layout of HuggingFace's BertModel ONNX export (as transformers.js loads it):
 * inputs `input_ids`, `attention_mask` and (unless tokenTypeIds is false) `token_type_ids`, all int64
 * [batch, sequence]; output `last_hidden_state` float [batch, sequence, hidden]. Parameters are unscoped
 * (`embeddings.word.weight`, `encoder.layer0.attn.q.weight`, ...): emit them as initializers with values.
 */
export function buildBertGraph(cfg: BertConfig, opts: { tokenTypeIds?: boolean; name?: string } = {}): Graph {
  const g = new Graph(opts.name ?? 'bert');
  const shape = ['batch', 'sequence'];
  const inputIds = g.input('input_ids', 'int64', shape);
  const attentionMask = g.input('attention_mask', 'int64', shape);
  const tokenTypeIds = opts.tokenTypeIds === false ? null : g.input('token_type_ids', 'int64', shape);
  const y = bert(g, '', { inputIds, attentionMask, tokenTypeIds }, { ...cfg, training: false });
  g.output(y, 'last_hidden_state');
  return g;
}
