import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { writeFileAtomic } from '../graph/atomic.js';
import { SERVE_INPUTS, SERVE_OUTPUTS, userVectorOutput } from '../graph/models/hm4sr-serve.js';
import { requireInputs } from './model-bytes.js';
import { type TextMessage, parseTextFormat, writeTextFormat } from './pbtxt.js';
import { readServingMeta } from './recommender.js';

/**
 * The part of Triton's ModelConfig (triton-inference-server/common, protobuf/model_config.proto, package
 * `inference`) that hm4sr writes, with the field names, numbers and types of that file (read at commit
 * 83adf7cf, July 2026). Fields hm4sr does not write are left out, so the parser also refuses them.
 */
export const MODEL_CONFIG_SUBSET = `
syntax = "proto3";
package inference;
enum DataType {
  TYPE_INVALID = 0; TYPE_BOOL = 1; TYPE_UINT8 = 2; TYPE_UINT16 = 3; TYPE_UINT32 = 4; TYPE_UINT64 = 5;
  TYPE_INT8 = 6; TYPE_INT16 = 7; TYPE_INT32 = 8; TYPE_INT64 = 9; TYPE_FP16 = 10; TYPE_FP32 = 11;
  TYPE_FP64 = 12; TYPE_STRING = 13; TYPE_BF16 = 14;
}
message ModelInstanceGroup {
  enum Kind { KIND_AUTO = 0; KIND_GPU = 1; KIND_CPU = 2; KIND_MODEL = 3; }
  string name = 1;
  Kind kind = 4;
  int32 count = 2;
  repeated int32 gpus = 3;
}
message ModelTensorReshape { repeated int64 shape = 1; }
message ModelInput {
  enum Format { FORMAT_NONE = 0; FORMAT_NHWC = 1; FORMAT_NCHW = 2; }
  string name = 1;
  DataType data_type = 2;
  Format format = 3;
  repeated int64 dims = 4;
  ModelTensorReshape reshape = 5;
  bool is_shape_tensor = 6;
  bool allow_ragged_batch = 7;
  bool optional = 8;
}
message ModelOutput {
  string name = 1;
  DataType data_type = 2;
  repeated int64 dims = 3;
  ModelTensorReshape reshape = 5;
  string label_filename = 4;
  bool is_shape_tensor = 6;
}
message ModelDynamicBatching {
  repeated int32 preferred_batch_size = 1;
  uint64 max_queue_delay_microseconds = 2;
  bool preserve_ordering = 3;
}
message ModelSequenceBatching {}
message ModelEnsembling {}
message ModelConfig {
  string name = 1;
  string platform = 2;
  string backend = 17;
  string runtime = 25;
  int32 max_batch_size = 4;
  repeated ModelInput input = 5;
  repeated ModelOutput output = 6;
  oneof scheduling_choice {
    ModelDynamicBatching dynamic_batching = 11;
    ModelSequenceBatching sequence_batching = 13;
    ModelEnsembling ensemble_scheduling = 15;
  }
  repeated ModelInstanceGroup instance_group = 7;
  string default_model_filename = 8;
}
`;

export function modelConfigType(): protobuf.Type {
  return protobuf.parse(MODEL_CONFIG_SUBSET, { keepCase: true }).root.lookupType('inference.ModelConfig');
}

export interface TritonOptions {
  name?: string;
  maxBatchSize?: number;
  maxQueueDelayUs?: number;
}

/**
 * A Triton model repository for model.onnx: DIR/NAME/config.pbtxt (onnxruntime backend, dynamic
 * batching, the serving signature) and DIR/NAME/1/model.onnx. Triton's onnxruntime backend sees only
 * inputs without a default, so exclude_seen is a required [1] input per request there. Requests batch
 * together when their histories have the same length: pad them to a fixed length (e.g. the model's maxLen).
 */
export function writeTritonRepository(
  modelPath: string,
  dir: string,
  o: TritonOptions = {},
): { config: string; model: string; text: string } {
  const { meta } = readServingMeta(modelPath);
  const name = o.name ?? 'hm4sr';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`--triton-name ${name}: use letters, digits, '_', '-', '.'`);
  const modelDir = join(dir, name);
  if (existsSync(modelDir) && readdirSync(modelDir).length > 0 && !existsSync(join(modelDir, 'config.pbtxt'))) {
    throw new Error(`${modelDir}: exists and is not a Triton model directory; choose another --triton DIR`);
  }
  const seq = (n: string, t: string, dims: number[]): TextMessage => ({ name: n, data_type: t, dims });
  const cfg: TextMessage = {
    name,
    backend: 'onnxruntime',
    max_batch_size: o.maxBatchSize ?? 256,
    input: [
      seq(SERVE_INPUTS.items, 'TYPE_INT64', [-1]),
      ...(meta.inputs.includes(SERVE_INPUTS.times) ? [seq(SERVE_INPUTS.times, 'TYPE_INT64', [-1])] : []),
      seq(SERVE_INPUTS.excludeSeen, 'TYPE_BOOL', [1]),
    ],
    output: [
      seq(SERVE_OUTPUTS.items, 'TYPE_INT64', [meta.topK]),
      seq(SERVE_OUTPUTS.scores, 'TYPE_FP32', [meta.topK]),
      ...meta.model.modalities.map((m) => seq(userVectorOutput(m), 'TYPE_FP32', [meta.model.hidden])),
    ],
    dynamic_batching: { max_queue_delay_microseconds: o.maxQueueDelayUs ?? 1000 },
  };
  const type = modelConfigType();
  const text = `# Triton model configuration for hm4sr's model.onnx (written by 'hm4sr export --triton').\n${writeTextFormat(cfg, type)}`;
  parseTextFormat(text, type, 'config.pbtxt'); // what we write must read back under the schema
  mkdirSync(join(modelDir, '1'), { recursive: true });
  const model = join(modelDir, '1', 'model.onnx');
  writeFileAtomic(model, requireInputs(modelPath, [SERVE_INPUTS.excludeSeen]));
  const config = join(modelDir, 'config.pbtxt');
  writeFileAtomic(config, text);
  return { config, model, text };
}
