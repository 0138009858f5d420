// Where a BERT/ViT model comes from: a local directory in the transformers.js layout, the model cache
// (where earlier downloads landed), or, only when the user asks, the Hugging Face Hub. Offline is the
// default so a machine without internet fails at once with directions instead of waiting on a socket.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type ModelKind = 'text' | 'image';

/** Files transformers.js reads for each kind (fp32 weights). */
export const REQUIRED_FILES: Record<ModelKind, string[]> = {
  text: ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'],
  image: ['config.json', 'preprocessor_config.json', 'onnx/model.onnx'],
};

export interface ModelSource {
  /** What transformers.js is given: an absolute directory, or a Hub id resolved under modelsDir. */
  id: string;
  /** The directory the files are (or, for a download, will be) in. */
  dir: string;
  download: boolean;
}

const HUB_ID = /^[\w.-]+(\/[\w.-]+)?$/;

function checkLayout(dir: string, kind: ModelKind, what: string): void {
  const missing = REQUIRED_FILES[kind].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new Error(
      `${what}: ${dir} lacks ${missing.join(', ')} (a transformers.js ${kind} model directory holds ${REQUIRED_FILES[kind].join(', ')})`,
    );
  }
}

/**
 * Resolves --text-model / --image-model. `modelsDir` is the cache that downloads go to (transformers.js
 * env.cacheDir) and that is searched for Hub ids (env.localModelPath), so a model downloaded once is
 * found offline later.
 */
export function resolveModel(
  spec: string,
  kind: ModelKind,
  opts: { modelsDir: string; download: boolean; flag: string },
): ModelSource {
  const what = `${opts.flag} ${spec}`;
  const asPath = resolve(spec);
  if (existsSync(asPath)) {
    if (!statSync(asPath).isDirectory())
      throw new Error(
        `${what}: ${asPath} is a file; give the model directory (holding ${REQUIRED_FILES[kind].join(', ')})`,
      );
    checkLayout(asPath, kind, what);
    return { id: asPath, dir: asPath, download: false };
  }
  if (!HUB_ID.test(spec))
    throw new Error(`${what}: no such directory (${asPath}), and not a Hugging Face Hub id (owner/name)`);
  const cached = join(opts.modelsDir, spec);
  if (existsSync(cached) && REQUIRED_FILES[kind].every((f) => existsSync(join(cached, f))))
    return { id: spec, dir: cached, download: false };
  if (!opts.download) {
    throw new Error(
      `${what}: not found offline. Looked for the directory ${asPath} and for the model cache ${cached}. ` +
        `Pass --download to fetch it from the Hugging Face Hub (needs internet; files land in ${cached}), ` +
        `or place a transformers.js model directory (${REQUIRED_FILES[kind].join(', ')}) at either path.`,
    );
  }
  return { id: spec, dir: cached, download: true };
}
