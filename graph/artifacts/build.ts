/**
 * ONNX Runtime on-device-training artifacts for any LossModel: the training, evaluation and optimizer
 * models that ORT's TrainingSession (C/C++/C#/Java/Objective-C APIs, onnxruntime-web 1.17-1.19) runs
 * beside a checkpoint (graph/artifacts/checkpoint.ts). The conventions are onnxruntime's (training_api/module.cc,
 * optimizer.cc, utils.cc and onnxblock's _training_graph_utils.py):
 *
 *  - training model inputs: user inputs, every parameter (named as in the checkpoint), one
 *    `<param>_grad.accumulation.buffer` per trainable parameter, then `lazy_reset_grad` (bool [1]);
 *    outputs: the loss (and other user outputs), then one `<param>_grad.accumulation.out` (bool [1]) per
 *    trainable parameter, each produced by a com.microsoft InPlaceAccumulatorV2(buffer, grad, lazy_reset_grad).
 *    ORT classifies inputs by name (parameters from the checkpoint, gradient buffers by suffix), so a user
 *    input or output must not end in `_grad`, `_grad.accumulation.buffer` or `_grad.accumulation.out`;
 *  - eval model inputs: user inputs, then every parameter in the training model's order (ORT feeds them
 *    positionally); Dropout runs in inference mode;
 *  - optimizer model inputs exactly learning_rate, step, params, gradients, first_order_moments,
 *    second_order_moments; one com.microsoft AdamWOptimizer node.
 * The gradients are hm4sr's own reverse-mode graph (graph/grad.ts), not ORT's gradient builder.
 */
import type { onnx as P } from 'onnx-proto';
import type { AdamConfig } from '../adam.js';
import { IR_VERSION, OPSET, PRODUCER, PRODUCER_VERSION, modelProto } from '../emit.js';
import { grad } from '../grad.js';
import { Graph, type ParamSpec, type Value } from '../graph.js';
import { type LossModel, declareBatch } from '../model.js';
import { onnx } from '../onnx-proto.js';
import { probeParams } from '../train-step.js';
import { type TensorSpec, tensorSpecOf } from '../types.js';

/** onnxruntime's fixed names (training_api/utils.cc, module.cc, optimizer.cc). */
export const ORT_NAMES = {
  gradBuffer: (p: string) => `${p}_grad.accumulation.buffer`,
  gradOut: (p: string) => `${p}_grad.accumulation.out`,
  lazyResetGrad: 'lazy_reset_grad',
  optimizerInputs: [
    'learning_rate',
    'step',
    'params',
    'gradients',
    'first_order_moments',
    'second_order_moments',
  ] as const,
  reservedSuffixes: ['_grad.accumulation.buffer', '_grad', '_grad.accumulation.out'],
};

/** Extra evaluation outputs (e.g. scores or ranks) over their own batch signature. */
export interface EvalSpec {
  batch: TensorSpec[];
  /** Named outputs built from the batch; parameters are declared by the model code as usual. */
  outputs: (g: Graph, batch: Record<string, Value>) => Record<string, Value>;
}

export interface ArtifactModels {
  params: ParamSpec[];
  training: Graph;
  eval: Graph;
  trainOutputs: TensorSpec[];
  evalOutputs: TensorSpec[];
  trainingProto: P.ModelProto;
  evalProto: P.ModelProto;
  optimizerProto: P.ModelProto;
}

function checkUserName(kind: string, name: string): void {
  const bad = ORT_NAMES.reservedSuffixes.find((s) => name.endsWith(s));
  if (bad)
    throw new Error(
      `${kind} ${name} ends in '${bad}', which onnxruntime's training API reserves for gradients; rename it`,
    );
  if (name === ORT_NAMES.lazyResetGrad)
    throw new Error(`${kind} ${name} is onnxruntime's gradient-reset input name; rename it`);
}

/** Declares every parameter up front, in probe order, so training and eval models list them identically. */
function declareParams(g: Graph, specs: ParamSpec[]): Map<string, Value> {
  return new Map(
    specs.map((s) => [
      s.name,
      g.param(s.name, s.dims, s.init, { absolute: true, trainable: s.trainable, dtype: s.dtype }),
    ]),
  );
}

/** Puts graph inputs in the given order (names not listed keep their relative order, after the listed ones). */
function reorderInputs(proto: P.ModelProto, order: string[]): void {
  const graph = proto.graph!;
  const byName = new Map((graph.input ?? []).map((i) => [i.name!, i]));
  const listed = order.map((n) => {
    const i = byName.get(n);
    if (!i) throw new Error(`internal: graph input ${n} not found`);
    byName.delete(n);
    return i;
  });
  graph.input = [...listed, ...byName.values()];
}

/** Training model: forward, loss, hm4sr's VJP graph, one InPlaceAccumulatorV2 per trainable parameter. */
function buildTrainingModel(
  model: LossModel,
  opts: { seed?: number; params?: ParamSpec[] } = {},
): { graph: Graph; proto: P.ModelProto; outputs: TensorSpec[]; params: ParamSpec[] } {
  const specs = opts.params ?? probeParams(model);
  const trainable = specs.filter((s) => s.trainable);
  if (trainable.length === 0) throw new Error(`model ${model.name} has no trainable parameters`);
  for (const s of specs) {
    if (s.dtype !== 'float32')
      throw new Error(`parameter ${s.name} is ${s.dtype}; ORT checkpoints here hold float32 parameters only`);
  }
  for (const b of model.batch) checkUserName('batch input', b.name);
  const g = new Graph(`${model.name}_training`);
  g.docString = 'hm4sr training model (onnxruntime on-device-training artifact)';
  g.randomSeed = opts.seed ?? 0;
  const batch = declareBatch(g, model.batch);
  const params = declareParams(g, specs);
  const { loss, terms = {} } = model.loss(g, batch);
  const grads = grad(
    loss,
    trainable.map((s) => params.get(s.name)!),
  );
  const outputs: Value[] = [g.output(loss, 'loss')];
  for (const [t, v] of Object.entries(terms)) {
    checkUserName('loss term output', `loss.${t}`);
    outputs.push(g.output(v, `loss.${t}`));
  }
  const reset = g.input(ORT_NAMES.lazyResetGrad, 'bool', [1]);
  const buffers = trainable.map((s) => g.input(ORT_NAMES.gradBuffer(s.name), 'float32', s.dims));
  g.withScope('grad_accumulation', () => {
    trainable.forEach((s, i) => {
      const [flag] = g.node(
        'InPlaceAccumulatorV2',
        [buffers[i], grads[i], reset],
        [{ dtype: 'bool', shape: [1], name: ORT_NAMES.gradOut(s.name) }],
        {},
        'com.microsoft',
      );
      g.output(flag);
    });
  });
  const proto = modelProto(g, { params: 'inputs', docString: g.docString });
  reorderInputs(proto, [
    ...model.batch.map((b) => b.name),
    ...specs.map((s) => params.get(s.name)!.name),
    ...buffers.map((b) => b.name),
    reset.name,
  ]);
  return { graph: g, proto, outputs: outputs.map(tensorSpecOf), params: specs };
}

/** Eval model: the loss (and terms), or `spec`'s outputs, with every parameter as an input and Dropout off. */
function buildEvalModel(
  model: LossModel,
  opts: { seed?: number; params?: ParamSpec[]; spec?: EvalSpec } = {},
): { graph: Graph; proto: P.ModelProto; outputs: TensorSpec[] } {
  const specs = opts.params ?? probeParams(model);
  const g = new Graph(`${model.name}_eval`);
  g.docString = 'hm4sr evaluation model (onnxruntime on-device-training artifact)';
  g.randomSeed = opts.seed ?? 0;
  const batchSpec = opts.spec?.batch ?? model.batch;
  for (const b of batchSpec) checkUserName('eval input', b.name);
  const batch = declareBatch(g, batchSpec);
  const params = declareParams(g, specs);
  const outputs: Value[] = [];
  if (opts.spec) {
    for (const [name, v] of Object.entries(opts.spec.outputs(g, batch))) {
      checkUserName('eval output', name);
      outputs.push(g.output(v, name));
    }
    if (outputs.length === 0) throw new Error('the eval spec built no outputs');
  } else {
    const { loss, terms = {} } = model.loss(g, batch);
    outputs.push(g.output(loss, 'loss'));
    for (const [t, v] of Object.entries(terms)) outputs.push(g.output(v, `loss.${t}`));
  }
  for (const name of g.params.keys()) {
    if (!params.has(name))
      throw new Error(`the eval graph declares parameter ${name}, which the training model does not have`);
  }
  // Inference mode, as onnxblock does for its eval model: Dropout without training_mode is the identity.
  for (const n of g.nodes) if (n.op === 'Dropout' && n.inputs.length > 2) n.inputs[2] = null;
  const proto = modelProto(g, { params: 'inputs', docString: g.docString });
  reorderInputs(proto, [...batchSpec.map((b) => b.name), ...specs.map((s) => params.get(s.name)!.name)]);
  return { graph: g, proto, outputs: outputs.map(tensorSpecOf) };
}

/**
 * AdamWOptimizer attributes that reproduce graph/adam.ts: adam_mode 0 is PyTorch's AdamW (decoupled
 * weight decay p <- p - lr*wd*p before the moment update, bias correction on m and v), correct_bias 1.
 * PyTorch-style L2 Adam (decay: 'l2') has no AdamWOptimizer mode, so it is refused when weightDecay > 0.
 */
export function adamWAttributes(adam: AdamConfig): {
  alpha: number;
  beta: number;
  epsilon: number;
  weight_decay: number;
  correct_bias: number;
  adam_mode: number;
} {
  if (adam.weightDecay > 0 && adam.decay === 'l2') {
    throw new Error(
      `onnxruntime's AdamWOptimizer has no L2-regularised Adam mode; weight decay ${adam.weightDecay} with decay 'l2' cannot be exported (use decay 'decoupled')`,
    );
  }
  return {
    alpha: adam.beta1,
    beta: adam.beta2,
    epsilon: adam.eps,
    weight_decay: adam.weightDecay,
    correct_bias: 1,
    adam_mode: 0,
  };
}

const T = onnx.TensorProto.DataType;
const tensorType = (elemType: number, dims?: number[]): P.ITypeProto => ({
  tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((d) => ({ dimValue: d })) } } : {}) },
});
const seqType = (elemType: number): P.ITypeProto => ({ sequenceType: { elemType: tensorType(elemType) } });

/**
 * The optimizer model: learning_rate, step and the four float tensor sequences into one AdamWOptimizer.
 *
 * onnxruntime feeds `learning_rate` from its optimizer state, which loading a checkpoint does NOT set from
 * the checkpoint's initial learning rate (it stays at ORT's default 1e-3 until the application calls
 * SetLearningRate / set_learning_rate or registers a scheduler; onnxruntime-web has no such call). With
 * `fixedLearningRate` the node reads a constant adam.lr instead and the `learning_rate` input is ignored:
 * for runtimes that cannot set the rate, at the cost of schedulers and SetLearningRate having no effect.
 */
// Stays whole: one declarative ModelProto (a node, its attributes and the fixed ORT signature) read top to bottom.
function buildOptimizerModel(
  adam: AdamConfig,
  name = 'hm4sr',
  opts: { fixedLearningRate?: boolean } = {},
): P.ModelProto {
  const a = adamWAttributes(adam);
  const AT = onnx.AttributeProto.AttributeType;
  const [lr, step, params, grads, m1, m2] = ORT_NAMES.optimizerInputs;
  const nodes: P.INodeProto[] = [];
  let lrSource: string = lr;
  if (opts.fixedLearningRate) {
    lrSource = 'fixed_learning_rate';
    nodes.push({
      name: lrSource,
      opType: 'Constant',
      output: [lrSource],
      attribute: [
        { name: 'value', type: AT.TENSOR, t: { name: '', dims: [1], dataType: T.FLOAT, floatData: [adam.lr] } },
      ],
    });
  }
  nodes.push({
    name: 'AdamWOptimizer0',
    opType: 'AdamWOptimizer',
    domain: 'com.microsoft',
    input: [lrSource, step, params, grads, m1, m2],
    output: ['updated_flag'],
    attribute: [
      { name: 'alpha', type: AT.FLOAT, f: a.alpha },
      { name: 'beta', type: AT.FLOAT, f: a.beta },
      { name: 'epsilon', type: AT.FLOAT, f: a.epsilon },
      { name: 'weight_decay', type: AT.FLOAT, f: a.weight_decay },
      { name: 'correct_bias', type: AT.INT, i: a.correct_bias },
      { name: 'adam_mode', type: AT.INT, i: a.adam_mode },
    ],
  });
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    producerVersion: PRODUCER_VERSION,
    docString: 'hm4sr AdamW optimizer model (onnxruntime on-device-training artifact)',
    opsetImport: [
      { domain: '', version: OPSET },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: `${name}_optimizer`,
      input: [
        { name: lr, type: tensorType(T.FLOAT, [1]) },
        { name: step, type: tensorType(T.INT64, [1]) },
        { name: params, type: seqType(T.FLOAT) },
        { name: grads, type: seqType(T.FLOAT) },
        { name: m1, type: seqType(T.FLOAT) },
        { name: m2, type: seqType(T.FLOAT) },
      ],
      node: nodes,
      // The CPU kernel writes the flag as bool (onnxruntime's Optimizer::Step reads it as bool).
      output: [{ name: 'updated_flag', type: tensorType(T.BOOL, [1]) }],
    },
  });
}

/** All three models of a LossModel (the checkpoint is written separately, from parameter values). */
export function buildArtifactModels(
  model: LossModel,
  opts: { adam: AdamConfig; seed?: number; eval?: EvalSpec; fixedLearningRate?: boolean },
): ArtifactModels {
  const params = probeParams(model);
  const tr = buildTrainingModel(model, { seed: opts.seed, params });
  const ev = buildEvalModel(model, { seed: opts.seed, params, spec: opts.eval });
  return {
    params,
    training: tr.graph,
    eval: ev.graph,
    trainOutputs: tr.outputs,
    evalOutputs: ev.outputs,
    trainingProto: tr.proto,
    evalProto: ev.proto,
    optimizerProto: buildOptimizerModel(opts.adam, model.name, { fixedLearningRate: opts.fixedLearningRate }),
  };
}
