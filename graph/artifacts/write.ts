import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type CheckpointData,
  type CheckpointParam,
  checkCheckpointMatches,
  checkpointValues,
  encodeCheckpoint,
  readCheckpoint,
} from './checkpoint.js';
import type { AdamConfig } from '../adam.js';
import type { ParamSpec } from '../graph.js';
import type { LossModel } from '../model.js';
import type { TensorSpec } from '../types.js';
import { onnx } from '../onnx-proto.js';
import { probeParams } from '../train-step.js';
import { type EvalSpec, ORT_NAMES, adamWAttributes, buildArtifactModels } from './build.js';

/** The file names onnxruntime's examples use for the four artifacts, plus hm4sr's description of them. */
export const ARTIFACT_FILES = {
  training: 'training_model.onnx',
  eval: 'eval_model.onnx',
  optimizer: 'optimizer_model.onnx',
  checkpoint: 'checkpoint',
  manifest: 'artifacts.json',
} as const;

export interface ArtifactOptions {
  adam: AdamConfig;
  /** Values of every parameter, trainable and frozen (feature tables, labels, frozen experts). */
  values: Map<string, Float32Array>;
  /** Adam state to resume from (e.g. a StepRunner's OptimizerState); default: step 0, zero moments. */
  optimizer?: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  /** Checkpoint property bag: epoch, seed, config JSON, dataset fingerprint, ... */
  properties?: Record<string, number | string>;
  /** Eval model outputs over their own batch signature; default: the loss and its terms over model.batch. */
  evalOutputs?: EvalSpec;
  /** Base seed of the training model's random ops (Dropout). */
  seed?: number;
  /**
   * Bake adam.lr into the optimizer model instead of reading ORT's `learning_rate` feed. onnxruntime does not
   * take the rate from the checkpoint: it trains at its default 1e-3 unless the application calls
   * SetLearningRate (C/C++/Python/C#/Java); onnxruntime-web has no such call. Default false.
   */
  fixedLearningRate?: boolean;
}

/** artifacts.json: what each model takes and returns, in the order onnxruntime uses. */
export interface ArtifactManifest {
  format: 'hm4sr.ort-training-artifacts/1';
  model: string;
  files: typeof ARTIFACT_FILES;
  trainInputs: TensorSpec[];
  trainOutputs: TensorSpec[];
  evalInputs: TensorSpec[];
  evalOutputs: TensorSpec[];
  /** Parameters in the training model's input order: the order of getContiguousParameters / loadParametersBuffer. */
  params: { name: string; dims: number[]; trainable: boolean }[];
  optimizer: {
    op: 'com.microsoft.AdamWOptimizer';
    attributes: ReturnType<typeof adamWAttributes>;
    /** The configured rate: set it in ORT with SetLearningRate unless `fixedLearningRate` baked it in. */
    learningRate: number;
    fixedLearningRate: boolean;
    step: number;
  };
  properties: Record<string, number | string>;
}

export interface BuiltArtifacts {
  files: Record<(typeof ARTIFACT_FILES)[keyof typeof ARTIFACT_FILES], Uint8Array>;
  manifest: ArtifactManifest;
  checkpoint: CheckpointData;
}

const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** The checkpoint for a model's parameters, checked against the model (names, shapes, values, moments). */
function artifactCheckpoint(
  params: ParamSpec[],
  opts: Pick<ArtifactOptions, 'adam' | 'values' | 'optimizer' | 'properties'>,
): CheckpointData {
  const known = new Set(params.map((p) => p.name));
  for (const k of opts.values.keys())
    if (!known.has(k)) throw new Error(`a value is given for ${k}, which is not a parameter of the model`);
  const ps: CheckpointParam[] = params.map((s) => {
    const data = opts.values.get(s.name);
    if (!data) throw new Error(`no value for parameter ${s.name} [${s.dims.join(', ')}]`);
    if (data.length !== numel(s.dims))
      throw new Error(`parameter ${s.name}: ${data.length} values for shape [${s.dims.join(', ')}]`);
    return { name: s.name, dims: s.dims, data, trainable: s.trainable };
  });
  const trainable = params.filter((s) => s.trainable);
  const moments = (src: Map<string, Float32Array> | undefined, label: string) =>
    new Map(
      trainable.map((s) => {
        const x = src ? src.get(s.name) : new Float32Array(numel(s.dims));
        if (!x) throw new Error(`optimizer state has no ${label} for trainable parameter ${s.name}`);
        return [s.name, x];
      }),
    );
  const c: CheckpointData = {
    params: ps,
    optimizer: {
      step: opts.optimizer?.step ?? 0,
      lr: opts.adam.lr,
      m: moments(opts.optimizer?.m, 'first moment'),
      v: moments(opts.optimizer?.v, 'second moment'),
    },
    properties: { ...(opts.properties ?? {}) },
  };
  checkCheckpointMatches(c, params, '<artifacts>');
  return c;
}

/** Builds the four artifacts (and artifacts.json) in memory. */
function buildArtifacts(model: LossModel, opts: ArtifactOptions): BuiltArtifacts {
  const m = buildArtifactModels(model, {
    adam: opts.adam,
    seed: opts.seed,
    eval: opts.evalOutputs,
    fixedLearningRate: opts.fixedLearningRate,
  });
  const checkpoint = artifactCheckpoint(m.params, opts);
  const enc = (p: Parameters<typeof onnx.ModelProto.encode>[0]) => onnx.ModelProto.encode(p).finish();
  const manifest: ArtifactManifest = {
    format: 'hm4sr.ort-training-artifacts/1',
    model: model.name,
    files: ARTIFACT_FILES,
    trainInputs: model.batch,
    trainOutputs: m.trainOutputs,
    evalInputs: opts.evalOutputs?.batch ?? model.batch,
    evalOutputs: m.evalOutputs,
    params: m.params.map((p) => ({ name: p.name, dims: p.dims, trainable: p.trainable })),
    optimizer: {
      op: 'com.microsoft.AdamWOptimizer',
      attributes: adamWAttributes(opts.adam),
      learningRate: opts.adam.lr,
      fixedLearningRate: !!opts.fixedLearningRate,
      step: checkpoint.optimizer!.step,
    },
    properties: checkpoint.properties,
  };
  return {
    files: {
      [ARTIFACT_FILES.training]: enc(m.trainingProto),
      [ARTIFACT_FILES.eval]: enc(m.evalProto),
      [ARTIFACT_FILES.optimizer]: enc(m.optimizerProto),
      [ARTIFACT_FILES.checkpoint]: encodeCheckpoint(checkpoint),
      [ARTIFACT_FILES.manifest]: new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'),
    } as BuiltArtifacts['files'],
    manifest,
    checkpoint,
  };
}

function writeDurable(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** An existing outDir may be replaced only when it is empty or holds nothing but artifact files. */
function checkReplaceable(outDir: string): boolean {
  if (!existsSync(outDir)) return false;
  if (!statSync(outDir).isDirectory())
    throw new Error(`cannot write training artifacts to ${outDir}: it exists and is not a directory`);
  const allowed = new Set<string>(Object.values(ARTIFACT_FILES));
  const foreign = readdirSync(outDir).filter((f) => !allowed.has(f));
  if (foreign.length > 0)
    throw new Error(
      `refusing to replace ${outDir}: it holds files that are not training artifacts (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`,
    );
  return true;
}

/**
 * Writes training_model.onnx, eval_model.onnx, optimizer_model.onnx, checkpoint and artifacts.json into
 * outDir atomically: everything is built in memory, written and fsynced in a temporary sibling directory,
 * then renamed into place (an existing artifact folder is swapped out and removed). On any error nothing
 * is left behind and an existing outDir is untouched.
 */
export function writeArtifacts(model: LossModel, outDir: string, opts: ArtifactOptions): ArtifactManifest {
  const out = resolve(outDir);
  const replace = checkReplaceable(out);
  const built = buildArtifacts(model, opts);
  const parent = dirname(out);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(out)}.tmp-${tag}`);
  const old = join(parent, `.${basename(out)}.old-${tag}`);
  try {
    mkdirSync(tmp);
    for (const [name, bytes] of Object.entries(built.files)) writeDurable(join(tmp, name), bytes);
    fsyncDir(tmp);
    if (replace) {
      renameSync(out, old);
      try {
        renameSync(tmp, out);
      } catch (e) {
        renameSync(old, out);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, out);
    }
    fsyncDir(parent);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return built.manifest;
}

/** writeArtifacts' options from a checkpoint: parameter values, Adam state and properties. */
function artifactInputsFromCheckpoint(c: CheckpointData): Pick<ArtifactOptions, 'values' | 'optimizer' | 'properties'> {
  return {
    values: checkpointValues(c),
    ...(c.optimizer ? { optimizer: { step: c.optimizer.step, m: c.optimizer.m, v: c.optimizer.v } } : {}),
    properties: c.properties,
  };
}

/**
 * `hm4sr export-artifacts` in one call: reads a run's checkpoint, checks it against the model (the first
 * missing, extra, reshaped or re-split parameter is named), and writes the artifacts with its parameters,
 * Adam state and properties (`opts.properties` are merged over the checkpoint's).
 */
export function exportArtifacts(
  model: LossModel,
  checkpointPath: string,
  outDir: string,
  opts: Omit<ArtifactOptions, 'values' | 'optimizer'>,
): ArtifactManifest {
  const c = readCheckpoint(checkpointPath);
  checkCheckpointMatches(c, probeParams(model), checkpointPath);
  const from = artifactInputsFromCheckpoint(c);
  return writeArtifacts(model, outDir, {
    ...opts,
    ...from,
    properties: { ...from.properties, ...(opts.properties ?? {}) },
  });
}

export { ORT_NAMES };
