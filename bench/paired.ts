// hm4sr bench paired [--data synth|beauty|DIR] [--name NAME] [--steps N] [--a SPEC] [--b SPEC] [--threads N]
//                    [--init-from RUN_DIR] (start both sides from that run's last.ckpt, not from the init)
// Two training sessions in one process, fed the same batches in turn (the order alternating, a pause between
// runs so neither session's threads still spin), so a machine whose speed drifts over minutes slows both alike.
// SPEC is comma-separated settings of one side: graph=production|reference (the reference reads padded rows), lower=true|false (Softplus and
// LayerNormalization as primitive kernels), mem-pattern=true|false, distinct=true|false (false: gathers by the
// batch inputs declared distinct scatter their gradients as if they could repeat), draws=fed|seeded (dropout
// from host draws, random.draws, as the trainer runs it; or seeded RandomUniformLike). Default: --a lower=false
// --b lower=true. Fed sides read the same host draws.
// Prints one JSON line: each side's mean ms per step and the difference b - a with a 95% interval, over the
// steps after the first two (allocator warm-up).
import { note } from './note.js';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { checkCheckpointMatches, readCheckpoint, stateFromCheckpoint } from '../graph/artifacts/checkpoint.js';
import { ADAM_DEFAULTS } from '../graph/adam.js';
import { buildTrainStep, probeParams } from '../graph/train-step.js';
import { initialValues } from '../graph/init.js';
import { DEFAULT_CONFIG, type RunConfig, mergeConfig } from '../train/config.js';
import { EpochSampler, Rng } from '../train/data/shuffle.js';
import { packBatch, packOptions } from '../train/pack.js';
import { type Prepared, prepare } from '../train/prepare.js';
import { DATA_OPTIONS, bench, benchData } from './bench.js';
import { type ModelForm, MODEL_FORMS, modelFeeds, parseModelForm, trainingModel } from './model-form.js';
import type { LossModel } from '../graph/model.js';
import { StepRunner, freshState } from '../train/step-runner.js';

interface Side {
  graph: ModelForm;
  lower: boolean;
  memoryPattern: boolean;
  distinct: boolean;
  fed: boolean;
}

function parseSide(spec: string, which: string): Side {
  const side: Side = { graph: MODEL_FORMS[0], lower: true, memoryPattern: false, distinct: true, fed: true };
  const bool = (k: string, v: string) => {
    if (v !== 'true' && v !== 'false') throw new Error(`--${which} ${spec}: ${k} must be true or false, got ${v}`);
    return v === 'true';
  };
  for (const kv of spec.split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (k === 'graph') side.graph = parseModelForm(v, `--${which} ${spec}: graph`);
    else if (k === 'lower') side.lower = bool(k, v);
    else if (k === 'mem-pattern') side.memoryPattern = bool(k, v);
    else if (k === 'distinct') side.distinct = bool(k, v);
    else if (k === 'draws' && (v === 'fed' || v === 'seeded')) side.fed = v === 'fed';
    else
      throw new Error(
        `--${which} ${spec}: unknown setting ${kv} (expected graph=${MODEL_FORMS.join('|')}, lower=true|false, mem-pattern=true|false, distinct=true|false, draws=fed|seeded)`,
      );
  }
  return side;
}

export const pairedBench = bench({
  name: 'paired',
  about:
    "two training-graph settings timed step by step on the same batches: each side's ms per step and the difference (one JSON line)",
  options: {
    ...DATA_OPTIONS,
    steps: { type: 'number', default: 40, describe: 'steps compared (the first two warm up)' },
    a: {
      type: 'string',
      default: 'lower=false',
      describe: `SPEC of side a: comma-separated graph=${MODEL_FORMS.join('|')}, lower=, mem-pattern=, distinct= (true|false), draws=fed|seeded`,
    },
    b: { type: 'string', default: 'lower=true', describe: 'SPEC of side b' },
    threads: { type: 'number', default: 0, describe: 'onnxruntime intra-op threads (0: all cores)' },
    'init-from': { type: 'string', describe: 'start both sides from RUN_DIR/last.ckpt, not from the init' },
  },
  async run(a) {
    const data = benchData(a.data, a.name);
    const rc = mergeConfig(DEFAULT_CONFIG, { data: { dir: data.dir, name: data.name }, optim: { threads: a.threads } });
    const p = prepare(rc, note);
    const sides = [parseSide(a.a, 'a'), parseSide(a.b, 'b')];
    const models = sides.map((s) => sideModel(s, p));
    const runners = await Promise.all(sides.map((s, k) => sideRunner(s, models[k], rc, p, a['init-from'])));
    const batches = new EpochSampler(p.samples.train.size, rc.optim.batchSize, 1, null).nextEpoch();
    const steps = Math.min(a.steps, batches.length);
    if (!(steps >= 4)) throw new Error(`--steps ${a.steps}: need at least 4 (the first two are warm-up)`);
    const rngs = [new Rng(1), new Rng(1)],
      draws = [Rng.keyed(1, 'dropout'), Rng.keyed(1, 'dropout')];
    const pack = packOptions(rc, p);
    const ms: number[][] = [[], []];
    const pause = () => new Promise((res) => setTimeout(res, 30));
    for (let i = 0; i < steps; i++) {
      // Each side packs its own copy (the reference reads padded rows) from its own PCL stream: same draws.
      const feeds = runners.map((r, k) => {
        const layout = sides[k].graph === 'reference' ? 'padded' : pack.layout;
        const packed = packBatch(p.ds, p.samples.train, batches[i], p.model, {
          ...pack,
          layout,
          withTarget: true,
          rng: rngs[k],
        });
        const b = modelFeeds(models[k], packed.feeds);
        return sides[k].fed ? r.withDraws(b, draws[k]) : b;
      });
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        await pause();
        const t = performance.now();
        await runners[k].run(feeds[k], 1e-3);
        ms[k].push(performance.now() - t);
      }
    }
    report(data.name, rc, sides, ms);
  },
});

function sideModel(s: Side, p: Prepared): LossModel {
  const full = trainingModel(p.model, s.graph);
  return s.distinct ? full : { ...full, batch: full.batch.map(({ distinct: _, ...spec }) => spec) };
}

async function sideRunner(
  s: Side,
  model: LossModel,
  rc: RunConfig,
  p: Prepared,
  initFrom: string | undefined,
): Promise<StepRunner> {
  const specs = probeParams(model);
  // A run's last checkpoint holds every parameter (frozen tables included) and the Adam state. Each side reads
  // its own copy: a runner replaces the entries of its state's maps after every step.
  const ckpt = initFrom ? join(initFrom, 'last.ckpt') : null;
  const saved = ckpt ? readCheckpoint(ckpt) : null;
  if (saved) checkCheckpointMatches(saved, specs, ckpt!);
  const state = saved ? stateFromCheckpoint(saved, ckpt!) : freshState(specs, initialValues(specs, p.frozen, 1));
  return StepRunner.create(buildTrainStep(model, { adam: ADAM_DEFAULTS, seed: 1, fedDraws: s.fed }), state, {
    threads: rc.optim.threads || undefined,
    memoryPattern: s.memoryPattern,
    lower: s.lower,
  });
}

function report(data: string, rc: RunConfig, sides: Side[], ms: number[][]): void {
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const [a, b] = ms.map((xs) => xs.slice(2));
  const d = b.map((x, i) => x - a[i]);
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean(d)) ** 2, 0) / (d.length - 1));
  process.stdout.write(
    JSON.stringify({
      bench: 'paired',
      data,
      machine: { cpu: cpus()[0]?.model, cores: cpus().length },
      threads: rc.optim.threads || cpus().length,
      a: sides[0],
      b: sides[1],
      stepsCompared: d.length,
      msPerStepA: +mean(a).toFixed(1),
      msPerStepB: +mean(b).toFixed(1),
      diffMs: +mean(d).toFixed(1),
      diffCi95Ms: +((1.96 * sd) / Math.sqrt(d.length)).toFixed(1),
    }) + '\n',
  );
}
