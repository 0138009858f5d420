// Times training steps of the HM4SR graph on a dataset: npm run bench -- train-step [--data DIR] [--threads N]
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { DEFAULT_CONFIG, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { packBatch } from '../train/pack.js';
import { prepare } from '../train/prepare.js';
import { StepRunner } from '../train/step-runner.js';
import { initialValues, packOptions } from '../train/trainer.js';
import { defaultDataset } from '../cli/data-source.js';

const args = process.argv.slice(2);
const flag = (k: string, d?: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const data = flag('data') ? { dir: flag('data')!, name: flag('name')! } : defaultDataset(() => {});
const rc = mergeConfig(DEFAULT_CONFIG, { data: { ...data }, optim: { threads: Number(flag('threads', '0')), layout: (flag('layout', 'packed') as 'packed') }, preset: (flag('preset', 'hm4sr') as 'hm4sr') });
const p = prepare(rc);
const model = hm4srModel(p.model);
const specs = probeParams(model);
const values = initialValues(specs, p.frozen, 1);
const zeros = () => new Map(specs.filter((s) => s.trainable).map((s) => [s.name, new Float32Array(values.get(s.name)!.length)]));
const tg = buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1 });
const t0 = performance.now();
const runner = await StepRunner.create(tg, { params: values, m: zeros(), v: zeros(), step: 0 }, { threads: rc.optim.threads || undefined });
const createMs = performance.now() - t0;
const batches = new EpochSampler(p.samples.train.size, 1024, 1).nextEpoch();
const steps = Number(flag('steps', '6'));
const rng = new Rng(1);
let ms = 0, samples = 0, tokens = 0, cells = 0, packMs = 0;
for (let i = 0; i < steps; i++) {
  const tp = performance.now();
  const b = packBatch(p.ds, p.samples.train, batches[i], p.model, { ...packOptions(rc, p), withTarget: true, rng });
  const ts = performance.now();
  packMs += ts - tp;
  await runner.run(b.feeds, 1e-3);
  if (i > 0) { ms += performance.now() - ts; samples += b.size; tokens += b.tokens; cells += b.rows * b.width; }
}
process.stdout.write(JSON.stringify({ bench: 'train-step', data: data.name, threads: rc.optim.threads, layout: rc.optim.layout, sessionCreateMs: Math.round(createMs), msPerStep: +(ms / (steps - 1)).toFixed(1), samplesPerSecond: Math.round(samples / (ms / 1000)), tokensPerBatch: Math.round(tokens / (steps - 1)), cellsPerBatch: Math.round(cells / (steps - 1)), packMsPerBatch: +(packMs / steps).toFixed(1) }) + '\n');
