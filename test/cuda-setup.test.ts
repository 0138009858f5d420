import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { candidateDirs, dlopenCheck, libraryPath, locateCudaLibs } from '../runtime/cuda-libs.js';
import { CUDA_PACKAGE, ortBuildOf, ortNativeDir } from '../runtime/cuda-provider.js';
import { parsePlacement, realFallbacks } from '../runtime/cuda-errors.js';
import { type SetupCudaDeps, setupCuda } from '../runtime/cuda-setup.js';

const root = mkdtempSync(join(tmpdir(), 'hm4sr-cuda-setup-'));

/** Bytes that pass for an x86-64 ELF shared library, with the strings the build check reads. */
function fakeElf(...strings: string[]): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2;
  h.writeUInt16LE(62, 18);
  return Buffer.concat([h, Buffer.from(`\0${strings.join('\0')}\0padding`, 'latin1')]);
}

/** A package tarball laid out like CUDA_PACKAGE, providers carrying the given ORT version. */
function fakePackage(name: string, version: string, opts: { withProviders?: boolean } = {}): string {
  const d = join(root, `pkg-${name}`),
    x64 = join(d, 'package', 'Plugins', 'Linux', 'x64');
  mkdirSync(x64, { recursive: true });
  writeFileSync(join(d, 'package', 'README.md'), 'readme');
  if (opts.withProviders !== false) {
    writeFileSync(
      join(x64, 'libonnxruntime_providers_cuda.so'),
      fakeElf('cudaSetDevice(id)', version, 'Failed to get device id.'),
    );
    writeFileSync(join(x64, 'libonnxruntime_providers_shared.so'), fakeElf('Provider_GetHost', 'Provider_SetHost'));
  }
  writeFileSync(join(x64, 'libonnxruntime_providers_tensorrt.so'), fakeElf('tensorrt'));
  const tgz = join(root, `${name}.tgz`);
  const r = spawnSync('tar', ['-czf', tgz, '-C', d, 'package']);
  assert.is(r.status, 0);
  return tgz;
}

function fakeOrt(name: string): { dir: string; version: string } {
  const dir = join(root, `ort-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'libonnxruntime.so.1'), fakeElf('OrtGetApiBase', 'VERS_1.29.0'));
  return { dir, version: '1.29.0' };
}

/** The registry boundary: copies a prepared tarball where npm pack would put it, counting the calls. */
function registry(tgz: string) {
  const calls: string[] = [];
  return {
    calls,
    pack: (spec: string, dest: string) => {
      calls.push(spec);
      const out = join(dest, 'pkg.tgz');
      writeFileSync(out, readFileSync(tgz));
      return out;
    },
  };
}

const allLoad: SetupCudaDeps['load'] = (names) => new Map(names.map((n) => [n, null]));

test('setup-cuda fetches the package, keeps only the two provider libraries, and does nothing the second time', () => {
  const ort = fakeOrt('a');
  const reg = registry(fakePackage('good', '1.29.0'));
  const deps: SetupCudaDeps = { ort, pack: reg.pack, dirs: () => [], load: allLoad, env: {} };
  const r = setupCuda({}, deps);
  assert.equal(r.problems, []);
  assert.ok(r.ok);
  assert.equal(reg.calls, [CUDA_PACKAGE]);
  assert.equal(readdirSync(ort.dir).sort(), [
    'libonnxruntime.so.1',
    'libonnxruntime_providers_cuda.so',
    'libonnxruntime_providers_shared.so',
  ]);
  assert.ok(r.provider!.fetched);
  // Not the checked build's bytes: reported as such, not refused.
  assert.ok(r.provider!.providers.every((p) => p.knownBuild === false));
  const again = setupCuda({}, deps);
  assert.is(reg.calls.length, 1);
  assert.not.ok(again.provider!.fetched);
  assert.ok(again.ok);
});

test('a provider built for another ORT version is refused and nothing is placed', () => {
  const ort = fakeOrt('b');
  const reg = registry(fakePackage('old', '1.28.1'));
  const r = setupCuda({}, { ort, pack: reg.pack, dirs: () => [], load: allLoad, env: {} });
  assert.not.ok(r.ok);
  assert.match(
    r.problems.join('\n'),
    /libonnxruntime_providers_cuda\.so: built for ORT 1\.28\.1, but onnxruntime-node is 1\.29\.0/,
  );
  assert.equal(readdirSync(ort.dir), ['libonnxruntime.so.1']);
});

test('registry failures and tarballs without the libraries are reported, not half-installed', () => {
  const ort = fakeOrt('c');
  const down = setupCuda(
    {},
    {
      ort,
      pack: () => {
        throw new Error(`npm pack ${CUDA_PACKAGE} failed (exit 1): ENOTFOUND registry.npmjs.org`);
      },
      dirs: () => [],
      load: allLoad,
      env: {},
    },
  );
  assert.not.ok(down.ok);
  assert.match(down.problems[0], /CUDA provider: npm pack .* ENOTFOUND/);
  const empty = setupCuda(
    { from: fakePackage('empty', '1.29.0', { withProviders: false }) },
    { ort, dirs: () => [], load: allLoad, env: {} },
  );
  assert.not.ok(empty.ok);
  assert.match(empty.problems[0], /does not hold package\/Plugins\/Linux\/x64\/libonnxruntime_providers_shared\.so/);
  const missing = setupCuda({ from: join(root, 'nope.tgz') }, { ort, dirs: () => [], load: allLoad, env: {} });
  assert.match(missing.problems[0], /--from .*nope\.tgz: no such file/);
  assert.equal(readdirSync(ort.dir), ['libonnxruntime.so.1']);
});

test('CUDA libraries are found in pip nvidia/*/lib trees and LD_LIBRARY_PATH, and the suggested path lists them first', () => {
  const site = join(root, 'site-packages');
  const libs: Record<string, string> = { cu13: 'libcudart.so.13', cublas: 'libcublas.so.13', cudnn: 'libcudnn.so.9' };
  for (const [pkg, lib] of Object.entries(libs)) {
    mkdirSync(join(site, 'nvidia', pkg, 'lib'), { recursive: true });
    writeFileSync(join(site, 'nvidia', pkg, 'lib', lib), '');
  }
  writeFileSync(join(site, 'nvidia', 'cublas', 'lib', 'libcublasLt.so.13'), '');
  const extra = join(root, 'extra-lib');
  mkdirSync(extra, { recursive: true });
  writeFileSync(join(extra, 'libcurand.so.10'), '');
  const dirs = candidateDirs({ LD_LIBRARY_PATH: `${extra}:/no/such/dir` }, [site], join(root, 'no-toolkit'));
  assert.is(dirs[0], extra);
  assert.not.ok(dirs.includes('/no/such/dir'));
  const found = locateCudaLibs(dirs);
  const where = Object.fromEntries(found.map((f) => [f.name, f.dir]));
  assert.is(where['libcudnn.so.9'], join(site, 'nvidia', 'cudnn', 'lib'));
  assert.is(where['libcublasLt.so.13'], join(site, 'nvidia', 'cublas', 'lib'));
  assert.is(where['libcurand.so.10'], extra);
  const path = libraryPath(found, '/opt/keep');
  assert.ok(path.startsWith(extra) || path.startsWith(join(site, 'nvidia')), path);
  assert.ok(path.endsWith(':/opt/keep'), path);
  for (const d of ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu']) assert.not.ok(path.split(':').includes(d));
});

test('setup-cuda names every library the loader cannot load, and loads the provider last under the suggested path', () => {
  const ort = fakeOrt('d');
  const lib = join(root, 'cudnn-lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'libcudnn.so.9'), '');
  let asked: { names: string[]; ldPath: string } | null = null;
  const load: SetupCudaDeps['load'] = (names, ldPath) => {
    asked = { names, ldPath };
    return new Map(
      names.map((n) => [
        n,
        n === 'libcurand.so.10' ? 'libcurand.so.10: cannot open shared object file: No such file or directory' : null,
      ]),
    );
  };
  const r = setupCuda(
    { from: fakePackage('good2', '1.29.0') },
    { ort, dirs: () => [lib], load, env: { LD_LIBRARY_PATH: '/opt/x' } },
  );
  assert.not.ok(r.ok);
  assert.equal(r.problems, [
    'libcurand.so.10 (cuRAND (pip: nvidia-curand)) does not load: libcurand.so.10: cannot open shared object file: No such file or directory',
  ]);
  assert.is(asked!.ldPath, `${lib}:/opt/x`);
  assert.is(asked!.names[asked!.names.length - 1], join(ort.dir, 'libonnxruntime_providers_cuda.so'));
  assert.is(r.ldLibraryPath, `${lib}:/opt/x`);
  const ok = setupCuda({}, { ort, dirs: () => [lib], load: allLoad, env: {} });
  assert.ok(ok.ok);
  assert.is(ok.libraries.find((l) => l.name === 'libcudnn.so.9')!.dir, lib);
});

test('the loader check tells a library that loads from one that does not (real dynamic loader)', () => {
  const r = dlopenCheck(['libc.so.6', 'libhm4sr-no-such-lib.so.1'], '');
  assert.is(r.get('libc.so.6'), null);
  assert.match(r.get('libhm4sr-no-such-lib.so.1')!, /libhm4sr-no-such-lib\.so\.1: cannot open shared object file/);
});

test("onnxruntime-node's own runtime library reports its ORT version", () => {
  const { dir, version } = ortNativeDir();
  assert.is(version, '1.29.0');
  assert.is(ortBuildOf(readFileSync(join(dir, 'libonnxruntime.so.1')), 'runtime'), '1.29.0');
  assert.is(ortBuildOf(fakeElf('12.8.0x', '1.29.0'), 'provider'), '1.29.0');
  assert.is(ortBuildOf(fakeElf('nothing here'), 'provider'), null);
});

test("CPU-placed nodes are read from ORT's verbose log, and ORT's deliberate shape placements told from real fallbacks", () => {
  const t = '2026-11-30 02:35:51.1 [V:onnxruntime:, session_state.cc:1381 VerifyEachNodeIsAssignedToAnEp]';
  const log = [
    '2026-11-30 02:35:50.9 [I:onnxruntime:Default, fallback_cpu_capability.cc:152 GetCpuPreferredNodes] ORT optimization- Force fallback to CPU execution for node: shape_of_x because the CPU execution path is deemed faster than overhead involved with execution on other EPs  capable of executing this node',
    `${t} Node placements`,
    `${t}  Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 2`,
    `${t}   MatMul (mm_1)`,
    `${t}   Softmax (sm)`,
    `${t}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2`,
    `${t}   Shape (shape_of_x)`,
    `${t}   Gather (dim 0)`,
    `${t} SaveMLValueNameIndexMapping`,
  ].join('\n');
  const p = parsePlacement(log);
  assert.equal(p.cpu, ['Shape (shape_of_x)', 'Gather (dim 0)']);
  assert.equal(p.forced, ['shape_of_x']);
  assert.equal(realFallbacks(p), ['Gather (dim 0)']);
  assert.equal(parsePlacement(`${t}  All nodes placed on [CUDAExecutionProvider]. Number of nodes: 9`).cpu, []);
  assert.equal(realFallbacks(parsePlacement(`${t}  All nodes placed on [CPUExecutionProvider]. Number of nodes: 1`)), [
    'all 1 nodes',
  ]);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
