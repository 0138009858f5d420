import { ADAM_DEFAULTS } from '../graph/adam.js';
import { serialize } from '../graph/emit.js';
import type { Graph } from '../graph/graph.js';
import { buildBertGraph } from '../graph/layers/bert.js';
import { buildVitGraph } from '../graph/layers/vit.js';
import { HM4SR_DEFAULTS, type Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildServingGraph } from '../graph/models/hm4sr-serve.js';
import { buildCatalogGraph, buildEvalGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep } from '../graph/train-step.js';
import { allocate } from '../graph/types.js';
import { type GraphCoverage, cudaCoverage } from '../runtime/cuda-coverage.js';
import { intervalBucket } from './batch.js';
import { DEFAULT_TOP_K } from './export.js';

/**
 * The model the families are built for: the default HM4SR (every modality, both MoEs, CP, IDCL and PCL, both
 * time embeddings), the superset of what the presets and ablations emit. Sizes are small (they change no op).
 */
export const COVERAGE_MODEL: Hm4srConfig = {
  ...HM4SR_DEFAULTS,
  numItems: 40,
  numCategories: 5,
  intervalBuckets: 12,
  calendarSize: 366,
  textDim: 16,
  imageDim: 16,
};

/** Zeros for every parameter: the families that carry their weights inline need values, whose contents change no op. */
const zeros = (g: Graph) =>
  new Map(
    [...g.params.values()].map(({ spec }) => [
      spec.name,
      allocate(
        spec.dtype,
        spec.dims.reduce((a, b) => a * b, 1),
      ),
    ]),
  );

/**
 * Every graph the product runs on CUDA, built the way the product builds it: the training step and the K-step
 * Loop as the trainer does (host-fed dropout draws), the evaluation and catalog graphs as the Evaluator does,
 * the serving model.onnx as export writes it, and the BERT / ViT featurizer models as `featurize` writes them.
 */
export function cudaGraphFamilies(c: Hm4srConfig = COVERAGE_MODEL): { name: string; bytes: Uint8Array }[] {
  const model = hm4srModel(c);
  const step = buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 0, fedDraws: true });
  const loop = buildTrainLoop(model, { adam: ADAM_DEFAULTS, seed: 0, fedDraws: true });
  const enc = { mu: 1, maxBucket: c.intervalBuckets - 1, absTime: 'days' as const, timeOrigin: 1.5e9 };
  // A chunking config gets the chunked serving TopK too (the product chunks it above 262,144 items only).
  const serving = buildServingGraph(c, enc, DEFAULT_TOP_K, (x) => intervalBucket(x, enc.mu), 'hm4sr', c.catalogChunk);
  const bert = buildBertGraph({ vocab: 64, hidden: 32, layers: 1, heads: 2, intermediate: 64, maxPositions: 32 });
  const vit = buildVitGraph({ imageSize: 32, patchSize: 16, hidden: 32, layers: 1, heads: 2, intermediate: 64 });
  return [
    { name: 'train-step', bytes: serialize(step.graph, { params: 'inputs' }) },
    { name: 'train-loop', bytes: serialize(loop.graph, { params: 'inputs' }) },
    { name: 'eval', bytes: serialize(buildEvalGraph(c, 'hm4sr', { catalogInput: true }), { params: 'inputs' }) },
    { name: 'catalog', bytes: serialize(buildCatalogGraph(c), { params: 'inputs' }) },
    {
      name: 'serving',
      bytes: serialize(serving.graph, {
        params: 'initializers',
        values: zeros(serving.graph),
        inputDefaults: serving.defaults,
      }),
    },
    { name: 'bert', bytes: serialize(bert, { params: 'initializers', values: zeros(bert) }) },
    { name: 'vit', bytes: serialize(vit, { params: 'initializers', values: zeros(vit) }) },
  ];
}

/** Each family checked against ORT's CUDA kernel table (runtime/cuda-coverage.ts). */
export const cudaGraphCoverage = (c?: Hm4srConfig): GraphCoverage[] =>
  cudaGraphFamilies(c).map((f) => cudaCoverage(f.name, f.bytes));
