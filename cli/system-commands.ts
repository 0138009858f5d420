import type { Argv } from 'yargs';
import { setupCuda } from '../runtime/cuda-setup.js';
import { doctor, formatDoctor, realDoctorDeps } from '../runtime/doctor.js';
import { cacheDir } from '../train/data/builtin.js';
import { cudaGraphCoverage } from '../train/cuda-graphs.js';
import { log } from './options.js';

export function registerSystem(cli: Argv): void {
  cli.command(
    'setup-cuda',
    'install the CUDA provider for onnxruntime-node from the npm registry and check that CUDA 13 / cuDNN 9 load; prints the LD_LIBRARY_PATH to use',
    (y) =>
      y
        .option('from', {
          type: 'string',
          describe: 'use this package tarball (from `npm pack`) instead of fetching it',
        })
        .option('force', {
          type: 'boolean',
          default: false,
          describe: 'fetch and replace the provider even when a matching one is in place',
        })
        .option('json', { type: 'boolean', default: false, describe: 'print the full report as JSON' }),
    (a) => {
      const r = setupCuda({ from: a.from, force: a.force, log });
      for (const l of r.libraries)
        log(
          `${l.loaded ? 'ok     ' : 'MISSING'} ${l.name.padEnd(18)} ${l.loaded ? (l.dir ?? "found by the loader's own search") : `${l.from}: ${l.error}`}`,
        );
      if (a.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      if (!r.ok) {
        log(
          `setup-cuda: ${r.problems.length} problem${r.problems.length > 1 ? 's' : ''}:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`,
        );
        log(
          `(CUDA libraries are searched in LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda*, conda and Python's site-packages nvidia/*/lib; pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand nvidia-cudnn-cu13 provides them)`,
        );
        process.exitCode = 1;
        return;
      }
      log(
        `setup-cuda: the CUDA provider and its libraries load. Before hm4sr --ep cuda, set:\n  export LD_LIBRARY_PATH=${r.ldLibraryPath}\n(or: eval "$(hm4sr setup-cuda)")`,
      );
      if (!a.json) process.stdout.write(`export LD_LIBRARY_PATH=${r.ldLibraryPath}\n`);
    },
  );
  cli.command(
    'doctor',
    'what this machine offers: Node and onnxruntime versions, execution providers that start a session, GPU, threads, cache folder, onnx checker, CUDA kernel coverage of every graph run on CUDA',
    (y) => y.option('json', { type: 'boolean', default: false }),
    async (a) => {
      const r = await doctor(cacheDir(), realDoctorDeps, () => cudaGraphCoverage());
      process.stdout.write(a.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatDoctor(r)}\n`);
    },
  );
}
