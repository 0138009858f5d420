/**
 * onnxruntime-web's plain inference build (WASM backend) in Node, from the `onnxruntime-web-training` dev
 * dependency (onnxruntime-web 1.19.2 under an npm alias): the same runtime a browser runs model.onnx in.
 * Single-threaded, WASM binaries read from the package's dist folder.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface OrtWebInferenceTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}
export interface OrtWebInferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtWebInferenceTensor>, fetches?: string[]): Promise<Record<string, OrtWebInferenceTensor>>;
  release(): Promise<void>;
}
export interface OrtWebInference {
  env: { wasm: { numThreads?: number; wasmPaths?: string }; logLevel?: string };
  Tensor: new (type: string, data: unknown, dims?: readonly number[]) => OrtWebInferenceTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtWebInferenceSession> };
}

/** The folder holding onnxruntime-web's browser bundles and WASM files (the demo page copies them). */
export function ortWebDist(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('onnxruntime-web-training'));
  } catch {
    throw new Error(
      'onnxruntime-web is not installed: run `npm ci` (it is the dev dependency onnxruntime-web-training = onnxruntime-web@1.19.2)',
    );
  }
}

let cached: OrtWebInference | null = null;

export function loadOrtWeb(): OrtWebInference {
  if (cached) return cached;
  const dist = ortWebDist();
  const ort = createRequire(import.meta.url)(join(dist, 'ort.wasm.min.js')) as OrtWebInference;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = dist + '/';
  cached = ort;
  return ort;
}
