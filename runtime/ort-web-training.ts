/**
 * Loads onnxruntime-web 1.19.2's training build (the last onnxruntime JavaScript release with the
 * on-device-training API) in Node: the package's exports hide `./training` from Node (`node: null`), so the
 * CommonJS bundle is required by file path; the WASM runs single-threaded with its binaries read from the
 * package's dist folder. Installed as the dev dependency alias `onnxruntime-web-training`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ortWebDist } from './ort-web.js';

export type OrtWebTensorType = 'float32' | 'int64' | 'int32' | 'bool' | 'float64';

/** The part of onnxruntime-common's API (1.19) that hm4sr uses. */
export interface OrtWebTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Float64Array | boolean[];
}
export interface OrtWebTrainingSession {
  readonly trainingInputNames: readonly string[];
  readonly trainingOutputNames: readonly string[];
  readonly evalInputNames: readonly string[];
  readonly evalOutputNames: readonly string[];
  runTrainStep(feeds: Record<string, OrtWebTensor>): Promise<Record<string, OrtWebTensor>>;
  runOptimizerStep(): Promise<void>;
  lazyResetGrad(): Promise<void>;
  runEvalStep(feeds: Record<string, OrtWebTensor>): Promise<Record<string, OrtWebTensor>>;
  getParametersSize(trainableOnly: boolean): Promise<number>;
  getContiguousParameters(trainableOnly: boolean): Promise<OrtWebTensor>;
  loadParametersBuffer(buffer: Uint8Array, trainableOnly: boolean): Promise<void>;
  release(): Promise<void>;
}
export interface OrtWeb {
  env: { wasm: { numThreads?: number; wasmPaths?: string; simd?: boolean }; logLevel?: string };
  Tensor: new (type: OrtWebTensorType, data: unknown, dims?: readonly number[]) => OrtWebTensor;
  TrainingSession: {
    create(
      artifacts: {
        checkpointState: string | Uint8Array;
        trainModel: string | Uint8Array;
        evalModel?: string | Uint8Array;
        optimizerModel?: string | Uint8Array;
      },
      sessionOptions?: Record<string, unknown>,
    ): Promise<OrtWebTrainingSession>;
  };
}

let cached: OrtWeb | null = null;

/** onnxruntime-web's training API, ready for Node (one thread, WASM files from its dist folder). */
export function loadOrtWebTraining(): OrtWeb {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const dist = ortWebDist();
  const ort = require(join(dist, 'ort.training.wasm.min.js')) as OrtWeb;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = dist + '/';
  cached = ort;
  return ort;
}

/**
 * A TrainingSession over an artifact folder (training_model.onnx, eval_model.onnx, optimizer_model.onnx,
 * checkpoint). The files are read here and handed over as bytes: in Node, onnxruntime-web treats a string
 * as a URL to fetch, which fails for file paths.
 */
export async function openTrainingSession(
  dir: string,
  opts: { eval?: boolean; optimizer?: boolean } = {},
): Promise<OrtWebTrainingSession> {
  const ort = loadOrtWebTraining();
  const read = (f: string) => new Uint8Array(readFileSync(join(dir, f)));
  return ort.TrainingSession.create({
    checkpointState: read('checkpoint'),
    trainModel: read('training_model.onnx'),
    ...(opts.eval === false ? {} : { evalModel: read('eval_model.onnx') }),
    ...(opts.optimizer === false ? {} : { optimizerModel: read('optimizer_model.onnx') }),
  });
}

/**
 * onnxruntime-web 1.19's training handler passes feeds to the C API in the feeds object's key order, not by
 * name: a feeds object whose keys are not in the model's input order silently mixes inputs up (or aborts
 * in the WASM with a bare number as the error). Reorders feeds to `names` (trainingInputNames or
 * evalInputNames) and names any missing input.
 */
function feedsInOrder<T>(names: readonly string[], feeds: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const n of names) {
    if (!(n in feeds)) throw new Error(`missing input ${n} (the model takes ${names.join(', ')})`);
    out[n] = feeds[n];
  }
  const extra = Object.keys(feeds).filter((k) => !names.includes(k));
  if (extra.length) throw new Error(`unknown input ${extra[0]} (the model takes ${names.join(', ')})`);
  return out;
}

/** onnxruntime-web's WASM reports some C++ failures as a bare number (an exception pointer): name the call instead. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (typeof e === 'number')
      throw new Error(
        `onnxruntime-web aborted in ${what} (C++ exception ${e}; check input names, order, dtypes and shapes)`,
      );
    throw e;
  }
}

/** runTrainStep with the feeds put in the model's input order. */
export function trainStep(
  s: OrtWebTrainingSession,
  feeds: Record<string, OrtWebTensor>,
): Promise<Record<string, OrtWebTensor>> {
  return call('runTrainStep', () => s.runTrainStep(feedsInOrder(s.trainingInputNames, feeds)));
}

/**
 * runEvalStep with ordered feeds and correctly named results: onnxruntime-web 1.19 keys eval results by the
 * TRAINING model's output names (eval output i comes back as trainingOutputNames[i]), so an eval model may
 * have at most as many outputs as the training model there.
 */
export async function evalStep(
  s: OrtWebTrainingSession,
  feeds: Record<string, OrtWebTensor>,
): Promise<Record<string, OrtWebTensor>> {
  if (s.evalOutputNames.length > s.trainingOutputNames.length) {
    throw new Error(
      `onnxruntime-web returns eval outputs under the training outputs' names: ${s.evalOutputNames.length} eval outputs cannot come back through ${s.trainingOutputNames.length} names`,
    );
  }
  const r = await call('runEvalStep', () => s.runEvalStep(feedsInOrder(s.evalInputNames, feeds)));
  return Object.fromEntries(s.evalOutputNames.map((n, i) => [n, r[n] ?? r[s.trainingOutputNames[i]]]));
}
