import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What the CUDA execution provider of ORT 1.29 loads at run time, and where each usually comes from. */
export const CUDA_LIBS: { name: string; from: string }[] = [
  { name: 'libcuda.so.1', from: 'the NVIDIA driver' },
  { name: 'libcudart.so.13', from: 'CUDA 13 runtime (pip: nvidia-cuda-runtime; or the CUDA toolkit)' },
  { name: 'libcublasLt.so.13', from: 'cuBLAS 13 (pip: nvidia-cublas)' },
  { name: 'libcublas.so.13', from: 'cuBLAS 13 (pip: nvidia-cublas)' },
  { name: 'libcurand.so.10', from: 'cuRAND (pip: nvidia-curand)' },
  { name: 'libcudnn.so.9', from: 'cuDNN 9 (pip: nvidia-cudnn-cu13)' },
];

/** Folders the loader searches anyway (ld.so defaults): never worth adding to LD_LIBRARY_PATH. */
const SYSTEM_DIRS = new Set([
  '/lib',
  '/usr/lib',
  '/lib64',
  '/usr/lib64',
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
]);

const subdirs = (d: string): string[] => {
  try {
    return readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory() || e.isSymbolicLink())
      .map((e) => join(d, e.name));
  } catch {
    return [];
  }
};

/** Python site-packages folders: the interpreter's own answer, then the usual install prefixes. */
export function pythonSitePackages(env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  const r = spawnSync(
    'python3',
    ['-c', 'import site, sys; print("\\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))'],
    { encoding: 'utf8', timeout: 10_000, env },
  );
  if (r.status === 0)
    found.push(
      ...r.stdout
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => /(site|dist)-packages$/.test(s)),
    );
  const prefixes = [
    '/usr/local/lib',
    '/usr/lib',
    join(homedir(), '.local', 'lib'),
    ...(env.VIRTUAL_ENV ? [join(env.VIRTUAL_ENV, 'lib')] : []),
    ...(env.CONDA_PREFIX ? [join(env.CONDA_PREFIX, 'lib')] : []),
  ];
  for (const p of prefixes)
    for (const py of subdirs(p).filter((d) => /\/python3[.\d]*$/.test(d)))
      found.push(join(py, 'site-packages'), join(py, 'dist-packages'));
  found.push('/usr/lib/python3/dist-packages');
  return [...new Set(found)].filter((d) => existsSync(d));
}

/**
 * Folders that may hold the CUDA libraries, most specific first: LD_LIBRARY_PATH, CUDA_HOME/CUDA_PATH, the
 * toolkit under /usr/local, conda, and the `nvidia/<package>/lib` trees of pip's CUDA wheels.
 */
export function candidateDirs(
  env: NodeJS.ProcessEnv = process.env,
  sitePackages = pythonSitePackages(env),
  toolkitRoot = '/usr/local',
): string[] {
  const dirs: string[] = [];
  for (const d of (env.LD_LIBRARY_PATH ?? '').split(':')) if (d) dirs.push(d);
  for (const root of [env.CUDA_HOME, env.CUDA_PATH, env.CONDA_PREFIX].filter((x): x is string => !!x))
    dirs.push(join(root, 'lib64'), join(root, 'lib'));
  for (const root of [join(toolkitRoot, 'cuda'), ...subdirs(toolkitRoot).filter((d) => /\/cuda-13[.\d]*$/.test(d))])
    dirs.push(join(root, 'lib64'), join(root, 'lib'), join(root, 'targets', 'x86_64-linux', 'lib'));
  for (const sp of sitePackages)
    for (const pkg of subdirs(join(sp, 'nvidia'))) dirs.push(join(pkg, 'lib'), join(pkg, 'lib64'));
  dirs.push(...SYSTEM_DIRS);
  return [...new Set(dirs)].filter((d) => existsSync(d));
}

export interface LibLocation {
  name: string;
  from: string;
  dir: string | null;
}

/** The first candidate folder holding each library (null: none of them; the loader's cache may still have it). */
export function locateCudaLibs(dirs: string[], libs = CUDA_LIBS): LibLocation[] {
  return libs.map((l) => ({ ...l, dir: dirs.find((d) => existsSync(join(d, l.name))) ?? null }));
}

/** LD_LIBRARY_PATH that puts every located, non-system folder first, then keeps what was already set. */
export function libraryPath(found: LibLocation[], current = process.env.LD_LIBRARY_PATH ?? ''): string {
  const dirs = found.map((f) => f.dir).filter((d): d is string => d !== null && !SYSTEM_DIRS.has(d));
  return [...new Set([...dirs, ...current.split(':').filter(Boolean)])].join(':');
}

/** Result of asking the dynamic loader for each library: null when it loaded, else the loader's message. */
export type LoadCheck = (names: string[], ldPath: string) => Map<string, string | null>;

/**
 * Loads each library in a fresh Node process with the given LD_LIBRARY_PATH (the loader reads it only at
 * process start). process.dlopen on a plain library loads it and then reports that it is no Node addon,
 * which here means success; a loader failure names the file that could not be opened.
 */
export const dlopenCheck: LoadCheck = (names, ldPath) => {
  const script = `const out = {};
for (const n of JSON.parse(process.argv[1])) {
  try { process.dlopen({ exports: {} }, n); out[n] = null; }
  catch (e) { out[n] = /did not self-register/.test(e.message) ? null : e.message; }
}
process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(names)], {
    encoding: 'utf8',
    env: { ...process.env, LD_LIBRARY_PATH: ldPath },
    timeout: 120_000,
  });
  if (r.status !== 0)
    return new Map(
      names.map((n) => [n, `the loader check crashed (exit ${r.status}): ${(r.stderr || '').trim().slice(0, 300)}`]),
    );
  const out = JSON.parse(r.stdout) as Record<string, string | null>;
  return new Map(names.map((n) => [n, out[n] ?? null]));
};
