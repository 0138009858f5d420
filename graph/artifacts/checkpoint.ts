/**
 * The project's one checkpoint format: ONNX Runtime's on-device-training checkpoint, a flatbuffer with
 * file identifier "ODTC" and format version 2 (schema: graph/artifacts/fbs/ort_training_checkpoint.fbs).
 *
 *  - module state: trainable parameters in `requires_grad_params`, frozen ones in `frozen_params` (both
 *    vectors always written: onnxruntime rejects a checkpoint that lacks either), float32 tensors with
 *    their data inline in `raw_data`;
 *  - optimizer group "group0" (the only group onnxruntime's Optimizer reads): step, initial learning rate
 *    and, per trainable parameter, the Adam moments as tensors named "momentum0" (first moment, m) and
 *    "momentum1" (second moment, v), the keys of onnxruntime's AdamWOptimizerAlgorithm;
 *  - property bag: int64, float32 and string properties.
 *
 * Properties: a JS number that is a safe integer is stored as an int64 property; any other number as a
 * float property, which onnxruntime defines as float32 (so it comes back rounded to float32: store exact
 * values or structured state as JSON strings).
 */
import { InputError, readInputBytes } from '../input-file.js';
import * as flatbuffers from 'flatbuffers';
import { writeFileAtomic } from '../atomic.js';
import * as fb from './fbs/ort_training_checkpoint_generated.js';

export const CHECKPOINT_IDENTIFIER = 'ODTC';
const CHECKPOINT_VERSION = 2;
/** onnxruntime's optimizer group name and AdamW momentum keys. */
const OPTIMIZER_GROUP = 'group0';
const MOMENT_NAMES = { m: 'momentum0', v: 'momentum1' } as const;

export interface CheckpointParam {
  name: string;
  dims: number[];
  data: Float32Array;
  trainable: boolean;
}

export interface CheckpointData {
  /** Trainable parameters, then frozen ones, each group in the order they were written. */
  params: CheckpointParam[];
  /** Adam state per trainable parameter (absent for a weights-only checkpoint). */
  optimizer?: { step: number; lr: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  /** ORT property bag: ints, floats, strings (epoch, seed, config JSON, dataset fingerprint, RNG state JSON, ...). */
  properties: Record<string, number | string>;
}

export class CheckpointError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`checkpoint ${path}: ${message}`);
    this.name = 'CheckpointError';
  }
}

const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const shape = (dims: number[]) => `[${dims.join(', ')}]`;

// ---------------------------------------------------------------------------------------------- write

function validate(c: CheckpointData, path: string): void {
  const seen = new Set<string>();
  for (const p of c.params) {
    if (seen.has(p.name)) throw new CheckpointError(path, `parameter ${p.name} is listed twice`);
    seen.add(p.name);
    if (!p.dims.every((d) => Number.isInteger(d) && d >= 0))
      throw new CheckpointError(path, `parameter ${p.name} has invalid shape ${shape(p.dims)}`);
    if (p.data.length !== numel(p.dims))
      throw new CheckpointError(path, `parameter ${p.name}: ${p.data.length} values for shape ${shape(p.dims)}`);
  }
  const o = c.optimizer;
  if (!o) return;
  if (!Number.isSafeInteger(o.step) || o.step < 0)
    throw new CheckpointError(path, `optimizer step ${o.step} is not a non-negative integer`);
  for (const [label, map] of [
    ['first moment (m)', o.m],
    ['second moment (v)', o.v],
  ] as const) {
    for (const p of c.params) {
      const x = map.get(p.name);
      if (p.trainable && !x)
        throw new CheckpointError(path, `optimizer state has no ${label} for trainable parameter ${p.name}`);
      if (!p.trainable && x)
        throw new CheckpointError(path, `optimizer state has a ${label} for frozen parameter ${p.name}`);
      if (x && x.length !== p.data.length)
        throw new CheckpointError(path, `${label} of ${p.name} has ${x.length} values, the parameter ${p.data.length}`);
    }
    for (const k of map.keys())
      if (!seen.has(k)) throw new CheckpointError(path, `optimizer state has a ${label} for unknown parameter ${k}`);
  }
}

function tensor(b: flatbuffers.Builder, name: string, dims: number[], data: Float32Array): flatbuffers.Offset {
  const nameOff = b.createString(name);
  const dimsOff = fb.Tensor.createDimsVector(
    b,
    dims.map((d) => BigInt(d)),
  );
  // A byte vector's length prefix is 4-aligned and its data follows it, so the floats are 4-aligned too.
  const rawOff = b.createByteVector(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  fb.Tensor.startTensor(b);
  fb.Tensor.addName(b, nameOff);
  fb.Tensor.addDims(b, dimsOff);
  fb.Tensor.addDataType(b, fb.TensorDataType.FLOAT);
  fb.Tensor.addRawData(b, rawOff);
  return fb.Tensor.endTensor(b);
}

/** The checkpoint's optimizer groups vector: one group of AdamW moments when `c.optimizer` is set, else empty. */
function encodeOptimizerGroups(b: flatbuffers.Builder, c: CheckpointData): flatbuffers.Offset {
  const groups: flatbuffers.Offset[] = [];
  if (c.optimizer) {
    const o = c.optimizer;
    const states = c.params
      .filter((p) => p.trainable)
      .map((p) => {
        const m = tensor(b, MOMENT_NAMES.m, p.dims, o.m.get(p.name)!);
        const v = tensor(b, MOMENT_NAMES.v, p.dims, o.v.get(p.name)!);
        const name = b.createString(p.name);
        const moms = fb.ParameterOptimizerState.createMomentumsVector(b, [m, v]);
        return fb.ParameterOptimizerState.createParameterOptimizerState(b, name, moms);
      });
    const gname = b.createString(OPTIMIZER_GROUP);
    const statesOff = fb.OptimizerGroup.createOptimizerStatesVector(b, states);
    groups.push(fb.OptimizerGroup.createOptimizerGroup(b, gname, BigInt(o.step), o.lr, statesOff));
  }
  return fb.Checkpoint.createOptimizerGroupsVector(b, groups);
}

/** The property bag: safe integers as int properties, other numbers as floats, strings as strings. */
function encodePropertyBag(
  b: flatbuffers.Builder,
  properties: CheckpointData['properties'],
  path: string,
): flatbuffers.Offset {
  const ints: flatbuffers.Offset[] = [],
    floats: flatbuffers.Offset[] = [],
    strings: flatbuffers.Offset[] = [];
  for (const [k, v] of Object.entries(properties)) {
    const name = b.createString(k);
    if (typeof v === 'string') strings.push(fb.StringProperty.createStringProperty(b, name, b.createString(v)));
    else if (typeof v !== 'number')
      throw new CheckpointError(path, `property ${k} is a ${typeof v}; properties are numbers or strings`);
    else if (Number.isSafeInteger(v)) ints.push(fb.IntProperty.createIntProperty(b, name, BigInt(v)));
    else floats.push(fb.FloatProperty.createFloatProperty(b, name, v));
  }
  const bag = fb.PropertyBag.createPropertyBag(
    b,
    fb.PropertyBag.createIntsVector(b, ints),
    fb.PropertyBag.createFloatsVector(b, floats),
    fb.PropertyBag.createStringsVector(b, strings),
  );
  return bag;
}

/** Serializes a checkpoint to ORT's flatbuffer bytes (validating names, shapes and optimizer slots). */
export function encodeCheckpoint(c: CheckpointData, path = '<memory>'): Uint8Array {
  validate(c, path);
  let bytes = 1024;
  for (const p of c.params)
    bytes += p.data.byteLength * (p.trainable && c.optimizer ? 3 : 1) + p.name.length * 3 + 64 + 8 * p.dims.length;
  for (const [k, v] of Object.entries(c.properties))
    bytes += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : 8) + 32;
  // Flatbuffers address with 32-bit signed offsets: onnxruntime's format cannot hold more than 2 GiB inline.
  if (bytes >= 2 ** 31)
    throw new CheckpointError(
      path,
      `needs ~${(bytes / 2 ** 30).toFixed(2)} GiB, over the 2 GiB a flatbuffer checkpoint can hold`,
    );
  const b = new flatbuffers.Builder(bytes);

  const trainable = c.params.filter((p) => p.trainable).map((p) => tensor(b, p.name, p.dims, p.data));
  const frozen = c.params.filter((p) => !p.trainable).map((p) => tensor(b, p.name, p.dims, p.data));
  const rg = fb.ModuleState.createRequiresGradParamsVector(b, trainable);
  const fr = fb.ModuleState.createFrozenParamsVector(b, frozen);
  fb.ModuleState.startModuleState(b);
  fb.ModuleState.addRequiresGradParams(b, rg);
  fb.ModuleState.addFrozenParams(b, fr);
  const module = fb.ModuleState.endModuleState(b);

  const groupsOff = encodeOptimizerGroups(b, c);
  const bag = encodePropertyBag(b, c.properties, path);

  fb.Checkpoint.startCheckpoint(b);
  fb.Checkpoint.addVersion(b, CHECKPOINT_VERSION);
  fb.Checkpoint.addModuleState(b, module);
  fb.Checkpoint.addOptimizerGroups(b, groupsOff);
  fb.Checkpoint.addPropertyBag(b, bag);
  b.finish(fb.Checkpoint.endCheckpoint(b), CHECKPOINT_IDENTIFIER);
  return b.asUint8Array();
}

/** Writes the checkpoint atomically (temporary sibling, fsync, rename). */
export function writeCheckpoint(path: string, c: CheckpointData): void {
  writeFileAtomic(path, encodeCheckpoint(c, path));
}

// ----------------------------------------------------------------------------------------------- read

/**
 * Bounds checks for every table, vtable, vector and string the reader touches (the flatbuffers JS
 * runtime reads out-of-range bytes as zeros instead of failing), so a truncated or corrupt file is
 * reported instead of yielding garbage.
 */
type FieldKind =
  | 'scalar1'
  | 'scalar4'
  | 'scalar8'
  | 'string'
  | 'bytes'
  | 'int64s'
  | 'strings'
  | { table: string }
  | { tables: string };
const LAYOUT: Record<string, FieldKind[]> = {
  Tensor: ['string', 'string', 'int64s', 'scalar4', 'bytes', 'strings', 'scalar8'],
  ModuleState: [{ tables: 'Tensor' }, { tables: 'Tensor' }, 'scalar1', 'scalar1'],
  ParameterOptimizerState: ['string', { tables: 'Tensor' }],
  OptimizerGroup: ['string', 'scalar8', 'scalar4', { tables: 'ParameterOptimizerState' }],
  IntProperty: ['string', 'scalar8'],
  FloatProperty: ['string', 'scalar4'],
  StringProperty: ['string', 'string'],
  PropertyBag: [{ tables: 'IntProperty' }, { tables: 'FloatProperty' }, { tables: 'StringProperty' }],
  Checkpoint: ['scalar4', { table: 'ModuleState' }, { tables: 'OptimizerGroup' }, { table: 'PropertyBag' }],
};

// Stays whole: its bounds helpers are closures over one buffer and one table counter, walking LAYOUT.
function verify(buf: Uint8Array): string | null {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = buf.byteLength;
  class Bad extends Error {}
  const need = (at: number, len: number, what: string) => {
    if (at < 0 || len < 0 || at + len > n) throw new Bad(`${what} at byte ${at} (+${len}) lies outside the file`);
  };
  const u32 = (at: number, what: string) => (need(at, 4, what), dv.getUint32(at, true));
  const vector = (at: number, elem: number, what: string) => {
    const start = at + u32(at, what);
    const len = u32(start, what);
    need(start + 4, len * elem, what);
    return { start: start + 4, len };
  };
  let tables = 0;
  const table = (t: number, type: string): void => {
    if (++tables > 10_000_000) throw new Bad('too many tables');
    need(t, 4, type);
    const vt = t - dv.getInt32(t, true);
    need(vt, 4, `${type} vtable`);
    const vtSize = dv.getUint16(vt, true),
      tSize = dv.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2) throw new Bad(`${type} vtable at byte ${vt} is malformed`);
    need(vt, vtSize, `${type} vtable`);
    need(t, tSize, type);
    LAYOUT[type].forEach((kind, i) => {
      const slot = 4 + 2 * i;
      if (slot >= vtSize) return;
      const off = dv.getUint16(vt + slot, true);
      if (!off) return;
      const at = t + off;
      const size = kind === 'scalar1' ? 1 : kind === 'scalar8' ? 8 : 4;
      if (off + size > tSize) throw new Bad(`${type} field ${i} lies outside its table`);
      if (typeof kind === 'string' && kind.startsWith('scalar')) return;
      if (kind === 'string') {
        const s = vector(at, 1, `${type} string`);
        need(s.start + s.len, 1, `${type} string terminator`);
      } else if (kind === 'bytes') vector(at, 1, `${type} bytes`);
      else if (kind === 'int64s') vector(at, 8, `${type} int64 vector`);
      else if (kind === 'strings') {
        const v = vector(at, 4, `${type} string vector`);
        for (let k = 0; k < v.len; k++) {
          const s = vector(v.start + 4 * k, 1, `${type} string`);
          need(s.start + s.len, 1, `${type} string terminator`);
        }
      } else if (typeof kind === 'string') throw new Error(`unhandled field kind ${kind}`);
      else if ('table' in kind) table(at + u32(at, type), kind.table);
      else {
        const v = vector(at, 4, `${type} vector of ${kind.tables}`);
        for (let k = 0; k < v.len; k++) table(v.start + 4 * k + u32(v.start + 4 * k, kind.tables), kind.tables);
      }
    });
  };
  try {
    table(u32(0, 'root offset'), 'Checkpoint');
    return null;
  } catch (e) {
    if (e instanceof Bad) return e.message;
    throw e;
  }
}

function readTensor(t: fb.Tensor, path: string, where: string): { name: string; dims: number[]; data: Float32Array } {
  const name = t.name();
  if (name === null) throw new CheckpointError(path, `a tensor in ${where} has no name`);
  const dims: number[] = [];
  for (let i = 0; i < t.dimsLength(); i++) dims.push(Number(t.dims(i)!));
  if (t.dataType() !== fb.TensorDataType.FLOAT)
    throw new CheckpointError(
      path,
      `tensor ${name} in ${where} has data type ${fb.TensorDataType[t.dataType()] ?? t.dataType()}; only FLOAT is supported`,
    );
  const raw = t.rawDataArray();
  if (raw === null)
    throw new CheckpointError(path, `tensor ${name} in ${where} has no raw data (external data is not supported)`);
  if (raw.byteLength !== numel(dims) * 4)
    throw new CheckpointError(
      path,
      `tensor ${name} in ${where} has ${raw.byteLength} data bytes for shape ${shape(dims)}`,
    );
  // Copy: the result must not alias (or depend on the alignment of) the file buffer.
  const data = new Float32Array(numel(dims));
  new Uint8Array(data.buffer).set(raw);
  return { name, dims, data };
}

/** Fails unless the bytes carry ORT's checkpoint file identifier (naming what they carry instead). */
function checkIdentifier(buf: Uint8Array, path: string): void {
  if (buf.byteLength < 8)
    throw new CheckpointError(
      path,
      `is not an ONNX Runtime training checkpoint: only ${buf.byteLength} bytes (truncated?)`,
    );
  const id = String.fromCharCode(...buf.subarray(4, 8));
  if (id !== CHECKPOINT_IDENTIFIER) {
    const shown = /^[\x20-\x7e]{4}$/.test(id)
      ? `'${id}'`
      : `bytes ${[...buf.subarray(4, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ')}`;
    throw new CheckpointError(
      path,
      `is not an ONNX Runtime training checkpoint: file identifier ${shown}, expected '${CHECKPOINT_IDENTIFIER}'`,
    );
  }
}

/** The module state's parameters, trainable ones first, each name once. */
function readParams(ck: fb.Checkpoint, path: string): CheckpointParam[] {
  const params: CheckpointParam[] = [];
  const ms = ck.moduleState();
  if (ms) {
    if (ms.isNominalState())
      throw new CheckpointError(path, 'is a nominal checkpoint (parameter names without data); it cannot be loaded');
    if (ms.hasExternalData())
      throw new CheckpointError(path, 'keeps its tensors in an external data file, which is not supported');
    for (const [trainable, len, get, field] of [
      [true, ms.requiresGradParamsLength(), (i: number) => ms.requiresGradParams(i), 'requires_grad_params'],
      [false, ms.frozenParamsLength(), (i: number) => ms.frozenParams(i), 'frozen_params'],
    ] as const) {
      // onnxruntime rejects a module state without either vector; so do we (an empty vector is fine).
      if ((trainable ? ms.bb!.__offset(ms.bb_pos, 4) : ms.bb!.__offset(ms.bb_pos, 6)) === 0)
        throw new CheckpointError(path, `module state has no ${field} vector`);
      for (let i = 0; i < len; i++) params.push({ ...readTensor(get(i)!, path, field), trainable });
    }
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) throw new CheckpointError(path, `parameter ${p.name} appears twice`);
      seen.add(p.name);
    }
  }
  return params;
}

/** The AdamW state of the single optimizer group, if any, with both moments of every trainable parameter. */
function readOptimizer(ck: fb.Checkpoint, params: CheckpointParam[], path: string): CheckpointData['optimizer'] {
  let optimizer: CheckpointData['optimizer'];
  for (let g = 0; g < ck.optimizerGroupsLength(); g++) {
    const grp = ck.optimizerGroups(g)!;
    const gname = grp.groupName();
    if (gname !== OPTIMIZER_GROUP)
      throw new CheckpointError(
        path,
        `has optimizer group '${gname}'; only a single group '${OPTIMIZER_GROUP}' is supported`,
      );
    if (optimizer) throw new CheckpointError(path, `has optimizer group '${OPTIMIZER_GROUP}' twice`);
    const step = grp.step();
    if (step < 0n || step > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CheckpointError(path, `optimizer step ${step} is out of range`);
    optimizer = { step: Number(step), lr: grp.initialLearningRate(), m: new Map(), v: new Map() };
    for (let i = 0; i < grp.optimizerStatesLength(); i++) {
      const st = grp.optimizerStates(i)!;
      const pname = st.paramName();
      if (pname === null) throw new CheckpointError(path, `optimizer state ${i} has no parameter name`);
      const param = params.find((p) => p.name === pname);
      if (!param)
        throw new CheckpointError(path, `optimizer state for ${pname}, which is not a parameter of the checkpoint`);
      if (!param.trainable) throw new CheckpointError(path, `optimizer state for frozen parameter ${pname}`);
      for (let k = 0; k < st.momentumsLength(); k++) {
        const t = readTensor(st.momentums(k)!, path, `the optimizer state of ${pname}`);
        const map = t.name === MOMENT_NAMES.m ? optimizer.m : t.name === MOMENT_NAMES.v ? optimizer.v : null;
        if (!map)
          throw new CheckpointError(
            path,
            `optimizer state of ${pname} has moment '${t.name}'; expected '${MOMENT_NAMES.m}' and '${MOMENT_NAMES.v}' (AdamW)`,
          );
        if (shape(t.dims) !== shape(param.dims))
          throw new CheckpointError(
            path,
            `moment ${t.name} of ${pname} has shape ${shape(t.dims)}, the parameter ${shape(param.dims)}`,
          );
        map.set(pname, t.data);
      }
    }
    for (const p of params.filter((q) => q.trainable)) {
      for (const [key, map] of [
        [MOMENT_NAMES.m, optimizer.m],
        [MOMENT_NAMES.v, optimizer.v],
      ] as const) {
        if (!map.has(p.name))
          throw new CheckpointError(path, `optimizer state lacks moment ${key} of trainable parameter ${p.name}`);
      }
    }
  }
  return optimizer;
}

/** The property bag; int properties must fit a JS number exactly. */
function readProperties(ck: fb.Checkpoint, path: string): Record<string, number | string> {
  const properties: Record<string, number | string> = {};
  const bag = ck.propertyBag();
  if (bag) {
    for (let i = 0; i < bag.intsLength(); i++) {
      const p = bag.ints(i)!;
      const v = p.value();
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        throw new CheckpointError(path, `int property ${p.name()} = ${v} does not fit a JS number exactly`);
      properties[p.name() ?? ''] = Number(v);
    }
    for (let i = 0; i < bag.floatsLength(); i++) properties[bag.floats(i)!.name() ?? ''] = bag.floats(i)!.value();
    for (let i = 0; i < bag.stringsLength(); i++)
      properties[bag.strings(i)!.name() ?? ''] = bag.strings(i)!.value() ?? '';
  }
  return properties;
}

/** Parses ORT checkpoint bytes; `path` only names the source in errors. */
export function decodeCheckpoint(buf: Uint8Array, path = '<memory>'): CheckpointData {
  checkIdentifier(buf, path);
  const problem = verify(buf);
  if (problem) throw new CheckpointError(path, `is truncated or corrupt (${buf.byteLength} bytes): ${problem}`);
  const ck = fb.Checkpoint.getRootAsCheckpoint(new flatbuffers.ByteBuffer(buf));
  if (ck.version() !== CHECKPOINT_VERSION)
    throw new CheckpointError(
      path,
      `has checkpoint format version ${ck.version()}; this reader (and onnxruntime 1.19) supports version ${CHECKPOINT_VERSION}`,
    );

  const params = readParams(ck, path);
  const optimizer = readOptimizer(ck, params, path);
  const properties = readProperties(ck, path);
  return { params, ...(optimizer ? { optimizer } : {}), properties };
}

/** Reads a checkpoint file; errors name the file (missing, truncated, foreign, wrong version). */
export function readCheckpoint(path: string): CheckpointData {
  let buf: Buffer;
  try {
    buf = readInputBytes(path);
  } catch (e) {
    throw new CheckpointError(path, e instanceof InputError ? e.detail : (e as Error).message);
  }
  return decodeCheckpoint(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/**
 * Checks that a checkpoint holds exactly the model's parameters, with the same shapes and the same
 * trainable/frozen split; throws naming the first mismatch (in the model's parameter order, then the
 * checkpoint's extra parameters).
 */
export function checkCheckpointMatches(
  c: CheckpointData,
  specs: { name: string; dims: number[]; trainable: boolean }[],
  path: string,
): void {
  const byName = new Map(c.params.map((p) => [p.name, p]));
  for (const s of specs) {
    const p = byName.get(s.name);
    if (!p)
      throw new CheckpointError(
        path,
        `parameter ${s.name} ${shape(s.dims)} of the model is missing from the checkpoint`,
      );
    if (shape(p.dims) !== shape(s.dims))
      throw new CheckpointError(
        path,
        `parameter ${s.name} has shape ${shape(p.dims)} in the checkpoint, the model expects ${shape(s.dims)}`,
      );
    if (p.trainable !== s.trainable) {
      throw new CheckpointError(
        path,
        `parameter ${s.name} is ${p.trainable ? 'trainable' : 'frozen'} in the checkpoint but ${s.trainable ? 'trainable' : 'frozen'} in the model`,
      );
    }
  }
  const known = new Set(specs.map((s) => s.name));
  for (const p of c.params) {
    if (!known.has(p.name))
      throw new CheckpointError(
        path,
        `checkpoint parameter ${p.name} ${shape(p.dims)} is not a parameter of the model`,
      );
  }
}

/** A training state (train/step-runner.ts's OptimizerState) as checkpoint data. */
export function checkpointFromState(
  specs: { name: string; dims: number[]; trainable: boolean }[],
  state: {
    params: Map<string, Float32Array>;
    m?: Map<string, Float32Array>;
    v?: Map<string, Float32Array>;
    step?: number;
  },
  opts: { lr?: number; properties?: Record<string, number | string> } = {},
): CheckpointData {
  const params = specs.map((s) => {
    const data = state.params.get(s.name);
    if (!data) throw new Error(`no value for parameter ${s.name}`);
    return { name: s.name, dims: s.dims, data, trainable: s.trainable };
  });
  const withAdam = state.m !== undefined && state.v !== undefined;
  return {
    params,
    ...(withAdam ? { optimizer: { step: state.step ?? 0, lr: opts.lr ?? 0, m: state.m!, v: state.v! } } : {}),
    properties: { ...(opts.properties ?? {}) },
  };
}

/** A checkpoint's parameter values by name (views of its data, not copies). */
export function checkpointValues(c: CheckpointData): Map<string, Float32Array> {
  return new Map(c.params.map((p) => [p.name, p.data]));
}

/** Parameter values and Adam state of a checkpoint, in OptimizerState's shape, to resume training from. */
export function stateFromCheckpoint(
  c: CheckpointData,
  path = '<memory>',
): { params: Map<string, Float32Array>; m: Map<string, Float32Array>; v: Map<string, Float32Array>; step: number } {
  if (!c.optimizer)
    throw new CheckpointError(path, 'has no optimizer state (weights only): training cannot resume from it');
  return { params: checkpointValues(c), m: c.optimizer.m, v: c.optimizer.v, step: c.optimizer.step };
}
