import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { buildInferenceGraph } from '../graph/models/hm4sr.js';
import { type Manifest, saveModel } from '../graph/manifest.js';
import type { ServingMeta } from '../runtime/recommender.js';
import type { RunConfig } from './config.js';
import type { Prepared } from './prepare.js';

export const DEFAULT_TOP_K = 100;


/**
 * model.onnx: the inference graph with trained weights inline (one portable file; ORT folds the catalog
 * projection at load), item tokens and encoding settings in its metadata.
 */
export function exportInference(mc: Hm4srConfig, values: Map<string, Float32Array>, p: Prepared, rc: RunConfig, path: string, topK = DEFAULT_TOP_K): Manifest {
  const g = buildInferenceGraph(mc, topK);
  const meta: ServingMeta = {
    model: mc,
    encode: { mu: rc.optim.mu, maxBucket: mc.intervalBuckets - 1, absTime: rc.optim.absTime, timeOrigin: p.ds.firstTimestamp },
    topK: Math.min(topK, mc.numItems),
  };
  const used = new Map([...g.params.keys()].map((k) => [k, values.get(k)!]));
  return saveModel(g, path, 'inference', {
    params: 'initializers',
    values: used,
    docString: `HM4SR recommender (${mc.modalities.join('+')}), ${mc.numItems} items; inputs encode user histories (see metadata hm4sr.serving)`,
    metadata: { 'hm4sr.serving': JSON.stringify(meta), 'hm4sr.items': p.ds.itemTokens.join('\n') },
  }, { meta: { serving: meta, itemTokens: p.ds.itemTokens } });
}
