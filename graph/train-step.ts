import { type AdamConfig, adamUpdate } from './adam.js';
import { grad } from './grad.js';
import { type DrawSite, Graph, type ParamSpec, type Value } from './graph.js';
import { type LossModel, declareBatch, markDistinct } from './model.js';
import * as op from './ops/index.js';
import { DRAWS_INPUT, feedDraws } from './random.js';

/** Stable names of the training state around one parameter; the manifest pairs each input with its output. */
export const stateName = {
  m: (p: string) => `adam.m.${p}`,
  v: (p: string) => `adam.v.${p}`,
  next: (name: string) => `${name}.next`,
  step: 'adam.step',
  lr: 'adam.lr',
};

export type StateRole = 'param' | 'adam.m' | 'adam.v' | 'adam.step';
export interface StatePair {
  input: string;
  output: string;
  role: StateRole;
}

export interface TrainGraph {
  graph: Graph;
  params: ParamSpec[];
  losses: string[];
  state: StatePair[];
  /** Batch inputs declared distinct (TensorSpec.distinct): the runner checks each feed (each step's row in a Loop). */
  distinct: string[];
  /** Random sites that read the host-fed input random.draws, in slice order; null for seeded sites. */
  draws: DrawSite[] | null;
}

export interface TrainStepOptions {
  adam: AdamConfig;
  /** Base of the seeded random sites (unused with fedDraws). */
  seed: number;
  /**
   * Random sites read the input random.draws (graph/random.ts) instead of seeded ops: the step is a function of
   * its feeds, so one session serves every epoch (the trainer). Default false: self-contained seeded sites.
   */
  fedDraws?: boolean;
}

/** The model's parameters, found by building its forward once in a scratch graph. */
export function probeParams(model: LossModel): ParamSpec[] {
  const g = new Graph('probe');
  model.loss(g, declareBatch(g, model.batch));
  return [...g.params.values()].map((p) => p.spec);
}

interface StepValues {
  loss: Value;
  terms: Record<string, Value>;
  params: Value[];
  m: Value[];
  v: Value[];
  step: Value;
}

/** forward -> loss -> gradient -> Adam, appended to g; params/m/v/step are whatever g binds them to. */
function appendStep(
  g: Graph,
  model: LossModel,
  batch: Record<string, Value>,
  m: Value[],
  v: Value[],
  step: Value,
  lr: Value,
  adam: AdamConfig,
  bound?: Value[],
): StepValues {
  const { loss, terms = {} } = model.loss(g, batch);
  // A Loop body binds parameters to its carried inputs; a plain graph declared them while building.
  const trainable = bound ?? [...g.params.values()].filter((p) => p.spec.trainable).map((p) => p.value);
  if (trainable.length !== m.length)
    g.fail('train-step', `${trainable.length} trainable parameters, ${m.length} moment slots`);
  const grads = grad(loss, trainable);
  const upd = g.withScope('adam', () =>
    adamUpdate(
      trainable.map((param, i) => ({ param, grad: grads[i], m: m[i], v: v[i] })),
      step,
      lr,
      adam,
    ),
  );
  return { loss, terms, params: upd.params, m: upd.m, v: upd.v, step: upd.step };
}

function emitOutputs(g: Graph, names: string[], s: StepValues, terms: string[]): string[] {
  g.output(s.loss, 'loss');
  for (const t of terms) g.output(s.terms[t], `loss.${t}`);
  names.forEach((p, i) => g.output(s.params[i], stateName.next(p)));
  names.forEach((p, i) => g.output(s.m[i], stateName.next(stateName.m(p))));
  names.forEach((p, i) => g.output(s.v[i], stateName.next(stateName.v(p))));
  g.output(s.step, stateName.next(stateName.step));
  return ['loss', ...terms.map((t) => `loss.${t}`)];
}

function statePairs(names: string[]): StatePair[] {
  return [
    ...names.map((p) => ({ input: p, output: stateName.next(p), role: 'param' as const })),
    ...names.map((p) => ({ input: stateName.m(p), output: stateName.next(stateName.m(p)), role: 'adam.m' as const })),
    ...names.map((p) => ({ input: stateName.v(p), output: stateName.next(stateName.v(p)), role: 'adam.v' as const })),
    { input: stateName.step, output: stateName.next(stateName.step), role: 'adam.step' },
  ];
}

/** One training step: (batch, params, moments, step, lr) -> (losses, updated params, moments, step). */
export function buildTrainStep(model: LossModel, opts: TrainStepOptions): TrainGraph {
  const specs = probeParams(model);
  const g = new Graph(`${model.name}_train_step`);
  g.docString = `One training step of ${model.name}: forward, loss, reverse-mode gradient and Adam (lr ${opts.adam.lr} fed as adam.lr, betas ${opts.adam.beta1}/${opts.adam.beta2}, eps ${opts.adam.eps}). Each <param>.next / adam.*.next output replaces the input of the same name.`;
  g.randomSeed = opts.seed;
  const fed = opts.fedDraws ? feedDraws(g) : null;
  const batch = declareBatch(g, model.batch);
  const names = specs.filter((s) => s.trainable).map((s) => s.name);
  const dims = new Map(specs.map((s) => [s.name, s.dims]));
  const m = names.map((p) => g.input(stateName.m(p), 'float32', dims.get(p)!));
  const v = names.map((p) => g.input(stateName.v(p), 'float32', dims.get(p)!));
  const step = g.input(stateName.step, 'int64', []);
  const lr = g.input(stateName.lr, 'float32', []);
  const s = appendStep(g, model, batch, m, v, step, lr, opts.adam);
  const terms = Object.keys(s.terms);
  const losses = emitOutputs(g, names, s, terms);
  return {
    graph: g,
    params: specs,
    losses,
    state: statePairs(names),
    draws: fed?.sites ?? null,
    distinct: model.batch.filter((b) => b.distinct).map((b) => b.name),
  };
}

/**
 * K training steps in one ONNX Loop: every batch input gains a leading 'steps' axis, parameters and
 * moments are loop-carried (they stay on the device between steps), and each loss comes back as [K].
 * The final state has the same output names as buildTrainStep's, so one host loop drives both.
 */
// Stays whole: the Loop body's closure fills pool, sites and terms that the outer graph's inputs and outputs use.
export function buildTrainLoop(model: LossModel, opts: TrainStepOptions): TrainGraph {
  const specs = probeParams(model);
  const g = new Graph(`${model.name}_train_loop`);
  g.docString = `K training steps of ${model.name} in one Loop: batch inputs are stacked on a leading 'steps' axis; parameters and Adam moments are loop-carried; losses come back as [K].`;
  const stacked = Object.fromEntries(model.batch.map((b) => [b.name, g.input(b.name, b.dtype, ['steps', ...b.shape])]));
  const trainable = specs.filter((s) => s.trainable);
  const names = trainable.map((s) => s.name);
  const outer = new Map(
    specs.map((s) => [s.name, g.param(s.name, s.dims, s.init, { absolute: true, trainable: s.trainable })]),
  );
  const m = trainable.map((s) => g.input(stateName.m(s.name), 'float32', s.dims));
  const v = trainable.map((s) => g.input(stateName.v(s.name), 'float32', s.dims));
  const step = g.input(stateName.step, 'int64', []);
  const lr = g.input(stateName.lr, 'float32', []);
  const k = op.dimOf(stacked[model.batch[0].name], 0);
  let terms: string[] = [];
  // Fed draws are stacked like the batch inputs: [steps, draws], one row per iteration.
  let pool: Value | null = null;
  let sites: DrawSite[] = [];
  const carried = [...names.map((n) => outer.get(n)!), ...m, ...v, step];
  const res = op.loop(
    g,
    k,
    carried,
    (body, iter, ins) => {
      body.randomSeed = opts.seed;
      if (opts.fedDraws)
        sites = feedDraws(body, () =>
          op.gather((pool ??= g.input(DRAWS_INPUT, 'float32', ['steps', 'draws'])), iter, 0),
        ).sites;
      const n = names.length;
      const bp = ins.slice(0, n),
        bm = ins.slice(n, 2 * n),
        bv = ins.slice(2 * n, 3 * n),
        bstep = ins[3 * n];
      // Frozen parameters are read from the outer graph; trainable ones are loop-carried.
      body.paramBinding = new Map(
        specs.map((s) => [s.name, s.trainable ? bp[names.indexOf(s.name)] : outer.get(s.name)!]),
      );
      const batch = Object.fromEntries(
        model.batch.map((b) => [b.name, markDistinct(op.gather(stacked[b.name], iter, 0), b)]),
      );
      const s = appendStep(body, model, batch, bm, bv, bstep, lr, opts.adam, bp);
      terms = Object.keys(s.terms);
      return { carried: [...s.params, ...s.m, ...s.v, s.step], scans: [s.loss, ...terms.map((t) => s.terms[t])] };
    },
    { name: 'steps', carriedNames: [...names, ...names.map(stateName.m), ...names.map(stateName.v), stateName.step] },
  );
  const n = names.length;
  const s: StepValues = {
    params: res.carried.slice(0, n),
    m: res.carried.slice(n, 2 * n),
    v: res.carried.slice(2 * n, 3 * n),
    step: res.carried[3 * n],
    loss: res.scans[0],
    terms: Object.fromEntries(terms.map((t, i) => [t, res.scans[i + 1]])),
  };
  const losses = emitOutputs(g, names, s, terms);
  return {
    graph: g,
    params: specs,
    losses,
    state: statePairs(names),
    draws: opts.fedDraws ? sites : null,
    distinct: model.batch.filter((b) => b.distinct).map((b) => b.name),
  };
}
