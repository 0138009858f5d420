import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { type ExecutionProvider, checkExecutionProvider, ort } from './session.js';
import { ortNativeDir, providerFilesIn } from './cuda-provider.js';
import { type GraphCoverage, describeFailure } from './cuda-coverage.js';

export interface GpuInfo {
  name: string;
  memoryMiB: number;
  memoryUsedMiB: number;
  driver: string;
}

export interface DoctorReport {
  node: string;
  onnxruntime: { node: string; common: string; nativeDir: string; providerFiles: string[] };
  executionProviders: Record<ExecutionProvider, { ok: boolean; error?: string }>;
  gpus: GpuInfo[] | null;
  cpu: { model: string; cores: number; memGiB: number };
  threads: number;
  cacheDir: string;
  onnxChecker: { present: boolean; version?: string; error?: string };
  ldLibraryPath: string;
  /**
   * Static CUDA placement per graph family (runtime/cuda-coverage.ts against ORT's CUDA kernel table): nodes,
   * nodes with a CUDA kernel, nodes the shape-only allow list takes, and each failing node in one line.
   */
  cudaCoverage:
    { graph: string; nodes: number; covered: number; allowed: number; failing: string[] }[] | { error: string } | null;
}

/** The machine-facing boundaries doctor reads: running a probe session per EP, and external programs. */
export interface DoctorDeps {
  probe: (ep: ExecutionProvider) => Promise<void>;
  run: (cmd: string, args: string[]) => { status: number | null; stdout: string; stderr: string; missing: boolean };
}

export const realDoctorDeps: DoctorDeps = {
  probe: checkExecutionProvider,
  run: (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
    return {
      status: r.status,
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      missing: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT',
    };
  },
};

/** nvidia-smi's CSV (name, memory.total, memory.used, driver_version); null when there is no nvidia-smi or no GPU. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  return csv
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name, total, used, driver] = l.split(',').map((s) => s.trim());
      if (!name || !Number.isFinite(Number(total))) throw new Error(`nvidia-smi: unexpected line "${l}"`);
      return { name, memoryMiB: Number(total), memoryUsedMiB: Number(used), driver: driver ?? '' };
    });
}

/** What a user (or a bug report) needs to know about the machine: each item measured, not assumed. */
export async function doctor(
  cacheDir: string,
  deps: DoctorDeps = realDoctorDeps,
  coverage?: () => GraphCoverage[],
): Promise<DoctorReport> {
  const eps = {} as DoctorReport['executionProviders'];
  for (const ep of ['cpu', 'cuda'] as const) {
    try {
      await deps.probe(ep);
      eps[ep] = { ok: true };
    } catch (e) {
      eps[ep] = { ok: false, error: (e as Error).message.split('\n')[0] };
    }
  }
  const smi = deps.run('nvidia-smi', [
    '--query-gpu=name,memory.total,memory.used,driver_version',
    '--format=csv,noheader,nounits',
  ]);
  const gpus = smi.missing || smi.status !== 0 ? null : parseNvidiaSmi(smi.stdout);
  // The tests run Debian's interpreter (test/util/checker.ts), not whichever python3 is first on PATH.
  const py = deps.run('/usr/bin/python3', ['-c', 'import onnx, onnx.checker; print(onnx.__version__)']);
  const onnxChecker =
    py.status === 0
      ? { present: true, version: py.stdout.trim() }
      : {
          present: false,
          error: py.missing ? 'no /usr/bin/python3' : (py.stderr.trim().split('\n').pop() ?? `exit ${py.status}`),
        };
  const native = ortNativeDir();
  return {
    node: process.version,
    onnxruntime: {
      node: ort.env.versions.node ?? native.version,
      common: ort.env.versions.common,
      nativeDir: native.dir,
      providerFiles: providerFilesIn(native.dir),
    },
    executionProviders: eps,
    gpus,
    cpu: { model: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
    threads: availableParallelism(),
    cacheDir,
    onnxChecker,
    ldLibraryPath: process.env.LD_LIBRARY_PATH ?? '',
    cudaCoverage: coverage ? summarizeCoverage(coverage) : null,
  };
}

function summarizeCoverage(coverage: () => GraphCoverage[]): DoctorReport['cudaCoverage'] {
  try {
    return coverage().map((c) => ({
      graph: c.graph,
      nodes: c.nodes,
      covered: c.covered,
      allowed: c.allowed.length,
      failing: c.failing.map(describeFailure),
    }));
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

function formatCoverage(c: DoctorReport['cudaCoverage']): string {
  if (c === null) return 'not checked';
  if ('error' in c) return `could not be checked: ${c.error}`;
  const bad = c.flatMap((g) => g.failing);
  const per = c
    .map((g) => `${g.graph} ${g.covered}/${g.nodes}${g.allowed ? ` (+${g.allowed} allowed)` : ''}`)
    .join(', ');
  return `${bad.length === 0 ? 'every node has a CUDA kernel' : `${bad.length} nodes without a CUDA kernel`}: ${per}${bad.map((l) => `\n                  ${l}`).join('')}`;
}

export function formatDoctor(r: DoctorReport): string {
  const ep = (k: ExecutionProvider) =>
    r.executionProviders[k].ok ? 'starts a session' : `unavailable: ${r.executionProviders[k].error}`;
  return [
    `node            ${r.node}`,
    `onnxruntime     onnxruntime-node ${r.onnxruntime.node} (common ${r.onnxruntime.common}), native libraries in ${r.onnxruntime.nativeDir}`,
    `provider files  ${r.onnxruntime.providerFiles.join(', ') || 'none (run hm4sr setup-cuda for the CUDA provider)'}`,
    `EP cpu          ${ep('cpu')}`,
    `EP cuda         ${ep('cuda')}`,
    `GPU             ${r.gpus === null ? 'none found (no nvidia-smi, or it failed)' : r.gpus.map((g) => `${g.name}, ${g.memoryMiB} MiB (${g.memoryUsedMiB} used), driver ${g.driver}`).join('; ')}`,
    `CPU             ${r.cpu.model}, ${r.cpu.cores} cores, ${r.cpu.memGiB} GiB`,
    `threads         ${r.threads} (onnxruntime intra-op default)`,
    `cache folder    ${r.cacheDir}`,
    `onnx checker    ${r.onnxChecker.present ? `python3 onnx ${r.onnxChecker.version}` : `absent (${r.onnxChecker.error}; Debian: apt-get install python3-onnx)`}`,
    `LD_LIBRARY_PATH ${r.ldLibraryPath || '(unset)'}`,
    `CUDA kernels    ${formatCoverage(r.cudaCoverage)}`,
  ].join('\n');
}
