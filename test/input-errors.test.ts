// Every class of bad input a user can hand hm4sr: directories where files belong, unreadable files,
// numbers out of range, text encodings, compressed files. Each must fail with a message that names the
// file (and line), the same way in every command, and leave nothing behind.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError, describeSystemError, readInputBytes, readInputText } from '../graph/input-file.js';
import { DEFAULT_CONFIG, checkRunConfig, mergeConfig, readConfigFile } from '../train/config.js';
import { loadAtomicDataset } from '../train/data/dataset.js';
import { readFeatureTable } from '../train/data/features.js';
import { generateSynthetic } from '../train/data/synth.js';
import { fingerprintOf, prepare } from '../train/prepare.js';
import { curveTitle } from '../train/trainer.js';
import { cliRunner } from './util/cli.js';

const root = mkdtempSync(join(tmpdir(), 'hm4sr-input-'));
const H = 'user_id:token\titem_id:token\ttimestamp:float\n';

/** A small valid dataset directory (copied per case, then damaged). */
const base = join(root, 'base');
generateSynthetic({ dir: base, name: 'd', users: 40, items: 30, seed: 5, textDim: 4 });

function variant(tag: string, damage: (dir: string) => void): string {
  const dir = join(root, tag);
  cpSync(base, dir, { recursive: true });
  damage(dir);
  return dir;
}

function throwsMatching(fn: () => unknown, re: RegExp): string {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, re);
    assert.not.match(msg, /\bE[A-Z]{3,}\b|Invalid time value|Unexpected token/, `raw runtime message leaked: ${msg}`);
    return msg;
  }
  assert.unreachable(`expected an error matching ${re}`);
  return '';
}

const rcFor = (dir: string) =>
  mergeConfig(DEFAULT_CONFIG, {
    data: { dir, name: 'd' },
    model: { hidden: 8, heads: 2, inner: 16, layers: 1, k1: 2, k2: 2, maxLen: 10 },
  });

const { hm4sr } = cliRunner(root);

/** data stats, train and build-graph give one verdict on the same directory; failures leave no output. */
function sameVerdictEverywhere(dir: string, re: RegExp): void {
  const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
  for (const args of [
    ['data', 'stats', '--data', dir],
    ['train', '--data', dir, '--out', out, '--epochs', '1'],
    ['build-graph', '--data', dir, '--out', out],
  ]) {
    const r = hm4sr(...args);
    assert.is(r.code, 1, `hm4sr ${args.join(' ')} should fail`);
    assert.match(r.err, re, `hm4sr ${args[0]}: ${r.err}`);
    assert.not.match(r.err, /\bE[A-Z]{3,}\b|Invalid time value|at .*\.js:\d+/, `raw runtime message leaked: ${r.err}`);
    assert.not.ok(existsSync(out), `hm4sr ${args.join(' ')} left ${out} behind`);
  }
}

test('a directory where a file belongs: named, the same verdict from data stats, train and build-graph, nothing left behind', () => {
  const dir = variant('dir-item', (d) => {
    rmSync(join(d, 'd.item'));
    mkdirSync(join(d, 'd.item'));
  });
  throwsMatching(() => loadAtomicDataset(dir, 'd'), /d\.item: is a directory, where a file is expected/);
  sameVerdictEverywhere(dir, /d\.item: is a directory, where a file is expected/);
  throwsMatching(() => readConfigFile(dir), /is a directory, where a file is expected/);
  throwsMatching(() => readFeatureTable(dir), /is a directory, where a file is expected/);
});

test('unreadable files are named with the reason in words', () => {
  // A symlink loop cannot be read even by root (which chmod 000 does not stop).
  const loop = join(root, 'loop.inter');
  symlinkSync(loop, loop);
  throwsMatching(() => readInputBytes(loop), /loop\.inter: cannot be read: too many symbolic links/);
  throwsMatching(() => readInputBytes(join(root, 'absent.inter')), /absent\.inter: file does not exist/);
  assert.is(describeSystemError(Object.assign(new Error('x'), { code: 'EACCES' })), 'permission denied');
  const locked = join(root, 'locked.inter');
  writeFileSync(locked, H + 'u\ti\t1\n');
  chmodSync(locked, 0);
  let readable = true;
  try {
    readFileSync(locked);
  } catch {
    readable = false;
  }
  if (readable) {
    // Running as root: permission bits do not block reads, so only the mapping above is checked here.
    console.log('  (root: chmod 000 does not block reads; permission-denied path checked through its message mapping)');
  } else {
    throwsMatching(() => readInputBytes(locked), /locked\.inter: cannot be read: permission denied/);
  }
  chmodSync(locked, 0o644);
});

test('numbers out of range are rejected by name everywhere; extreme values within range are accepted', () => {
  // Milliseconds where seconds belong: year > 275760, beyond what a date can show.
  const ms = variant('ms', (d) =>
    writeFileSync(
      join(d, 'd.inter'),
      readFileSync(join(d, 'd.inter'), 'utf8').replace(/\t(\d+)\n/, (_, t) => `\t${t}000000\n`),
    ),
  );
  throwsMatching(() => loadAtomicDataset(ms, 'd'), /d\.inter:2: timestamp "\d+" is after the year 275760/);
  sameVerdictEverywhere(ms, /d\.inter:2: timestamp "\d+" is after the year 275760/);
  // Within the date range but over 100,000 days: one calendar row per day would not fit.
  const wide = variant('wide', (d) =>
    writeFileSync(
      join(d, 'd.inter'),
      readFileSync(join(d, 'd.inter'), 'utf8').replace(/\t(\d+)\n/, '\t8000000000000\n'),
    ),
  );
  throwsMatching(() => loadAtomicDataset(wide, 'd'), /d\.inter: the interactions span \d+ days .* at most 100000 days/);
  throwsMatching(() => prepare(rcFor(wide)), /d\.inter: the interactions span/);
  // Zero and fractional timestamps are fine.
  const small = variant('small', (d) =>
    writeFileSync(join(d, 'd.inter'), readFileSync(join(d, 'd.inter'), 'utf8').replace(/\t(\d+)\n/, '\t0.5\n')),
  );
  assert.ok(prepare(rcFor(small)).ds.firstTimestamp === 0.5);

  const feat = variant('feat', (d) => {
    // Patched into the bytes: the writer refuses such a value itself.
    const f = join(d, 'd.text.f32');
    const t = readFeatureTable(f);
    const bytes = readFileSync(f);
    bytes.writeFloatLE(1e30, bytes.length - t.data.length * 4 + 5 * 4);
    writeFileSync(f, bytes);
  });
  throwsMatching(
    () => prepare(rcFor(feat)),
    /d\.text\.f32:3: feature row 1 .* has 1[.0-9]*e\+30 at column 1 \(beyond \+-1000000/,
  );

  for (const [over, re] of [
    [{ model: { hidden: 1e9 } }, /model\.hidden must be an integer from 1 to 4096, got 1000000000/],
    [{ optim: { lr: Number.NaN } }, /optim\.lr \(--lr\) must be a number, got NaN/],
    [{ optim: { batchSize: 0 } }, /optim\.batchSize \(--batch-size\) must be an integer from 1/],
    [{ optim: { epochs: 2.5 } }, /optim\.epochs \(--epochs\) must be an integer/],
    [{ model: { attnDropout: 1 } }, /model\.attnDropout must be a number from 0 to 0\.999, got 1/],
  ] as const)
    throwsMatching(() => checkRunConfig(mergeConfig(DEFAULT_CONFIG, over as never)), re);
  checkRunConfig(DEFAULT_CONFIG);
  const r = hm4sr('train', '--data', base, '--epochs', 'many', '--out', join(root, 'never'));
  assert.is(r.code, 1);
  assert.match(r.err, /optim\.epochs \(--epochs\) must be a number/);
  assert.not.ok(existsSync(join(root, 'never')));
});

test('config files: unknown fields and broken JSON are named', () => {
  const cfg = join(root, 'bad.json');
  writeFileSync(cfg, '{"optim": {"epoch": 3}}');
  throwsMatching(() => readConfigFile(cfg), /bad\.json: unknown field optim\.epoch \(known: epochs/);
  writeFileSync(cfg, '{"optim": ');
  throwsMatching(() => readConfigFile(cfg), /bad\.json: not a JSON config/);
});

test('encodings: BOM and CRLF read like plain UTF-8; invalid UTF-8 is named by line', () => {
  const plain = loadAtomicDataset(base, 'd');
  const bomCrlf = variant('bom', (d) => {
    for (const f of ['d.inter', 'd.item'])
      writeFileSync(join(d, f), '\uFEFF' + readFileSync(join(d, f), 'utf8').replace(/\n/g, '\r\n'));
  });
  const b = loadAtomicDataset(bomCrlf, 'd');
  assert.is(fingerprintOf(b, 50), fingerprintOf(plain, 50));
  assert.equal(b.categories!.names, plain.categories!.names);
  const latin1 = variant('latin1', (d) => {
    const lines = readFileSync(join(d, 'd.inter'), 'utf8').split('\n');
    lines[3] = lines[3].replace(/^(\S+)/, '$1\u00e9');
    writeFileSync(join(d, 'd.inter'), Buffer.from(lines.join('\n'), 'latin1'));
  });
  throwsMatching(() => loadAtomicDataset(latin1, 'd'), /d\.inter:4: not valid UTF-8 \(byte 0xe9/);
  const text = join(root, 'ok.txt');
  writeFileSync(text, 'h\u00e9\u4e2d\u{1f600}\n');
  assert.is(readInputText(text), 'h\u00e9\u4e2d\u{1f600}\n');
});

test('.gz atomic files read like the plain ones; a damaged or ambiguous one is named', () => {
  const plain = loadAtomicDataset(base, 'd');
  const gz = variant('gz', (d) => {
    for (const f of ['d.inter', 'd.item']) {
      writeFileSync(join(d, `${f}.gz`), gzipSync(readFileSync(join(d, f))));
      rmSync(join(d, f));
    }
  });
  const g = loadAtomicDataset(gz, 'd');
  assert.is(fingerprintOf(g, 50), fingerprintOf(plain, 50));
  assert.equal(g.categories, plain.categories);
  assert.is(prepare(rcFor(gz)).fingerprint, prepare(rcFor(base)).fingerprint);
  const both = variant('both', (d) => writeFileSync(join(d, 'd.inter.gz'), gzipSync(readFileSync(join(d, 'd.inter')))));
  throwsMatching(() => loadAtomicDataset(both, 'd'), /d\.inter: and .*d\.inter\.gz both exist/);
  const cut = variant('cut', (d) => {
    const z = gzipSync(readFileSync(join(d, 'd.inter')));
    writeFileSync(join(d, 'd.inter.gz'), z.subarray(0, z.length >> 1));
    rmSync(join(d, 'd.inter'));
  });
  throwsMatching(() => loadAtomicDataset(cut, 'd'), /d\.inter\.gz: damaged gzip data/);
  const fake = variant('fake', (d) => {
    writeFileSync(join(d, 'd.inter.gz'), readFileSync(join(d, 'd.inter')));
    rmSync(join(d, 'd.inter'));
  });
  throwsMatching(() => loadAtomicDataset(fake, 'd'), /d\.inter\.gz: not a gzip file/);
  assert.ok(new InputError('f', 'x', 3).message === 'f:3: x');
});

test('the training curve is titled with the model and the run', () => {
  const rc = mergeConfig(DEFAULT_CONFIG, { preset: 'sasrec', data: { dir: '/x', name: 'Beauty' } });
  assert.is(curveTitle(rc, 'runs/sas-1'), 'SASRec on Beauty (sas-1)');
  assert.is(
    curveTitle(mergeConfig(DEFAULT_CONFIG, { ablations: ['TMoE'], data: { dir: '/x', name: 'synth' } }), '/r/abl/'),
    'HM4SR -TMoE on synth (abl)',
  );
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
