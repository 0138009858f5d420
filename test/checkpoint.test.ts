import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type CheckpointData,
  checkCheckpointMatches,
  checkpointFromState,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  stateFromCheckpoint,
  writeCheckpoint,
} from '../graph/artifacts/checkpoint.js';
import { rng } from './util/gradcheck.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-ckpt-'));
const r = rng(3);
const rand = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);

function sample(): CheckpointData {
  const params = [
    { name: 'enc.weight', dims: [3, 4], data: rand(12), trainable: true },
    { name: 'data.item_text', dims: [5, 2], data: rand(10), trainable: false },
    { name: 'enc.bias', dims: [4], data: rand(4), trainable: true },
    { name: 'scalar', dims: [], data: rand(1), trainable: true },
    { name: 'empty', dims: [0, 3], data: new Float32Array(0), trainable: false },
  ];
  const tr = params.filter((p) => p.trainable);
  return {
    params,
    optimizer: {
      step: 17,
      lr: 0.0025,
      m: new Map(tr.map((p) => [p.name, rand(p.data.length)])),
      v: new Map(tr.map((p) => [p.name, rand(p.data.length).map(Math.abs)])),
    },
    properties: {
      epoch: 3,
      seed: -42,
      big: 2 ** 53 - 1,
      best: 0.25,
      nan: Number.NaN,
      config: JSON.stringify({ hidden: 8, name: 'tiny' }),
      fingerprint: 'sha256:abc',
      unicode: 'héllo ✓',
      empty: '',
    },
  };
}

const specs = (c: CheckpointData) => c.params.map((p) => ({ name: p.name, dims: p.dims, trainable: p.trainable }));
const byName = (c: CheckpointData) => new Map(c.params.map((p) => [p.name, p]));

test('a checkpoint round-trips exactly: parameters, trainable split, Adam state, properties', () => {
  const c = sample();
  const path = join(dir, 'a.ckpt');
  writeCheckpoint(path, c);
  assert.equal(
    readdirSync(dir).filter((f) => f.includes('.tmp')),
    [],
    'no temporary file left',
  );
  const bytes = readFileSync(path);
  assert.is(bytes.subarray(4, 8).toString('latin1'), 'ODTC');
  const d = readCheckpoint(path);
  assert.is(d.params.length, c.params.length);
  // requires_grad_params first, then frozen_params, each in written order.
  assert.equal(
    d.params.map((p) => p.name),
    ['enc.weight', 'enc.bias', 'scalar', 'data.item_text', 'empty'],
  );
  const got = byName(d);
  for (const p of c.params) {
    const q = got.get(p.name)!;
    assert.equal(q.dims, p.dims, p.name);
    assert.is(q.trainable, p.trainable, p.name);
    assert.equal(Array.from(q.data), Array.from(p.data), p.name);
  }
  assert.ok(d.optimizer);
  assert.is(d.optimizer!.step, 17);
  assert.is(d.optimizer!.lr, Math.fround(0.0025));
  for (const [k, m] of c.optimizer!.m) assert.equal(Array.from(d.optimizer!.m.get(k)!), Array.from(m), `m ${k}`);
  for (const [k, v] of c.optimizer!.v) assert.equal(Array.from(d.optimizer!.v.get(k)!), Array.from(v), `v ${k}`);
  assert.is(d.optimizer!.m.size, 3);
  const props = d.properties;
  assert.is(props.epoch, 3);
  assert.is(props.seed, -42);
  assert.is(props.big, 2 ** 53 - 1);
  assert.is(props.best, 0.25);
  assert.ok(Number.isNaN(props.nan as number));
  assert.equal(JSON.parse(props.config as string), { hidden: 8, name: 'tiny' });
  assert.is(props.fingerprint, 'sha256:abc');
  assert.is(props.unicode, 'héllo ✓');
  assert.is(props.empty, '');
  assert.is(Object.keys(props).length, Object.keys(c.properties).length);
  // Writing what was read gives the same bytes up to ordering: re-encoding the decoded data is stable.
  assert.equal(encodeCheckpoint(decodeCheckpoint(encodeCheckpoint(d))), encodeCheckpoint(d));
  checkCheckpointMatches(d, specs(c), path);
});

test('a weights-only checkpoint has no optimizer state; float properties are float32', () => {
  const c = sample();
  delete c.optimizer;
  c.properties = { lr: 0.1 };
  const d = decodeCheckpoint(encodeCheckpoint(c));
  assert.is(d.optimizer, undefined);
  assert.is(d.properties.lr, Math.fround(0.1));
});

const throwsWith = (fn: () => unknown, re: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
};

test('truncated, foreign, empty, missing and wrong-version files are rejected, naming the file', () => {
  const path = join(dir, 'b.ckpt');
  writeCheckpoint(path, sample());
  const bytes = readFileSync(path);
  // (The last byte or so may be alignment padding that nothing references: losing it loses no data.)
  for (const cut of [bytes.length - 2, bytes.length - 40, Math.floor(bytes.length / 2), 64, 12]) {
    const p = join(dir, `cut${cut}.ckpt`);
    writeFileSync(p, bytes.subarray(0, cut));
    throwsWith(
      () => readCheckpoint(p),
      new RegExp(`checkpoint ${p.replace(/[.]/g, '\\.')}: is truncated or corrupt \\(${cut} bytes\\)`),
    );
  }
  writeFileSync(join(dir, 'short'), bytes.subarray(0, 5));
  throwsWith(
    () => readCheckpoint(join(dir, 'short')),
    /short: is not an ONNX Runtime training checkpoint: only 5 bytes/,
  );
  writeFileSync(join(dir, 'empty'), new Uint8Array(0));
  throwsWith(
    () => readCheckpoint(join(dir, 'empty')),
    /empty: is not an ONNX Runtime training checkpoint: only 0 bytes/,
  );
  writeFileSync(join(dir, 'model.onnx'), '\x08\x08\x12\x05hm4sr:\x00\x00\x00\x00\x00');
  throwsWith(
    () => readCheckpoint(join(dir, 'model.onnx')),
    /model\.onnx: is not an ONNX Runtime training checkpoint: file identifier/,
  );
  const ortm = Buffer.from(bytes);
  ortm.write('ORTM', 4, 'latin1');
  writeFileSync(join(dir, 'ortm'), ortm);
  throwsWith(() => readCheckpoint(join(dir, 'ortm')), /file identifier 'ORTM', expected 'ODTC'/);
  throwsWith(() => readCheckpoint(join(dir, 'nope')), /nope: file does not exist/);
  // Version 1 (no nominal-state field) is not what onnxruntime 1.19 accepts either.
  const v1 = Buffer.from(bytes);
  const root = v1.readUInt32LE(0);
  const vt = root - v1.readInt32LE(root);
  const versionAt = root + v1.readUInt16LE(vt + 4);
  v1.writeInt32LE(1, versionAt);
  writeFileSync(join(dir, 'v1'), v1);
  throwsWith(() => readCheckpoint(join(dir, 'v1')), /v1: has checkpoint format version 1; .* supports version 2/);
});

test('checkCheckpointMatches names the first missing, extra, reshaped or re-split parameter', () => {
  const c = sample();
  const s = specs(c);
  const path = 'run/ckpt';
  throwsWith(
    () => checkCheckpointMatches(c, [...s, { name: 'new.weight', dims: [2], trainable: true }], path),
    /checkpoint run\/ckpt: parameter new\.weight \[2\] of the model is missing from the checkpoint/,
  );
  throwsWith(
    () =>
      checkCheckpointMatches(
        c,
        s.filter((p) => p.name !== 'enc.bias'),
        path,
      ),
    /checkpoint parameter enc\.bias \[4\] is not a parameter of the model/,
  );
  throwsWith(
    () =>
      checkCheckpointMatches(
        c,
        s.map((p) => (p.name === 'enc.weight' ? { ...p, dims: [4, 3] } : p)),
        path,
      ),
    /parameter enc\.weight has shape \[3, 4\] in the checkpoint, the model expects \[4, 3\]/,
  );
  throwsWith(
    () =>
      checkCheckpointMatches(
        c,
        s.map((p) => (p.name === 'data.item_text' ? { ...p, trainable: true } : p)),
        path,
      ),
    /parameter data\.item_text is frozen in the checkpoint but trainable in the model/,
  );
  // The first mismatch in model order is the one reported.
  throwsWith(
    () =>
      checkCheckpointMatches(
        c,
        [{ name: 'zzz', dims: [1], trainable: true }, ...s.map((p) => ({ ...p, dims: [9] }))],
        path,
      ),
    /parameter zzz \[1\]/,
  );
});

test('writing rejects inconsistent data and leaves no file behind', () => {
  const path = join(dir, 'bad.ckpt');
  const c = sample();
  c.params[0].dims = [4, 4];
  throwsWith(() => writeCheckpoint(path, c), /bad\.ckpt: parameter enc\.weight: 12 values for shape \[4, 4\]/);
  const d = sample();
  d.optimizer!.m.delete('enc.bias');
  throwsWith(() => writeCheckpoint(path, d), /no first moment \(m\) for trainable parameter enc\.bias/);
  const e = sample();
  e.params.push({ ...e.params[0] });
  throwsWith(() => writeCheckpoint(path, e), /parameter enc\.weight is listed twice/);
  assert.not.ok(readdirSync(dir).some((f) => f.startsWith('bad.ckpt') || f.startsWith('.bad.ckpt')));
});

test('checkpointFromState / stateFromCheckpoint convert a StepRunner-shaped training state', () => {
  const c = sample();
  const st = stateFromCheckpoint(decodeCheckpoint(encodeCheckpoint(c)));
  assert.is(st.step, 17);
  const back = decodeCheckpoint(
    encodeCheckpoint(checkpointFromState(specs(c), st, { lr: 0.0025, properties: { epoch: 9 } })),
  );
  assert.equal(back.params.map((p) => p.name).sort(), c.params.map((p) => p.name).sort());
  assert.is(back.optimizer!.step, 17);
  assert.equal(Array.from(back.optimizer!.v.get('enc.bias')!), Array.from(c.optimizer!.v.get('enc.bias')!));
  assert.is(back.properties.epoch, 9);
  throwsWith(() => stateFromCheckpoint({ ...c, optimizer: undefined }, 'w.ckpt'), /w\.ckpt: has no optimizer state/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
