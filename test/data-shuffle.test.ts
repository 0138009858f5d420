import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EpochSampler,
  Rng,
  chunk,
  lengthBucketedBatches,
  permutation,
  shuffledBatches,
} from '../train/data/shuffle.js';

const draws = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.nextU32());

test('xoshiro128** reference outputs for state [1, 2, 3, 4]', () => {
  const r = Rng.fromState({ kind: 'xoshiro128**', s: [1, 2, 3, 4] });
  assert.equal(draws(r, 3), [11520, 0, 5927040]);
});

test('same seed, same stream; different seeds differ; large seeds use both halves', () => {
  assert.equal(draws(new Rng(42), 8), draws(new Rng(42), 8));
  assert.not.equal(draws(new Rng(42), 8), draws(new Rng(43), 8));
  assert.not.equal(draws(new Rng(7), 8), draws(new Rng(7 + 2 ** 32), 8));
  assert.throws(() => new Rng(1.5), /safe integer/);
});

test('state survives a JSON round trip and resumes the stream', () => {
  const r = new Rng(2025);
  draws(r, 17);
  const saved = JSON.parse(JSON.stringify(r.state()));
  const expected = draws(r, 20);
  assert.equal(draws(Rng.fromState(saved), 20), expected);
  assert.throws(() => Rng.fromState({ kind: 'xoshiro128**', s: [0, 0, 0, 0] }), /not a valid/);
});

test('fillGaussian gives the values of successive nextGaussian calls, bit for bit, and leaves the same state', () => {
  const a = new Rng(77),
    b = new Rng(77);
  const one = Float64Array.from({ length: 1001 }, () => a.nextGaussian());
  const filled = b.fillGaussian(new Float64Array(1001));
  assert.ok(
    one.every((v, i) => Object.is(v, filled[i])),
    'same values',
  );
  assert.is(a.nextU32(), b.nextU32());
  assert.ok(Math.abs(filled.reduce((p, q) => p + q, 0) / 1001) < 0.15, 'mean near 0');
});

test('nextInt is in range and roughly uniform; nextFloat in [0, 1)', () => {
  const r = new Rng(1);
  const counts = new Array(7).fill(0);
  for (let i = 0; i < 70000; i++) counts[r.nextInt(7)] += 1;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `bucket count ${c}`);
  for (let i = 0; i < 1000; i++) {
    const f = r.nextFloat();
    assert.ok(f >= 0 && f < 1);
  }
  let sum = 0,
    sq = 0;
  for (let i = 0; i < 20000; i++) {
    const g = r.nextGaussian();
    sum += g;
    sq += g * g;
  }
  assert.ok(Math.abs(sum / 20000) < 0.05 && Math.abs(sq / 20000 - 1) < 0.05);
});

test('Fisher-Yates reaches all 6 orders of 3 items about equally', () => {
  const r = new Rng(8);
  const seen = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const key = Array.from(permutation(3, r)).join('');
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.is(seen.size, 6);
  for (const [k, c] of seen) assert.ok(Math.abs(c - 1000) < 150, `${k}: ${c}`);
});

test('permutation and batches: every index once, last partial batch kept', () => {
  const p = permutation(10, new Rng(3));
  assert.equal(
    Array.from(p).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.not.equal(Array.from(p), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const b = shuffledBatches(10, 4, new Rng(3));
  assert.equal(
    b.map((x) => x.length),
    [4, 4, 2],
  );
  assert.equal(
    b.flatMap((x) => Array.from(x)),
    Array.from(p),
  );
  assert.equal(
    chunk(Int32Array.from([5, 6]), 4).map((x) => Array.from(x)),
    [[5, 6]],
  );
  assert.equal(chunk(new Int32Array(0), 4), []);
  assert.throws(() => chunk(p, 0), /batch size/);
});

test('epoch sampler: epochs differ, state taken between epochs replays the rest', () => {
  const a = new EpochSampler(100, 32, 9);
  const e1 = a.nextEpoch().map((x) => Array.from(x));
  const saved = JSON.parse(JSON.stringify(a.state()));
  assert.is(saved.epoch, 1);
  const e2 = a.nextEpoch().map((x) => Array.from(x));
  const e3 = a.nextEpoch().map((x) => Array.from(x));
  assert.not.equal(e1, e2);
  const b = new EpochSampler(100, 32, saved);
  assert.equal(
    b.nextEpoch().map((x) => Array.from(x)),
    e2,
  );
  assert.equal(
    b.nextEpoch().map((x) => Array.from(x)),
    e3,
  );
  assert.is(b.epoch, 3);
  assert.equal(
    new EpochSampler(100, 32, 9).nextEpoch().map((x) => Array.from(x)),
    e1,
  );
});

test('length bucketing: batches hold similar lengths, cover everything, order is shuffled', () => {
  const r = new Rng(5);
  const lengths = Int32Array.from({ length: 200 }, () => 1 + r.nextInt(50));
  const batches = lengthBucketedBatches(lengths, 20, new Rng(6));
  assert.is(batches.length, 10);
  assert.equal(
    batches.flatMap((x) => Array.from(x)).sort((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i),
  );
  const spans = batches.map(
    (x) => Math.max(...Array.from(x, (i) => lengths[i])) - Math.min(...Array.from(x, (i) => lengths[i])),
  );
  for (const s of spans) assert.ok(s <= 15, `length span ${s} in one batch`);
  const mins = batches.map((x) => Math.min(...Array.from(x, (i) => lengths[i])));
  assert.not.equal(
    mins,
    [...mins].sort((a, b) => a - b),
  );
  const s = new EpochSampler(200, 20, 1, lengths);
  assert.is(s.nextEpoch().length, 10);
  assert.throws(() => new EpochSampler(10, 2, 1, lengths), /lengths/);
});

test.run();
