import { join } from 'node:path';
import {
  type LibLocation,
  type LoadCheck,
  candidateDirs,
  dlopenCheck,
  libraryPath,
  locateCudaLibs,
} from './cuda-libs.js';
import { type InstallResult, type Packer, installProvider, ortNativeDir } from './cuda-provider.js';

export interface SetupCudaOptions {
  /** A package tarball already on disk instead of `npm pack` (mirrors, offline machines). */
  from?: string;
  force?: boolean;
  log?: (m: string) => void;
}

/** The boundaries of setup-cuda: where ORT lives, the registry, the folders searched and the dynamic loader. */
export interface SetupCudaDeps {
  ort: { dir: string; version: string };
  pack?: Packer;
  dirs: () => string[];
  load: LoadCheck;
  env: NodeJS.ProcessEnv;
}

export const realSetupDeps = (): SetupCudaDeps => ({
  ort: ortNativeDir(),
  dirs: () => candidateDirs(),
  load: dlopenCheck,
  env: process.env,
});

export interface SetupCudaReport {
  ok: boolean;
  ortDir: string;
  ortVersion: string;
  provider: InstallResult | null;
  libraries: (LibLocation & { loaded: boolean; error: string | null })[];
  ldLibraryPath: string;
  problems: string[];
}

/**
 * Installs the CUDA provider beside onnxruntime-node's runtime (once) and checks, with the real loader, that
 * every CUDA 13 / cuDNN 9 library it needs loads under the LD_LIBRARY_PATH it suggests.
 */
export function setupCuda(opts: SetupCudaOptions = {}, deps: SetupCudaDeps = realSetupDeps()): SetupCudaReport {
  const log = opts.log ?? (() => {});
  const problems: string[] = [];
  let provider: InstallResult | null = null;
  try {
    provider = installProvider({
      dir: deps.ort.dir,
      version: deps.ort.version,
      from: opts.from,
      pack: deps.pack,
      force: opts.force,
      log,
    });
    for (const c of provider.providers) {
      if (c.problem) problems.push(`${c.file}: ${c.problem}`);
      else if (!c.knownBuild) log(`note: ${c.file} is not the build this project checked (sha256 ${c.sha256})`);
    }
  } catch (e) {
    problems.push(`CUDA provider: ${(e as Error).message}`);
  }
  const found = locateCudaLibs(deps.dirs());
  const ldPath = libraryPath(found, deps.env.LD_LIBRARY_PATH ?? '');
  const cudaSo = join(deps.ort.dir, 'libonnxruntime_providers_cuda.so');
  const names = [...found.map((f) => f.name), ...(provider?.providers.every((c) => !c.problem) ? [cudaSo] : [])];
  log(
    `loading ${found.length} CUDA libraries${names.length > found.length ? ' and the provider' : ''} with LD_LIBRARY_PATH=${ldPath || '(empty)'}`,
  );
  const loaded = deps.load(names, ldPath);
  const libraries = found.map((f) => {
    const error = loaded.get(f.name) ?? null;
    if (error) problems.push(`${f.name} (${f.from}) does not load: ${error}`);
    return { ...f, loaded: error === null, error };
  });
  const providerError = loaded.get(cudaSo);
  if (providerError) problems.push(`${cudaSo} does not load: ${providerError}`);
  return {
    ok: problems.length === 0,
    ortDir: deps.ort.dir,
    ortVersion: deps.ort.version,
    provider,
    libraries,
    ldLibraryPath: ldPath,
    problems,
  };
}
