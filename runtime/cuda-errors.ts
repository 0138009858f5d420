import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDER_LIBS, ortNativeDir, providerFilesIn } from './cuda-provider.js';

const FALLBACK_REFUSED = /assigned to the default CPU EP|fallback to CPU EP has been explicitly disabled/;

export interface Placement {
  /** Nodes on the CPU EP, "OpType (name)", from ORT's verbose "Node placements" log (session_state.cc). */
  cpu: string[];
  /** Names of nodes ORT moved to the CPU on purpose: small shape computations feeding CPU inputs (fallback_cpu_capability.cc). */
  forced: string[];
}

/**
 * Reads ORT's verbose log: a header " Node(s) placed on [CPUExecutionProvider]. Number of nodes: N" followed
 * by "  OpType (node name)" lines, and "Force fallback to CPU execution for node: NAME because the CPU
 * execution path is deemed faster ..." for each node ORT keeps on the CPU although the CUDA EP could run it.
 */
export function parsePlacement(log: string): Placement {
  const cpu: string[] = [],
    forced: string[] = [];
  let inCpu = false;
  for (const line of log.split('\n')) {
    const f = /Force fallback to CPU execution for node: (.*?) because the CPU execution path is deemed faster/.exec(
      line,
    );
    if (f) forced.push(f[1]);
    const header = /placed on \[(\w+)\]/.exec(line);
    if (header) {
      inCpu = header[1] === 'CPUExecutionProvider';
      if (inCpu && /All nodes placed/.test(line))
        cpu.push(`all ${/Number of nodes: (\d+)/.exec(line)?.[1] ?? '?'} nodes`);
      continue;
    }
    const node = /\]\s{2,}(\S+ \(.*\))\s*$/.exec(line);
    if (inCpu && node) cpu.push(node[1]);
    else if (!node) inCpu = false;
  }
  return { cpu, forced };
}

/** CPU-placed nodes that ORT did not move there on purpose: the ones the CUDA EP cannot take. */
export const realFallbacks = (p: Placement): string[] => {
  const forced = new Set(p.forced);
  return p.cpu.filter((n) => !forced.has(/\((.*)\)$/.exec(n)?.[1] ?? n));
};

/**
 * Creates the session again in a child process with verbose logging and CPU fallback allowed, and reads
 * where ORT put each node (its own refusal names none). Null when that session fails too.
 */
export function diagnosePlacement(model: string | Uint8Array): Placement | null {
  const dir = mkdtempSync(join(tmpdir(), 'hm4sr-placement-'));
  try {
    const path = typeof model === 'string' ? model : join(dir, 'model.onnx');
    if (typeof model !== 'string') writeFileSync(path, model);
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    // The forced-fallback lines go to ORT's default logger, whose level is the environment's, not the session's.
    const script = `const ort = require(${JSON.stringify(ortPath)}); ort.env.logLevel = 'verbose';
      ort.InferenceSession.create(${JSON.stringify(path)}, { executionProviders: [{ name: 'cuda' }], logSeverityLevel: 0 })
      .then(() => process.exit(0), (e) => { console.error('SESSION FAILED: ' + e.message); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 512 << 20, timeout: 600_000 });
    if (r.status !== 0) return null;
    return parsePlacement(`${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const isFallbackRefusal = (msg: string) => FALLBACK_REFUSED.test(msg);

/** Turns ORT's CUDA session failure into what the user has to do about it. */
export async function explainCudaFailure(
  msg: string,
  model: string | Uint8Array,
  strict: boolean,
  placement?: Placement | null,
): Promise<string> {
  if (strict && FALLBACK_REFUSED.test(msg)) {
    const p = placement === undefined ? diagnosePlacement(model) : placement;
    const nodes = p === null ? null : realFallbacks(p);
    const list =
      nodes === null
        ? '(could not list them: the diagnostic session failed too)'
        : nodes.length > 0
          ? nodes.join(', ')
          : '(ORT did not list them)';
    return `could not create a CUDA session: the CUDA EP cannot take every node of this model, and CPU fallback is disabled on CUDA. Nodes that would run on the CPU: ${list}. Pass --allow-cpu-nodes to run them there anyway.`;
  }
  const dir = ortNativeDir().dir;
  const present = providerFilesIn(dir);
  const missing = PROVIDER_LIBS.filter((f) => !present.includes(f));
  if (missing.length > 0) {
    return `could not create a CUDA session: the CUDA provider is not installed (${missing.join(', ')} missing next to ${join(dir, 'libonnxruntime.so.1')}). Run \`hm4sr setup-cuda\` (fetches it from the npm registry), then \`hm4sr doctor\`. ORT said: ${msg.split('\n')[0]}`;
  }
  return `could not create a CUDA session: ${msg.split('\n')[0]}\nThe CUDA provider is installed (libonnxruntime_providers_cuda.so in ${dir}); it also needs an NVIDIA GPU with its driver, and CUDA 13 + cuDNN 9 on LD_LIBRARY_PATH: \`hm4sr setup-cuda\` checks them and prints the LD_LIBRARY_PATH to use; \`hm4sr doctor\` shows what is found.`;
}
