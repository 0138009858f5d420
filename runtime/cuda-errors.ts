import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDER_LIBS, ortNativeDir, providerFilesIn } from './cuda-provider.js';

const FALLBACK_REFUSED = /assigned to the default CPU EP|fallback to CPU EP has been explicitly disabled/;

/**
 * The nodes ORT placed on the CPU EP, from its verbose "Node placements" log (session_state.cc): a header
 * " Node(s) placed on [CPUExecutionProvider]. Number of nodes: N" followed by "  OpType (node name)" lines.
 */
export function parseCpuPlacements(log: string): string[] {
  const nodes: string[] = [];
  let inCpu = false;
  for (const line of log.split('\n')) {
    const header = /placed on \[(\w+)\]/.exec(line);
    if (header) {
      inCpu = header[1] === 'CPUExecutionProvider';
      if (inCpu && /All nodes placed/.test(line)) nodes.push(`all ${/Number of nodes: (\d+)/.exec(line)?.[1] ?? '?'} nodes`);
      continue;
    }
    const node = /\]\s{2,}(\S+ \(.*\))\s*$/.exec(line);
    if (inCpu && node) nodes.push(node[1]);
    else if (!node) inCpu = false;
  }
  return nodes;
}

/**
 * Creates the session again in a child process with verbose logging and CPU fallback allowed, and reads
 * which nodes went to the CPU (ORT's own refusal does not name them). Null when that session fails too.
 */
export function cpuPlacedNodes(model: string | Uint8Array): string[] | null {
  const dir = mkdtempSync(join(tmpdir(), 'hm4sr-placement-'));
  try {
    const path = typeof model === 'string' ? model : join(dir, 'model.onnx');
    if (typeof model !== 'string') writeFileSync(path, model);
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const script = `require(${JSON.stringify(ortPath)}).InferenceSession.create(${JSON.stringify(path)}, { executionProviders: [{ name: 'cuda' }], logSeverityLevel: 0 })
      .then(() => process.exit(0), (e) => { console.error('SESSION FAILED: ' + e.message); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 300_000 });
    if (r.status !== 0) return null;
    return parseCpuPlacements(`${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Turns ORT's CUDA session failure into what the user has to do about it. */
export async function explainCudaFailure(msg: string, model: string | Uint8Array, strict: boolean): Promise<string> {
  if (strict && FALLBACK_REFUSED.test(msg)) {
    const nodes = cpuPlacedNodes(model);
    const list = nodes === null ? '(could not list them: the diagnostic session failed too)' : nodes.length > 0 ? nodes.join(', ') : '(ORT did not list them)';
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
