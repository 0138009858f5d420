import { Graph, type Value } from '../graph.js';
import * as op from '../ops/index.js';
import type { DType } from '../types.js';
import { dropout } from './dropout.js';
import { layerNorm } from './norm.js';
import { type HfEncoderFields, hfEncoderConfig, transformerEncoder } from './transformer.js';

/** eps defaults to 1e-12 (HF ViT); CLIP's image tower uses 1e-5. */
export interface VitConfig extends HfEncoderFields {
  /** Input image size: square side or [height, width]; must be divisible by patchSize. */
  imageSize: number | [number, number];
  patchSize: number;
  /** Default 3. */
  channels?: number;
  dtype?: DType;
}

function maybeScope<T>(g: Graph, name: string, fn: () => T): T {
  return name ? g.withScope(name, fn) : fn();
}

/** Height and width of the image, the patch grid, and the number of patches. */
export function vitGrid(cfg: VitConfig): { h: number; w: number; gh: number; gw: number; patches: number } {
  const [h, w] = typeof cfg.imageSize === 'number' ? [cfg.imageSize, cfg.imageSize] : cfg.imageSize;
  if (h % cfg.patchSize || w % cfg.patchSize)
    throw new Error(`image ${h}x${w} is not divisible into ${cfg.patchSize}-pixel patches`);
  const gh = h / cfg.patchSize,
    gw = w / cfg.patchSize;
  return { h, w, gh, gw, patches: gh * gw };
}

/**
 * ViT embeddings under `<name>`: patch (Conv, stride = kernel = patchSize; weight [hidden, C, p, p], bias
 * [hidden]), a learned cls_token [1, 1, hidden] prepended, plus position [1 + P, hidden], then hidden dropout.
 * pixel_values [B, C, H, W] -> [B, 1 + P, hidden]. The Conv has no gradient rule: inference only.
 */
function vitEmbeddings(g: Graph, name: string, pixelValues: Value, cfg: VitConfig): Value {
  const dtype = cfg.dtype ?? 'float32';
  const { patches } = vitGrid(cfg);
  const c = cfg.channels ?? 3,
    p = cfg.patchSize,
    d = cfg.hidden;
  return maybeScope(g, name, () => {
    const [w, b] = g.withScope('patch', () => [
      g.param('weight', [d, c, p, p], { kind: 'normal', std: 0.02 }, { dtype }),
      g.param('bias', [d], { kind: 'zeros' }, { dtype }),
    ]);
    const conv = op.conv2d(pixelValues, w, b, [p, p]); // [B, d, gh, gw]
    const seq = op.transpose(op.reshape(conv, [0, 0, -1]), [0, 2, 1]); // [B, P, d]
    const cls = g.param('cls_token', [1, 1, d], { kind: 'normal', std: 0.02 }, { dtype });
    const batch = op.gather(op.shapeOf(pixelValues), op.int64s(g, [0]));
    const clsB = op.expand(cls, op.concat([batch, op.int64s(g, [1, d])], 0), [pixelValues.dim(0), 1, d]);
    const pos = g.param('position', [1 + patches, d], { kind: 'normal', std: 0.02 }, { dtype });
    const x = op.add(op.concat([clsB, seq], 1), pos);
    return dropout(g, x, { ratio: cfg.hiddenDropout ?? 0, training: cfg.training ?? false });
  });
}

/**
 * ViT image encoder: embeddings (`<name>.embeddings.*`), `layers` pre-LN Transformer layers
 * (`<name>.encoder.layer{i}.*`, no mask), and a final LayerNorm (`<name>.norm`).
 * Returns last_hidden_state [B, 1 + P, hidden]; position 0 is the [CLS] token.
 */
export function vit(g: Graph, name: string, pixelValues: Value, cfg: VitConfig): Value {
  return maybeScope(g, name, () => {
    const emb = vitEmbeddings(g, 'embeddings', pixelValues, cfg);
    const h = transformerEncoder(g, 'encoder', emb, null, hfEncoderConfig(cfg, 'pre'));
    return layerNorm(g, 'norm', h, cfg.hidden, { eps: cfg.eps ?? 1e-12 });
  });
}

/**
 * A complete inference graph in the layout of HuggingFace's ViTModel ONNX export: input `pixel_values`
 * float [batch, C, H, W] (H, W static, from cfg.imageSize), output `last_hidden_state` [batch, 1 + P, hidden].
 * Parameters are unscoped (`embeddings.patch.weight`, `encoder.layer0...`, `norm.weight`).
 */
export function buildVitGraph(cfg: VitConfig, opts: { name?: string } = {}): Graph {
  const g = new Graph(opts.name ?? 'vit');
  const { h, w } = vitGrid(cfg);
  const px = g.input('pixel_values', cfg.dtype ?? 'float32', ['batch', cfg.channels ?? 3, h, w]);
  g.output(vit(g, '', px, { ...cfg, training: false }), 'last_hidden_state');
  return g;
}
