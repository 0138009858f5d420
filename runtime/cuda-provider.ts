import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A repackaging, on the npm registry, of Microsoft's ORT 1.29.0 Linux GPU release (CUDA 13): the one place a
 * CUDA provider for onnxruntime-node 1.29.0 can be had without the internet at large.
 */
export const CUDA_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
const PACKAGE_DIR = 'package/Plugins/Linux/x64';
export const PROVIDER_LIBS = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const;
/** sha256 of the two files in CUDA_PACKAGE as checked by this project (a different build is reported, not refused). */
export const KNOWN_SHA256: Record<string, string> = {
  'libonnxruntime_providers_cuda.so': '56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037',
  'libonnxruntime_providers_shared.so': 'c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772',
};

/** Where onnxruntime-node keeps libonnxruntime.so.1: ORT loads provider libraries from the same folder. */
export function ortNativeDir(): { dir: string; version: string } {
  const req = createRequire(import.meta.url);
  const root = dirname(dirname(req.resolve('onnxruntime-node')));
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return { dir: join(root, 'bin', 'napi-v6', process.platform, process.arch), version };
}

const isElf64 = (b: Buffer) =>
  b.length > 20 && b.readUInt32BE(0) === 0x7f454c46 && b[4] === 2 && b.readUInt16LE(18) === 62;

/** The ORT version a library was built as: the runtime's symbol version (VERS_x.y.z) or the provider's version string. */
export function ortBuildOf(bytes: Buffer, kind: 'runtime' | 'provider'): string | null {
  if (kind === 'runtime') {
    const m = /VERS_(\d+\.\d+\.\d+)\0/.exec(bytes.toString('latin1'));
    return m ? m[1] : null;
  }
  // ORT_VERSION is compiled into the CUDA provider as a bare NUL-terminated string.
  const all = bytes.toString('latin1');
  const re = /\0(1\.\d{1,2}\.\d{1,2})\0/g;
  const seen = new Set<string>();
  for (let m = re.exec(all); m; m = re.exec(all)) seen.add(m[1]);
  return seen.size === 1 ? [...seen][0] : seen.size === 0 ? null : [...seen].join('|');
}

export interface ProviderCheck {
  file: string;
  present: boolean;
  sha256?: string;
  knownBuild?: boolean;
  problem?: string;
}

/**
 * Checks that the provider libraries in `dir` belong to the same ORT build as libonnxruntime.so.1 there:
 * x86-64 ELF files, the CUDA provider carrying the runtime's version, the shared bridge exporting its entry points.
 */
export function checkProviders(dir: string, expected: string): ProviderCheck[] {
  const runtime = join(dir, 'libonnxruntime.so.1');
  const runtimeBuild = existsSync(runtime) ? ortBuildOf(readFileSync(runtime), 'runtime') : null;
  return PROVIDER_LIBS.map((name): ProviderCheck => {
    const file = join(dir, name);
    if (!existsSync(file)) return { file, present: false, problem: 'missing' };
    const b = readFileSync(file);
    const sha256 = createHash('sha256').update(b).digest('hex');
    const base = { file, present: true, sha256, knownBuild: KNOWN_SHA256[name] === sha256 };
    if (!isElf64(b)) return { ...base, problem: 'not an x86-64 ELF shared library' };
    if (name === 'libonnxruntime_providers_shared.so') {
      return b.includes('Provider_GetHost')
        ? base
        : { ...base, problem: 'does not export Provider_GetHost (not an ORT provider bridge)' };
    }
    const build = ortBuildOf(b, 'provider');
    if (build !== expected)
      return {
        ...base,
        problem: `built for ORT ${build ?? '(no version string)'}, but onnxruntime-node is ${expected}`,
      };
    if (runtimeBuild !== null && runtimeBuild !== expected)
      return { ...base, problem: `libonnxruntime.so.1 is ORT ${runtimeBuild}, not ${expected}` };
    return base;
  });
}

/** Fetches a package tarball; returns its path. The real one runs `npm pack`, which honours the user's registry config. */
export type Packer = (spec: string, dest: string) => string;

export const npmPack: Packer = (spec, dest) => {
  const r = spawnSync('npm', ['pack', spec, '--json', '--pack-destination', dest], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw new Error(`npm pack ${spec}: could not run npm (${r.error.message})`);
  if (r.status !== 0)
    throw new Error(
      `npm pack ${spec} failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' ')}`,
    );
  const info = JSON.parse(r.stdout) as { filename: string }[];
  return join(dest, info[0].filename);
};

/** Extracts only the provider libraries from the package tarball into `dest` (system tar: no 230 MB of other files). */
export function extractProviders(tgz: string, dest: string): void {
  const members = PROVIDER_LIBS.map((n) => `${PACKAGE_DIR}/${n}`);
  const r = spawnSync('tar', ['-xzf', tgz, '-C', dest, '--no-same-owner', ...members], { encoding: 'utf8' });
  if (r.error) throw new Error(`tar: could not run it (${r.error.message})`);
  if (r.status !== 0)
    throw new Error(`${tgz}: does not hold ${members.join(', ')} (${(r.stderr || '').trim().split('\n')[0]})`);
}

export interface InstallResult {
  fetched: boolean;
  source: string | null;
  providers: ProviderCheck[];
}

/**
 * Puts the CUDA provider libraries next to libonnxruntime.so.1 unless a matching pair is already there. The
 * new pair is extracted and checked in a scratch folder beside the target, then renamed into place, so a
 * failed download or a wrong build never leaves a half-installed provider.
 */
export function installProvider(opts: {
  dir: string;
  version: string;
  from?: string;
  pack?: Packer;
  force?: boolean;
  log?: (m: string) => void;
}): InstallResult {
  const log = opts.log ?? (() => {});
  if (!existsSync(join(opts.dir, 'libonnxruntime.so.1')))
    throw new Error(
      `${opts.dir}: no libonnxruntime.so.1 (is onnxruntime-node installed for ${process.platform}-${process.arch}?)`,
    );
  const now = checkProviders(opts.dir, opts.version);
  if (!opts.force && now.every((c) => c.present && !c.problem)) {
    log(`CUDA provider already in place (${opts.dir})`);
    return { fetched: false, source: null, providers: now };
  }
  const scratch = mkdtempSync(join(opts.dir, '.cuda-provider-'));
  const download = opts.from ? null : mkdtempSync(join(tmpdir(), 'hm4sr-cuda-pack-'));
  try {
    let tgz = opts.from;
    if (!tgz) {
      log(`fetching ${CUDA_PACKAGE} from the npm registry with npm pack (about 180 MB)`);
      tgz = (opts.pack ?? npmPack)(CUDA_PACKAGE, download!);
    } else if (!existsSync(tgz)) throw new Error(`--from ${tgz}: no such file`);
    log(`extracting ${PROVIDER_LIBS.join(', ')}`);
    extractProviders(tgz, scratch);
    const staged = join(scratch, PACKAGE_DIR);
    const bad = checkProviders(staged, opts.version).filter((c) => c.problem);
    // checkProviders looks for libonnxruntime.so.1 beside the files; the staged folder has none, which is fine.
    if (bad.length > 0)
      throw new Error(`${tgz}: ${bad.map((c) => `${c.file.split('/').pop()}: ${c.problem}`).join('; ')}`);
    mkdirSync(opts.dir, { recursive: true });
    for (const n of PROVIDER_LIBS) renameSync(join(staged, n), join(opts.dir, n));
    return { fetched: true, source: opts.from ?? CUDA_PACKAGE, providers: checkProviders(opts.dir, opts.version) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    if (download) rmSync(download, { recursive: true, force: true });
  }
}

/** Provider libraries present in a folder (for doctor). */
export const providerFilesIn = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('libonnxruntime_providers_')) : [];
