import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type DoctorDeps, doctor, formatDoctor, parseNvidiaSmi } from '../runtime/doctor.js';

const dir = mkdtempSync(join(tmpdir(), 'hm4sr-doctor-'));
const main = new URL('../cli/main.js', import.meta.url).pathname;

/** Machine boundaries: which EPs start, and what external programs answer. */
function deps(opts: { cuda: boolean; smi: string | null; onnx: string | null }): DoctorDeps & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    probe: async (ep) => {
      if (ep === 'cuda' && !opts.cuda)
        throw new Error('could not create a CUDA session: the CUDA provider is not installed\nsecond line');
    },
    run: (cmd) => {
      ran.push(cmd);
      if (cmd === 'nvidia-smi')
        return opts.smi === null
          ? { status: null, stdout: '', stderr: '', missing: true }
          : { status: 0, stdout: opts.smi, stderr: '', missing: false };
      return opts.onnx === null
        ? { status: 1, stdout: '', stderr: "Traceback\nModuleNotFoundError: No module named 'onnx'", missing: false }
        : { status: 0, stdout: `${opts.onnx}\n`, stderr: '', missing: false };
    },
  };
}

test('doctor on a GPU machine: both EPs start, GPU name and memory from nvidia-smi, the onnx checker version', async () => {
  const d = deps({ cuda: true, smi: 'NVIDIA H200, 143771, 512, 570.86.15\n', onnx: '1.17.0' });
  const r = await doctor('/some/cache', d);
  assert.equal(r.executionProviders, { cpu: { ok: true }, cuda: { ok: true } });
  assert.equal(r.gpus, [{ name: 'NVIDIA H200', memoryMiB: 143771, memoryUsedMiB: 512, driver: '570.86.15' }]);
  assert.equal(r.onnxChecker, { present: true, version: '1.17.0' });
  assert.is(r.cacheDir, '/some/cache');
  assert.ok(r.threads >= 1);
  assert.is(r.onnxruntime.node, '1.29.0');
  assert.equal(d.ran, ['nvidia-smi', '/usr/bin/python3']);
  assert.match(formatDoctor(r), /GPU +NVIDIA H200, 143771 MiB/);
});

test('doctor without a GPU: the CUDA EP error, no GPU, the missing checker, each said plainly', async () => {
  const r = await doctor('/c', deps({ cuda: false, smi: null, onnx: null }));
  assert.equal(r.executionProviders.cuda, {
    ok: false,
    error: 'could not create a CUDA session: the CUDA provider is not installed',
  });
  assert.is(r.gpus, null);
  assert.equal(r.onnxChecker, { present: false, error: "ModuleNotFoundError: No module named 'onnx'" });
  const text = formatDoctor(r);
  assert.match(text, /EP cuda +unavailable: could not create a CUDA session/);
  assert.match(text, /GPU +none found/);
  assert.match(text, /onnx checker +absent .*python3-onnx/);
});

test('doctor reports CUDA kernel coverage per graph, each failing node in one line, and a check that could not run', async () => {
  const failing = {
    node: 'g/ReduceProd_0',
    op: 'ReduceProd',
    opset: 17,
    inputs: ['data: tensor(int64)'],
    scope: 'g',
    graph: 'train-step',
    why: 'no CUDA ReduceProd-1 kernel for these types',
  };
  const r = await doctor('/c', deps({ cuda: false, smi: null, onnx: null }), () => [
    { graph: 'train-step', nodes: 10, constants: 2, covered: 9, allowed: [], failing: [failing] },
    { graph: 'eval', nodes: 5, constants: 0, covered: 5, allowed: [], failing: [] },
  ]);
  assert.equal(r.cudaCoverage, [
    {
      graph: 'train-step',
      nodes: 10,
      covered: 9,
      allowed: 0,
      failing: [
        'train-step: node g/ReduceProd_0 (ReduceProd, opset 17; data: tensor(int64)) built in scope g: no CUDA ReduceProd-1 kernel for these types',
      ],
    },
    { graph: 'eval', nodes: 5, covered: 5, allowed: 0, failing: [] },
  ]);
  assert.match(
    formatDoctor(r),
    /CUDA kernels +1 nodes without a CUDA kernel: train-step 9\/10, eval 5\/5\n +train-step: node g\/ReduceProd_0/,
  );
  const broken = await doctor('/c', deps({ cuda: false, smi: null, onnx: null }), () => {
    throw new Error('no type rule for Foo\nmore');
  });
  assert.equal(broken.cudaCoverage, { error: 'no type rule for Foo' });
  assert.match(formatDoctor(broken), /CUDA kernels +could not be checked: no type rule for Foo/);
});

test('nvidia-smi output it cannot read is an error, several GPUs are listed', () => {
  assert.is(parseNvidiaSmi('A100, 81920, 0, 550\nA100, 81920, 3, 550\n').length, 2);
  assert.throws(() => parseNvidiaSmi('No devices were found'), /nvidia-smi: unexpected line "No devices were found"/);
});

test('hm4sr doctor --json runs on this machine: the CPU EP starts, the cache folder is the one configured', () => {
  const r = spawnSync(process.execPath, [main, 'doctor', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, HM4SR_CACHE: dir },
  });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.executionProviders.cpu, { ok: true });
  assert.type(j.executionProviders.cuda.ok, 'boolean');
  assert.is(j.cacheDir, dir);
  assert.is(j.node, process.version);
  assert.equal(
    j.cudaCoverage.map((c: { graph: string }) => c.graph),
    ['train-step', 'train-loop', 'eval', 'catalog', 'serving', 'bert', 'vit'],
  );
  for (const c of j.cudaCoverage) assert.equal(c.failing, [], c.graph);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
