import { join } from 'node:path';
import { writeArtifacts } from '../graph/artifacts/write.js';
import { initialValues } from '../graph/init.js';
import { saveModel } from '../graph/manifest.js';
import { buildEvalGraph, hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainLoop, buildTrainStep, probeParams } from '../graph/train-step.js';
import { type RunConfig, adamConfig } from './config.js';
import { exportInference } from './export.js';
import type { Prepared } from './prepare.js';

export interface WrittenGraph {
  file: string;
  kind: string;
  inputs: number;
  outputs: number;
  params: number;
}

/**
 * `hm4sr build-graph`: the training-step, K-step Loop and evaluation graphs of a dataset's model with their
 * manifests, the serving graph `export` ships (model.onnx, here with the initial, untrained weights), and
 * optionally ONNX Runtime training artifacts in OUT/artifacts.
 */
export async function writeGraphs(
  rc: RunConfig,
  p: Prepared,
  out: string,
  opts: { lr?: number; artifacts: boolean },
): Promise<WrittenGraph[]> {
  const model = hm4srModel(p.model);
  const adam = adamConfig(rc, opts.lr);
  const seed = rc.optim.seed;
  const step = buildTrainStep(model, { adam, seed });
  const loop = buildTrainLoop(model, { adam, seed });
  const meta = { model: p.model, adam, fingerprint: p.fingerprint };
  const all = initialValues(probeParams(model), p.frozen, seed);
  const written = [
    saveModel(
      step.graph,
      join(out, 'train_step.onnx'),
      'train-step',
      { params: 'inputs' },
      { state: step.state, losses: step.losses, meta },
    ),
    saveModel(
      loop.graph,
      join(out, 'train_loop.onnx'),
      'train-loop',
      { params: 'inputs' },
      { state: loop.state, losses: loop.losses, meta },
    ),
    saveModel(buildEvalGraph(p.model), join(out, 'eval.onnx'), 'eval', { params: 'inputs' }, { meta }),
    await exportInference(p.model, all, p, rc, join(out, 'model.onnx')),
  ];
  const listed = written.map((m) => ({
    file: join(out, m.file),
    kind: m.kind,
    inputs: m.inputs.length,
    outputs: m.outputs.length,
    params: m.params.length,
  }));
  if (opts.artifacts) {
    const dir = join(out, 'artifacts');
    writeArtifacts(model, dir, {
      adam,
      values: all,
      seed,
      properties: { epoch: 0, seed, fingerprint: p.fingerprint, config: JSON.stringify(p.model) },
    });
    listed.push({ file: dir, kind: 'ort-training-artifacts', inputs: 0, outputs: 0, params: all.size });
  }
  return listed;
}
